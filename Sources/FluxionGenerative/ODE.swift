import Foundation

// ODE solvers for the diffusion, rectified-flow and CNF code (SPEC §3, §7).
//
// NOTE(1): the state is a list of tensors, `[Tensor]`, so that one solver integrates a sample
// batch alone (`[x]`) or a whole tuple (`[z, log-density change]` for a CNF). Every step is
// written in Tensor operations, so a solve inside `valueWithGradient` is differentiated through
// (discretise-then-optimise, as FFJORD's default). Adaptive step-size decisions read values and
// are constants to every transform.
//
// NOTE(2): time may run either way. `t1 < t0` integrates backward (the step h is negative): the
// generative direction in this module is noise (t = 1) → data (t = 0).

/// A fixed-step or adaptive method for dx/dt = f(t, x).
public enum ODEMethod: String, CaseIterable, Sendable, Codable {
    /// x ← x + h f(t, x). First order, 1 evaluation per step.
    case euler
    /// Explicit midpoint: x ← x + h f(t + h/2, x + (h/2) f(t, x)). Second order, 2 evaluations.
    case midpoint
    /// Heun (explicit trapezoid): k₁ = f(t, x), k₂ = f(t + h, x + h k₁), x ← x + (h/2)(k₁ + k₂).
    /// Second order, 2 evaluations.
    case heun
    /// Classical Runge–Kutta: x ← x + (h/6)(k₁ + 2k₂ + 2k₃ + k₄). Fourth order, 4 evaluations.
    case rk4
    /// Dormand–Prince 5(4) with embedded error control and first-same-as-last; adaptive steps.
    case dopri5

    /// Theoretical order of accuracy (global error O(hᵖ)).
    public var order: Int {
        switch self {
        case .euler: return 1
        case .midpoint, .heun: return 2
        case .rk4: return 4
        case .dopri5: return 5
        }
    }

    /// Right-hand-side evaluations per fixed step (Dopri5: per accepted step with FSAL, ≈ 6).
    public var evaluationsPerStep: Int {
        switch self {
        case .euler: return 1
        case .midpoint, .heun: return 2
        case .rk4: return 4
        case .dopri5: return 6
        }
    }
}

/// An ODE solve that could not finish; the description names the problem.
public enum ODEError: Error, CustomStringConvertible, Equatable {
    /// The adaptive step fell below `minimumStep` at time `time` (stiff or singular dynamics).
    case stepSizeTooSmall(time: Double, step: Double, minimumStep: Double)
    /// The adaptive solver took more than `maximumSteps` steps.
    case tooManySteps(time: Double, maximumSteps: Int)
    /// The state became NaN or infinite at `time`.
    case nonFinite(time: Double)
    /// An argument was invalid.
    case invalidArgument(String)

    /// A one-line message naming the problem and the time t it happened at.
    public var description: String {
        switch self {
        case let .stepSizeTooSmall(t, h, m):
            return "ODE solve: step size \(h) fell below the minimum \(m) at t = \(t) (stiff or singular dynamics; raise the tolerances or the minimum step)"
        case let .tooManySteps(t, n):
            return "ODE solve: more than \(n) steps, stopped at t = \(t) (raise maximumSteps or the tolerances)"
        case let .nonFinite(t):
            return "ODE solve: the state became NaN or infinite at t = \(t)"
        case let .invalidArgument(m):
            return "ODE solve: \(m)"
        }
    }
}

/// The result of an ODE solve.
public struct ODESolution {
    /// The state at the final time.
    public var state: [Tensor]
    /// Number of right-hand-side evaluations (NFE).
    public var evaluationCount: Int
    /// Accepted steps.
    public var stepCount: Int
    /// Rejected (retried) steps of the adaptive method.
    public var rejectedStepCount: Int
    /// Times of the recorded states (when `recordTrajectory` is on): t₀, then after each step.
    public var times: [Double]
    /// Recorded states, one per entry of `times` (empty unless `recordTrajectory`).
    public var trajectory: [[Tensor]]
}

