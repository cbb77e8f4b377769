/// A Transformer encoder layer (Vaswani et al. 2017, §3.1) with PyTorch's
/// `nn.TransformerEncoderLayer(batch_first=True, dropout=0)` parameter names (`self_attn.*`,
/// `linear1`, `linear2`, `norm1`, `norm2`), in either norm placement:
///
///     post-LN (normFirst = false, the paper):  x ← LN₁(x + SA(x)),   x ← LN₂(x + FF(x))
///     pre-LN  (normFirst = true, Xiong et al. 2020):  x ← x + SA(LN₁(x)),   x ← x + FF(LN₂(x))
///
/// with FF(x) = linear2(act(linear1(x))). Shapes: x [B, T, E] → [B, T, E]; masks as
/// `MultiheadAttention`. Dropout is not applied (PyTorch with dropout = 0).
/// Initialisation: `MultiheadAttention`'s and `Linear`'s (PyTorch's); LayerNorm γ = 1, β = 0, ε = 1e-5.
public struct TransformerEncoderLayer: Layer {
    public var selfAttention: MultiheadAttention
    public var linear1: Linear
    public var linear2: Linear
    public var norm1: LayerNorm
    public var norm2: LayerNorm
    public var activation: Activation
    public let normFirst: Bool

    public init(width: Int, headCount: Int, feedForwardSize: Int = 2048, activation: Activation.Kind = .relu,
                normFirst: Bool = false, layerNormEpsilon: Double = 1e-5, qkNorm: Bool = false, rotary: Bool = false,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        selfAttention = MultiheadAttention(width: width, headCount: headCount, qkNorm: qkNorm, rotary: rotary, dtype: dtype, using: &rng)
        linear1 = Linear(inputSize: width, outputSize: feedForwardSize, dtype: dtype, using: &rng)
        linear2 = Linear(inputSize: feedForwardSize, outputSize: width, dtype: dtype, using: &rng)
        norm1 = LayerNorm(normalizedShape: [width], epsilon: layerNormEpsilon, dtype: dtype)
        norm2 = LayerNorm(normalizedShape: [width], epsilon: layerNormEpsilon, dtype: dtype)
        self.activation = Activation(activation)
        self.normFirst = normFirst
    }

    /// The layer on x [B, T, E] without masks.
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, causal: false) }

    /// The layer on x [B, T, E] with its self-attention masked as `MultiheadAttention`'s.
    public func callAsFunction(_ x: Tensor, causal: Bool, keyPadding: Tensor? = nil, mask: Tensor? = nil) -> Tensor {
        let ff = { (h: Tensor) in linear2(activation(linear1(h))) }
        if normFirst {
            let h = x + selfAttention(norm1(x), causal: causal, keyPadding: keyPadding, mask: mask)
            return h + ff(norm2(h))
        }
        let h = norm1(x + selfAttention(x, causal: causal, keyPadding: keyPadding, mask: mask))
        return norm2(h + ff(h))
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        selfAttention.visitParameters(prefix: Self.join(prefix, "self_attn"), body)
        linear1.visitParameters(prefix: Self.join(prefix, "linear1"), body)
        linear2.visitParameters(prefix: Self.join(prefix, "linear2"), body)
        norm1.visitParameters(prefix: Self.join(prefix, "norm1"), body)
        norm2.visitParameters(prefix: Self.join(prefix, "norm2"), body)
    }
}

/// A Transformer decoder layer (Vaswani et al. 2017, §3.1): masked self-attention, cross-attention
/// over the encoder's output (`memory`), and a feed-forward network, with PyTorch's
/// `nn.TransformerDecoderLayer(batch_first=True, dropout=0)` names (`self_attn`, `multihead_attn`,
/// `linear1`, `linear2`, `norm1`, `norm2`, `norm3`):
///
///     post-LN:  x ← LN₁(x + SA(x)),  x ← LN₂(x + CA(x, m)),  x ← LN₃(x + FF(x))
///     pre-LN:   x ← x + SA(LN₁(x)),  x ← x + CA(LN₂(x), m),  x ← x + FF(LN₃(x))
///
/// Shapes: x [B, T, E], memory [B, S, E] → [B, T, E]. Self-attention is causal by default
/// (`causal`); `memoryKeyPadding` [B, S] (1 = attend) masks padded memory positions.
/// Initialisation as `TransformerEncoderLayer`.
/// Not a `Layer`: every call needs the encoder's `memory` as well as x, and there is no sensible
/// default for it.
public struct TransformerDecoderLayer: ParameterTree {
    public var selfAttention: MultiheadAttention
    public var crossAttention: MultiheadAttention
    public var linear1: Linear
    public var linear2: Linear
    public var norm1: LayerNorm
    public var norm2: LayerNorm
    public var norm3: LayerNorm
    public var activation: Activation
    public let normFirst: Bool

