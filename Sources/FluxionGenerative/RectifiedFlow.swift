import Foundation

// Rectified flow and (conditional) flow matching in this module's convention: data x₀ at t = 0,
// noise ε at t = 1 (SD3, Su 9497).
//
// NOTE(1): conventions of the sources, converted here once.
//   Su 9497:        x_t = (1 − t)x₀ + t·x₁, x₀ data, x₁ noise, target x₁ − x₀        (same as ours)
//   SD3:            z_t = (1 − t)x₀ + t·ε, target ε − x₀                              (same as ours)
//   Liu et al.:     X_t = t·X₁ + (1 − t)X₀, X₀ noise, X₁ data, target X₁ − X₀          (t ↦ 1 − t, v ↦ −v)
//   Lipman et al.:  ψ_t = (1 − (1 − σ_min)t)x₀ + t·x₁, x₀ noise, x₁ data, target x₁ − (1 − σ_min)x₀
// Substituting Lipman's t = 1 − s gives our path x_s = (1 − s)x₀ + (σ_min + (1 − σ_min)s)ε and
// our target d/ds = (1 − σ_min)ε − x₀ (= −Lipman's target): `flowMatchingTarget`.

/// The point on the conditional path between data x₀ and noise ε at time t:
///
///     x_t = (1 − t)·x₀ + (σ_min + (1 − σ_min)·t)·ε
///
/// σ_min = 0 is the straight rectified-flow path. Shapes: x₀, ε [B, d]; t [B, 1].
public func flowMatchingPath(data x0: Tensor, noise epsilon: Tensor, time t: Tensor, sigmaMin: Double = 0) -> Tensor {
    (1 - t) * x0 + (sigmaMin + (1 - sigmaMin) * t) * epsilon
}

/// The conditional velocity d x_t/dt of `flowMatchingPath`:  u = (1 − σ_min)·ε − x₀
/// (in Lipman et al.'s reversed time this is −(x₁ − (1 − σ_min)x₀)). σ_min = 0: ε − x₀.
public func flowMatchingTarget(data x0: Tensor, noise epsilon: Tensor, sigmaMin: Double = 0) -> Tensor {
    epsilon * (1 - sigmaMin) - x0
}

/// The rectified-flow / conditional-flow-matching loss (Liu et al. 2022; Lipman et al. 2023;
/// SD3 eq. 1 with our time):
///
///     L = mean ‖v_θ(x_t, t) − ((1 − σ_min)ε − x₀)‖²,   t ~ π(t), ε ~ N(0, I) (or given: reflow pairs)
///
/// `times` are drawn from `sampler` (SD3's samplers; optionally shifted by α) unless given.
/// Shapes: data [B, d]; noise [B, d] or nil; times [B, 1] or nil.
public func rectifiedFlowLoss<Model: TimeConditionedModel>(_ model: Model, data x0: Tensor, noise: Tensor? = nil,
                                                           times: Tensor? = nil, sampler: TimestepSampler = .uniform,
                                                           shift: Double = 1, sigmaMin: Double = 0,
                                                           using rng: inout SeededGenerator) -> Tensor {
    let batch = x0.shape[0]
    let epsilon = noise ?? Tensor.randomNormal(shape: x0.shape, dtype: x0.dtype, using: &rng)
    var t = times ?? sampler.sample(count: batch, dtype: x0.dtype, using: &rng)
    if shift != 1 && times == nil { t = shiftTimesteps(t, shift: shift) }
    let xt = flowMatchingPath(data: x0, noise: epsilon, time: t, sigmaMin: sigmaMin)
    let target = flowMatchingTarget(data: x0, noise: epsilon, sigmaMin: sigmaMin)
    return (model(xt, time: t) - target).squared().mean()
}

/// Samples by integrating dx/dt = v_θ(x, t) from the noise at t = 1 down to t = 0 with `solver`
/// (one Euler step is one-step generation: x₀ = ε − v_θ(ε, 1)). With `shift` α ≠ 1 the
/// fixed-step grid is tᵢ = shift(i/N, α) (SD3 §5.3.2). Returns the final state and the NFE; the
/// trajectory is in the solution when `solver.recordTrajectory`.
public func sampleFlow<Model: TimeConditionedModel>(_ model: Model, noise: Tensor, solver: ODESolver,
                                                    shift: Double = 1) throws -> ODESolution {
    try withoutDerivatives {
        let field: (Double, [Tensor]) -> [Tensor] = { t, xs in [model(xs[0], time: t)] }
        if shift != 1 && solver.method != .dopri5 {
            let grid = (0...solver.steps).reversed().map { i in shiftTimestep(Double(i) / Double(solver.steps), shift: shift) }
            return try solver.solve(field, initial: [noise], times: grid)
        }
        return try solver.solve(field, initial: [noise], from: 1, to: 0)
    }
}

/// Reflow pairs (Liu et al. 2022, §3.3): draws ε ~ N(0, I) and pushes it through the trained flow
/// to x₀ = ODE(v_k, ε); training on the straight lines between (x₀, ε) gives the (k+1)-rectified
/// flow. Returns (data, noise), each [count, dimension].
public func reflowPairs<Model: TimeConditionedModel>(_ model: Model, count: Int, dimension: Int, solver: ODESolver,
                                                     dtype: DType = .float32,
                                                     using rng: inout SeededGenerator) throws -> (data: Tensor, noise: Tensor) {
    let noise = Tensor.randomNormal(shape: [count, dimension], dtype: dtype, using: &rng)
    let data = try sampleFlow(model, noise: noise, solver: solver).state[0]
    return (data, noise)
}

/// The straightness of the flow's trajectories (Liu et al. 2022, eq. 4), in our time:
///
///     S(v) = ∫₀¹ E ‖(x₁ − x₀) − v(x_t, t)‖² dt
///
/// along the ODE from x₁ = ε to x₀, estimated with `steps` Euler steps (the velocity at the left
/// end of each step, averaged over steps and samples). S = 0 exactly for straight paths, which one
/// Euler step integrates without error. Returns (straightness, final samples).
public func straightness<Model: TimeConditionedModel>(_ model: Model, noise: Tensor, steps: Int = 100) -> (value: Double, samples: Tensor) {
    precondition(steps >= 1, "straightness: steps must be at least 1")
    return withoutDerivatives {
        var x = noise
        var velocities: [Tensor] = []
        let h = 1 / Double(steps)
        for i in 0..<steps {
            let t = 1 - Double(i) * h
            let v = model(x, time: t)
            velocities.append(v)
            x = x - v * h
        }
        let displacement = noise - x              // x₁ − x₀
        var total = 0.0
        for v in velocities { total += (displacement - v).squared().sum(axis: 1).mean().item }
        return (total / Double(steps), x)
    }
}
