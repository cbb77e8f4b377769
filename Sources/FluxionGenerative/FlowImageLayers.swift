import Foundation
import FluxionNN

// Layers of the image flows (RealNVP's multi-scale architecture, Glow): squeeze, convolutional
// affine coupling with checkerboard or channel masks, and the split with a (learned) prior.
// Images are [N, C, H, W].

/// RealNVP's squeeze: each 2×2 block of pixels becomes 4 channels, [N, C, H, W] → [N, 4C, H/2, W/2].
/// A permutation: log|det| = 0; `inverse` is the exact unsqueeze.
public struct Squeeze: FlowLayer {
    /// The squeeze (no parameters).
    public init() {}

    /// [N, C, H, W] (H, W even) → [N, 4C, H/2, W/2], and log|det| = 0 [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        precondition(h % 2 == 0 && w % 2 == 0, "Squeeze: height and width must be even, got \(x.shape)")
        let y = x.reshaped(to: [n, c, h / 2, 2, w / 2, 2]).permuted([0, 1, 3, 5, 2, 4]).reshaped(to: [n, 4 * c, h / 2, w / 2])
        return (y, zeroLogDeterminant(x))
    }

    /// [N, 4C, H, W] → [N, C, 2H, 2W], the exact unsqueeze.
    public func inverse(_ y: Tensor) -> Tensor {
        let (n, c, h, w) = (y.shape[0], y.shape[1] / 4, y.shape[2], y.shape[3])
        return y.reshaped(to: [n, c, 2, 2, h, w]).permuted([0, 1, 4, 2, 5, 3]).reshaped(to: [n, c, 2 * h, 2 * w])
    }

    /// Visits nothing (no parameters).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}

/// The coupling network of the image flows: Conv3×3(cᵢₙ, h)-ReLU-Conv1×1(h, h)-ReLU-Conv3×3(h, cₒᵤₜ),
/// the last convolution zero-initialised (Glow) so that every coupling starts as the identity.
public struct CouplingConvNet: Layer {
    /// Conv3×3 cᵢₙ → h, padding 1 (PyTorch-default initialisation).
    public var input: Conv2d
    /// Conv1×1 h → h (PyTorch-default initialisation).
    public var hidden: Conv2d
    /// Conv3×3 h → cₒᵤₜ, padding 1, weight and bias 0 initially.
    public var output: Conv2d

    /// The network cᵢₙ = `inputChannels` → h = `hiddenChannels` → cₒᵤₜ = `outputChannels`.
    public init(inputChannels: Int, hiddenChannels: Int, outputChannels: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        input = Conv2d(inputChannels: inputChannels, outputChannels: hiddenChannels, kernelSize: (3, 3), padding: (1, 1), dtype: dtype, using: &rng)
        hidden = Conv2d(inputChannels: hiddenChannels, outputChannels: hiddenChannels, kernelSize: (1, 1), dtype: dtype, using: &rng)
        output = Conv2d(weight: Tensor.zeros(shape: [outputChannels, hiddenChannels, 3, 3], dtype: dtype),
                        bias: Tensor.zeros(shape: [outputChannels], dtype: dtype), padding: (1, 1))
    }

    /// [N, cᵢₙ, H, W] → [N, cₒᵤₜ, H, W].
    public func callAsFunction(_ x: Tensor) -> Tensor { output(hidden(input(x).relu()).relu()) }

    /// Visits the convolutions under `0.`, `2.` and `4.` (the indices of `nn.Sequential`).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        input.visitParameters(prefix: Self.join(prefix, "0"), body)
        hidden.visitParameters(prefix: Self.join(prefix, "2"), body)
        output.visitParameters(prefix: Self.join(prefix, "4"), body)
    }
}

