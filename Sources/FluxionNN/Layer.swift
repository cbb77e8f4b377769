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

/// An elementwise activation function as a layer: x [any shape] → same, no parameters.
/// PyTorch's `nn.Identity`, `nn.ReLU`, `nn.LeakyReLU`, `nn.GELU`, `nn.SiLU`, `nn.Tanh`,
/// `nn.Sigmoid`, `nn.Softplus` (β = 1).
public struct Activation: Layer, Equatable {
    /// Which elementwise function.
    public enum Kind: Equatable, Sendable {
        /// x.
        case identity
        /// max(x, 0).
        case relu
        /// x for x > 0, s·x otherwise (the associated value is the negative slope s).
        case leakyRelu(Double)
        /// x·Φ(x) = ½x(1 + erf(x/√2)), exact (Hendrycks & Gimpel 2016).
        case gelu
        /// ½x(1 + tanh(√(2/π)(x + 0.044715x³))), GELU's tanh approximation (`approximate="tanh"`).
        case geluTanh
        /// x·σ(x) (Elfwing et al. 2018; also called swish).
        case silu
        /// tanh x.
        case tanh
        /// σ(x) = 1/(1 + e⁻ˣ).
        case sigmoid
        /// log(1 + eˣ), computed as max(x, 0) + log(1 + e^{−|x|}) so that it never overflows.
        case softplus
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }

    /// The activation applied to every element of x.
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

/// Layers applied in order, y = f_L(… f_1(x)), as PyTorch's `nn.Sequential`. Parameter names use
/// the position (`"0.weight"`, `"2.bias"`), so parameter-free layers still take an index.
/// Shapes: x → the last layer's output. Initialisation: each layer's own.
public struct Sequential: Layer {
    public var layers: [any Layer]
    public init(_ layers: [any Layer]) { self.layers = layers }

    /// Each layer applied to the previous one's output.
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
