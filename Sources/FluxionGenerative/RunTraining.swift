import Foundation
import FluxionNN
import FluxionOptim
import FluxionData

/// The generator and data-order state of a run, saved as `state.json` so that `--resume`
/// continues with the same random numbers as an uninterrupted run.
public struct RunState: Codable, Equatable {
    /// The number of steps done.
    public var step: Int
    /// The generator of batches and noise, as it stands after `step` steps.
    public var generator: SeededGenerator
    /// The shuffled data order (finite data sets such as digits); nil for fresh samples.
    public var batches: ShuffledBatches?
    /// Training time so far, in seconds, summed over resumed sessions.
    public var elapsedSeconds: Double
    /// The lowest validation NLL (nats) seen at a checkpoint and its step; that model is kept in
    /// best.safetensors (early stopping, as NICE selects its model). nil: no validation set.
    public var bestValidation: Double? = nil
    /// The step of `bestValidation`; nil with it.
    public var bestStep: Int? = nil
    /// The losses summed since the last metrics record (records average `logEvery` steps).
    public var lossSum: Double = 0
    /// The number of losses summed in `lossSum`.
    public var lossCount: Int = 0

    /// Checks a decoded state against its run (the checkpoint's step, the data's size).
    func check(step expected: Int, configuration: RunConfiguration, data: RunDataset, file: String) throws {
        func bad(_ why: String) -> FluxionError { FluxionError(.malformed, file: file, why) }
        guard step == expected else { throw bad("records step \(step), but the checkpoint is of step \(expected)") }
        guard elapsedSeconds.isFinite, elapsedSeconds >= 0, lossSum.isFinite || lossCount > 0, lossCount >= 0, lossCount <= step else {
            throw bad("invalid elapsed time or loss accumulator")
        }
        if let bestStep, bestStep < 0 || bestStep > step || bestValidation == nil { throw bad("invalid best step \(bestStep)") }
        if let batches {
            guard let count = data.trainCount, batches.count == count, batches.batchSize == Swift.min(configuration.batchSize, count) else {
                throw bad("its data order (\(batches.count) examples in batches of \(batches.batchSize)) does not fit the data \(data.name) and batch size \(configuration.batchSize)")
            }
        }
    }
}

// NOTE(1): a run folder. `config.json` (the `RunConfiguration`, written when the run starts and
// when `--steps` extends it) and `checkpoints/step-N/` (a `CheckpointStore`: atomic, checksummed,
// the newest `keepCheckpoints` kept), each holding `model.safetensors` (the parameters, PyTorch
// names), `optimizer.safetensors` (Adam's moments and step), `state.json` (step, generator, data
// order, loss accumulator), `metrics.jsonl` (one JSON object per logged step, up to that step)
// and `best.safetensors` (the best-validation parameters, when the data has a validation set).
// After each checkpoint its model, best model and metrics are also linked (hard links, or
// atomic copies) to the run folder's top level for users and PyTorch; readers (resume, sample,
// eval) use only the verified checkpoints, and fall back to an older one when the newest is
// damaged. So an interruption at any instant leaves a run that resumes exactly.

/// One training run of a `RunModel` in a folder: start fresh, or resume; step; checkpoint.
public struct TrainingRun<M: RunModel> {
    /// The run folder (`config.json`, `checkpoints/`, and the linked latest files).
    public let folder: String
    /// The run's configuration, as in `config.json`.
    public private(set) var configuration: RunConfiguration
    /// The run's data.
    public let data: RunDataset
    /// The model being trained.
    public var model: M
    /// The Adam optimiser and its moments.
    public var optimizer: Adam
    /// The step, generator, data order and loss accumulators saved with each checkpoint.
    public var state: RunState
    /// metrics.jsonl lines so far.
    public var metrics: [String]
    /// The encoded best-validation parameters (best.safetensors), when there are any.
    public private(set) var bestModel: Data?
    /// One-line notices from loading (a damaged checkpoint passed over), for the user.
    public private(set) var notices: [String] = []
    let clipNorm: Double?
    /// Learning-rate schedule (options `warmup`, `schedule`): linear warm-up over the first
    /// `warmup` steps, then constant or cosine decay to 0 at `configuration.steps`; the factor
    /// scales the rates `makeOptimizer` gives the optimiser and each of its groups.
    let warmup: Int, cosine: Bool
    let baseRates: (optimizer: Double, groups: [Double])