/// Convolutional affine coupling on images.
///
/// Masks: `.checkerboard(parity)` keeps the pixels with (row + column) % 2 == parity and transforms
/// the others (all channels); `.channel(parity)` keeps the first half of the channels (parity 0) or
/// the second (parity 1) and transforms the other half.
///
/// With the kept part x_a and (r, t) = net(x_a):
/// - `.tanh` (RealNVP): log s = tanh(r), y_b = x_b ⊙ s + t, log|det| = Σ log s;
/// - `.sigmoid` (Glow's code): s = sigmoid(r + 2), y_b = (x_b + t) ⊙ s, log|det| = Σ log s.
/// Both bound the scale, which keeps training stable; log sigmoid(u) = −softplus(−u) is the stable
/// form. The last convolution of the net is zero-initialised: the layer starts as the identity.
/// References: Dinh et al. 2016 §3.4–3.5; Kingma & Dhariwal 2018 §3.3.
public struct ConvAffineCoupling: FlowLayer {
    /// Which part is kept: a checkerboard of the given parity, or half of the channels (0: first, 1: second).
    public enum Mask: Equatable, Sendable { case checkerboard(Int), channel(Int) }
    /// How the scale is bounded: log s = tanh(r) (RealNVP) or s = sigmoid(r + 2) (Glow).
    public enum Scale: String, Sendable { case tanh, sigmoid }

    /// The network (r, t) = net(x_a), its last convolution zero-initialised.
    public var net: CouplingConvNet
    /// The mask choosing the kept part.
    public let mask: Mask
    /// The scale parameterisation.
    public let scale: Scale
    /// Number of channels C of the input.
    public let channelCount: Int

    /// A coupling on C = `channelCount` channels (even for a channel mask) with a net of
    /// `hiddenChannels`; it starts as the identity.
    public init(channelCount: Int, mask: Mask, scale: Scale, hiddenChannels: Int, dtype: DType = .float32,
                using rng: inout SeededGenerator) {
        self.channelCount = channelCount
        self.mask = mask
        self.scale = scale
        switch mask {
        case .checkerboard:
            net = CouplingConvNet(inputChannels: channelCount, hiddenChannels: hiddenChannels, outputChannels: 2 * channelCount, dtype: dtype, using: &rng)
        case .channel:
            precondition(channelCount % 2 == 0, "ConvAffineCoupling: a channel mask needs an even channel count, got \(channelCount)")
            net = CouplingConvNet(inputChannels: channelCount / 2, hiddenChannels: hiddenChannels, outputChannels: channelCount, dtype: dtype, using: &rng)
        }
    }

    static func checkerboard(height: Int, width: Int, parity: Int, dtype: DType) -> Tensor {
        var v = [Double](repeating: 0, count: height * width)
        for r in 0..<height { for c in 0..<width where (r + c) % 2 == parity { v[r * width + c] = 1 } }
        return Tensor(v, shape: [1, 1, height, width], dtype: dtype)
    }

    /// (log s, t) from the net output, zeroed where `keep` (a checkerboard) is 1.
    func logScaleAndShift(_ out: Tensor, transformed: Tensor?) -> (Tensor, Tensor) {
        let rt = out.split(count: 2, axis: 1)
        var logS = scale == .tanh ? rt[0].tanh() : -(-(rt[0] + 2)).softplus()
        var t = rt[1]
        if let transformed { logS = logS * transformed; t = t * transformed }
        return (logS, t)
    }

    func apply(_ xb: Tensor, _ logS: Tensor, _ t: Tensor) -> Tensor {
        scale == .tanh ? xb * logS.exp() + t : (xb + t) * logS.exp()
    }

    func unapply(_ yb: Tensor, _ logS: Tensor, _ t: Tensor) -> Tensor {
        scale == .tanh ? (yb - t) * (-logS).exp() : yb * (-logS).exp() - t
    }

    /// [N, C, H, W] → same, the transformed part y_b from (log s, t), and log|det| = Σ log s [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        switch mask {
        case .checkerboard(let parity):
            let keep = Self.checkerboard(height: x.shape[2], width: x.shape[3], parity: parity, dtype: x.dtype)
            let (logS, t) = logScaleAndShift(net(x * keep), transformed: 1 - keep)
            return (apply(x, logS, t), sumPerSample(logS))
        case .channel(let parity):
            let halves = x.split(count: 2, axis: 1)
            let (xa, xb) = parity == 0 ? (halves[0], halves[1]) : (halves[1], halves[0])
            let (logS, t) = logScaleAndShift(net(xa), transformed: nil)
            let yb = apply(xb, logS, t)
            return (Tensor.concatenate(parity == 0 ? [xa, yb] : [yb, xa], axis: 1), sumPerSample(logS))
        }
    }

    /// The exact inverse: x_b recovered from y_b with (log s, t) = net(y_a), y_a = x_a.
    public func inverse(_ y: Tensor) -> Tensor {
        switch mask {
        case .checkerboard(let parity):
            let keep = Self.checkerboard(height: y.shape[2], width: y.shape[3], parity: parity, dtype: y.dtype)
            let (logS, t) = logScaleAndShift(net(y * keep), transformed: 1 - keep)
            return unapply(y, logS, t)
        case .channel(let parity):
            let halves = y.split(count: 2, axis: 1)
            let (ya, yb) = parity == 0 ? (halves[0], halves[1]) : (halves[1], halves[0])
            let (logS, t) = logScaleAndShift(net(ya), transformed: nil)
            let xb = unapply(yb, logS, t)
            return Tensor.concatenate(parity == 0 ? [ya, xb] : [xb, ya], axis: 1)
        }
    }

    /// Visits the network's parameters under `net.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        net.visitParameters(prefix: Self.join(prefix, "net"), body)
    }
}

