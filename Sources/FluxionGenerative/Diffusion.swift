import Foundation
import FluxionNN

// Variance-preserving diffusion (DDPM, DDIM, the probability-flow ODE).
//
// NOTE(1): time. Step n = 0…T of the discrete chain sits at t = n/T: x₀ is data (t = 0) and x_T
// is (almost) pure noise (t = 1), the module's convention, so DDPM's indices need no flipping. The
// network sees t = n/T ∈ (0, 1], never the integer n.
//
// NOTE(2): one parameterisation of the chain, ᾱ₀ = 1 and ᾱ_n = Πᵢ₌₁ⁿ (1 − βᵢ). Every sampler
// works from ᾱ alone (DDIM's σ uses ᾱ_prev/ᾱ_t, not β_t), so any subset of steps is exact; the
// continuous-time ᾱ(t) of the PF-ODE interpolates log ᾱ linearly between the grid points, so it
// agrees with the discrete chain at every t = n/T.

/// A variance-preserving noise schedule: q(x_n | x₀) = N(√ᾱ_n x₀, (1 − ᾱ_n) I).
public struct NoiseSchedule: Sendable, Equatable {
    /// The shape of the β schedule: linear (DDPM) or cosine (improved DDPM).
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// βₙ linear from `betaStart` to `betaEnd` (Ho et al. 2020: 1e-4 → 0.02, T = 1000).
        case linear
        /// ᾱ(t) = cos²((t + s)/(1 + s) · π/2) / cos²(s/(1 + s) · π/2), s = 0.008, βₙ ≤ 0.999
        /// (Nichol & Dhariwal 2021).
        case cosine
    }

    /// The schedule's shape.
    public let kind: Kind
    /// T, the number of steps.
    public let stepCount: Int
    /// β₁…β_T (index n − 1).
    public let betas: [Double]
    /// ᾱ₀ = 1, ᾱ₁…ᾱ_T (index n).
    public let alphaBars: [Double]

    /// A schedule of `kind` with T = `stepCount` steps (1000 by default); `betaStart` and `betaEnd`
    /// (1e-4, 0.02) set the linear one. Precomputes β and ᾱ.
    public init(kind: Kind = .linear, stepCount: Int = 1000, betaStart: Double = 1e-4, betaEnd: Double = 0.02) {
        precondition(stepCount >= 1, "NoiseSchedule: stepCount must be at least 1, got \(stepCount)")
        self.kind = kind
        self.stepCount = stepCount
        var betas: [Double]
        switch kind {
        case .linear:
            betas = (0..<stepCount).map { i in
                stepCount == 1 ? betaEnd : betaStart + (betaEnd - betaStart) * Double(i) / Double(stepCount - 1)
            }
        case .cosine:
            let s = 0.008
            func f(_ t: Double) -> Double { let c = Foundation.cos((t + s) / (1 + s) * Double.pi / 2); return c * c }
            betas = (1...stepCount).map { n in
                Swift.min(0.999, 1 - f(Double(n) / Double(stepCount)) / f(Double(n - 1) / Double(stepCount)))
            }
        }
        self.betas = betas
        var bars = [1.0]
        for b in betas { bars.append(bars.last! * (1 - b)) }
        alphaBars = bars
    }

    /// ᾱ(t) for continuous t ∈ [0, 1]: log ᾱ interpolated linearly between t = n/T.
    public func alphaBar(at t: Double) -> Double {
        let (n, fraction) = locate(t)
        let lo = Foundation.log(alphaBars[n]), hi = Foundation.log(alphaBars[Swift.min(n + 1, stepCount)])
        return Foundation.exp(lo + fraction * (hi - lo))
    }

    /// d log ᾱ/dt = T·log(1 − β_{n+1}) on (n/T, (n+1)/T): minus the continuous β(t).
    public func logAlphaBarDerivative(at t: Double) -> Double {
        let (n, _) = locate(t)
        return Double(stepCount) * Foundation.log(1 - betas[Swift.min(n, stepCount - 1)])
    }

    private func locate(_ t: Double) -> (Int, Double) {
        let u = Swift.min(Swift.max(t, 0), 1) * Double(stepCount)
        let n = Swift.min(Int(u.rounded(.down)), stepCount - 1)
        return (n, u - Double(n))
    }

    /// How a subset of K steps is spread over 1…T.
    public enum Spacing: String, Sendable, Codable, CaseIterable {
        /// τᵢ = round(i·T/K), i = K…1: always starts at n = T (pure noise).
        case trailing
        /// τᵢ = round((i/K)²·T) (deduplicated): denser near the data, as DDIM's CIFAR setting.
        case quadratic
    }

    /// A decreasing subset of steps T ≥ τ₁ > τ₂ > … ≥ 1 for a K-step sampler (K ≤ T).
    public func timesteps(count: Int, spacing: Spacing = .trailing) -> [Int] {
        precondition(count >= 1 && count <= stepCount, "timesteps: count must be in 1…\(stepCount), got \(count)")
        var steps: [Int]
        switch spacing {
        case .trailing:
            steps = (1...count).map { i in Swift.max(1, Int((Double(i) * Double(stepCount) / Double(count)).rounded())) }
        case .quadratic:
            steps = (1...count).map { i in Swift.max(1, Int((Double(i * i) / Double(count * count) * Double(stepCount)).rounded())) }
        }
        return Array(Set(steps)).sorted(by: >)
    }
}