/// An ODE solver for dx/dt = f(t, x) over a list of tensors.
///
/// Fixed-step methods take `steps` equal steps (or an explicit time grid); `dopri5` adapts the step
/// so that the embedded error estimate e satisfies
///
///     ‖e / (atol + rtol · max(|x|, |x_new|))‖_RMS ≤ 1
///
/// (Hairer, Nørsett & Wanner, *Solving ODEs I*, §II.4), with step factor 0.9·err^(−1/5) clamped to
/// [0.2, 10]. A step below `minimumStep` throws `ODEError.stepSizeTooSmall` instead of hanging.
/// Reference for the tableaux: Butcher, *Numerical Methods for ODEs*; Dormand & Prince (1980).
public struct ODESolver: Sendable {
    /// The integration method; RK4 by default.
    public var method: ODEMethod
    /// Number of equal steps for the fixed-step methods.
    public var steps: Int
    /// rtol of the adaptive method's error test; 1e-5 by default.
    public var relativeTolerance: Double
    /// atol of the adaptive method's error test; 1e-5 by default.
    public var absoluteTolerance: Double
    /// Smallest |h| the adaptive method may take before it throws.
    public var minimumStep: Double
    /// Most accepted + rejected adaptive steps before it throws.
    public var maximumSteps: Int
    /// Record the state after every step in `ODESolution.trajectory`.
    public var recordTrajectory: Bool

    /// A solver with the given method and settings; defaults: RK4 with 100 steps, rtol = atol = 1e-5,
    /// minimum step 1e-10, at most 100,000 adaptive steps, no trajectory.
    public init(method: ODEMethod = .rk4, steps: Int = 100, relativeTolerance: Double = 1e-5,
                absoluteTolerance: Double = 1e-5, minimumStep: Double = 1e-10, maximumSteps: Int = 100_000,
                recordTrajectory: Bool = false) {
        self.method = method
        self.steps = steps
        self.relativeTolerance = relativeTolerance
        self.absoluteTolerance = absoluteTolerance
        self.minimumStep = minimumStep
        self.maximumSteps = maximumSteps
        self.recordTrajectory = recordTrajectory
    }

    /// Integrates dx/dt = f(t, x) from `t0` to `t1` (either direction) starting at `initial`.
    /// Fixed-step methods use `steps` equal steps h = (t1 − t0)/steps.
    public func solve(_ f: (Double, [Tensor]) -> [Tensor], initial: [Tensor], from t0: Double, to t1: Double) throws -> ODESolution {
        if method == .dopri5 { return try adaptive(f, initial: initial, from: t0, to: t1) }
        guard steps >= 1 else { throw ODEError.invalidArgument("steps must be at least 1, got \(steps)") }
        let grid = (0...steps).map { i in i == steps ? t1 : t0 + (t1 - t0) * Double(i) / Double(steps) }
        return try solve(f, initial: initial, times: grid)
    }

    /// Integrates dx/dt = f(t, x) with a fixed-step method over an explicit monotone time grid
    /// t₀, t₁, …, t_N (one step per interval; for shifted or non-uniform schedules).
    public func solve(_ f: (Double, [Tensor]) -> [Tensor], initial: [Tensor], times: [Double]) throws -> ODESolution {
        guard method != .dopri5 else { throw ODEError.invalidArgument("an explicit time grid needs a fixed-step method, not dopri5") }
        guard times.count >= 2 else { throw ODEError.invalidArgument("the time grid needs at least two points, got \(times.count)") }
        let increasing = times[1] > times[0]
        for i in 1..<times.count where (times[i] > times[i - 1]) != increasing || times[i] == times[i - 1] {
            throw ODEError.invalidArgument("the time grid must be strictly monotone, got \(times[i - 1]) then \(times[i])")
        }
        var evaluations = 0
        func g(_ t: Double, _ x: [Tensor]) -> [Tensor] { evaluations += 1; return f(t, x) }
        var x = initial
        var record: [[Tensor]] = recordTrajectory ? [x] : []
        for i in 1..<times.count {
            x = fixedStep(g, t: times[i - 1], h: times[i] - times[i - 1], x: x)
            if recordTrajectory { record.append(x) }
        }
        return ODESolution(state: x, evaluationCount: evaluations, stepCount: times.count - 1, rejectedStepCount: 0,
                           times: recordTrajectory ? times : [], trajectory: record)
    }