    static func path(_ folder: String, _ file: String) -> String { (folder as NSString).appendingPathComponent(file) }

    var store: CheckpointStore {
        get throws { try CheckpointStore(folder: Self.path(folder, "checkpoints"), keep: configuration.keepCheckpoints ?? 2) }
    }

    init(folder: String, configuration: RunConfiguration, data: RunDataset, model: M, optimizer: Adam, state: RunState,
         metrics: [String], bestModel: Data?) throws {
        self.folder = folder; self.configuration = configuration; self.data = data; self.model = model
        self.optimizer = optimizer; self.state = state; self.metrics = metrics; self.bestModel = bestModel
        clipNorm = configuration.options["clip"] == nil ? nil : try configuration.number("clip", default: 1)
        if let clipNorm, clipNorm <= 0 { throw FluxionError(.invalidArgument, "clip must be positive, got \(clipNorm)") }
        warmup = try configuration.count("warmup", default: 0)
        switch configuration.options["schedule"] ?? "constant" {
        case "constant": cosine = false
        case "cosine": cosine = true
        case let other: throw FluxionError(.invalidArgument, "option schedule=\(other) is not one of constant, cosine")
        }
        let initial = try model.makeOptimizer(configuration)
        baseRates = (initial.learningRate, initial.groups.map(\.learningRate))
    }

