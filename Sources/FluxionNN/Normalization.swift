/// Layer normalisation (Ba et al. 2016; PyTorch's `nn.LayerNorm`) over the last axes:
/// y = (x − E[x]) / √(Var[x] + ε) · γ + β, with the biased variance (as PyTorch).
///
/// Shapes: x [..., *normalizedShape] → same; γ (`weight`), β (`bias`) [normalizedShape], 1 and 0
/// initially, present with `affine` (PyTorch's `elementwise_affine`; β also needs `bias`); ε = 1e-5.
/// Computed by the fused `Tensor.layerNorm` primitive.
public struct LayerNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public var epsilon: Double
    public let normalizedShape: [Int]

    public init(normalizedShape: [Int], epsilon: Double = 1e-5, affine: Bool = true, bias: Bool = true, dtype: DType = .float32) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon
        weight = affine ? Tensor.ones(shape: normalizedShape, dtype: dtype) : nil
        self.bias = affine && bias ? Tensor.zeros(shape: normalizedShape, dtype: dtype) : nil
    }

    /// x normalised over its last `normalizedShape.count` axes, then scaled and shifted.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(Array(x.shape.suffix(normalizedShape.count)) == normalizedShape,
                     "LayerNorm: input \(x.shape) does not end with the normalized shape \(normalizedShape)")
        return Tensor.layerNorm(x, normalizedShape: normalizedShape, weight: weight, bias: bias, epsilon: epsilon)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if weight != nil { body(Self.join(prefix, "weight"), &weight!) }
        if bias != nil { body(Self.join(prefix, "bias"), &bias!) }
    }
}

/// Root-mean-square normalisation (Zhang & Sennrich 2019; PyTorch's `nn.RMSNorm`) over the last axes:
/// y = x / √(mean(x²) + ε) · γ.
///
/// Shapes: x [..., *normalizedShape] → same; γ (`weight`) [normalizedShape], 1 initially, present
/// with `affine`. ε defaults to the dtype's machine epsilon, as PyTorch's `nn.RMSNorm(eps=None)`.
public struct RMSNorm: Layer {
    public var weight: Tensor?
    public var epsilon: Double
    public let normalizedShape: [Int]

    public init(normalizedShape: [Int], epsilon: Double? = nil, affine: Bool = true, dtype: DType = .float32) {
        self.normalizedShape = normalizedShape
        self.epsilon = epsilon ?? (dtype == .float64 ? Double.ulpOfOne : Double(Float.ulpOfOne))
        weight = affine ? Tensor.ones(shape: normalizedShape, dtype: dtype) : nil
    }

    /// x divided by its root mean square over the last `normalizedShape.count` axes, then scaled.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(Array(x.shape.suffix(normalizedShape.count)) == normalizedShape,
                     "RMSNorm: input \(x.shape) does not end with the normalized shape \(normalizedShape)")
        let axes = Array((x.rank - normalizedShape.count)..<x.rank)
        let y = x * ((x * x).mean(axes: axes, keepDims: true) + epsilon).rsqrt()
        return weight.map { y * $0 } ?? y
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if weight != nil { body(Self.join(prefix, "weight"), &weight!) }
    }
}

/// Group normalisation (Wu & He 2018; PyTorch's `nn.GroupNorm`): the C = `channelCount` channels
/// split into G = `groupCount` groups of C/G, each normalised over its channels and all spatial
/// positions (biased variance), then a per-channel affine map:
///
///     y[n, c, …] = (x[n, c, …] − μ[n, g(c)]) / √(σ²[n, g(c)] + ε) · γ[c] + β[c]
///
/// Shapes: x [N, C, *] → same; γ (`weight`), β (`bias`) [C], 1 and 0 initially, present with
/// `affine`; ε = 1e-5.
public struct GroupNorm: Layer {
    public var weight: Tensor?
    public var bias: Tensor?
    public let groupCount: Int
    public let channelCount: Int
    public var epsilon: Double

    public init(groupCount: Int, channelCount: Int, epsilon: Double = 1e-5, affine: Bool = true, dtype: DType = .float32) {
        precondition(groupCount > 0 && channelCount % groupCount == 0,
                     "GroupNorm: \(channelCount) channels do not split into \(groupCount) groups")
        self.groupCount = groupCount
        self.channelCount = channelCount
        self.epsilon = epsilon
        weight = affine ? Tensor.ones(shape: [channelCount], dtype: dtype) : nil
        bias = affine ? Tensor.zeros(shape: [channelCount], dtype: dtype) : nil
    }

    /// x [N, C, *] normalised per sample and group, then scaled and shifted per channel.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        precondition(x.rank >= 2 && x.shape[1] == channelCount, "GroupNorm: input \(x.shape) must be [N, \(channelCount), ...]")
        let n = x.shape[0]
        let grouped = x.reshaped(to: [n, groupCount, -1])
        let mean = grouped.mean(axis: 2, keepDims: true)
        let centered = grouped - mean
        let variance = (centered * centered).mean(axis: 2, keepDims: true)
        var y = (centered * (variance + epsilon).rsqrt()).reshaped(to: x.shape)
        let channelShape = [1, channelCount] + [Int](repeating: 1, count: x.rank - 2)
        if let weight { y = y * weight.reshaped(to: channelShape) }
        if let bias { y = y + bias.reshaped(to: channelShape) }
        return y
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if weight != nil { body(Self.join(prefix, "weight"), &weight!) }
        if bias != nil { body(Self.join(prefix, "bias"), &bias!) }
    }
}
