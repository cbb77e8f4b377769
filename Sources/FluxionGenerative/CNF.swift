import Foundation
import FluxionNN

// Continuous normalizing flows (Chen et al. 2018; FFJORD, Grathwohl et al. 2019), SPEC §7.
//
// NOTE(1): direction. The flow dz/dt = v(z, t) carries data (t = 0) to the prior N(0, I) (t = 1),
// the module's convention, so a rectified flow's velocity is a CNF as it stands. Along a trajectory
// d log p_t(z_t)/dt = −tr(∂v/∂z), hence
//
//     log p₀(x) = log N(z₁; 0, I) + ∫₀¹ tr(∂v/∂z)(z_t, t) dt,   z₀ = x.
//
// NOTE(2): traces from probes. tr J = Σ_j e_jᵀ J e_j (exact, d probes) = E_ε[εᵀ J ε] (Hutchinson,
// E[εεᵀ] = I). Either way every probe is one forward-mode J·ε; the probes are stacked along the
// batch axis so that one `jvp` on a [P·B, d] batch gives all of them (one big matrix product per
// layer instead of P small ones). FFJORD uses a vector-Jacobian product εᵀJ instead; forward
// mode gives the same estimator and needs no pullback. Because `jvp` nests inside
// `valueWithGradient`, training differentiates through the traces (reverse over forward).

/// How tr(∂v/∂z) is computed.
public enum TraceEstimator: Equatable, Sendable {
    /// Σ_j e_jᵀ J e_j: exact, d Jacobian-vector products (fine for small d).
    case exact
    /// Hutchinson: (1/P) Σ_p ε_pᵀ J ε_p with P probes per sample (unbiased).
    case hutchinson(probes: Int, distribution: ProbeDistribution)
}

/// The distribution of Hutchinson probes (both have E[εεᵀ] = I).
public enum ProbeDistribution: String, Sendable, Codable {
    /// ±1 with probability ½ each: Var εᵀAε = ½‖A + Aᵀ‖²_F − 2 Σᵢ Aᵢᵢ² (no diagonal term).
    case rademacher
    /// N(0, I): Var εᵀAε = ½‖A + Aᵀ‖²_F.
    case gaussian
}

/// Probes for `estimator` on a batch of B samples in d dimensions: [P, B, d].
public func traceProbes(for estimator: TraceEstimator, batch: Int, dimension: Int, dtype: DType = .float32,
                        using rng: inout SeededGenerator) -> Tensor {
    switch estimator {
    case .exact:
        // e_j for every sample: probe j is the j-th basis vector.
        return Tensor.eye(dimension, dtype: dtype).unsqueezed(axis: 1).expanded(to: [dimension, batch, dimension])
    case let .hutchinson(p, distribution):
        precondition(p >= 1, "traceProbes: at least one probe, got \(p)")
        switch distribution {
        case .gaussian:
            return Tensor.randomNormal(shape: [p, batch, dimension], dtype: dtype, using: &rng)
        case .rademacher:
            let u = Tensor.randomUniform(shape: [p, batch, dimension], dtype: dtype, using: &rng)
            return (u .< 0.5) * 2 - 1
        }
    }
}

/// f(x) and the probed trace estimate of its Jacobian, for f acting row-wise on a batch:
///
///     tr(∂f/∂x)(x_b) ≈ w · Σ_p ε_{p,b}ᵀ J_b ε_{p,b}      (w = 1 for exact basis probes, 1/P for Hutchinson)
///
/// Shapes: x [B, d], probes [P, B, d] → (value [B, d], trace [B, 1]). One `jvp` on [P·B, d].
public func valueAndTrace(of f: (Tensor) -> Tensor, at x: Tensor, probes: Tensor, averaged: Bool) -> (value: Tensor, trace: Tensor) {
    let p = probes.shape[0], b = x.shape[0], d = x.shape[1]
    precondition(probes.shape == [p, b, d], "valueAndTrace: probes must be [P, \(b), \(d)], got \(probes.shape)")
    let stacked = Tensor.concatenate(Array(repeating: x, count: p), axis: 0)        // [P·B, d]
    let directions = probes.reshaped(to: [p * b, d])
    let (value, jv) = jvp(at: stacked, along: directions, of: f)                      // [P·B, d] each
    let quadratic = (jv * directions).sum(axis: 1).reshaped(to: [p, b])               // ε_pᵀ J ε_p
    var trace = quadratic.sum(axis: 0)
    if averaged { trace = trace / Double(p) }
    return (value[0..<b], trace.reshaped(to: [b, 1]))
}