    /// Convenience for a single-tensor state: dx/dt = f(t, x).
    public func solve(_ f: (Double, Tensor) -> Tensor, initial: Tensor, from t0: Double, to t1: Double) throws -> (state: Tensor, evaluationCount: Int) {
        let s = try solve({ t, xs in [f(t, xs[0])] }, initial: [initial], from: t0, to: t1)
        return (s.state[0], s.evaluationCount)
    }

    // MARK: Fixed steps

    private func fixedStep(_ f: (Double, [Tensor]) -> [Tensor], t: Double, h: Double, x: [Tensor]) -> [Tensor] {
        switch method {
        case .euler:
            return axpy(x, [(h, f(t, x))])
        case .midpoint:
            let k1 = f(t, x)
            let k2 = f(t + h / 2, axpy(x, [(h / 2, k1)]))
            return axpy(x, [(h, k2)])
        case .heun:
            let k1 = f(t, x)
            let k2 = f(t + h, axpy(x, [(h, k1)]))
            return axpy(x, [(h / 2, k1), (h / 2, k2)])
        case .rk4:
            let k1 = f(t, x)
            let k2 = f(t + h / 2, axpy(x, [(h / 2, k1)]))
            let k3 = f(t + h / 2, axpy(x, [(h / 2, k2)]))
            let k4 = f(t + h, axpy(x, [(h, k3)]))
            return axpy(x, [(h / 6, k1), (h / 3, k2), (h / 3, k3), (h / 6, k4)])
        case .dopri5:
            preconditionFailure("dopri5 is adaptive")
        }
    }

    // MARK: Dormand–Prince 5(4)

    private static let c: [Double] = [0, 1.0 / 5, 3.0 / 10, 4.0 / 5, 8.0 / 9, 1, 1]
    private static let a: [[Double]] = [
        [],
        [1.0 / 5],
        [3.0 / 40, 9.0 / 40],
        [44.0 / 45, -56.0 / 15, 32.0 / 9],
        [19372.0 / 6561, -25360.0 / 2187, 64448.0 / 6561, -212.0 / 729],
        [9017.0 / 3168, -355.0 / 33, 46732.0 / 5247, 49.0 / 176, -5103.0 / 18656],
        [35.0 / 384, 0, 500.0 / 1113, 125.0 / 192, -2187.0 / 6784, 11.0 / 84],
    ]
    /// Fifth-order weights minus fourth-order weights: the embedded error estimate.
    private static let errorWeights: [Double] = [
        35.0 / 384 - 5179.0 / 57600, 0, 500.0 / 1113 - 7571.0 / 16695, 125.0 / 192 - 393.0 / 640,
        -2187.0 / 6784 + 92097.0 / 339200, 11.0 / 84 - 187.0 / 2100, -1.0 / 40,
    ]

