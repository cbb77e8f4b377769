import ArgumentParser
import Fluxion
import Foundation

/// Set by the SIGINT handler; the training loop checkpoints and stops when it sees it.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// An error printed as one line ("Error: <message>"), without the usage hint of a ValidationError.
struct CommandError: Error, CustomStringConvertible {
    let description: String
}

/// A one-line error for the command line (no stack trace): wraps FluxionError and friends.
func cleanError(_ error: Error) -> Error {
    if error is ValidationError || error is CleanExit || error is ExitCode || error is CommandError { return error }
    return CommandError(description: "\(error)")
}

/// `fluxion train MODEL --data NAME`: trains a model into a run folder (DESIGN.md §5).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a generative model into a run folder (config.json, model.safetensors, metrics.jsonl, PNGs).",
        discussion: """
            Models: \(RunModels.names.joined(separator: ", ")). Data: \(RunDataset.names.joined(separator: ", ")).
            Ctrl-C saves a checkpoint and stops; `fluxion train --resume RUN` continues exactly where it stopped \
            (give a larger --steps to train further).
            """)

    @Argument(help: "The model (\((RunModels.names + SequenceRuns.models).joined(separator: ", "))); omit with --resume.") var model: String?
    @Option(help: "Data set: \(RunDataset.names.joined(separator: ", ")).") var data: String?
    @Option(help: "Training steps (with --resume: the new total).") var steps: Int?
    @Option(help: "Batch size.") var batchSize: Int?
    @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Double?
    @Option(help: "Random seed (initialisation, batches).") var seed: UInt64 = 0
    @Option(help: "Run folder (default runs/MODEL-DATA).") var out: String?
    @Option(help: "Continue the run in this folder.") var resume: String?
    @Option(help: "Hidden width of the coupling networks.") var hidden: Int?
    @Option(help: "Coupling layers (Glow: steps per level).") var layers: Int?
    @Option(help: "Hidden layers of NICE's coupling MLPs.") var depth: Int?
    @Option(help: "Glow levels (image data).") var levels: Int?
    @Option(help: "Prior: gaussian or logistic.") var prior: String?
    @Option(help: "NICE variant: paper (additive, logistic prior on images) or su (Su's article).") var variant: String?
    @Option(name: .customLong("set"), help: "A model option key=value (repeatable).") var settings: [String] = []
    @Option(help: "Steps between checkpoints.") var checkpointEvery: Int = 500
    @Option(help: "Threads (default: FLUXION_THREADS or the core count).") var threads: Int?
    @Flag(help: "No pictures at the end.") var noPictures = false
    @Option(help: "Sequence task for rnn|lstm|gru|transformer: \(SequenceRuns.tasks.joined(separator: ", ")).") var task: String?
    @Option(help: "Sequence length of the task (task default when omitted).") var length: Int?
    @Option(help: "Text file for --task chars.") var text: String?
    @Option(help: "Sequence models: embedding width.") var width: Int?
    @Option(help: "Sequence models: attention heads (transformer).") var heads: Int?

    func run() throws {
        if let threads {
            guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
            Fluxion.threadCount = threads
        }
        if let model, SequenceRuns.models.contains(model) {
            guard let task else { throw ValidationError("\(model) trains on a sequence task: give --task (\(SequenceRuns.tasks.joined(separator: ", ")))") }
            guard resume == nil && data == nil else { throw ValidationError("sequence models take --task, not --data or --resume") }
            let c = SequenceRunConfiguration(model: model, task: task, length: length, text: text, width: width ?? 64, hidden: hidden ?? 128,
                                             layers: layers ?? (model == "transformer" ? 2 : 1), heads: heads ?? 4, steps: steps ?? 2000,
                                             batchSize: batchSize ?? 64, learningRate: learningRate ?? (model == "transformer" ? 1e-3 : 2e-3), seed: seed)
            guard c.steps > 0, c.batchSize > 0, c.width > 0, c.hidden > 0, c.layers > 0, c.heads > 0, c.width % c.heads == 0 else {
                throw ValidationError("steps, batch size, width, hidden, layers and heads must be positive, and heads must divide width")
            }
            _ = try SequenceRuns.makeTask(c)
            try SequenceRuns.train(c, folder: out ?? "runs/\(model)-\(task)")
            return
        }
        let folder: String
        let type: any RunModel.Type
        if let resume {
            if model != nil || data != nil { throw ValidationError("--resume takes the model and data from RUN/config.json; drop MODEL and --data") }
            folder = resume
            let config: RunConfiguration
            do { config = try TrainingRun<FlowRunModel>.readConfiguration(folder: folder) } catch { throw cleanError(error) }
            guard let t = RunModels.registry[config.model] else { throw ValidationError("\(folder)/config.json: unknown model '\(config.model)'") }
            type = t
        } else {
            guard let model else { throw ValidationError("give a model (\(RunModels.names.joined(separator: ", "))) or --resume RUN") }
            guard let t = RunModels.registry[model] else {
                throw ValidationError("unknown model '\(model)'; known: \(RunModels.names.joined(separator: ", "))")
            }
            type = t
            guard let data else { throw ValidationError("give --data NAME (\(RunDataset.names.joined(separator: ", ")))") }
            guard RunDataset.names.contains(data) else {
                throw ValidationError("unknown data '\(data)'; known: \(RunDataset.names.joined(separator: ", "))")
            }
            folder = out ?? "runs/\(model)-\(data)"
            if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("config.json")) {
                throw ValidationError("\(folder) already holds a run; use --resume \(folder) or another --out")
            }
        }
        try train(type, folder: folder)
    }

    func configuration() throws -> RunConfiguration {
        var options: [String: String] = [:]
        for s in settings {
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--set expects key=value, got '\(s)'") }
            options[parts[0]] = parts[1]
        }
        if let hidden { options["hidden"] = String(hidden) }
        if let layers { options["layers"] = String(layers) }
        if let depth { options["depth"] = String(depth) }
        if let levels { options["levels"] = String(levels) }
        if let prior { options["prior"] = prior }
        if let variant { options["variant"] = variant }
        let isDigits = data == "digits"
        return RunConfiguration(model: model!, data: data!, steps: steps ?? (isDigits ? 3000 : 2000), batchSize: batchSize ?? (isDigits ? 64 : 256),
                                learningRate: learningRate ?? 1e-3, seed: seed, checkpointEvery: checkpointEvery, options: options)
    }

    func train<M: RunModel>(_ type: M.Type, folder: String) throws {
        var run: TrainingRun<M>
        do {
            if resume != nil {
                run = try TrainingRun<M>.load(folder: folder)
                if let steps { try run.extend(to: steps) }
                print("resuming \(folder) at step \(run.state.step) of \(run.configuration.steps)")
            } else {
                run = try TrainingRun<M>.start(try configuration(), folder: folder)
                print("training \(run.configuration.model) on \(run.configuration.data) into \(folder): \(run.configuration.steps) steps, batch \(run.configuration.batchSize), \(run.model.parameterCount) parameters")
                print("options: " + run.configuration.options.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            }
        } catch { throw cleanError(error) }

        signal(SIGINT) { _ in interruptRequested = 1 }
        defer { signal(SIGINT, SIG_DFL) }
        var progress = ProgressBar(total: run.configuration.steps, start: run.state.step)
        let logEvery = Swift.max(1, run.configuration.steps / 500)
        var lossSum = 0.0, lossCount = 0
        let started = Date()
        let elapsedBefore = run.state.elapsedSeconds
        while !run.isFinished {
            let loss = run.step()
            lossSum += loss; lossCount += 1
            if run.state.step % logEvery == 0 || run.isFinished {
                run.log(["loss": lossSum / Double(lossCount)])
                lossSum = 0; lossCount = 0
            }
            progress.update(step: run.state.step, loss: loss)
            if !loss.isFinite {
                progress.finish()
                throw ValidationError("the loss became \(loss) at step \(run.state.step); try a smaller --lr (the last checkpoint in \(folder) is kept)")
            }
            let interrupted = interruptRequested != 0
            if run.state.step % run.configuration.checkpointEvery == 0 || run.isFinished || interrupted {
                run.state.elapsedSeconds = elapsedBefore + Date().timeIntervalSince(started)
                do {
                    if !interrupted { try run.validate() }
                    try run.saveCheckpoint()
                } catch { throw cleanError(error) }
            }
            if interrupted {
                progress.finish()
                print("interrupted: checkpoint saved at step \(run.state.step); continue with `fluxion train --resume \(folder)`")
                throw ExitCode(130)
            }
        }
        progress.finish()
        let seconds = Date().timeIntervalSince(started)
        print(String(format: "done: %d steps in %.1f s", run.state.step, run.state.elapsedSeconds) + (seconds > 0 ? "" : ""))
        var rng = SeededGenerator(seed: run.configuration.seed &+ 3)
        let figures = run.model.evaluate(run.data.test, data: run.data, using: &rng)
        print("held-out: " + figures.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", "))
        var pictured = run
        if let bestStep = run.state.bestStep, let best = run.state.bestValidation, bestStep != run.state.step {
            let kept = try TrainingRun<M>.load(folder: folder, best: true).model
            pictured.model = kept
            var rng = SeededGenerator(seed: run.configuration.seed &+ 3)
            let keptFigures = kept.evaluate(run.data.test, data: run.data, using: &rng)
            print(String(format: "best validation NLL %.4f at step %d (best.safetensors; `fluxion eval` and `sample` use it): held-out ", best, bestStep)
                  + keptFigures.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", "))
        }
        if !noPictures { try writePictures(pictured) }
    }

    func writePictures<M: RunModel>(_ run: TrainingRun<M>) throws {
        let folder = run.folder
        func path(_ f: String) -> String { (folder as NSString).appendingPathComponent(f) }
        var name = "\(run.configuration.model) on \(run.configuration.data), \(run.state.step) steps"
        if let best = run.state.bestStep, best != run.state.step { name += " (model of step \(best), best validation)" }
        var rng = SeededGenerator(seed: run.configuration.seed &+ 4)
        do {
            try RunPictures.loss(run.lossHistory, title: "\(name): loss", to: path("loss.png"))
            let count = run.data.isImage ? 100 : 3000
            let temperature = run.data.isImage ? 0.7 : 1
            let samples = withoutDerivatives { run.model.sample(count: count, options: SampleOptions(temperature: temperature), using: &rng) }
            try RunPictures.samples(samples, data: run.data, title: run.data.isImage ? "\(name): samples (T = \(temperature))" : "\(name): samples", to: path("samples.png"))
            var written = ["loss.png", "samples.png"]
            if try RunPictures.density({ run.model.logDensity($0) }, data: run.data, title: "\(name): density", to: path("density.png")) {
                written.append("density.png")
            }
            print("wrote " + written.map { path($0) }.joined(separator: ", "))
        } catch { throw cleanError(error) }
    }
}