/// The multi-scale split: h [N, C, H, W] → z = h[:, :C/2] (factored out, scored now) and the rest
/// h[:, C/2:] (transformed further).
///
/// - `learned` (Glow): p(z | rest) = N(μ, exp(log σ)²) with (μ, log σ) = Conv3×3(rest), zero-initialised
///   (starts as N(0, I)) — the learned conditional prior of Su's p(z₁|z₂);
/// - not learned (RealNVP): p(z) = N(0, I).
/// Inside `NormalizingFlow` the split's log p(z | rest) is added to the log-determinants.
public struct SplitPrior: FlowLayer {
    /// The conditional prior's Conv3×3 C/2 → C (μ and log σ), zero-initialised; nil for N(0, I).
    public var conv: Conv2d?

    /// A split of `channelCount` (even) channels, with a learned conditional prior when `learned` (Glow).
    public init(channelCount: Int, learned: Bool, dtype: DType = .float32) {
        precondition(channelCount % 2 == 0, "SplitPrior: needs an even channel count, got \(channelCount)")
        conv = learned ? Conv2d(weight: Tensor.zeros(shape: [channelCount, channelCount - channelCount / 2, 3, 3], dtype: dtype),
                                bias: Tensor.zeros(shape: [channelCount], dtype: dtype), padding: (1, 1)) : nil
    }

    func meanAndLogStd(_ rest: Tensor) -> (Tensor, Tensor)? {
        guard let conv else { return nil }
        let p = conv(rest).split(count: 2, axis: 1)
        return (p[0], p[1])
    }

    /// (z, rest, log p(z | rest) per sample).
    public func factorOut(_ h: Tensor) -> (z: Tensor, rest: Tensor, logProbability: Tensor) {
        let c = h.shape[1]
        let parts = h.split(sizes: [c / 2, c - c / 2], axis: 1)
        let (z, rest) = (parts[0], parts[1])
        if let (mean, logStd) = meanAndLogStd(rest) {
            return (z, rest, sumPerSample(gaussianLogDensity(z, mean: mean, logStandardDeviation: logStd)))
        }
        return (z, rest, FlowPrior.gaussian.logDensity(z))
    }

    /// z ~ p(z | rest) at `temperature`.
    public func sample(given rest: Tensor, temperature: Double, using rng: inout SeededGenerator) -> Tensor {
        let eps = Tensor.randomNormal(shape: rest.shape, standardDeviation: temperature, dtype: rest.dtype, using: &rng)
        if let (mean, logStd) = meanAndLogStd(rest) { return mean + logStd.exp() * eps }
        return eps
    }

    /// [z; rest] along the channels.
    public func restore(_ z: Tensor, _ rest: Tensor) -> Tensor { Tensor.concatenate([z, rest], axis: 1) }

    /// (rest, log p(z | rest)): the split's contribution as a layer (see `NormalizingFlow.encode`).
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let (_, rest, logp) = factorOut(x)
        return (rest, logp)
    }

    /// Not invertible on its own (z is gone): `NormalizingFlow.decode` restores or samples z.
    public func inverse(_ y: Tensor) -> Tensor {
        preconditionFailure("SplitPrior.inverse: use NormalizingFlow.decode, which restores or samples the factored-out half")
    }

    /// Visits the convolution's parameters under `conv.` (none without a learned prior).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        conv?.visitParameters(prefix: Self.join(prefix, "conv"), body)
    }
}