    private func adaptive(_ f: (Double, [Tensor]) -> [Tensor], initial: [Tensor], from t0: Double, to t1: Double) throws -> ODESolution {
        guard relativeTolerance > 0 || absoluteTolerance > 0 else {
            throw ODEError.invalidArgument("dopri5 needs a positive relative or absolute tolerance")
        }
        var evaluations = 0
        func g(_ t: Double, _ x: [Tensor]) -> [Tensor] { evaluations += 1; return f(t, x) }
        var x = initial
        var t = t0
        let direction: Double = t1 >= t0 ? 1 : -1
        let span = Swift.abs(t1 - t0)
        var record: [[Tensor]] = recordTrajectory ? [x] : []
        var times: [Double] = recordTrajectory ? [t0] : []
        if span == 0 {
            return ODESolution(state: x, evaluationCount: 0, stepCount: 0, rejectedStepCount: 0, times: times, trajectory: record)
        }
        var k1 = g(t, x)
        var h = initialStep(x: x, dx: k1, span: span)
        var accepted = 0, rejected = 0
        while direction * (t1 - t) > 0 {
            if accepted + rejected >= maximumSteps { throw ODEError.tooManySteps(time: t, maximumSteps: maximumSteps) }
            if h < minimumStep { throw ODEError.stepSizeTooSmall(time: t, step: h, minimumStep: minimumStep) }
            let remaining = direction * (t1 - t)
            let last = h >= remaining * (1 - 1e-12)
            let step = last ? remaining : h
            let hs = direction * step
            var k = [k1]
            for s in 1...5 {
                let terms = (0..<s).map { j in (hs * Self.a[s][j], k[j]) }.filter { $0.0 != 0 }
                k.append(g(t + Self.c[s] * hs, axpy(x, terms)))
            }
            let terms5 = (0..<6).map { j in (hs * Self.a[6][j], k[j]) }.filter { $0.0 != 0 }
            let xNew = axpy(x, terms5)
            let k7 = g(t + hs, xNew)
            k.append(k7)
            let errorTerms = (0..<7).map { j in (hs * Self.errorWeights[j], k[j]) }.filter { $0.0 != 0 }
            let errorNorm = scaledNorm(errors: errorTerms, x: x, xNew: xNew)
            guard errorNorm.isFinite else {
                // A non-finite estimate: shrink hard and retry (or fail at the minimum step).
                rejected += 1
                h = step * 0.2
                if h < minimumStep { throw ODEError.nonFinite(time: t) }
                continue
            }
            let factor = Swift.min(10, Swift.max(0.2, 0.9 * Foundation.pow(Swift.max(errorNorm, 1e-10), -0.2)))
            if errorNorm <= 1 {
                t = last ? t1 : t + hs
                x = xNew
                k1 = k7
                accepted += 1
                if recordTrajectory { record.append(x); times.append(t) }
                h = step * factor
            } else {
                rejected += 1
                h = step * Swift.min(1, factor)
            }
        }
        return ODESolution(state: x, evaluationCount: evaluations, stepCount: accepted, rejectedStepCount: rejected,
                           times: times, trajectory: record)
    }

    /// Hairer's starting step: h₀ = 0.01·‖x‖/‖f‖ (scaled norms), capped by the span.
    private func initialStep(x: [Tensor], dx: [Tensor], span: Double) -> Double {
        let d0 = scaledNorm(errors: [(1, x)], x: x, xNew: x)
        let d1 = scaledNorm(errors: [(1, dx)], x: x, xNew: x)
        let h = (d0 < 1e-5 || d1 < 1e-5) ? 1e-6 : 0.01 * d0 / d1
        return Swift.min(Swift.max(h, minimumStep * 10), span)
    }

    /// ‖Σ cᵢ vᵢ / (atol + rtol·max(|x|, |x_new|))‖_RMS over all elements of all tensors, in Float64.
    private func scaledNorm(errors: [(Double, [Tensor])], x: [Tensor], xNew: [Tensor]) -> Double {
        withoutDerivatives {
            var sum = 0.0
            var count = 0
            for i in x.indices {
                let a = x[i].cast(to: .float64).scalars, b = xNew[i].cast(to: .float64).scalars
                var e = [Double](repeating: 0, count: a.count)
                for (c, v) in errors {
                    let vs = v[i].cast(to: .float64).scalars
                    for j in e.indices { e[j] += c * vs[j] }
                }
                for j in e.indices {
                    let scale = absoluteTolerance + relativeTolerance * Swift.max(Swift.abs(a[j]), Swift.abs(b[j]))
                    let r = e[j] / scale
                    sum += r * r
                }
                count += a.count
            }
            return count == 0 ? 0 : (sum / Double(count)).squareRoot()
        }
    }
}

/// x + Σ cⱼ·vⱼ for each tensor of a state list.
func axpy(_ x: [Tensor], _ terms: [(Double, [Tensor])]) -> [Tensor] {
    x.indices.map { i in
        terms.reduce(x[i]) { acc, term in acc + term.1[i] * term.0 }
    }
}
