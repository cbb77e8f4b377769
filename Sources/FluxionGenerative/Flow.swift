import Foundation
import FluxionNN

// NOTE(1): the flow conventions. A flow maps data x to latents z (the "forward" or encoding
// direction, used for training) and back (the "inverse", used for sampling). Every layer returns
// its output together with the per-sample log|det ∂y/∂x|, a [N] tensor, so that
//
//     log p(x) = log p_Z(f(x)) + Σ_layers log|det J_layer|        (change of variables)
//
// Multi-scale flows factor out half of the channels at a `SplitPrior`; the factored-out part is
// scored under its own (possibly learned, conditional) prior and the rest continues. The split's
// score is accumulated with the log-determinants (Glow's code does the same), and `encode` keeps
// the factored-out latents so that `decode` inverts exactly.

/// One invertible layer of a normalizing flow.
///
/// `forward` maps x → y and returns log|det ∂y/∂x| per sample (shape [N]); `inverse` maps y → x.
/// Layers may change the shape (squeeze) but not the number of elements per sample.
public protocol FlowLayer: ParameterTree {
    /// y = f(x) and log|det ∂f/∂x| per sample, shape [N].
    func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor)
    /// x = f⁻¹(y).
    func inverse(_ y: Tensor) -> Tensor
    /// Data-dependent initialisation (ActNorm): sets parameters from the batch `x` and returns
    /// the layer's output on it. Layers without such initialisation just run `forward`.
    mutating func initialize(with x: Tensor) -> Tensor
}

extension FlowLayer {
    /// Runs `forward` and returns its output (no data-dependent initialisation).
    public mutating func initialize(with x: Tensor) -> Tensor { forward(x).output }
}

/// Zeros of shape [N] in the dtype of `x`: the log-determinant of volume-preserving layers.
@inline(__always)
func zeroLogDeterminant(_ x: Tensor) -> Tensor { Tensor.zeros(shape: [x.shape[0]], dtype: x.dtype) }

/// Sum over every axis but the first: [N, ...] → [N].
@inline(__always)
func sumPerSample(_ x: Tensor) -> Tensor {
    x.rank == 1 ? x : x.sum(axes: Array(1..<x.rank))
}

/// The base distribution of a flow: a product of independent standard distributions.
public enum FlowPrior: String, Sendable, Codable, CaseIterable {
    /// N(0, 1) per dimension: log p = −½z² − ½ log 2π.
    case gaussian
    /// Standard logistic per dimension: log p = −z − 2 softplus(−z) (NICE's MNIST prior).
    case logistic

    /// Log-density summed over all non-batch axes: [N, ...] → [N].
    public func logDensity(_ z: Tensor) -> Tensor {
        switch self {
        case .gaussian: return sumPerSample(gaussianLogDensity(z))
        case .logistic: return sumPerSample(logisticLogDensity(z))
        }
    }

    /// Samples of `shape`, scaled by `temperature` (T = 1 samples the prior itself; T < 1 the
    /// "annealed" samples of NICE and Glow, which look cleaner).
    public func sample(shape: [Int], temperature: Double = 1, dtype: DType = .float32,
                       using rng: inout SeededGenerator) -> Tensor {
        switch self {
        case .gaussian:
            return Tensor.randomNormal(shape: shape, standardDeviation: temperature, dtype: dtype, using: &rng)
        case .logistic:
            let n = shape.reduce(1, *)
            let v = (0..<n).map { _ -> Double in
                var u = rng.nextUniform()
                while u <= 0 { u = rng.nextUniform() }
                return temperature * (Foundation.log(u) - Foundation.log1p(-u))
            }
            return Tensor(v, shape: shape, dtype: dtype)
        }
    }
}

/// A normalizing flow: layers applied in order, possibly with `SplitPrior` layers that factor out
/// half of the channels (multi-scale), and a prior on the final latent.
///
///     log p(x) = log p_Z(z_L) + Σ_splits log p(z_s | h_s) + Σ_layers log|det J|
///
/// Shapes: a batch x [N, eventShape...]. Parameter names are `layers.i.<layer's names>` (for the
/// 2-D RealNVP these equal the PyTorch reference's `layers.i.net.k.weight`).
/// References: Dinh et al. 2014 (NICE), 2016 (RealNVP), Kingma & Dhariwal 2018 (Glow).
public struct NormalizingFlow: ParameterTree {
    /// The invertible layers, applied in order from data to latent.
    public var layers: [any FlowLayer]
    /// The base distribution of the final latent; Gaussian by default.
    public var prior: FlowPrior
    /// The per-sample shape of x, e.g. [2] for points, [1, 8, 8] for digit images.
    public var eventShape: [Int]