/// A continuous normalizing flow dz/dt = v(z, t) with the exact or Hutchinson log-density.
///
/// Augmented state [z, ℓ] with dℓ/dt = tr(∂v/∂z), integrated from t = 0 (data) to 1 (prior):
/// log p(x) = log N(z₁; 0, I) + ℓ(1). Sampling integrates dz/dt = v backward from z₁ ~ N(0, I).
/// The Hutchinson probes are drawn once per solve (FFJORD). Shapes: x [B, d]. The traces are
/// forward-mode derivatives, so the log-density must not be computed inside `withoutDerivatives`.
public struct ContinuousNormalizingFlow<Model: TimeConditionedModel>: ParameterTree {
    /// The velocity field v(z, t).
    public var model: Model
    /// How tr(∂v/∂z) is computed: exactly (d forward passes) or by Hutchinson probes.
    public var trace: TraceEstimator

    /// A CNF with velocity `model`; the exact trace by default.
    public init(model: Model, trace: TraceEstimator = .exact) {
        self.model = model
        self.trace = trace
    }

    /// Visits the model's parameters under `model.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        model.visitParameters(prefix: Self.join(prefix, "model"), body)
    }

    /// The augmented dynamics [v(z, t), tr(∂v/∂z)] with fixed probes.
    public func dynamics(time t: Double, state z: Tensor, probes: Tensor) -> (velocity: Tensor, trace: Tensor) {
        let averaged = trace != .exact
        let (v, tr) = valueAndTrace(of: { model($0, time: t) }, at: z, probes: probes, averaged: averaged)
        return (v, tr)
    }

    /// Integrates [z, ℓ] from t = `start` to `end`: returns z(end) and ℓ(end) = ∫ tr(∂v/∂z) dt, so
    /// that log p_start(z_start) = log p_end(z_end) + ℓ. For dz/dt = Az, ℓ = (end − start)·tr A.
    public func logDensityChange(_ x: Tensor, from start: Double = 0, to end: Double = 1, solver: ODESolver,
                                 using rng: inout SeededGenerator) throws -> (state: Tensor, change: Tensor, evaluationCount: Int) {
        let probes = traceProbes(for: trace, batch: x.shape[0], dimension: x.shape[1], dtype: x.dtype, using: &rng)
        let initial = [x, Tensor.zeros(shape: [x.shape[0], 1], dtype: x.dtype)]
        let solution = try solver.solve({ t, s in
            let (v, tr) = dynamics(time: t, state: s[0], probes: probes)
            return [v, tr]
        }, initial: initial, from: start, to: end)
        return (solution.state[0], solution.state[1].reshaped(to: [x.shape[0]]), solution.evaluationCount)
    }

    /// log p(x) [B] in nats (differentiable in the model's parameters): log N(z₁; 0, I) + ∫₀¹ tr dt.
    public func logDensity(_ x: Tensor, solver: ODESolver, using rng: inout SeededGenerator) throws -> Tensor {
        let (z, change, _) = try logDensityChange(x, solver: solver, using: &rng)
        return gaussianLogDensity(z).sum(axis: 1) + change
    }

    /// FFJORD's maximum-likelihood loss: −mean log p(x).
    public func negativeLogLikelihood(_ x: Tensor, solver: ODESolver, using rng: inout SeededGenerator) throws -> Tensor {
        -(try logDensity(x, solver: solver, using: &rng)).mean()
    }

    /// Samples: z₁ = `noise` ~ N(0, I) integrated with dz/dt = v from t = 1 back to 0.
    public func sample(noise: Tensor, solver: ODESolver) throws -> ODESolution {
        try sampleFlow(model, noise: noise, solver: solver)
    }
}
