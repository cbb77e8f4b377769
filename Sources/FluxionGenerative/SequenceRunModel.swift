import Foundation
import FluxionNN
import FluxionData
import FluxionOptim

/// The sequence models as `RunModel`s: `fluxion train rnn|lstm|gru|transformer|mamba|s4d|s4 --task NAME`
/// through the one run system (checkpoints, `--resume`, best checkpoint on the task's
/// validation split, `eval`), and `fluxion generate RUN` for character-level runs.
///
/// Options (`config.json`): `width` (embedding width, 64), `hidden` (recurrent state, 128),
/// `layers` (recurrent layers 1, Transformer blocks 2), `heads` (Transformer, 4; must divide
/// `width`), `clip` (gradient-norm clipping, 1), `state` (Mamba 16, S4D 64: the state size N),
/// `expand` (Mamba, 2), `selective` (Mamba, true; false: Δ, B, C input-independent), the run
/// system's `warmup` and `schedule` (constant, cosine), and the
/// task's `length` (and `text` for chars). S4D's SSM parameters (log Δ, log −Re A, Im A) and S4's
/// (log Δ, A, B, P) train at min(1e-3, lr) as s4d.py and s4.py register them; S4 makes its kernels
/// at the next power of two of the task's length.
/// The loss is cross-entropy at the scored positions (classes) or mean-squared error
/// (regression); `evaluate` reports `loss`, `accuracy` (classes) and `test_count`.
public struct SequenceRunModel: RunModel {
    /// The recurrent model (`rnn`, `lstm`, `gru`); nil for a Transformer run.
    public var recurrent: RecurrentSequenceModel?
    /// The Transformer (`transformer`); nil otherwise.
    public var transformer: TransformerSequenceModel?
    /// The Mamba model (`mamba`); nil otherwise.
    public var mamba: MambaSequenceModel?
    /// The S4D model (`s4d`); nil otherwise.
    public var s4d: S4DSequenceModel?
    /// The S4 model (`s4`); nil otherwise.
    public var s4: S4SequenceModel?
    /// How the task is scored.
    public let target: SequenceTarget

    /// True: the model trains on a `SequenceTask`.
    public static var trainsOnSequenceTasks: Bool { true }
    /// `"loss"`: the validation loss selects the best checkpoint.
    public static var validationFigure: String { "loss" }