    public init(width: Int, headCount: Int, feedForwardSize: Int = 2048, activation: Activation.Kind = .relu,
                normFirst: Bool = false, layerNormEpsilon: Double = 1e-5, dtype: DType = .float32, using rng: inout SeededGenerator) {
        selfAttention = MultiheadAttention(width: width, headCount: headCount, dtype: dtype, using: &rng)
        crossAttention = MultiheadAttention(width: width, headCount: headCount, dtype: dtype, using: &rng)
        linear1 = Linear(inputSize: width, outputSize: feedForwardSize, dtype: dtype, using: &rng)
        linear2 = Linear(inputSize: feedForwardSize, outputSize: width, dtype: dtype, using: &rng)
        norm1 = LayerNorm(normalizedShape: [width], epsilon: layerNormEpsilon, dtype: dtype)
        norm2 = LayerNorm(normalizedShape: [width], epsilon: layerNormEpsilon, dtype: dtype)
        norm3 = LayerNorm(normalizedShape: [width], epsilon: layerNormEpsilon, dtype: dtype)
        self.activation = Activation(activation)
        self.normFirst = normFirst
    }

    /// The layer on x [B, T, E] attending to `memory` [B, S, E]; `keyPadding` [B, T] masks x's own keys.
    public func callAsFunction(_ x: Tensor, memory: Tensor, causal: Bool = true, keyPadding: Tensor? = nil,
                               memoryKeyPadding: Tensor? = nil) -> Tensor {
        let ff = { (h: Tensor) in linear2(activation(linear1(h))) }
        let cross = { (h: Tensor) in
            crossAttention(query: h, key: memory, value: memory, keyPadding: memoryKeyPadding)
        }
        if normFirst {
            var h = x + selfAttention(norm1(x), causal: causal, keyPadding: keyPadding)
            h = h + cross(norm2(h))
            return h + ff(norm3(h))
        }
        var h = norm1(x + selfAttention(x, causal: causal, keyPadding: keyPadding))
        h = norm2(h + cross(h))
        return norm3(h + ff(h))
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        selfAttention.visitParameters(prefix: Self.join(prefix, "self_attn"), body)
        crossAttention.visitParameters(prefix: Self.join(prefix, "multihead_attn"), body)
        linear1.visitParameters(prefix: Self.join(prefix, "linear1"), body)
        linear2.visitParameters(prefix: Self.join(prefix, "linear2"), body)
        norm1.visitParameters(prefix: Self.join(prefix, "norm1"), body)
        norm2.visitParameters(prefix: Self.join(prefix, "norm2"), body)
        norm3.visitParameters(prefix: Self.join(prefix, "norm3"), body)
    }
}

/// A stack of `TransformerEncoderLayer`s with an optional final LayerNorm, as PyTorch's
/// `nn.TransformerEncoder(layer, num_layers, norm)` (names `layers.N.*`, `norm.*`):
///
///     h₀ = x,  h_l = Layer_l(h_{l−1}),  y = LN(h_L) (when `norm`; usual with pre-LN layers)
///
/// Shapes: x [B, T, E] → [B, T, E]; masks as `MultiheadAttention`. Initialisation: each layer's own.
public struct TransformerEncoder: Layer {
    public var layers: [TransformerEncoderLayer]
    public var norm: LayerNorm?

    public init(layerCount: Int, width: Int, headCount: Int, feedForwardSize: Int = 2048, activation: Activation.Kind = .relu,
                normFirst: Bool = false, finalNorm: Bool? = nil, qkNorm: Bool = false, rotary: Bool = false,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(layerCount > 0, "TransformerEncoder: needs at least one layer, got \(layerCount)")
        layers = (0..<layerCount).map { _ in
            TransformerEncoderLayer(width: width, headCount: headCount, feedForwardSize: feedForwardSize, activation: activation,
                                    normFirst: normFirst, qkNorm: qkNorm, rotary: rotary, dtype: dtype, using: &rng)
        }
        norm = (finalNorm ?? normFirst) ? LayerNorm(normalizedShape: [width], dtype: dtype) : nil
    }

    /// The stack on x [B, T, E] without masks.
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, causal: false) }

    /// The stack on x [B, T, E], every layer masked as `MultiheadAttention`'s.
    public func callAsFunction(_ x: Tensor, causal: Bool, keyPadding: Tensor? = nil, mask: Tensor? = nil) -> Tensor {
        var h = x
        for layer in layers { h = layer(h, causal: causal, keyPadding: keyPadding, mask: mask) }
        return norm.map { $0(h) } ?? h
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        layers.visitParameters(prefix: Self.join(prefix, "layers"), body)
        norm?.visitParameters(prefix: Self.join(prefix, "norm"), body)
    }
}
