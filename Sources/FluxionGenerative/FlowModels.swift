import Foundation
import FluxionNN

/// Everything needed to rebuild a flow (stored as a run's `config.json`): the architecture, its
/// sizes and the seed of its initialisation (which also fixes Glow's permutations P and signs).
///
/// - `nice`: `couplingLayers` additive couplings (interleaved split, `Reverse` between them), each
///   m an MLP with `hiddenLayers` × `hiddenSize` ReLU layers, then the diagonal scaling exp(s).
///   `variant` "paper" (Dinh et al.: h₂ = x₂ + m(x₁), logistic prior) or "su" (Su's article:
///   h₂ = x₂ − m(x₁), ReLU on m's output, Gaussian prior, negative noise −0.01·U on images).
/// - `realnvp`: on vectors, `couplingLayers` masked affine couplings with alternating masks
///   (the bench model: [1,0]/[0,1], hidden 128, two hidden layers); on images, RealNVP's
///   multi-scale architecture (checkerboard ×3, squeeze, channel ×3, split, checkerboard ×4).
/// - `glow`: on vectors, `couplingLayers` steps ActNorm → invertible linear (1×1 conv) → affine
///   coupling; on images, `levels` levels of squeeze → K = `couplingLayers` steps (ActNorm,
///   1×1 conv, sigmoid affine coupling) → split with a learned conditional prior.
public struct FlowConfiguration: Codable, Equatable, Sendable {
    /// The architecture: `"nice"`, `"realnvp"` or `"glow"` (`kinds`).
    public var kind: String
    /// Per-sample data shape: [D] for vectors, [C, H, W] for images.
    public var eventShape: [Int]
    /// Number of couplings (NICE, RealNVP, vector Glow), or Glow's steps K per level on images.
    public var couplingLayers: Int
    /// Width of the coupling networks' hidden layers (channels for image couplings).
    public var hiddenSize: Int
    /// Number of hidden layers of the coupling MLPs (vectors); 2 by default.
    public var hiddenLayers: Int
    /// Number of Glow levels on images (squeeze, K steps, split); 2 by default.
    public var levels: Int
    /// The base distribution; Gaussian by default.
    public var prior: FlowPrior
    /// NICE's variant: `"paper"` (default) or `"su"`.
    public var variant: String
    /// Logit preprocessing for data in [0, 1) (image flows): α, or nil for none.
    public var logitAlpha: Double?
    /// The seed of the initialisation (and of Glow's permutations and signs); 0 by default.
    public var seed: UInt64

    /// A configuration with the given sizes; see the type's description for what each kind builds.
    public init(kind: String, eventShape: [Int], couplingLayers: Int, hiddenSize: Int, hiddenLayers: Int = 2,
                levels: Int = 2, prior: FlowPrior = .gaussian, variant: String = "paper", logitAlpha: Double? = nil, seed: UInt64 = 0) {
        self.kind = kind; self.eventShape = eventShape; self.couplingLayers = couplingLayers
        self.hiddenSize = hiddenSize; self.hiddenLayers = hiddenLayers; self.levels = levels
        self.prior = prior; self.variant = variant; self.logitAlpha = logitAlpha; self.seed = seed
    }

    /// Defaults per kind for data with per-sample shape `eventShape` ([2] for 2-D points,
    /// [1, 8, 8] for digits; NICE flattens images to [64]).
    public static func defaults(kind: String, eventShape: [Int], seed: UInt64 = 0) -> FlowConfiguration? {
        let isImage = eventShape.count == 3
        switch kind {
        case "nice":
            // Images: small coupling nets and the logit preprocessing. The paper's MNIST-sized nets
            // (and raw [0, 1) inputs) overfit the 1,294 digits within a few thousand steps
            // (held-out 2.94 bits/dim at best with hidden 256 × 4; 2.33 with these defaults).
            let d = eventShape.reduce(1, *)
            return FlowConfiguration(kind: kind, eventShape: [d], couplingLayers: 4, hiddenSize: 64,
                                     hiddenLayers: isImage ? 2 : 3, prior: isImage ? .logistic : .gaussian,
                                     logitAlpha: isImage ? 0.05 : nil, seed: seed)
        case "realnvp":
            return FlowConfiguration(kind: kind, eventShape: eventShape, couplingLayers: 8, hiddenSize: isImage ? 64 : 128,
                                     logitAlpha: isImage ? 0.05 : nil, seed: seed)
        case "glow":
            return FlowConfiguration(kind: kind, eventShape: eventShape, couplingLayers: isImage ? 8 : 6, hiddenSize: isImage ? 64 : 128,
                                     levels: 2, logitAlpha: isImage ? 0.05 : nil, seed: seed)
        default:
            return nil
        }
    }

    /// The architectures `makeFlow` builds: `["nice", "realnvp", "glow"]`.
    public static let kinds = ["nice", "realnvp", "glow"]

