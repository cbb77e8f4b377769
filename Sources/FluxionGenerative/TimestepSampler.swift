import Foundation

// SD3 timestep samplers and the resolution-dependent shift (SPEC §9; Esser et al. 2024,
// arXiv:2403.03206, §3.1 and §5.3.2). Time convention of this module: data at t = 0, noise at
// t = 1, z_t = (1 − t)x₀ + tε — the same as SD3's, so the samplers need no conversion.

/// A density π(t) on (0, 1) from which training times are drawn.
public enum TimestepSampler: Equatable, Sendable, Codable {
    /// t ~ U(0, 1); π(t) = 1.
    case uniform
    /// t = sigmoid(u), u ~ N(m, s²):
    ///
    ///     π_ln(t; m, s) = 1/(s√(2π)) · 1/(t(1 − t)) · exp(−(logit t − m)²/(2s²))
    ///
    /// m < 0 biases toward data, m > 0 toward noise. SD3's best: (0, 1).
    case logitNormal(mean: Double, standardDeviation: Double)
    /// Mode sampling with heavy tails: t = f(u) = 1 − u − s·(cos²(πu/2) − 1 + u), u ~ U(0, 1).
    /// Monotone (a valid sampler) for −1 ≤ s ≤ 2/(π − 2) ≈ 1.752; s = 0 is uniform.
    case mode(scale: Double)
    /// CosMap: t = 1 − 1/(tan(πu/2) + 1), u ~ U(0, 1); π(t) = 2/(π − 2πt + 2πt²).
    case cosMap

    /// The largest `mode` scale for which f is monotone: 2/(π − 2).
    public static let maximumModeScale = 2 / (Double.pi - 2)

    /// Draws `count` times as a [count, 1] tensor.
    public func sample(count: Int, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        let values = (0..<count).map { _ in sampleOne(using: &rng) }
        return Tensor(values, shape: [count, 1], dtype: dtype)
    }

    /// One draw t ∈ (0, 1).
    public func sampleOne(using rng: inout SeededGenerator) -> Double {
        switch self {
        case .uniform:
            return rng.nextUniform()
        case let .logitNormal(m, s):
            let u = m + s * rng.nextNormal()
            return 1 / (1 + Foundation.exp(-u))
        case let .mode(s):
            return Self.modeMap(rng.nextUniform(), scale: s)
        case .cosMap:
            let u = rng.nextUniform()
            return 1 - 1 / (Foundation.tan(Double.pi * u / 2) + 1)
        }
    }

    /// The mode map f(u; s) = 1 − u − s·(cos²(πu/2) − 1 + u).
    public static func modeMap(_ u: Double, scale s: Double) -> Double {
        let c = Foundation.cos(Double.pi * u / 2)
        return 1 - u - s * (c * c - 1 + u)
    }

    /// The density π(t) of the sampled times. For `mode` it is 1/|f′(u)| at u = f⁻¹(t), with
    /// f′(u) = −1 − s + s·(π/2)·sin(πu), found by bisection (f is decreasing).
    public func density(_ t: Double) -> Double {
        guard t > 0 && t < 1 else { return 0 }
        switch self {
        case .uniform:
            return 1
        case let .logitNormal(m, s):
            let logit = Foundation.log(t / (1 - t))
            return 1 / (s * (2 * Double.pi).squareRoot()) / (t * (1 - t)) * Foundation.exp(-(logit - m) * (logit - m) / (2 * s * s))
        case let .mode(s):
            var lo = 0.0, hi = 1.0            // f(0) = 1, f(1) = 0, decreasing
            for _ in 0..<100 {
                let mid = (lo + hi) / 2
                if Self.modeMap(mid, scale: s) > t { lo = mid } else { hi = mid }
            }
            let u = (lo + hi) / 2
            let derivative = -1 - s + s * Double.pi / 2 * Foundation.sin(Double.pi * u)
            return 1 / Swift.abs(derivative)
        case .cosMap:
            return 2 / (Double.pi - 2 * Double.pi * t + 2 * Double.pi * t * t)
        }
    }

    /// Parses `uniform`, `logit-normal:M,S` (default 0,1), `mode:S` (default 1.29), `cosmap`.
    public init?(parsing text: String) {
        let parts = text.lowercased().split(separator: ":", maxSplits: 1).map(String.init)
        let args = parts.count > 1 ? parts[1].split(separator: ",").compactMap { Double($0) } : []
        switch parts.first ?? "" {
        case "uniform": self = .uniform
        case "logit-normal", "lognorm", "logitnormal":
            self = .logitNormal(mean: args.count > 0 ? args[0] : 0, standardDeviation: args.count > 1 ? args[1] : 1)
        case "mode": self = .mode(scale: args.first ?? 1.29)
        case "cosmap": self = .cosMap
        default: return nil
        }
    }
}

/// The resolution-dependent timestep shift of SD3 (§5.3.2), diffusers' form:
///
///     t′ = α·t / (1 + (α − 1)·t),   α = √(m/n)
///
/// It keeps t = 0 and t = 1 fixed and moves every interior time toward noise for α > 1
/// (α = 3 maps 0.5 → 0.75); the log-SNR shifts by −2 log α. SD3 uses α = 3 at 1024² for both
/// training and sampling.
public func shiftTimestep(_ t: Double, shift alpha: Double) -> Double {
    precondition(alpha > 0, "shiftTimestep: the shift must be positive, got \(alpha)")
    return alpha * t / (1 + (alpha - 1) * t)
}

/// The shift applied elementwise to a tensor of times (same formula as `shiftTimestep`).
public func shiftTimesteps(_ t: Tensor, shift alpha: Double) -> Tensor {
    precondition(alpha > 0, "shiftTimesteps: the shift must be positive, got \(alpha)")
    return (t * alpha) / (1 + t * (alpha - 1))
}
