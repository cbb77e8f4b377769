import Foundation
import FluxionNN
import FluxionData

/// NICE, RealNVP and Glow as `RunModel`s (`fluxion train nice|realnvp|glow --data NAME`).
///
/// Options (`config.json`): `hidden`, `layers` (couplings, or Glow's steps per level), `depth`
/// (hidden layers of NICE's MLPs), `levels` (Glow), `prior` (gaussian|logistic), `variant`
/// (NICE: paper|su), `logit` (α of the logit preprocessing for images, 0 = none), and
/// `flow_seed`. The loss is −mean log p(x) in nats; `evaluate` reports the held-out `nll_nats`
/// and, on digits, `bits_per_dim` (17-level data, log-det of the preprocessing included).
public struct FlowRunModel: RunModel {
    /// The flow, on samples of its own event shape (NICE flattens images).
    public var flow: NormalizingFlow
    /// The per-sample shape of the data, [2] for points or [1, 8, 8] for digits.
    public let dataShape: [Int]

    /// Visits the flow's parameters (`layers.i.…`).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        flow.visitParameters(prefix: prefix, body)
    }

    static func flowConfiguration(_ c: RunConfiguration, data: RunDataset) throws -> FlowConfiguration {
        guard var f = FlowConfiguration.defaults(kind: c.model, eventShape: data.eventShape, seed: c.seed) else {
            throw FluxionError(.invalidArgument, "unknown flow '\(c.model)'")
        }
        f.hiddenSize = try c.integer("hidden", default: f.hiddenSize)
        f.couplingLayers = try c.integer("layers", default: f.couplingLayers)
        f.hiddenLayers = try c.integer("depth", default: f.hiddenLayers)
        f.levels = try c.integer("levels", default: f.levels)
        if let p = c.options["prior"] {
            guard let prior = FlowPrior(rawValue: p) else { throw FluxionError(.invalidArgument, "prior must be gaussian or logistic, got '\(p)'") }
            f.prior = prior
        }
        if let v = c.options["variant"] {
            guard c.model == "nice" else { throw FluxionError(.invalidArgument, "variant applies to nice only") }
            guard v == "paper" || v == "su" else { throw FluxionError(.invalidArgument, "variant must be paper or su, got '\(v)'") }
            f.variant = v
            if v == "su" && c.options["prior"] == nil { f.prior = .gaussian }
        }
        if c.options["logit"] != nil {
            let a = try c.number("logit", default: 0)
            guard a >= 0 && a < 0.5 else { throw FluxionError(.invalidArgument, "logit must be in [0, 0.5), got \(a)") }
            f.logitAlpha = a == 0 ? nil : a
        }
        guard f.hiddenSize >= 1, f.hiddenSize <= 4096, f.couplingLayers >= 1, f.couplingLayers <= 64, f.hiddenLayers >= 1, f.levels >= 1 else {
            throw FluxionError(.invalidArgument, "hidden must be in 1...4096, layers in 1...64, depth and levels positive")
        }
        return f
    }

    /// Fills the flow's defaults for `data` (hidden, layers, prior, logit, and depth/variant for NICE,
    /// levels for image Glow) and checks them by building the flow; throws `invalidArgument` naming a bad option.
    public static func resolve(_ configuration: inout RunConfiguration, data: RunDataset) throws {
        let f = try flowConfiguration(configuration, data: data)
        _ = try f.makeFlow()   // validates shapes (e.g. Glow levels against the image size)
        configuration.options["hidden"] = String(f.hiddenSize)
        configuration.options["layers"] = String(f.couplingLayers)
        configuration.options["prior"] = f.prior.rawValue
        configuration.options["logit"] = String(f.logitAlpha ?? 0)
        if f.kind == "nice" { configuration.options["depth"] = String(f.hiddenLayers); configuration.options["variant"] = f.variant }
        if f.kind == "glow" && data.isImage { configuration.options["levels"] = String(f.levels) }
        if f.kind != "glow" || !data.isImage { configuration.options["levels"] = nil }
        if f.kind != "nice" { configuration.options["depth"] = nil }
    }

    /// Builds the flow from the configuration, initialised from `configuration.seed`.
    public init(configuration: RunConfiguration, data: RunDataset) throws {
        flow = try Self.flowConfiguration(configuration, data: data).makeFlow()
        dataShape = data.eventShape
    }

    func toFlow(_ x: Tensor) -> Tensor {
        let y = x.reshaped(to: [x.shape[0]] + flow.eventShape)
        return y.dtype == flow.dtypeOfParameters ? y : y.cast(to: flow.dtypeOfParameters)
    }

    /// ActNorm's data-dependent initialisation on the first batch.
    public mutating func prepare(with batch: Tensor) { flow.initialize(with: toFlow(batch)) }

    /// −mean log p(x) in nats on `batch.data` [B, eventShape...].
    public func loss(_ batch: RunBatch, using rng: inout SeededGenerator) -> Tensor {
        flow.negativeLogLikelihood(toFlow(batch.data))
    }

    /// `count` samples [count, eventShape...] at `options.temperature`; throws if a solver or steps is given.
    public func sample(count: Int, options: SampleOptions, using rng: inout SeededGenerator) throws -> Tensor {
        try options.rejectSolver("a normalizing flow samples in one pass")
        return flow.sample(count: count, temperature: options.temperature, using: &rng).reshaped(to: [count] + dataShape)
    }

    /// log p(x) [N] by the change of variables (no derivatives recorded).
    public func logDensity(_ x: Tensor) -> Tensor? { withoutDerivatives { flow.logProbability(toFlow(x)) } }

    /// The held-out `nll_nats`, `bits_per_dim` on images (17-level data), and the count.
    public func evaluate(_ test: RunBatch, data: RunDataset, using rng: inout SeededGenerator) throws -> [(name: String, value: Double)] {
        let test = test.data
        let logp = withoutDerivatives { () -> [Double] in
            var values: [Double] = []
            var start = 0
            while start < test.shape[0] {
                let end = Swift.min(start + 1000, test.shape[0])
                values += flow.logProbability(toFlow(test[start..<end])).scalars
                start = end
            }
            return values
        }
        let mean = logp.reduce(0, +) / Double(logp.count)
        var out: [(name: String, value: Double)] = [("nll_nats", -mean)]
        if data.isImage { out.append(("bits_per_dim", Digits.bitsPerDimension(logDensity: mean, dimensions: test.count / test.shape[0]))) }
        out.append(("test_count", Double(logp.count)))
        return out
    }
}