/// A progress line: bar, step, loss, steps/s and time left. Redrawn in place on a terminal
/// (at most 10 times a second); on a pipe, one line per 10%.
struct ProgressBar {
    let total: Int
    let start: Int
    let began = Date()
    var lastDraw = Date.distantPast
    var lastDecile = -1
    let isTerminal = isatty(STDERR_FILENO) != 0

    init(total: Int, start: Int) { self.total = total; self.start = start }

    mutating func update(step: Int, loss: Double) {
        let now = Date()
        let decile = step * 10 / Swift.max(total, 1)
        if isTerminal {
            guard now.timeIntervalSince(lastDraw) >= 0.1 || step == total else { return }
        } else {
            guard decile != lastDecile else { return }
        }
        lastDraw = now
        lastDecile = decile
        let elapsed = now.timeIntervalSince(began)
        let rate = Double(step - start) / Swift.max(elapsed, 1e-9)
        let left = rate > 0 ? Double(total - step) / rate : 0
        let width = 24
        let filled = Swift.min(width, step * width / Swift.max(total, 1))
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let line = String(format: "%@ step %d/%d  loss %.4f  %.0f steps/s  ETA %@", bar, step, total, loss, rate, Self.clock(left))
        FileHandle.standardError.write(Data(((isTerminal ? "\r\u{1B}[K" : "") + line + (isTerminal ? "" : "\n")).utf8))
    }

    func finish() { if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) } }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}