    /// Builds the flow, initialised from `seed`.
    public func makeFlow(dtype: DType = .float32) throws -> NormalizingFlow {
        var rng = SeededGenerator(seed: seed)
        let isImage = eventShape.count == 3
        func bad(_ message: String) -> FluxionError { FluxionError(.invalidArgument, message) }
        guard couplingLayers >= 1, hiddenSize >= 1, hiddenLayers >= 1 else { throw bad("\(kind): layer counts and sizes must be positive") }
        var layers: [any FlowLayer] = []
        if let alpha = logitAlpha { layers.append(LogitTransform(alpha: alpha)) }
        switch kind {
        case "nice":
            guard eventShape.count == 1, eventShape[0] % 2 == 0 else { throw bad("nice: needs vectors of even dimension, got \(eventShape)") }
            let su = variant == "su"
            guard su || variant == "paper" else { throw bad("nice: variant must be 'paper' or 'su', got '\(variant)'") }
            for i in 0..<couplingLayers {
                layers.append(AdditiveCoupling(dimension: eventShape[0], hiddenSize: hiddenSize, hiddenLayerCount: hiddenLayers,
                                               sign: su ? -1 : 1, outputReLU: su, dtype: dtype, using: &rng))
                if i < couplingLayers - 1 { layers.append(Reverse()) }
            }
            layers.append(DiagonalScaling(dimension: eventShape[0], dtype: dtype))
        case "realnvp" where !isImage:
            guard eventShape.count == 1 else { throw bad("realnvp: needs [D] or [C, H, W] data, got \(eventShape)") }
            let d = eventShape[0]
            for i in 0..<couplingLayers {
                let mask = (0..<d).map { Double(($0 + i) % 2 == 0 ? 1 : 0) }
                layers.append(AffineCoupling(mask: mask, hiddenSize: hiddenSize, hiddenLayerCount: hiddenLayers, dtype: dtype, using: &rng))
            }
        case "realnvp":
            let c = eventShape[0]
            guard eventShape[1] % 4 == 0, eventShape[2] % 4 == 0 else { throw bad("realnvp: image sides must be multiples of 4, got \(eventShape)") }
            func coupling(_ channels: Int, _ mask: ConvAffineCoupling.Mask) -> ConvAffineCoupling {
                ConvAffineCoupling(channelCount: channels, mask: mask, scale: .tanh, hiddenChannels: hiddenSize, dtype: dtype, using: &rng)
            }
            for p in [0, 1, 0] { layers.append(coupling(c, .checkerboard(p))) }
            layers.append(Squeeze())
            for p in [0, 1, 0] { layers.append(coupling(4 * c, .channel(p))) }
            layers.append(SplitPrior(channelCount: 4 * c, learned: false, dtype: dtype))
            for p in [0, 1, 0, 1] { layers.append(coupling(2 * c, .checkerboard(p))) }
        case "glow" where !isImage:
            guard eventShape.count == 1 else { throw bad("glow: needs [D] or [C, H, W] data, got \(eventShape)") }
            let d = eventShape[0]
            for _ in 0..<couplingLayers {
                layers.append(ActNorm(channelCount: d, dtype: dtype))
                layers.append(InvertibleConv1x1(channelCount: d, dtype: dtype, using: &rng))
                let mask = (0..<d).map { Double($0 < d / 2 ? 1 : 0) }
                layers.append(AffineCoupling(mask: mask, hiddenSize: hiddenSize, hiddenLayerCount: hiddenLayers, dtype: dtype, using: &rng))
            }
        case "glow":
            var (c, h, w) = (eventShape[0], eventShape[1], eventShape[2])
            guard levels >= 1 else { throw bad("glow: --levels must be at least 1") }
            for level in 0..<levels {
                guard h % 2 == 0, w % 2 == 0 else { throw bad("glow: \(levels) levels need sides divisible by 2^\(levels), got \(eventShape)") }
                layers.append(Squeeze())
                (c, h, w) = (4 * c, h / 2, w / 2)
                for _ in 0..<couplingLayers {
                    layers.append(ActNorm(channelCount: c, dtype: dtype))
                    layers.append(InvertibleConv1x1(channelCount: c, dtype: dtype, using: &rng))
                    layers.append(ConvAffineCoupling(channelCount: c, mask: .channel(0), scale: .sigmoid, hiddenChannels: hiddenSize,
                                                     dtype: dtype, using: &rng))
                }
                if level < levels - 1 {
                    layers.append(SplitPrior(channelCount: c, learned: true, dtype: dtype))
                    c /= 2
                }
            }
        default:
            throw bad("unknown flow '\(kind)'; known: \(Self.kinds.joined(separator: ", "))")
        }
        return NormalizingFlow(layers: layers, prior: prior, eventShape: eventShape)
    }
}
