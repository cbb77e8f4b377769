import Foundation

/// A learning rate as a function of the step (0-based): set `optimizer.learningRate =
/// schedule.rate(at: step)` before each update.
public enum LearningRateSchedule: Sendable, Equatable {
    /// η at every step.
    case constant(Double)
    /// η · γ^⌊step / stepSize⌋ (PyTorch's StepLR).
    case step(initial: Double, stepSize: Int, gamma: Double)
    /// η_min + (η − η_min)(1 + cos(π·step/total))/2, held at η_min after `total` (PyTorch's
    /// CosineAnnealingLR; Loshchilov & Hutter 2017, SGDR, without restarts).
    case cosine(initial: Double, total: Int, minimum: Double = 0)
    /// Linear warm-up η·(step + 1)/warmup for the first `warmup` steps (Goyal et al. 2017), then
    /// cosine decay from η to `minimum` at `total`.
    case warmupCosine(peak: Double, warmup: Int, total: Int, minimum: Double = 0)

    /// The learning rate for update number `step` (0-based).
    public func rate(at step: Int) -> Double {
        switch self {
        case .constant(let lr): return lr
        case .step(let lr, let size, let gamma): return lr * Foundation.pow(gamma, Double(step / Swift.max(size, 1)))
        case .cosine(let lr, let total, let minimum):
            let t = Double(Swift.min(step, total)) / Double(Swift.max(total, 1))
            return minimum + (lr - minimum) * (1 + Foundation.cos(Double.pi * t)) / 2
        case .warmupCosine(let peak, let warmup, let total, let minimum):
            if step < warmup { return peak * Double(step + 1) / Double(warmup) }
            let t = Double(Swift.min(step - warmup, total - warmup)) / Double(Swift.max(total - warmup, 1))
            return minimum + (peak - minimum) * (1 + Foundation.cos(Double.pi * t)) / 2
        }
    }
}

/// Scales `gradient` so that its global L2 norm (over all parameters) is at most `maxNorm`
/// (PyTorch's `clip_grad_norm_`: factor maxNorm/(norm + 1e-6), capped at 1). Returns the norm
/// before clipping.
@discardableResult
public func clipGradientNorm<M: ParameterTree>(_ gradient: inout M, maxNorm: Double) -> Double {
    precondition(maxNorm > 0, "clipGradientNorm: maxNorm must be positive, got \(maxNorm)")
    var total = 0.0
    for (_, g) in gradient.namedParameters { total += (g * g).sum().cast(to: .float64).item }
    let norm = total.squareRoot()
    let factor = maxNorm / (norm + 1e-6)
    if factor < 1 { gradient = gradient.mapParameters { _, g in g * factor } }
    return norm
}

/// Exponential moving average of a model's parameters (Polyak averaging with exponential weights;
/// as timm's `ModelEmaV2`): θ̄ ← δθ̄ + (1 − δ)θ after each update, for evaluation with smoothed
/// weights. θ̄ starts at the model's parameters; δ = `decay` (0.999 by default).
public struct ExponentialMovingAverage<M: ParameterTree> {
    public var average: M
    public var decay: Double

    /// Starts the average at `model`'s parameters (detached from any recording).
    public init(_ model: M, decay: Double = 0.999) {
        precondition(decay >= 0 && decay <= 1, "ExponentialMovingAverage: decay must be in [0, 1], got \(decay)")
        average = model.mapParameters { _, t in t.detached }
        self.decay = decay
    }

    /// θ̄ ← δθ̄ + (1 − δ)θ for every parameter θ of `model` (visited in the same order as `average`).
    public mutating func update(with model: M) {
        let current = model.namedParameters
        var i = 0
        let d = decay
        average.visitParameters(prefix: "") { _, a in
            a = (a * d + current[i].value.detached * (1 - d))
            i += 1
        }
    }
}
