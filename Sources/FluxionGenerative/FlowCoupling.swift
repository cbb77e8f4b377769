import Foundation
import FluxionNN

// Coupling layers and the fixed permutations between them (NICE, RealNVP on vectors).

/// NICE's additive coupling on vectors with the interleaved split (Su's `reshape(D/2, 2)`):
/// x₁ = x[:, 0::2] (even positions) is kept, x₂ = x[:, 1::2] (odd positions) is shifted:
///
///     forward:  h₁ = x₁,  h₂ = x₂ + σ·m(x₁)      inverse: x₂ = h₂ − σ·m(h₁)
///
/// with σ = +1 (the paper) or −1 (Su's article: forward subtracts, the generator adds). The Jacobian
/// is block-triangular with unit diagonal: log|det| = 0. Put a `Reverse` between couplings so that
/// every coordinate gets updated.
/// Shapes: x [N, D] (D even). m: MLP D/2 → hidden… → D/2 with ReLU, optionally a ReLU on the output
/// too (Su's `Dense(D/2, relu)`). Reference: Dinh et al. 2014, eq. 5–7; Su, kexue.fm/archives/5776.
public struct AdditiveCoupling: FlowLayer {
    /// The shift network m: D/2 → hidden… → D/2, ReLU (PyTorch-default `Linear` initialisation).
    public var net: MLP
    /// +1: forward adds m(x₁) (paper); −1: forward subtracts (Su).
    public var sign: Double
    /// Whether m ends in a ReLU (Su's article).
    public var outputReLU: Bool

    /// A coupling on D = `dimension` (even) features, m with `hiddenLayerCount` hidden layers of
    /// `hiddenSize`; σ = `sign` (+1) and no output ReLU by default.
    public init(dimension: Int, hiddenSize: Int, hiddenLayerCount: Int, sign: Double = 1, outputReLU: Bool = false,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(dimension % 2 == 0 && dimension >= 2, "AdditiveCoupling: dimension must be even, got \(dimension)")
        let half = dimension / 2
        net = MLP(sizes: [half] + [Int](repeating: hiddenSize, count: hiddenLayerCount) + [half], activation: .relu, dtype: dtype, using: &rng)
        self.sign = sign
        self.outputReLU = outputReLU
    }

    func shift(_ x1: Tensor) -> Tensor {
        let m = net(x1)
        return outputReLU ? m.relu() : m
    }

    /// [N, D] → ([N, D/2] even positions, [N, D/2] odd positions).
    static func deinterleave(_ x: Tensor) -> (Tensor, Tensor) {
        let pairs = x.reshaped(to: [x.shape[0], x.shape[1] / 2, 2])
        return (pairs.sliced(axis: 2, 0..<1).reshaped(to: [x.shape[0], -1]), pairs.sliced(axis: 2, 1..<2).reshaped(to: [x.shape[0], -1]))
    }

    static func interleave(_ a: Tensor, _ b: Tensor) -> Tensor {
        Tensor.stack([a, b], axis: 2).reshaped(to: [a.shape[0], a.shape[1] * 2])
    }

    /// [N, D] → (h₁ = x₁, h₂ = x₂ + σ·m(x₁)) interleaved back, and log|det| = 0 [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let (x1, x2) = Self.deinterleave(x)
        return (Self.interleave(x1, x2 + sign * shift(x1)), zeroLogDeterminant(x))
    }

    /// x₂ = h₂ − σ·m(h₁), interleaved back with x₁ = h₁: [N, D] → [N, D].
    public func inverse(_ y: Tensor) -> Tensor {
        let (h1, h2) = Self.deinterleave(y)
        return Self.interleave(h1, h2 - sign * shift(h1))
    }

    /// Visits m's parameters under `net.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        net.visitParameters(prefix: Self.join(prefix, "net"), body)
    }
}

/// Reverses the order of the features (axis 1): Su's `Shuffle('reverse')` between NICE couplings.
/// A permutation: log|det| = 0.
public struct Reverse: FlowLayer {
    /// The reversal (no parameters).
    public init() {}
    /// [N, D] with axis 1 reversed, and log|det| = 0 [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) { (x.flipped(axes: [1]), zeroLogDeterminant(x)) }
    /// Axis 1 reversed again (the reversal is its own inverse).
    public func inverse(_ y: Tensor) -> Tensor { y.flipped(axes: [1]) }
    /// Visits nothing (no parameters).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}

/// NICE's diagonal scaling layer: z = exp(s) ⊙ h, log|det| = Σ s. Equivalent to a learned prior
/// standard deviation σᵢ = exp(−sᵢ) (Su eq. 16–17). Shape s [D]; initialised to 0 (Su uses
/// `glorot_normal`; zero is the identity and trains as well on small data).
public struct DiagonalScaling: FlowLayer {
    /// s [D], named `scale` (as Su's code); 0 initially.
    public var logScale: Tensor

    /// The identity scaling (s = 0) on `dimension` features.
    public init(dimension: Int, dtype: DType = .float32) {
        logScale = Tensor.zeros(shape: [dimension], dtype: dtype)
    }

    /// z = exp(s) ⊙ h [N, D], and log|det| = Σ s per sample [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        (x * logScale.exp(), logScale.sum().expanded(to: [x.shape[0]]))
    }

