import Foundation

/// How a loss combines per-element values.
public enum Reduction: Sendable {
    case mean, sum, none
}

func reduce(_ x: Tensor, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .mean: return x.mean()
    case .sum: return x.sum()
    case .none: return x
    }
}

/// Mean-squared error (PyTorch's `nn.MSELoss`): mean((prediction − target)²), or the sum, or per element.
///
/// Shapes: prediction and target the same shape → a scalar (`.mean`, `.sum`) or that shape (`.none`).
public func meanSquaredError(_ prediction: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    precondition(prediction.shape == target.shape, "meanSquaredError: prediction \(prediction.shape) and target \(target.shape) differ")
    let d = prediction - target
    return reduce(d * d, reduction)
}

/// Negative log-likelihood of int32 class labels under log-probabilities (classes on the last axis;
/// PyTorch's `nn.NLLLoss`): −logp[i, label_i], averaged over the labels that are not `ignoreIndex`.
///
/// Shapes: logProbabilities [..., C], labels [...] (int32) → scalar (or [...] with `.none`).
public func negativeLogLikelihood(_ logProbabilities: Tensor, labels: Tensor, ignoreIndex: Int32 = -100,
                                  reduction: Reduction = .mean) -> Tensor {
    classificationLoss(logProbabilities, labels: labels, ignoreIndex: ignoreIndex, labelSmoothing: 0, reduction: reduction, "negativeLogLikelihood")
}

/// Cross-entropy from logits (classes on the last axis, as PyTorch for [N, C]):
/// ℓ_i = (1 − ε)(−logp[i, y_i]) + ε · mean_c(−logp[i, c]) with logp = logSoftmax(logits),
/// averaged over labels that are not `ignoreIndex` (ε = `labelSmoothing`, PyTorch's `nn.CrossEntropyLoss`
/// with class indices). Stable: log-softmax subtracts the row maximum.
///
/// Shapes: logits [..., C], labels [...] (int32) → scalar (or [...] with `.none`).
public func crossEntropy(logits: Tensor, labels: Tensor, ignoreIndex: Int32 = -100, labelSmoothing: Double = 0,
                         reduction: Reduction = .mean) -> Tensor {
    if labelSmoothing == 0 && logits.dtype.isFloatingPoint && labels.dtype == .int32 && Array(logits.shape.dropLast()) == labels.shape {
        // The fused softmax cross-entropy (one pass per row; same value and derivatives).
        let classes = logits.shape[logits.rank - 1]
        let raw = labels.int32s
        for v in raw where v != ignoreIndex && (v < 0 || Int(v) >= classes) {
            preconditionFailure("crossEntropy: label \(v) out of range 0..<\(classes)")
        }
        let kept = raw.reduce(0) { $0 + ($1 == ignoreIndex ? 0 : 1) }
        let safe = kept == raw.count ? labels.reshaped(to: [raw.count]) : Tensor(raw.map { $0 == ignoreIndex ? 0 : $0 })
        var perItem = Tensor.softmaxCrossEntropy(logits: logits.reshaped(to: [raw.count, classes]), labels: safe)
        if kept < raw.count { perItem = perItem * Tensor(raw.map { $0 == ignoreIndex ? 0.0 : 1.0 }, shape: [raw.count], dtype: logits.dtype) }
        switch reduction {
        case .mean: return perItem.sum() / Double(Swift.max(kept, 1))
        case .sum: return perItem.sum()
        case .none: return perItem.reshaped(to: labels.shape)
        }
    }
    return classificationLoss(logits.logSoftmax(axis: -1), labels: labels, ignoreIndex: ignoreIndex,
                              labelSmoothing: labelSmoothing, reduction: reduction, "crossEntropy")
}

func classificationLoss(_ logp: Tensor, labels: Tensor, ignoreIndex: Int32, labelSmoothing: Double,
                        reduction: Reduction, _ op: String) -> Tensor {
    precondition(labels.dtype == .int32, "\(op): labels must be int32, got \(labels.dtype) \(labels.shape)")
    precondition(Array(logp.shape.dropLast()) == labels.shape, "\(op): inputs \(logp.shape) and labels \(labels.shape) do not match ([..., C] and [...])")
    precondition(labelSmoothing >= 0 && labelSmoothing <= 1, "\(op): labelSmoothing must be in [0, 1], got \(labelSmoothing)")
    let classes = logp.shape[logp.rank - 1]
    let raw = labels.int32s
    for v in raw where v != ignoreIndex && (v < 0 || Int(v) >= classes) {
        preconditionFailure("\(op): label \(v) out of range 0..<\(classes)")
    }
    let keep = raw.map { $0 == ignoreIndex ? 0.0 : 1.0 }
    let safe = Tensor(raw.map { $0 == ignoreIndex ? 0 : $0 }, shape: [raw.count, 1])
    let flat = logp.reshaped(to: [raw.count, classes])
    let mask = Tensor(keep, shape: [raw.count], dtype: logp.dtype)
    var perItem = -flat.gather(axis: 1, indices: safe).reshaped(to: [raw.count])
    if labelSmoothing > 0 {
        perItem = perItem * (1 - labelSmoothing) - flat.mean(axis: 1) * labelSmoothing
    }
    perItem = perItem * mask
    switch reduction {
    case .mean: return perItem.sum() / Swift.max(keep.reduce(0, +), 1)
    case .sum: return perItem.sum()
    case .none: return perItem.reshaped(to: labels.shape)
    }
}

/// Binary cross-entropy on logits: ℓ = softplus(x) − x·y = max(x, 0) − x·y + log(1 + e^{−|x|}),
/// stable for any x (PyTorch's `binary_cross_entropy_with_logits`).
///
/// Shapes: logits and targets (in [0, 1]) the same shape → scalar (or that shape with `.none`).
public func binaryCrossEntropy(logits: Tensor, targets: Tensor, reduction: Reduction = .mean) -> Tensor {
    precondition(logits.shape == targets.shape, "binaryCrossEntropy: logits \(logits.shape) and targets \(targets.shape) differ")
    return reduce(logits.softplus() - logits * targets, reduction)
}

/// Elementwise log-density of N(mean, σ²) with σ = exp(logStandardDeviation):
/// −½((x − μ)/σ)² − log σ − ½ log 2π (μ = 0 and σ = 1 when nil). Shapes: x [...]; the parameters
/// broadcast against x → x's shape.
public func gaussianLogDensity(_ x: Tensor, mean: Tensor? = nil, logStandardDeviation: Tensor? = nil) -> Tensor {
    var z = x
    if let mean { z = z - mean }
    var result: Tensor
    if let s = logStandardDeviation {
        z = z * (-s).exp()
        result = z * z * -0.5 - s
    } else {
        result = z * z * -0.5
    }
    return result - 0.5 * Foundation.log(2 * Double.pi)
}

/// Elementwise log-density of the logistic distribution with location μ and scale s:
/// log p = −z − 2·softplus(−z) − log s with z = (x − μ)/s (stable for large |z|; μ = 0 and s = 1
/// when nil). Shapes: x [...]; the parameters broadcast against x → x's shape.
public func logisticLogDensity(_ x: Tensor, location: Tensor? = nil, logScale: Tensor? = nil) -> Tensor {
    var z = x
    if let location { z = z - location }
    if let logScale { z = z * (-logScale).exp() }
    var result = -z - 2 * (-z).softplus()
    if let logScale { result = result - logScale }
    return result
}