/// What the diffusion network predicts (with x_n = a·x₀ + s·ε, a = √ᾱ_n, s = √(1 − ᾱ_n)).
public enum DiffusionPrediction: String, Sendable, Codable, CaseIterable {
    /// ε (Ho et al. 2020).
    case epsilon
    /// v = a·ε − s·x₀ (Salimans & Ho 2022).
    case velocity
    /// x₀ itself.
    case data

    /// The training target for this parameterisation.
    public func target(data x0: Tensor, noise epsilon: Tensor, a: Tensor, s: Tensor) -> Tensor {
        switch self {
        case .epsilon: return epsilon
        case .velocity: return a * epsilon - s * x0
        case .data: return x0
        }
    }

    /// (x̂₀, ε̂) from the network output at x_n: ε: x̂₀ = (x − s ε̂)/a; x₀: ε̂ = (x − a x̂₀)/s;
    /// v (a² + s² = 1): x̂₀ = a x − s v, ε̂ = s x + a v.
    public func dataAndNoise(output: Tensor, at x: Tensor, a: Double, s: Double) -> (data: Tensor, noise: Tensor) {
        switch self {
        case .epsilon: return ((x - output * s) / a, output)
        case .data: return (output, (x - output * a) / s)
        case .velocity: return (x * a - output * s, x * s + output * a)
        }
    }
}

/// The DDPM training loss (L_simple):
///
///     n ~ U{1…T}, ε ~ N(0, I), x_n = √ᾱ_n x₀ + √(1 − ᾱ_n) ε,   L = mean ‖f_θ(x_n, n/T) − target‖²
///
/// with target ε, v or x₀ (`prediction`). Shapes: data [B, d]. Ho et al. 2020, eq. 14.
public func diffusionLoss<Model: TimeConditionedModel>(_ model: Model, data x0: Tensor, schedule: NoiseSchedule,
                                                       prediction: DiffusionPrediction = .epsilon,
                                                       using rng: inout SeededGenerator) -> Tensor {
    let batch = x0.shape[0]
    let steps = (0..<batch).map { _ in 1 + Int(rng.next() % UInt64(schedule.stepCount)) }
    let a = Tensor(steps.map { schedule.alphaBars[$0].squareRoot() }, shape: [batch, 1], dtype: x0.dtype)
    let s = Tensor(steps.map { (1 - schedule.alphaBars[$0]).squareRoot() }, shape: [batch, 1], dtype: x0.dtype)
    let t = Tensor(steps.map { Double($0) / Double(schedule.stepCount) }, shape: [batch, 1], dtype: x0.dtype)
    let epsilon = Tensor.randomNormal(shape: x0.shape, dtype: x0.dtype, using: &rng)
    let xn = a * x0 + s * epsilon
    let target = prediction.target(data: x0, noise: epsilon, a: a, s: s)
    return (model(xn, time: t) - target).squared().mean()
}

/// DDPM ancestral sampling from x_T ~ N(0, I) (`noise`) down to x₀:
///
///     x_{n−1} = (√ᾱ_{n−1} βₙ/(1 − ᾱₙ)) x̂₀ + (√αₙ (1 − ᾱ_{n−1})/(1 − ᾱₙ)) xₙ + σₙ z,   z ~ N(0, I)
///
/// with σₙ² = β̃ₙ = (1 − ᾱ_{n−1})/(1 − ᾱₙ) βₙ (the posterior variance; `largeVariance` uses βₙ) and no
/// noise at the last step. With ε-prediction this is Ho et al.'s μ = (xₙ − βₙ/√(1 − ᾱₙ) ε̂)/√αₙ.
/// T network evaluations. Shapes: noise [B, d] → [B, d].
public func ddpmSample<Model: TimeConditionedModel>(_ model: Model, noise: Tensor, schedule: NoiseSchedule,
                                                    prediction: DiffusionPrediction = .epsilon, largeVariance: Bool = false,
                                                    using rng: inout SeededGenerator) -> Tensor {
    withoutDerivatives {
        var x = noise
        for n in stride(from: schedule.stepCount, through: 1, by: -1) {
            let bar = schedule.alphaBars[n], barPrev = schedule.alphaBars[n - 1], beta = schedule.betas[n - 1]
            let output = model(x, time: Double(n) / Double(schedule.stepCount))
            let x0 = prediction.dataAndNoise(output: output, at: x, a: bar.squareRoot(), s: (1 - bar).squareRoot()).data
            let mean = x0 * (barPrev.squareRoot() * beta / (1 - bar)) + x * ((1 - beta).squareRoot() * (1 - barPrev) / (1 - bar))
            if n > 1 {
                let variance = largeVariance ? beta : (1 - barPrev) / (1 - bar) * beta
                x = mean + Tensor.randomNormal(shape: x.shape, dtype: x.dtype, using: &rng) * variance.squareRoot()
            } else {
                x = mean
            }
        }
        return x
    }
}