    /// A flow of `layers` on samples of `eventShape`, with a Gaussian prior unless given.
    public init(layers: [any FlowLayer], prior: FlowPrior = .gaussian, eventShape: [Int]) {
        self.layers = layers
        self.prior = prior
        self.eventShape = eventShape
    }

    /// Visits each layer's parameters under `layers.i.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        for i in layers.indices { layers[i].visitParameters(prefix: Self.join(Self.join(prefix, "layers"), String(i)), body) }
    }

    /// x → latents (the factored-out ones first, the final one last) and log p(x) per sample [N].
    public func encode(_ x: Tensor) -> (latents: [Tensor], logProbability: Tensor) {
        var h = x
        var total: Tensor? = nil
        var latents: [Tensor] = []
        for layer in layers {
            if let split = layer as? SplitPrior {
                let (z, rest, logp) = split.factorOut(h)
                latents.append(z)
                total = total.map { $0 + logp } ?? logp
                h = rest
            } else {
                let (y, ld) = layer.forward(h)
                total = total.map { $0 + ld } ?? ld
                h = y
            }
        }
        latents.append(h)
        let logp = prior.logDensity(h)
        return (latents, total.map { $0 + logp } ?? logp)
    }

    /// log p(x) per sample, shape [N], in nats.
    public func logProbability(_ x: Tensor) -> Tensor { encode(x).logProbability }

    /// The training loss: the mean negative log-likelihood −mean log p(x) in nats.
    public func negativeLogLikelihood(_ x: Tensor) -> Tensor { -logProbability(x).mean() }

    /// The final latent only (z = f(x) for flows without splits).
    public func forward(_ x: Tensor) -> Tensor { encode(x).latents.last! }

    /// Latents → x. `latents` as returned by `encode` (exact inverse); a missing factored-out
    /// latent (fewer entries than splits + 1) is sampled from its conditional prior at
    /// `temperature` with `rng`.
    public func decode(_ latents: [Tensor], temperature: Double = 1, using rng: inout SeededGenerator) -> Tensor {
        var h = latents.last!
        var remaining = Array(latents.dropLast())
        let splitCount = layers.filter { $0 is SplitPrior }.count
        let sampleSplits = remaining.count < splitCount
        for layer in layers.reversed() {
            if let split = layer as? SplitPrior {
                let z = sampleSplits ? split.sample(given: h, temperature: temperature, using: &rng) : remaining.removeLast()
                h = split.restore(z, h)
            } else {
                h = layer.inverse(h)
            }
        }
        return h
    }

    /// Exact inverse of `encode` (no sampling).
    public func decode(_ latents: [Tensor]) -> Tensor {
        var rng = SeededGenerator(seed: 0)
        return decode(latents, using: &rng)
    }

    /// The shape of the final latent for a batch of `count`.
    public func latentShape(count: Int) -> [Int] {
        withoutDerivatives {
            let x = Tensor.zeros(shape: [1] + eventShape, dtype: dtypeOfParameters)
            return [count] + Array(encode(x).latents.last!.shape.dropFirst())
        }
    }

    /// The dtype of the parameters (float32 when there are none).
    public var dtypeOfParameters: DType { namedParameters.first?.value.dtype ?? .float32 }

    /// `count` samples x = f⁻¹(z), z ~ prior at `temperature` (and each split's prior likewise).
    /// Shape [count, eventShape...].
    public func sample(count: Int, temperature: Double = 1, using rng: inout SeededGenerator) -> Tensor {
        withoutDerivatives {
            let z = prior.sample(shape: latentShape(count: count), temperature: temperature, dtype: dtypeOfParameters, using: &rng)
            return decode([z], temperature: temperature, using: &rng)
        }
    }

    /// Data-dependent initialisation of every layer that has one (ActNorm), in order, on `x`.
    public mutating func initialize(with x: Tensor) {
        withoutDerivatives {
            var h = x
            for i in layers.indices {
                if let split = layers[i] as? SplitPrior { h = split.factorOut(h).rest } else { h = layers[i].initialize(with: h) }
            }
        }
    }
}