    /// h = exp(−s) ⊙ z.
    public func inverse(_ y: Tensor) -> Tensor { y * (-logScale).exp() }

    /// Visits s under `scale`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "scale"), &logScale)
    }
}

/// The coupling network of the 2-D RealNVP: Linear(D, h)-ReLU-Linear(h, h)-ReLU-Linear(h, 2D),
/// named as PyTorch's `nn.Sequential` (`0.weight`, `2.weight`, `4.weight`).
public struct CouplingMLP: Layer {
    /// The affine layers, ReLU between them.
    public var linears: [Linear]

    /// Linear layers sizes[0] → sizes[1] → … (PyTorch-default initialisation).
    public init(sizes: [Int], dtype: DType = .float32, using rng: inout SeededGenerator) {
        linears = (0..<(sizes.count - 1)).map { Linear(inputSize: sizes[$0], outputSize: sizes[$0 + 1], dtype: dtype, using: &rng) }
    }

    /// One fused primitive (`Tensor.mlp`) when every layer has a bias.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        if linears.allSatisfy({ $0.bias != nil }) {
            return Tensor.mlp(x, weights: linears.map(\.weight), biases: linears.map { $0.bias! }, activation: .relu)
        }
        var h = x
        for i in linears.indices {
            h = linears[i](h)
            if i < linears.count - 1 { h = h.relu() }
        }
        return h
    }

    /// Visits the linear layers under `0.`, `2.`, `4.`, … (the indices of `nn.Sequential`).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        for i in linears.indices { linears[i].visitParameters(prefix: Self.join(prefix, String(2 * i)), body) }
    }
}

/// RealNVP's affine coupling with a binary mask b on vectors (the bench model, `realnvp2d`):
///
///     (s, t) = net(b ⊙ x),  s ← tanh(s) ⊙ (1 − b),  t ← t ⊙ (1 − b)
///     y = b ⊙ x + (1 − b) ⊙ (x ⊙ exp(s) + t),      log|det| = Σ s
///
/// tanh bounds the log-scale to (−1, 1), which keeps early training stable. Since s and t vanish
/// where b = 1, y = x ⊙ exp(s) + t exactly; that is the form computed (fewer operations).
/// Shapes: x [N, D], b [D], net D → hidden → hidden → 2D. Reference: Dinh et al. 2016, eq. 7–9.
public struct AffineCoupling: FlowLayer {
    /// The network giving (s, t): D → hidden… → 2D.
    public var net: CouplingMLP
    /// The binary mask b (a constant, not a parameter).
    public let mask: Tensor
    let inverseMask: Tensor

    /// A coupling with mask b = `mask` (D = `mask.count`) and a net with `hiddenLayerCount` (2)
    /// hidden layers of `hiddenSize`.
    public init(mask: [Double], hiddenSize: Int, hiddenLayerCount: Int = 2, dtype: DType = .float32, using rng: inout SeededGenerator) {
        let d = mask.count
        net = CouplingMLP(sizes: [d] + [Int](repeating: hiddenSize, count: hiddenLayerCount) + [2 * d], dtype: dtype, using: &rng)
        self.mask = Tensor(mask, shape: [d], dtype: dtype)
        inverseMask = Tensor(mask.map { 1 - $0 }, shape: [d], dtype: dtype)
    }

    func scaleAndShift(_ masked: Tensor) -> (Tensor, Tensor) {
        let st = net(masked).split(count: 2, axis: 1)
        return (st[0].tanh() * inverseMask, st[1] * inverseMask)
    }

    /// y = x ⊙ exp(s) + t [N, D], and log|det| = Σ s per sample [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let (s, t) = scaleAndShift(x * mask)
        return (x * s.exp() + t, s.sum(axis: 1))
    }

    /// x = (y − t) ⊙ exp(−s), with (s, t) from b ⊙ y = b ⊙ x.
    public func inverse(_ y: Tensor) -> Tensor {
        let (s, t) = scaleAndShift(y * mask)   // b ⊙ y = b ⊙ x
        return (y - t) * (-s).exp()
    }

    /// Visits the net's parameters under `net.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        net.visitParameters(prefix: Self.join(prefix, "net"), body)
    }
}

/// The logit preprocessing of RealNVP for data in [0, 1): p = α + (1 − 2α)x, y = log p − log(1 − p),
///
///     log|det| = Σ [log(1 − 2α) − log p − log(1 − p)]
///
/// so that densities stay densities on [0, 1)^D (bits/dim include it). α = 0.05 (RealNVP).
public struct LogitTransform: FlowLayer {
    /// α, the squeeze of [0, 1) into (α, 1 − α); 0.05 by default.
    public var alpha: Double

    /// The transform with α = `alpha` (0.05, RealNVP).
    public init(alpha: Double = 0.05) { self.alpha = alpha }

    /// y = logit(α + (1 − 2α)x), same shape, and its log|det| per sample [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let p = alpha + (1 - 2 * alpha) * x
        let logP = p.log(), log1mP = (1 - p).log()
        return (logP - log1mP, sumPerSample(-(logP + log1mP)) + Double(x.count / x.shape[0]) * Foundation.log(1 - 2 * alpha))
    }

    /// x = (σ(y) − α) / (1 − 2α).
    public func inverse(_ y: Tensor) -> Tensor { (y.sigmoid() - alpha) / (1 - 2 * alpha) }

    /// Visits nothing (no parameters).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}
