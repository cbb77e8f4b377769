/// A fully connected layer: y = x·Wᵀ + b.
///
/// Shapes: x [..., inputSize] → y [..., outputSize]; W [outputSize, inputSize], b [outputSize]
/// (PyTorch's layout, so `weight`/`bias` load from an `nn.Linear` state dict unchanged).
/// Initialisation (PyTorch's default): W, b ~ U(−1/√inputSize, 1/√inputSize).
public struct Linear: Layer {
    public var weight: Tensor
    public var bias: Tensor?

    public init(inputSize: Int, outputSize: Int, bias: Bool = true, dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(inputSize > 0 && outputSize > 0, "Linear: sizes must be positive, got \(inputSize) → \(outputSize)")
        let bound = 1 / Double(inputSize).squareRoot()
        weight = uniformInit([outputSize, inputSize], bound: bound, dtype: dtype, using: &rng)
        self.bias = bias ? uniformInit([outputSize], bound: bound, dtype: dtype, using: &rng) : nil
    }

    /// The layer with the given W [outputSize, inputSize] and b [outputSize] (or no bias).
    public init(weight: Tensor, bias: Tensor?) {
        precondition(weight.rank == 2, "Linear: weight must be [out, in], got \(weight.shape)")
        self.weight = weight
        self.bias = bias
    }

    public var inputSize: Int { weight.shape[1] }
    public var outputSize: Int { weight.shape[0] }

    /// y = x·Wᵀ + b: x [..., inputSize] → [..., outputSize].
    public func callAsFunction(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: weight, bias: bias) }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "weight"), &weight)
        if bias != nil { body(Self.join(prefix, "bias"), &bias!) }
    }
}

/// A multilayer perceptron: `Linear` layers with an activation between consecutive ones (none
/// after the last),
///
///     h₀ = x,  h_i = act(h_{i−1}·W_iᵀ + b_i) for i < L,  y = h_{L−1}·W_Lᵀ + b_L
///
/// Shapes: `sizes = [in, h₁, …, out]`, x [..., in] → [..., out]. Initialisation: `Linear`'s
/// (PyTorch's U(±1/√fan_in)). Parameter names `layers.i.weight`, `layers.i.bias` (a PyTorch
/// `nn.ModuleList` of `nn.Linear` named `layers`).
public struct MLP: Layer {
    public var layers: [Linear]
    public var activation: Activation

    public init(sizes: [Int], activation: Activation.Kind = .relu, dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(sizes.count >= 2, "MLP: needs at least an input and an output size, got \(sizes)")
        layers = (0..<(sizes.count - 1)).map { Linear(inputSize: sizes[$0], outputSize: sizes[$0 + 1], dtype: dtype, using: &rng) }
        self.activation = Activation(activation)
    }

    /// Runs as one fused primitive (`Tensor.mlp`) when every layer has a bias and the activation
    /// is ReLU, tanh or SiLU; otherwise layer by layer.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let fused = activation.kind.mlpActivation, layers.allSatisfy({ $0.bias != nil }) {
            return Tensor.mlp(x, weights: layers.map(\.weight), biases: layers.map { $0.bias! }, activation: fused)
        }
        var h = x
        for (i, layer) in layers.enumerated() {
            h = layer(h)
            if i < layers.count - 1 { h = activation(h) }
        }
        return h
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        layers.visitParameters(prefix: Self.join(prefix, "layers"), body)
    }
}

/// A lookup table: y[..., :] = W[index[...], :].
///
/// Shapes: int32 indices [...] → [..., embeddingSize]; W [embeddingCount, embeddingSize].
/// Initialisation (PyTorch's `nn.Embedding`): W ~ N(0, 1).
public struct Embedding: Layer {
    public var weight: Tensor

    public init(embeddingCount: Int, embeddingSize: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        weight = Tensor.randomNormal(shape: [embeddingCount, embeddingSize], dtype: dtype, using: &rng)
    }
    /// The table W [embeddingCount, embeddingSize] given.
    public init(weight: Tensor) { self.weight = weight }

    /// The rows of W at int32 `indices` [...] → [..., embeddingSize].
    public func callAsFunction(_ indices: Tensor) -> Tensor {
        precondition(indices.dtype == .int32, "Embedding: indices must be int32, got \(indices.dtype) \(indices.shape)")
        return weight.indexSelect(axis: 0, indices: indices.flattened()).reshaped(to: indices.shape + [weight.shape[1]])
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "weight"), &weight)
    }
}

/// Dropout (Srivastava et al. 2014; PyTorch's `nn.Dropout`): while training,
///
///     y = x ⊙ k / (1 − p),   k_i ~ Bernoulli(1 − p) drawn from the generator passed in,
///
/// so E[y] = x; at evaluation (`isTraining == false`) or p = 0, y = x. Shapes: any → same. No parameters.
///
/// Not a `Layer`: its call needs the generator (`using: &rng`, randomness is explicit) and
/// `Layer`'s call has none. A conformance would have to either draw from a hidden generator or
/// silently skip dropping inside a `Sequential`; both are worse than the compile error.
public struct Dropout: ParameterTree {
    public var probability: Double
    public var isTraining = true

    public init(probability: Double) {
        precondition(probability >= 0 && probability < 1, "Dropout: probability must be in [0, 1), got \(probability)")
        self.probability = probability
    }

    /// x ⊙ k/(1 − p) with k ~ Bernoulli(1 − p) drawn from `rng` while training (and p > 0); x otherwise.
    public func callAsFunction(_ x: Tensor, using rng: inout SeededGenerator) -> Tensor {
        guard isTraining && probability > 0 else { return x }
        let keep = Tensor.randomUniform(shape: x.shape, dtype: x.dtype, using: &rng) .>= probability
        return x * keep * (1 / (1 - probability))
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}