    /// Visits the model's parameters (no extra prefix).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if recurrent != nil { recurrent!.visitParameters(prefix: prefix, body) }
        if transformer != nil { transformer!.visitParameters(prefix: prefix, body) }
        if mamba != nil { mamba!.visitParameters(prefix: prefix, body) }
        if s4d != nil { s4d!.visitParameters(prefix: prefix, body) }
        if s4 != nil { s4!.visitParameters(prefix: prefix, body) }
    }

    /// Fills defaults (width 64, layers 1 or 2 for the Transformer, hidden 128 or heads 4, clip 1) and
    /// the task's length; throws `invalidArgument` for an unknown or inapplicable option.
    public static func resolve(_ c: inout RunConfiguration, data: RunDataset) throws {
        let known: [String]
        c.setDefault("width", "64")
        switch c.model {
        case "transformer":
            c.setDefault("layers", "2"); c.setDefault("heads", "4"); known = ["width", "layers", "heads", "clip"]
        case "mamba":
            c.setDefault("layers", "2"); c.setDefault("state", "16"); c.setDefault("expand", "2"); c.setDefault("selective", "true")
            known = ["width", "layers", "state", "expand", "selective", "clip"]
        case "s4d", "s4":
            c.setDefault("layers", "2"); c.setDefault("state", "64"); known = ["width", "layers", "state", "clip"]
        default:
            c.setDefault("layers", "1"); c.setDefault("hidden", "128"); known = ["width", "hidden", "layers", "clip"]
        }
        c.setDefault("clip", "1")
        if let task = data.task { c.options.merge(RunDataset.taskOptions(task)) { _, new in new } }
        let taskKeys = c.data == "selective-copying" ? ["symbols", "vocabulary"] : c.data == "induction-heads" ? ["vocabulary"] : []
        for key in c.options.keys where !(known + taskKeys + ["length", "text", "text_sha256", "warmup", "schedule"]).contains(key) {
            let hint = key == "hidden" ? " (hidden applies to rnn, lstm and gru)" : key == "heads" ? " (heads applies to the transformer)" : ""
            throw FluxionError(.invalidArgument, "unknown option '\(key)' for \(c.model)\(hint); known: \(known.joined(separator: ", "))")
        }
        _ = try Self(configuration: c, data: data)
    }

    /// Builds the recurrent model or Transformer for the task, initialised from `c.seed`; throws
    /// without a sequence task or for a bad option.
    public init(configuration c: RunConfiguration, data: RunDataset) throws {
        guard let task = data.task else { throw FluxionError(.invalidArgument, "\(c.model) trains on a sequence task (--task), not on data \(data.name)") }
        let width = try c.count("width", default: 64, in: 1...4096)
        let layers = try c.count("layers", default: 1, in: 1...64)
        var rng = SeededGenerator(seed: c.seed)
        let outputs: Int
        if case .classes(let n, _) = task.target { outputs = n } else { outputs = 1 }
        target = task.target
        switch c.model {
        case "transformer":
            let heads = try c.count("heads", default: 4, in: 1...256)
            guard width % heads == 0 else { throw FluxionError(.invalidArgument, "heads (\(heads)) must divide width (\(width))") }
            transformer = TransformerSequenceModel(vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: width,
                                                   layerCount: layers, headCount: heads, maxLength: task.length, outputSize: outputs, using: &rng)
        case "rnn", "lstm", "gru":
            let hidden = try c.count("hidden", default: 128, in: 1...8192)
            let kind: RecurrentKind = c.model == "lstm" ? .lstm : (c.model == "gru" ? .gru : .rnnTanh)
            recurrent = RecurrentSequenceModel(kind, vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: width,
                                               hiddenSize: hidden, layerCount: layers, outputSize: outputs, using: &rng)
        case "mamba":
            let state = try c.count("state", default: 16, in: 1...1024), expand = try c.count("expand", default: 2, in: 1...16)
            let selective: Bool
            switch c.options["selective"] ?? "true" {
            case "true": selective = true
            case "false": selective = false
            case let v: throw FluxionError(.invalidArgument, "selective must be true or false, got '\(v)'")
            }
            mamba = MambaSequenceModel(vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: width, layerCount: layers,
                                       stateSize: state, expand: expand, selective: selective, outputSize: outputs, using: &rng)
        case "s4":
            let state = try c.count("state", default: 64, in: 2...512)
            guard state % 2 == 0 else { throw FluxionError(.invalidArgument, "state must be even for s4 (N/2 complex modes), got \(state)") }
            // The kernels are made at the next power of two of the task's length.
            var kernelLength = 2
            while kernelLength < task.length { kernelLength *= 2 }
            s4 = S4SequenceModel(vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: width, layerCount: layers,
                                 stateSize: state, kernelLength: kernelLength, outputSize: outputs, using: &rng)
        case "s4d":
            let state = try c.count("state", default: 64, in: 2...4096)
            guard state % 2 == 0 else { throw FluxionError(.invalidArgument, "state must be even for s4d (N/2 complex modes), got \(state)") }
            s4d = S4DSequenceModel(vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: width, layerCount: layers,
                                   stateSize: state, outputSize: outputs, using: &rng)
        default:
            throw FluxionError(.invalidArgument, "unknown sequence model '\(c.model)'; known: rnn, lstm, gru, transformer, mamba, s4d, s4")
        }
    }

    /// Outputs [B, T, outputs] for inputs [B, T] (tokens) or [B, T, F] (features).
    public func callAsFunction(_ inputs: Tensor) -> Tensor {
        if let recurrent { return recurrent(inputs) }
        if let mamba { return mamba(inputs) }
        if let s4d { return s4d(inputs) }
        if let s4 { return s4(inputs) }
        return transformer!(inputs)
    }

    /// Adam at the run's rate; for S4D and S4 their SSM parameters in a group at min(1e-3, lr), no decay.
    public func makeOptimizer(_ configuration: RunConfiguration) throws -> Adam {
        var adam = Adam(learningRate: configuration.learningRate)
        if let names = s4d?.stateSpaceParameterNames ?? s4?.stateSpaceParameterNames {
            adam.groups = [Adam.Group(names: names, learningRate: Swift.min(1e-3, configuration.learningRate))]
        }
        return adam
    }

    /// The longest input the model takes: the Transformer's learned positions, S4's kernel
    /// length (nil: recurrent and S4D, unlimited).
    public var maxLength: Int? { transformer?.positions.weight.shape[0] ?? s4?.kernelLength }

    /// What bounds `maxLength`, for messages: "32 learned positions" (Transformer) or "kernels of
    /// 32 steps" (S4); nil when unlimited.
    public var maxLengthReason: String? {
        if let t = transformer { return "\(t.positions.maxLength) learned positions" }
        if let s4 { return "kernels of \(s4.kernelLength) steps" }
        return nil
    }

    struct Wrapped: SequenceModel {
        var model: SequenceRunModel
        func callAsFunction(_ inputs: Tensor) -> Tensor { model(inputs) }
        mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) { model.visitParameters(prefix: prefix, body) }
    }

    /// Cross-entropy at the scored positions (classes) or mean-squared error (regression) on the batch.
    public func loss(_ batch: RunBatch, using rng: inout SeededGenerator) -> Tensor {
        SequenceObjective.loss(Wrapped(model: self), SequenceBatch(inputs: batch.data, targets: batch.labels!), target)
    }

    /// Always throws: a sequence model does not draw samples (use `fluxion generate`).
    public func sample(count: Int, options: SampleOptions, using rng: inout SeededGenerator) throws -> Tensor {
        throw FluxionError(.invalidArgument, "a sequence model does not draw samples; use `fluxion generate RUN` (character-level runs) or `fluxion eval RUN`")
    }

    /// `loss`, `accuracy` (classes) and `test_count` over the held-out batch, in chunks of 256.
    public func evaluate(_ test: RunBatch, data: RunDataset, using rng: inout SeededGenerator) throws -> [(name: String, value: Double)] {
        guard test.count > 0, let labels = test.labels else {
            throw FluxionError(.invalidArgument, "no held-out data to evaluate on (a character-level run needs its training text)")
        }
        var figures: [(name: String, value: Double)] = []
        var lossSum = 0.0, correct = 0.0, scored = 0.0
        var start = 0
        while start < test.count {
            let end = Swift.min(start + 256, test.count)
            let batch = SequenceBatch(inputs: test.data[start..<end], targets: labels[start..<end])
            let (loss, accuracy) = SequenceObjective.evaluate(Wrapped(model: self), batch, target)
            lossSum += loss * Double(end - start)
            if let accuracy { correct += accuracy * Double(batch.targets.count); scored += Double(batch.targets.count) }
            start = end
        }
        figures.append(("loss", lossSum / Double(test.count)))
        if scored > 0 { figures.append(("accuracy", correct / scored)) }
        figures.append(("test_count", Double(test.count)))
        return figures
    }

    /// Continues `context` (token codes, at least one) by `count` tokens drawn from the model's
    /// next-token distribution at `temperature` (> 0), restricted to the `topK` most likely (0:
    /// all). A Transformer sees the last `maxLength` tokens; Mamba prefills the context once and
    /// then steps its caches (conv window and scan state), one token at a time.
    public func generate(context: [Int32], count: Int, temperature: Double, topK: Int = 0, using rng: inout SeededGenerator) throws -> [Int32] {
        guard !context.isEmpty else { throw FluxionError(.invalidArgument, "generation needs a context of at least one token") }
        guard temperature > 0, temperature.isFinite else { throw FluxionError(.invalidArgument, "temperature must be a positive number, got \(temperature)") }
        guard count >= 0, topK >= 0 else { throw FluxionError(.invalidArgument, "count and top-k must be non-negative") }
        guard case .classes(let vocabulary, _) = target else { throw FluxionError(.invalidArgument, "generation needs a model that predicts tokens") }
        guard context.allSatisfy({ $0 >= 0 && Int($0) < vocabulary }) else { throw FluxionError(.invalidArgument, "context tokens must be in 0..<\(vocabulary)") }
        var output = context
        var caches: [MambaCache]? = mamba?.emptyCache(batch: 1)
        var pending = context    // the tokens the caches have not seen yet
        for _ in 0..<count {
            let last: Tensor
            if let mamba {
                last = withoutDerivatives { mamba(Tensor(pending, shape: [1, pending.count]), caches: &caches)[0][pending.count - 1] }
            } else {
                let window = Array(output.suffix(maxLength ?? output.count))
                last = withoutDerivatives { self(Tensor(window, shape: [1, window.count]))[0][window.count - 1] }
            }
            var l = (last.cast(to: .float64) / temperature).scalars
            if topK > 0 && topK < l.count {
                let cut = l.sorted(by: >)[topK - 1]
                l = l.map { $0 < cut ? -.infinity : $0 }
            }
            let m = l.max()!
            let p = l.map { Foundation.exp($0 - m) }
            var u = rng.nextUniform() * p.reduce(0, +)
            var next = Int32(p.count - 1)
            for (i, v) in p.enumerated() { u -= v; if u <= 0 { next = Int32(i); break } }
            output.append(next)
            pending = [next]
        }
        return output
    }
}