    /// A fresh run: resolves the configuration, creates `folder` and writes config.json.
    public static func start(_ configuration: RunConfiguration, folder: String, data: RunDataset? = nil) throws -> TrainingRun {
        var config = configuration
        try config.check()
        if M.trainsOnSequenceTasks, config.data == "chars", let file = config.options["text"] {
            // The vocabulary and a checksum of the text go into the configuration: the model
            // rebuilds (and generates) without the file, and a resume notices a changed file.
            let text = try CharacterTask.read(file)
            config.options["text_sha256"] = SHA256.hexDigest(Data(text.utf8))
            config.vocabulary = Array(Set(text)).sorted().map { String($0) }
        }
        let data = try data ?? RunDataset.load(config, sequence: M.trainsOnSequenceTasks)
        try M.resolve(&config, data: data)
        // The whole run is built (every option checked) before anything is written, so a bad
        // option leaves no half-made run folder behind.
        // (`fresh` also records the SHA-256 of an --init-from file in the run's configuration.)
        let run = try fresh(config, folder: folder, data: data)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw FluxionError(.io, file: folder, "cannot create the run folder: \(error.localizedDescription)")
        }
        try writeConfiguration(run.configuration, folder: folder)
        return run
    }

    /// Step 0 of a run whose configuration is resolved: a fresh model, Adam, generator.
    static func fresh(_ config: RunConfiguration, folder: String, data: RunDataset) throws -> TrainingRun {
        let model = try M(configuration: config, data: data)
        var run = try TrainingRun(folder: folder, configuration: config, data: data, model: model,
                                  optimizer: try model.makeOptimizer(config),
                                  state: RunState(step: 0, generator: SeededGenerator(seed: config.seed &+ 1), batches: nil, elapsedSeconds: 0),
                                  metrics: [], bestModel: nil)
        var probe = run.state.batches
        var rng = SeededGenerator(seed: config.seed &+ 2)
        run.model.prepare(with: data.trainBatch(Swift.min(config.batchSize * 2, 1024), batches: &probe, using: &rng).data)
        if let file = config.initialModel {
            // Every parameter by name, shape and dtype (the file may come from a run at another
            // task length, never from another architecture); the optimiser starts fresh. The file
            // is read once: its SHA-256 is recorded at the start and checked on a restart.
            let bytes = try FileIO.read(file)
            let digest = SHA256.hexDigest(bytes)
            if let expected = config.initialModelSHA256, digest != expected {
                throw FluxionError(.malformed, file: file, "changed since the run started from it (SHA-256 differs from config.json's initialModelSHA256)")
            }
            try run.model.load(from: SafeTensors.decode(bytes, path: file), path: file)
            run.configuration.initialModelSHA256 = digest
        }
        return run
    }

    /// Continues the run in `folder` (`fluxion train --resume`): from its newest intact checkpoint,
    /// or, when it was stopped before its first checkpoint, from step 0 of its configuration
    /// (which rebuilds exactly what `start` built).
    public static func resume(folder: String) throws -> TrainingRun {
        let config = try readConfiguration(folder: folder)
        let store = try CheckpointStore(folder: path(folder, "checkpoints"), keep: config.keepCheckpoints ?? 2)
        if store.steps().isEmpty {
            var run = try fresh(config, folder: folder, data: RunDataset.load(config, sequence: M.trainsOnSequenceTasks))
            run.notices.append("\(folder) has no checkpoint yet: starting from step 0")
            return run
        }
        return try load(folder: folder)
    }

    static func writeConfiguration(_ configuration: RunConfiguration, folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try FileIO.writeAtomically(try encoder.encode(configuration), to: path(folder, "config.json"))
    }

    /// Reads and checks a run folder's configuration (a one-line error if it is missing or malformed).
    public static func readConfiguration(folder: String) throws -> RunConfiguration {
        let file = path(folder, "config.json")
        guard FileManager.default.fileExists(atPath: folder) else { throw FluxionError(.io, file: folder, "no such run folder") }
        guard FileManager.default.fileExists(atPath: file) else { throw FluxionError(.io, file: file, "missing (not a run folder?)") }
        let config: RunConfiguration
        do { config = try JSONDecoder().decode(RunConfiguration.self, from: try FileIO.read(file)) } catch let e as FluxionError { throw e } catch {
            throw FluxionError(.malformed, file: file, "not a valid run configuration (\(error))")
        }
        do { try config.check() } catch let e as FluxionError { throw FluxionError(.malformed, file: file, e.message) }
        return config
    }

    /// Rebuilds the model of a run folder from its newest intact checkpoint (for sample, eval and
    /// resume); a damaged checkpoint is passed over with a notice (`notices`). `best`: the
    /// best-validation parameters when the run kept them (resuming always continues from the
    /// last). `requireData: false` for a character-level run rebuilds without its text.
    public static func load(folder: String, best: Bool = false, requireData: Bool = true) throws -> TrainingRun {
        let config = try readConfiguration(folder: folder)
        let data = try RunDataset.load(config, sequence: M.trainsOnSequenceTasks, requireText: requireData)
        let store = try CheckpointStore(folder: path(folder, "checkpoints"), keep: config.keepCheckpoints ?? 2)
        var notices: [String] = []
        var run = try store.newest(notices: &notices) { checkpoint in
            try restore(checkpoint, configuration: config, data: data, folder: folder, best: best)
        }
        run.notices = notices
        return run
    }

    /// The run a checkpoint's files describe, every file checked against the configuration and
    /// the model before anything is adopted: the model's and best model's tensors (names, shapes,
    /// dtypes), the optimiser state against the model, the run state against the checkpoint's
    /// step and the data. A problem throws an error naming the file.
    public static func restore(_ checkpoint: CheckpointStore.Checkpoint, configuration config: RunConfiguration, data: RunDataset,
                               folder: String, best: Bool = false) throws -> TrainingRun {
        func tensors(_ name: String) throws -> SafeTensors.File {
            try SafeTensors.decode(checkpoint.data(name), path: checkpoint.path(name))
        }
        var model = try M(configuration: config, data: data)
        try model.load(from: tensors("model.safetensors"), path: checkpoint.path("model.safetensors"))
        var optimizer = try model.makeOptimizer(config)
        try optimizer.loadState(from: tensors("optimizer.safetensors"), path: checkpoint.path("optimizer.safetensors"), for: model)
        let state: RunState
        do { state = try JSONDecoder().decode(RunState.self, from: checkpoint.data("state.json")) } catch let e as FluxionError { throw e } catch {
            throw FluxionError(.malformed, file: checkpoint.path("state.json"), "not a valid run state (\(error))")
        }
        try state.check(step: checkpoint.step, configuration: config, data: data, file: checkpoint.path("state.json"))
        guard optimizer.stepCount == state.step else {
            throw FluxionError(.malformed, file: checkpoint.path("optimizer.safetensors"), "records step \(optimizer.stepCount), the run state step \(state.step)")
        }
        guard let metricsText = String(data: try checkpoint.data("metrics.jsonl"), encoding: .utf8) else {
            throw FluxionError(.malformed, file: checkpoint.path("metrics.jsonl"), "not UTF-8 text")
        }
        let metrics = metricsText.split(separator: "\n").map(String.init)
        let bestModel = checkpoint.files["best.safetensors"]
        if let bestModel {
            var kept = model
            try kept.load(from: SafeTensors.decode(bestModel, path: checkpoint.path("best.safetensors")), path: checkpoint.path("best.safetensors"))
            if best { model = kept }
        }
        return try TrainingRun(folder: folder, configuration: config, data: data, model: model, optimizer: optimizer, state: state,
                               metrics: metrics, bestModel: bestModel)
    }

    /// Sets the step budget of a resumed run (rewrites config.json); it must exceed the steps done.
    public mutating func extend(to steps: Int) throws {
        guard steps > state.step else {
            throw FluxionError(.invalidArgument, file: folder, "--steps \(steps) is not beyond the \(state.step) steps already done")
        }
        guard steps != configuration.steps else { return }
        configuration.steps = steps
        try Self.writeConfiguration(configuration, folder: folder)
    }

    /// True once `state.step` has reached `configuration.steps`.
    public var isFinished: Bool { state.step >= configuration.steps }

    /// The schedule's factor for update number `step` (0-based): (step + 1)/warmup during the
    /// warm-up, then 1 or, with `schedule=cosine`, (1 + cos(π·(step − warmup)/(steps − warmup)))/2.
    public func rateFactor(at step: Int) -> Double {
        if cosine { return LearningRateSchedule.warmupCosine(peak: 1, warmup: warmup, total: configuration.steps).rate(at: step) }
        return step < warmup ? Double(step + 1) / Double(warmup) : 1
    }

    /// One optimisation step on a fresh batch; returns the loss.
    public mutating func step() -> Double {
        var batches = state.batches
        let batch = data.trainBatch(configuration.batchSize, batches: &batches, using: &state.generator)
        state.batches = batches
        var rng = state.generator
        var (loss, g) = valueWithGradient(at: model) { m in m.loss(batch, using: &rng) }
        state.generator = rng
        if let clipNorm { clipGradientNorm(&g, maxNorm: clipNorm) }
        if warmup > 0 || cosine {
            // Only a scheduled run sets the rates (an unscheduled one keeps whatever the caller set).
            let factor = rateFactor(at: state.step)
            optimizer.learningRate = baseRates.optimizer * factor
            for i in optimizer.groups.indices where i < baseRates.groups.count { optimizer.groups[i].learningRate = baseRates.groups[i] * factor }
        }
        optimizer.update(&model, along: g)
        state.step += 1
        return loss.item
    }

    /// Appends one metrics record (written at the next checkpoint).
    public mutating func log(_ fields: [String: Double]) {
        var record: [String: Any] = ["step": state.step]
        for (k, v) in fields { record[k] = v.isFinite ? v : String(v) }
        if let data = try? JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]) {
            metrics.append(String(decoding: data, as: UTF8.self))
        }
    }

    /// Evaluates the model on the validation set (when the data has one) and logs
    /// `validation_nll` (or `validation_<figure>` for models whose figure is not the NLL); keeps
    /// the best model so far for best.safetensors. Returns the figure. Called by `train` at every
    /// scheduled checkpoint, before `saveCheckpoint`, which stores the best model.
    @discardableResult
    public mutating func validate() throws -> Double? {
        guard let validation = data.validationSet, validation.count > 0 else { return nil }
        var rng = SeededGenerator(seed: configuration.seed &+ 5)
        let model = self.model, data = self.data
        let figures = try withoutDerivatives { try model.evaluate(validation, data: data, using: &rng) }
        guard let value = figures.first(where: { $0.name == M.validationFigure })?.value, value.isFinite else { return nil }
        log([M.validationFigure == "nll_nats" ? "validation_nll" : "validation_\(M.validationFigure)": value])
        if state.bestValidation.map({ value < $0 }) ?? true {
            bestModel = try SafeTensors.encode(model.namedParameters, metadata: ["model": configuration.model, "step": String(state.step)])
            state.bestValidation = value
            state.bestStep = state.step
        }
        return value
    }

    /// Writes a checkpoint (model, optimiser, state, metrics, best model) as one atomic unit,
    /// then links its model, best model and metrics into the run folder (NOTE(1)).
    public func saveCheckpoint() throws {
        let stateEncoder = JSONEncoder()
        stateEncoder.outputFormatting = [.sortedKeys]
        var files: [(name: String, data: Data)] = [
            ("model.safetensors", try SafeTensors.encode(model.namedParameters, metadata: ["model": configuration.model, "step": String(state.step)])),
            ("optimizer.safetensors", try optimizer.encodedState()),
            ("state.json", try stateEncoder.encode(state)),
            ("metrics.jsonl", Data((metrics.joined(separator: "\n") + (metrics.isEmpty ? "" : "\n")).utf8)),
        ]
        if let bestModel { files.append(("best.safetensors", bestModel)) }
        let store = try self.store
        try store.write(step: state.step, files: files)
        let checkpoint = store.path(step: state.step)
        for (name, data) in files where ["model.safetensors", "best.safetensors", "metrics.jsonl"].contains(name) {
            try Self.export((checkpoint as NSString).appendingPathComponent(name), data, to: Self.path(folder, name))
        }
        try FileIO.synchronizeFolder(folder)
    }

    /// Places a checkpoint file at `target`: a hard link renamed into place (no copy), or an
    /// atomic write where the file system has no hard links.
    static func export(_ source: String, _ data: Data, to target: String) throws {
        let temporary = target + ".link-\(getpid())"
        unlink(temporary)
        if link(source, temporary) == 0 {
            guard rename(temporary, target) == 0 else {
                unlink(temporary)
                throw FluxionError(.io, file: target, "cannot rename into place (\(String(cString: strerror(errno))))")
            }
        } else {
            try FileIO.writeAtomically(data, to: target)
        }
    }

    /// Trains until the step budget is spent or `shouldStop()` (checked after every step, e.g. a
    /// Ctrl-C flag) says so: validation and a checkpoint every `checkpointEvery` steps and at the
    /// end, a checkpoint when stopped, a metrics record of the mean loss every `logEvery` steps.
    /// `progress(step, loss)` is called after every step. A non-finite loss throws (the last
    /// checkpoint is kept). Returns true when stopped early.
    public mutating func train(shouldStop: () -> Bool = { false }, progress: (Int, Double) -> Void = { _, _ in }) throws -> Bool {
        let logEvery = Swift.max(1, configuration.steps / 500)
        let started = Date()
        let elapsedBefore = state.elapsedSeconds
        while !isFinished {
            let loss = step()
            state.lossSum += loss
            state.lossCount += 1
            if state.step % logEvery == 0 || isFinished {
                log(["loss": state.lossSum / Double(state.lossCount)])
                state.lossSum = 0
                state.lossCount = 0
            }
            progress(state.step, loss)
            guard loss.isFinite else {
                throw FluxionError(.diverged, file: folder, "the loss became \(loss) at step \(state.step); try a smaller --lr (the last checkpoint is kept)")
            }
            let scheduled = state.step % configuration.checkpointEvery == 0 || isFinished
            let stop = !isFinished && shouldStop()
            if scheduled || stop {
                state.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(started)
                if scheduled { try validate() }
                try saveCheckpoint()
            }
            if stop { return true }
        }
        return false
    }

    /// The losses logged so far (for the loss curve): (step, loss).
    public var lossHistory: [(Int, Double)] {
        metrics.compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = object["step"] as? Int, let loss = object["loss"] as? Double else { return nil }
            return (step, loss)
        }
    }
}

extension RunConfiguration {
    /// Checks the run-level settings (the model checks its own options in `resolve`).
    public func check() throws {
        func bad(_ why: String) -> FluxionError { FluxionError(.invalidArgument, why) }
        guard RunModels.registry[model] != nil else { throw bad("unknown model '\(model)'; known: \(RunModels.names.joined(separator: ", "))") }
        guard steps >= 1 else { throw bad("steps must be positive, got \(steps)") }
        guard (1...1_000_000).contains(batchSize) else { throw bad("batch size must be in 1...1000000, got \(batchSize)") }
        guard learningRate.isFinite, learningRate > 0 else { throw bad("learning rate must be a positive number, got \(learningRate)") }
        guard checkpointEvery >= 1 else { throw bad("checkpoint interval must be positive, got \(checkpointEvery)") }
        if let keepCheckpoints, keepCheckpoints < 1 { throw bad("keep_checkpoints must be at least 1, got \(keepCheckpoints)") }
    }
}
