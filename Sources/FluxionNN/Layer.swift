// Labelling scheme of layer initialisers (FluxionNN, and the flow layers of FluxionGenerative):
// PyTorch's meaning and argument order, spelled in full Swift words.
//
//   1. A number of things standing alone is `thingCount` (PyTorch `num_things`, or a plural such as
//      `groups`): `groupCount`, `channelCount`, `headCount`, `layerCount`, `embeddingCount`,
//      `hiddenLayerCount`.
//   2. The extent of a layer's input, output or hidden axis is `input…`/`output…`/`hidden…` with
//      the noun of the axis: `…Size` for features (PyTorch `in_features`, `input_size`,
//      `hidden_size`, `embedding_dim`), `…Channels` for the channels of a convolution (PyTorch
//      `in_channels`, `out_channels`). `width` is the model width E of attention and Transformer
//      layers (PyTorch `embed_dim`, `d_model`); `dimension` is the size D of the vectors a flow layer
//      maps to themselves.
//   3. No abbreviations: `epsilon` (not `eps`), `probability` (not `p`), `normalizedShape`.
//   4. Flags that add learnable tensors: `bias:` for an additive bias, `affine:` for a
//      normalisation's learnable scale (and shift): LayerNorm, RMSNorm, GroupNorm (PyTorch's
//      `elementwise_affine` and `affine` are one idea with two names; here it has one).
//   5. Every argument is labelled, except a kind, a whole configuration or a container's contents
//      given first (`Activation(.relu)`, `Recurrent(.lstm, …)`, `GPT(configuration)`,
//      `Sequential([...])`); randomness comes last as `using: &rng`, after `dtype:`.

/// A differentiable function with parameters: a model is a value, its parameters are listed
/// explicitly (`ParameterTree`), and applying it is `layer(x)`.
public protocol Layer: ParameterTree {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// An activation function as a layer (no parameters).
public struct Activation: Layer, Equatable {
    public enum Kind: Equatable, Sendable {
        case identity, relu, leakyRelu(Double), gelu, geluTanh, silu, tanh, sigmoid, softplus
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        switch kind {
        case .identity: return x
        case .relu: return x.relu()
        case .leakyRelu(let s): return x.leakyRelu(negativeSlope: s)
        case .gelu: return x.gelu()
        case .geluTanh: return x.gelu(approximate: true)
        case .silu: return x.silu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .softplus: return x.softplus()
        }
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}

extension Activation.Kind {
    /// The fused MLP kernel's version of this activation, if it has one.
    public var mlpActivation: MLPActivation? {
        switch self {
        case .relu: return .relu
        case .tanh: return .tanh
        case .silu: return .silu
        default: return nil
        }
    }
}

/// Layers applied in order. Parameter names use the position, as PyTorch's `nn.Sequential`
/// (`"0.weight"`, `"2.bias"`), so parameter-free layers still take an index.
public struct Sequential: Layer {
    public var layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        layers.reduce(x) { h, layer in layer(h) }
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        for i in layers.indices { layers[i].visitParameters(prefix: Self.join(prefix, String(i)), body) }
    }
}

/// Uniform initialisation U(−bound, bound) (PyTorch's default for Linear and Conv2d uses
/// bound = 1/√fan_in, i.e. kaiming_uniform with a = √5).
func uniformInit(_ shape: [Int], bound: Double, dtype: DType, using rng: inout SeededGenerator) -> Tensor {
    Tensor.randomUniform(shape: shape, low: -bound, high: bound, dtype: dtype, using: &rng)
}