/// DDIM sampling over a decreasing subset of steps τ (Song, Meng & Ermon 2021, eq. 12):
///
///     x_prev = √ᾱ_prev x̂₀ + √(1 − ᾱ_prev − σ²) ε̂ + σ z,
///     σ = η √((1 − ᾱ_prev)/(1 − ᾱ_τ)) √(1 − ᾱ_τ/ᾱ_prev)
///
/// where prev is the next entry of τ (ᾱ = 1 after the last). η = 0 is deterministic (the
/// probability-flow ODE discretised in σ/√ᾱ); η = 1 with τ = T…1 is DDPM ancestral sampling with
/// σ² = β̃. Exact for any spacing because σ uses ᾱ_prev/ᾱ_τ. K network evaluations.
public func ddimSample<Model: TimeConditionedModel>(_ model: Model, noise: Tensor, schedule: NoiseSchedule,
                                                    timesteps: [Int], eta: Double = 0,
                                                    prediction: DiffusionPrediction = .epsilon,
                                                    using rng: inout SeededGenerator) -> Tensor {
    precondition(!timesteps.isEmpty, "ddimSample: no timesteps")
    for i in timesteps.indices {
        precondition(timesteps[i] >= 1 && timesteps[i] <= schedule.stepCount, "ddimSample: step \(timesteps[i]) outside 1…\(schedule.stepCount)")
        precondition(i == 0 || timesteps[i] < timesteps[i - 1], "ddimSample: timesteps must be strictly decreasing, got \(timesteps)")
    }
    return withoutDerivatives {
        var x = noise
        for (i, n) in timesteps.enumerated() {
            let bar = schedule.alphaBars[n]
            let barPrev = i + 1 < timesteps.count ? schedule.alphaBars[timesteps[i + 1]] : 1
            let output = model(x, time: Double(n) / Double(schedule.stepCount))
            let (x0, epsilon) = prediction.dataAndNoise(output: output, at: x, a: bar.squareRoot(), s: (1 - bar).squareRoot())
            let sigma = eta * ((1 - barPrev) / (1 - bar)).squareRoot() * Swift.max(0, 1 - bar / barPrev).squareRoot()
            x = x0 * barPrev.squareRoot() + epsilon * Swift.max(0, 1 - barPrev - sigma * sigma).squareRoot()
            if sigma > 0 { x = x + Tensor.randomNormal(shape: x.shape, dtype: x.dtype, using: &rng) * sigma }
        }
        return x
    }
}

/// The probability-flow ODE of the VP diffusion (Song et al. 2021, eq. 13), in this module's time:
///
///     dx/dt = f(t) x − ½ g(t)² ∇log p_t(x),   f = ½ λ′,  g² = −λ′,  λ′ = d log ᾱ/dt,  ∇log p_t = −ε̂/√(1 − ᾱ)
///           = ½ λ′(t) · (x − ε̂(x, t)/√(1 − ᾱ(t)))
///
/// integrated from t = 1 down to t = 1/T with `solver`, then one denoising x̂₀ = (x − √(1 − ᾱ) ε̂)/√ᾱ at
/// t = 1/T (the score is singular at t = 0). Deterministic; returns the samples and the NFE.
public func probabilityFlowSample<Model: TimeConditionedModel>(_ model: Model, noise: Tensor, schedule: NoiseSchedule,
                                                               prediction: DiffusionPrediction = .epsilon,
                                                               solver: ODESolver) throws -> (samples: Tensor, evaluationCount: Int) {
    let tEnd = 1 / Double(schedule.stepCount)
    func noiseEstimate(_ x: Tensor, _ t: Double) -> Tensor {
        let bar = schedule.alphaBar(at: t)
        return prediction.dataAndNoise(output: model(x, time: t), at: x, a: bar.squareRoot(), s: (1 - bar).squareRoot()).noise
    }
    return try withoutDerivatives {
        let solution = try solver.solve({ t, x in
            let slope = schedule.logAlphaBarDerivative(at: t)
            let s = (1 - schedule.alphaBar(at: t)).squareRoot()
            return (x - noiseEstimate(x, t) / s) * (0.5 * slope)
        }, initial: noise, from: 1, to: tEnd)
        let bar = schedule.alphaBar(at: tEnd)
        let x = solution.state
        let x0 = (x - noiseEstimate(x, tEnd) * (1 - bar).squareRoot()) / bar.squareRoot()
        return (x0, solution.evaluationCount + 1)
    }
}
