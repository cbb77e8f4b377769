import Foundation
import FluxionNN
import FluxionOptim
import FluxionData

/// The data of a run: a 2-D toy distribution (fresh samples every batch, a fixed held-out set of
/// 10,000 points) or the 8×8 digits: the 1,437 images of the train split minus every tenth
/// (1,294, shuffled epochs, freshly dequantised per batch), those 143 as a validation set, and
/// the 360 test images (both dequantised once with fixed generators).
public struct RunDataset {
    public let name: String
    /// Per-sample shape: [2] for points, [1, 8, 8] for digits.
    public let eventShape: [Int]
    /// The held-out set [N, eventShape...], float32.
    public let test: Tensor
    /// Validation examples taken from the training split (digits; nil for the 2-D toys, whose
    /// training batches are fresh samples and cannot be memorised).
    public let validation: Tensor?
    let trainDigits: Digits?

    public static var names: [String] { Toy2D.names + ["digits"] }
    public var isImage: Bool { eventShape.count == 3 }
    /// The number of training examples (nil: unlimited fresh samples).
    public var trainCount: Int? { trainDigits?.count }

    /// Loads `name`; throws a one-line error for unknown names.
    public static func load(_ name: String) throws -> RunDataset {
        var rng = SeededGenerator(seed: 20_240_601)   // the held-out set is the same for every run
        if name == "digits" {
            let all = try Digits.load(.train), test = try Digits.load(.test)
            let (train, validation) = (all.subset { $0 % 10 != 9 }, all.subset { $0 % 10 == 9 })
            var validationRNG = SeededGenerator(seed: 20_240_602)
            return RunDataset(name: name, eventShape: [1, 8, 8],
                              test: test.dequantized(using: &rng).reshaped(to: [test.count, 1, 8, 8]),
                              validation: validation.dequantized(using: &validationRNG).reshaped(to: [validation.count, 1, 8, 8]),
                              trainDigits: train)
        }
        guard let test = Toy2D.sample(name, count: 10_000, using: &rng) else {
            throw FluxionError(.invalidArgument, "unknown data '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return RunDataset(name: name, eventShape: [2], test: test, validation: nil, trainDigits: nil)
    }

    /// One training batch [size, eventShape...].
    public func trainBatch(_ size: Int, batches: inout ShuffledBatches?, using rng: inout SeededGenerator) -> Tensor {
        if let digits = trainDigits {
            if batches == nil { batches = ShuffledBatches(count: digits.count, batchSize: size) }
            let index = batches!.next(using: &rng)
            let pixels = digits.pixels.indexSelect(axis: 0, indices: index)
            let u = Tensor.randomUniform(shape: pixels.shape, dtype: .float64, using: &rng)
            return ((pixels + u) / Double(Digits.levels)).cast(to: .float32).reshaped(to: [index.count, 1, 8, 8])
        }
        return Toy2D.sample(name, count: size, using: &rng)!
    }

    /// Some training examples for pictures (the test set stands in for fresh samples).
    public func examples(_ count: Int) -> Tensor { test[0..<Swift.min(count, test.shape[0])] }
}

/// The generator and data-order state of a run, saved as `state.json` so that `--resume`
/// continues with the same random numbers as an uninterrupted run.
public struct RunState: Codable, Equatable {
    public var step: Int
    public var generator: SeededGenerator
    public var batches: ShuffledBatches?
    public var elapsedSeconds: Double
    /// The lowest validation NLL (nats) seen at a checkpoint and its step; that model is kept in
    /// best.safetensors (early stopping, as NICE selects its model). nil: no validation set.
    public var bestValidation: Double? = nil
    public var bestStep: Int? = nil
}

// NOTE(1): a run folder. `config.json` (the `RunConfiguration`), `model.safetensors` (the
// parameters, PyTorch names), `optimizer.safetensors` (Adam's moments and step), `state.json`
// (step, generator, data order) and `metrics.jsonl` (one JSON object per logged step). Every
// file is written to a temporary name and renamed, and a checkpoint writes the state file last:
// an interruption at any point leaves the previous complete checkpoint (or the new one). Metrics
// are kept in memory and rewritten at each checkpoint, so they never run ahead of the model.

/// One training run of a `RunModel` in a folder: start fresh, or resume; step; checkpoint.
public struct TrainingRun<M: RunModel> {
    public let folder: String
    public private(set) var configuration: RunConfiguration
    public let data: RunDataset
    public var model: M
    public var optimizer: Adam
    public var state: RunState
    /// metrics.jsonl lines so far.
    public var metrics: [String]

    static func path(_ folder: String, _ file: String) -> String { (folder as NSString).appendingPathComponent(file) }

    /// A fresh run: resolves the configuration, creates `folder` and writes config.json.
    public static func start(_ configuration: RunConfiguration, folder: String, data: RunDataset? = nil) throws -> TrainingRun {
        var config = configuration
        guard config.steps >= 1, config.batchSize >= 1, config.learningRate > 0, config.checkpointEvery >= 1 else {
            throw FluxionError(.invalidArgument, "steps, batch size, learning rate and checkpoint interval must be positive")
        }
        let data = try data ?? RunDataset.load(config.data)
        try M.resolve(&config, data: data)
        let model = try M(configuration: config, data: data)
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw FluxionError(.io, file: folder, "cannot create the run folder: \(error.localizedDescription)")
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(try encoder.encode(config), to: path(folder, "config.json"))
        var run = TrainingRun(folder: folder, configuration: config, data: data, model: model,
                              optimizer: Adam(learningRate: config.learningRate),
                              state: RunState(step: 0, generator: SeededGenerator(seed: config.seed &+ 1), batches: nil, elapsedSeconds: 0),
                              metrics: [])
        var probe = run.state.batches
        var rng = SeededGenerator(seed: config.seed &+ 2)
        run.model.prepare(with: data.trainBatch(Swift.min(config.batchSize * 2, 1024), batches: &probe, using: &rng))
        return run
    }

    /// Reads a run folder's configuration (a one-line error if it is missing or malformed).
    public static func readConfiguration(folder: String) throws -> RunConfiguration {
        let file = path(folder, "config.json")
        guard FileManager.default.fileExists(atPath: folder) else { throw FluxionError(.io, file: folder, "no such run folder") }
        guard let bytes = FileManager.default.contents(atPath: file) else { throw FluxionError(.io, file: file, "missing or unreadable (not a run folder?)") }
        do { return try JSONDecoder().decode(RunConfiguration.self, from: bytes) } catch {
            throw FluxionError(.malformed, file: file, "not a valid run configuration (\(error))")
        }
    }

    /// Rebuilds the model of a run folder and loads its parameters (for sample/eval/resume).
    /// `best`: the best-validation parameters (best.safetensors) when the run has them, else the
    /// last checkpoint's; resuming always continues from the last.
    public static func load(folder: String, best: Bool = false) throws -> TrainingRun {
        let config = try readConfiguration(folder: folder)
        let data = try RunDataset.load(config.data)
        var model = try M(configuration: config, data: data)
        let bestFile = path(folder, "best.safetensors")
        try model.load(from: best && FileManager.default.fileExists(atPath: bestFile) ? bestFile : path(folder, "model.safetensors"))
        var optimizer = Adam(learningRate: config.learningRate)
        let statePath = path(folder, "state.json")
        guard let bytes = FileManager.default.contents(atPath: statePath) else {
            throw FluxionError(.io, file: statePath, "missing or unreadable (the run has no checkpoint)")
        }
        let state: RunState
        do { state = try JSONDecoder().decode(RunState.self, from: bytes) } catch {
            throw FluxionError(.malformed, file: statePath, "not a valid run state (\(error))")
        }
        try optimizer.loadState(from: path(folder, "optimizer.safetensors"))
        var metrics: [String] = []
        if let text = FileManager.default.contents(atPath: path(folder, "metrics.jsonl")) {
            metrics = String(decoding: text, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return TrainingRun(folder: folder, configuration: config, data: data, model: model, optimizer: optimizer,
                           state: state, metrics: metrics)
    }

    /// Sets the step budget of a resumed run (rewrites config.json); it must exceed the steps done.
    public mutating func extend(to steps: Int) throws {
        guard steps > state.step else {
            throw FluxionError(.invalidArgument, file: folder, "--steps \(steps) is not beyond the \(state.step) steps already done")
        }
        guard steps != configuration.steps else { return }
        configuration.steps = steps
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try Self.writeAtomically(try encoder.encode(configuration), to: Self.path(folder, "config.json"))
    }

    public var isFinished: Bool { state.step >= configuration.steps }

    /// One optimisation step on a fresh batch; returns the loss.
    public mutating func step() -> Double {
        var batches = state.batches
        let batch = data.trainBatch(configuration.batchSize, batches: &batches, using: &state.generator)
        state.batches = batches
        var rng = state.generator
        let (loss, g) = valueWithGradient(at: model) { m in m.loss(batch, using: &rng) }
        state.generator = rng
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

    /// Evaluates the model on the validation set (when the data has one and the model an exact
    /// NLL), logs `validation_nll`, and keeps the best model so far in best.safetensors. Returns
    /// the validation NLL. Call before `saveCheckpoint`, which records the best step.
    @discardableResult
    public mutating func validate() throws -> Double? {
        guard let validation = data.validation else { return nil }
        var rng = SeededGenerator(seed: configuration.seed &+ 5)
        let model = self.model, data = self.data
        let figures = withoutDerivatives { model.evaluate(validation, data: data, using: &rng) }
        guard let nll = figures.first(where: { $0.name == "nll_nats" })?.value, nll.isFinite else { return nil }
        log(["validation_nll": nll])
        if state.bestValidation.map({ nll < $0 }) ?? true {
            try model.save(to: Self.path(folder, "best.safetensors"), metadata: ["model": configuration.model, "step": String(state.step)])
            state.bestValidation = nll
            state.bestStep = state.step
        }
        return nll
    }

    /// Writes model, optimiser, metrics and (last) the state: a complete, consistent checkpoint.
    public func saveCheckpoint() throws {
        try model.save(to: Self.path(folder, "model.safetensors"), metadata: ["model": configuration.model, "step": String(state.step)])
        try optimizer.saveState(to: Self.path(folder, "optimizer.safetensors"))
        try Self.writeAtomically(Data((metrics.joined(separator: "\n") + (metrics.isEmpty ? "" : "\n")).utf8), to: Self.path(folder, "metrics.jsonl"))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Self.writeAtomically(try encoder.encode(state), to: Self.path(folder, "state.json"))
    }

    /// The losses logged so far (for the loss curve): (step, loss).
    public var lossHistory: [(Int, Double)] {
        metrics.compactMap { line in
            guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let step = object["step"] as? Int, let loss = object["loss"] as? Double else { return nil }
            return (step, loss)
        }
    }

    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw FluxionError(.io, file: path, "cannot rename into place (errno \(errno))") }
        } catch let e as FluxionError {
            try? FileManager.default.removeItem(atPath: temporary); throw e
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw FluxionError(.io, file: path, "cannot write: \(error.localizedDescription)")
        }
    }
}
