import ArgumentParser
import Fluxion
import Foundation

/// Set by the SIGINT handler; the training loop checkpoints and stops when it sees it.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// `fluxion train MODEL --data NAME | --task NAME`: trains a model into a run folder (DESIGN.md §5).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model into a run folder (config.json, checkpoints/, model.safetensors, metrics.jsonl, PNGs).",
        discussion: """
            Generative models (--data \(RunDataset.names.joined(separator: ", "))): \(Self.generativeModels.joined(separator: ", ")).
            Sequence models (--task \(RunDataset.taskNames.joined(separator: ", "))): \(Self.sequenceModels.joined(separator: ", ")).
            Every model writes atomic, checksummed checkpoints; Ctrl-C saves one and stops; \
            `fluxion train --resume RUN` continues exactly where it stopped (give a larger --steps to train further).
            """)

    static var sequenceModels: [String] { RunModels.names.filter { RunModels.registry[$0]!.trainsOnSequenceTasks } }
    static var generativeModels: [String] { RunModels.names.filter { !RunModels.registry[$0]!.trainsOnSequenceTasks } }

    struct Common: ParsableArguments {
        @Option(help: "Training steps (with --resume: the new total).") var steps: Int?
        @Option(help: "Batch size.") var batchSize: Int?
        @Option(name: .customLong("lr"), help: "Adam learning rate.") var learningRate: Double?
        @Option(help: "Random seed (initialisation, batches).") var seed: UInt64 = 0
        @Option(help: "Run folder (default runs/MODEL-DATA).") var out: String?
        @Option(help: "Continue the run in this folder.") var resume: String?
        @Option(help: "Start from the parameters of this run (its best.safetensors, else model.safetensors) or safetensors file, same model options (fine-tuning; a curriculum over --length).") var initFrom: String?
        @Option(name: .customLong("set"), help: "A model option key=value (repeatable).") var settings: [String] = []
        @Option(help: "Steps between checkpoints.") var checkpointEvery: Int = 500
        @Option(help: "Complete checkpoints to keep.") var keepCheckpoints: Int = 2
        @Option(help: "Threads (default: FLUXION_THREADS or the core count).") var threads: Int?
        @Flag(help: "No pictures at the end.") var noPictures = false
    }

    struct GenerativeOptions: ParsableArguments {
        @Option(help: "Data set: \(RunDataset.names.joined(separator: ", ")).") var data: String?
        @Option(name: .customLong("hidden"), help: "Hidden width of the coupling / velocity networks.") var hidden: Int?
        @Option(name: .customLong("layers"), help: "Coupling layers (Glow: steps per level; ddpm, rectified-flow, cnf: hidden layers).") var layers: Int?
        @Option(help: "Hidden layers of NICE's coupling MLPs.") var depth: Int?
        @Option(help: "Glow levels (image data).") var levels: Int?
        @Option(help: "Prior: gaussian or logistic.") var prior: String?
        @Option(help: "NICE variant: paper (additive, logistic prior on images) or su (Su's article).") var variant: String?
    }

    struct SequenceOptions: ParsableArguments {
        @Option(help: "Sequence task: \(RunDataset.taskNames.joined(separator: ", ")).") var task: String?
        @Option(help: "Sequence length of the task (copying: the delay; selective-copying: the noise stretch, 256; task default when omitted).") var length: Int?
        @Option(help: "Tokens to copy (selective-copying; default 16).") var symbols: Int?
        @Option(help: "Vocabulary size (selective-copying, induction-heads; default 16).") var vocabulary: Int?
        @Option(help: "Text file for --task chars.") var text: String?
        @Option(help: "Embedding width.") var width: Int?
        @Option(name: .customLong("state-size"), help: "State size (rnn, lstm, gru: default 128; mamba: N, 16; s4d, s4: N, 64).") var stateSize: Int?
        @Option(name: .customLong("blocks"), help: "Recurrent layers (default 1), or Transformer, Mamba or S4D blocks (default 2).") var blocks: Int?
        @Option(help: "Attention heads (transformer; default 4).") var heads: Int?
    }

    @Argument(help: "The model (\(RunModels.names.joined(separator: ", "))); omit with --resume.") var model: String?
    @OptionGroup(title: "Run options") var common: Common
    @OptionGroup(title: "Generative models (\(Train.generativeModels.joined(separator: ", ")))") var generative: GenerativeOptions
    @OptionGroup(title: "Sequence models (\(Train.sequenceModels.joined(separator: ", ")))") var sequence: SequenceOptions

    func run() throws {
        if let threads = common.threads {
            guard threads >= 1, threads <= 1024 else { throw ValidationError("--threads must be in 1...1024, got \(threads)") }
            Runtime.threadCount = threads
        }
        guard common.checkpointEvery >= 1 else { throw ValidationError("--checkpoint-every must be positive, got \(common.checkpointEvery)") }
        guard common.keepCheckpoints >= 1 else { throw ValidationError("--keep-checkpoints must be at least 1, got \(common.keepCheckpoints)") }
        if let steps = common.steps, steps < 1 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let b = common.batchSize, !(1...1_000_000).contains(b) { throw ValidationError("--batch-size must be in 1...1000000, got \(b)") }
        if let lr = common.learningRate, !(lr.isFinite && lr > 0) { throw ValidationError("--lr must be a positive number, got \(lr)") }
        let folder: String
        let type: any RunModel.Type
        if let resume = common.resume {
            if common.initFrom != nil { throw ValidationError("--init-from starts a new run; a resumed run keeps the start it had") }
            if model != nil || generative.data != nil || sequence.task != nil {
                throw ValidationError("--resume takes the model and data from RUN/config.json; drop MODEL, --data and --task")
            }
            folder = resume
            let config = try TrainingRun<FlowRunModel>.readConfiguration(folder: folder)
            type = RunModels.registry[config.model]!
        } else {
            guard let model else { throw ValidationError("give a model (\(RunModels.names.joined(separator: ", "))) or --resume RUN") }
            guard let t = RunModels.registry[model] else {
                throw ValidationError("unknown model '\(model)'; known: \(RunModels.names.joined(separator: ", "))")
            }
            type = t
            let dataName = try checkFamilyOptions(model, sequence: t.trainsOnSequenceTasks)
            folder = common.out ?? "runs/\(model)-\(dataName)"
            if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("config.json")) {
                throw ValidationError("\(folder) already holds a run; use --resume \(folder) or another --out")
            }
        }
        try train(type, folder: folder)
    }

    /// Checks that only the options of the model's family are given; returns the data or task name.
    func checkFamilyOptions(_ model: String, sequence isSequence: Bool) throws -> String {
        let g = generative, s = sequence
        if isSequence {
            try reject([("--data", g.data != nil), ("--hidden", g.hidden != nil), ("--layers", g.layers != nil), ("--depth", g.depth != nil),
                        ("--levels", g.levels != nil), ("--prior", g.prior != nil), ("--variant", g.variant != nil)],
                       "an option of the generative models; \(model) takes --task and the sequence options")
            guard let task = s.task else { throw ValidationError("\(model) trains on a sequence task: give --task (\(RunDataset.taskNames.joined(separator: ", ")))") }
            guard RunDataset.taskNames.contains(task) else {
                throw ValidationError("unknown task '\(task)'; known: \(RunDataset.taskNames.joined(separator: ", "))")
            }
            if task == "chars" && s.text == nil { throw ValidationError("--task chars needs --text FILE") }
            if task != "chars" && s.text != nil { throw ValidationError("--text applies to --task chars only") }
            if s.symbols != nil && task != "selective-copying" { throw ValidationError("--symbols applies to --task selective-copying only") }
            if s.vocabulary != nil && !["selective-copying", "induction-heads"].contains(task) {
                throw ValidationError("--vocabulary applies to --task selective-copying and induction-heads only")
            }
            try requirePositive([("--length", s.length), ("--symbols", s.symbols), ("--vocabulary", s.vocabulary), ("--width", s.width), ("--state-size", s.stateSize), ("--blocks", s.blocks), ("--heads", s.heads)])
            return task
        }
        try reject([("--task", s.task != nil), ("--length", s.length != nil), ("--symbols", s.symbols != nil), ("--vocabulary", s.vocabulary != nil), ("--text", s.text != nil), ("--width", s.width != nil),
                    ("--state-size", s.stateSize != nil), ("--blocks", s.blocks != nil), ("--heads", s.heads != nil)],
                   "an option of the sequence models; \(model) takes --data and the generative options")
        guard let data = g.data else { throw ValidationError("give --data NAME (\(RunDataset.names.joined(separator: ", ")))") }
        guard RunDataset.names.contains(data) else {
            throw ValidationError("unknown data '\(data)'; known: \(RunDataset.names.joined(separator: ", "))")
        }
        try requirePositive([("--hidden", g.hidden), ("--layers", g.layers), ("--depth", g.depth), ("--levels", g.levels)])
        return data
    }

    /// Throws for the first flag given that belongs to the other family.
    func reject(_ flags: [(String, Bool)], _ why: String) throws {
        if let first = flags.first(where: \.1) { throw ValidationError("\(first.0) is \(why)") }
    }

    func requirePositive(_ values: [(String, Int?)]) throws {
        for (name, value) in values { if let value, value < 1 { throw ValidationError("\(name) must be positive, got \(value)") } }
    }

    func configuration(sequence isSequence: Bool) throws -> RunConfiguration {
        var options: [String: String] = [:]
        for s in common.settings {
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--set expects key=value, got '\(s)'") }
            options[parts[0]] = parts[1]
        }
        let data: String
        let steps: Int, batchSize: Int, learningRate: Double
        if isSequence {
            let s = sequence
            data = s.task!
            if let v = s.length { options["length"] = String(v) }
            if let v = s.symbols { options["symbols"] = String(v) }
            if let v = s.vocabulary { options["vocabulary"] = String(v) }
            if let v = s.text { options["text"] = Train.absolutePath(v) }
            if let v = s.width { options["width"] = String(v) }
            if let v = s.stateSize { options[["mamba", "s4d", "s4"].contains(model!) ? "state" : "hidden"] = String(v) }
            if let v = s.blocks { options["layers"] = String(v) }
            if let v = s.heads { options["heads"] = String(v) }
            if model == "mamba" {
                // Mamba trains at a higher rate than the others, warmed up and decayed: on selective
                // copying at 256 a constant 1e-3 reached 0.45 in 1,500 steps, 6e-3 0.80 (docs/ssm.md).
                (steps, batchSize, learningRate) = (4000, 64, 6e-3)
                if options["warmup"] == nil { options["warmup"] = "200" }
                if options["schedule"] == nil { options["schedule"] = "cosine" }
            } else {
                (steps, batchSize, learningRate) = (2000, 64, ["rnn", "lstm", "gru"].contains(model!) ? 2e-3 : 1e-3)
            }
        } else {
            let g = generative
            data = g.data!
            if let v = g.hidden { options["hidden"] = String(v) }
            if let v = g.layers { options["layers"] = String(v) }
            if let v = g.depth { options["depth"] = String(v) }
            if let v = g.levels { options["levels"] = String(v) }
            if let v = g.prior { options["prior"] = v }
            if let v = g.variant { options["variant"] = v }
            let isDigits = data == "digits"
            (steps, batchSize, learningRate) = (isDigits ? 3000 : 2000, isDigits ? 64 : 256, 1e-3)
        }
        var c = RunConfiguration(model: model!, data: data, steps: common.steps ?? steps, batchSize: common.batchSize ?? batchSize,
                                 learningRate: common.learningRate ?? learningRate, seed: common.seed, checkpointEvery: common.checkpointEvery,
                                 options: options)
        c.keepCheckpoints = common.keepCheckpoints
        if let source = common.initFrom { c.initialModel = try Train.initialModelFile(source) }
        return c
    }

    /// `path` made absolute and standardised: config.json finds the file from any working directory.
    static func absolutePath(_ path: String) -> String { URL(fileURLWithPath: path).standardizedFileURL.path }

    /// The parameter file `--init-from` names, as an absolute path (config.json must find it from
    /// any working directory): a safetensors file, or a run folder's best.safetensors (else its
    /// model.safetensors).
    static func initialModelFile(_ source: String) throws -> String {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isFolder) else {
            throw ValidationError("--init-from \(source): no such run folder or file")
        }
        guard isFolder.boolValue else { return absolutePath(source) }
        for name in ["best.safetensors", "model.safetensors"] {
            let file = (source as NSString).appendingPathComponent(name)
            if FileManager.default.fileExists(atPath: file) { return absolutePath(file) }
        }
        throw ValidationError("--init-from \(source): the folder holds neither best.safetensors nor model.safetensors (a finished run?)")
    }

    func train<M: RunModel>(_ type: M.Type, folder: String) throws {
        var run: TrainingRun<M>
        if common.resume != nil {
            run = try TrainingRun<M>.resume(folder: folder)
            for notice in run.notices { printError("notice: \(notice)") }
            if let steps = common.steps { try run.extend(to: steps) }
            print("resuming \(folder) at step \(run.state.step) of \(run.configuration.steps)")
        } else {
            run = try TrainingRun<M>.start(try configuration(sequence: M.trainsOnSequenceTasks), folder: folder)
            print("training \(run.configuration.model) on \(run.configuration.data) into \(folder): \(run.configuration.steps) steps, batch \(run.configuration.batchSize), \(run.model.parameterCount) parameters")
            print("options: " + run.configuration.options.filter { $0.key != "text_sha256" }.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
            if let file = run.configuration.initialModel { print("parameters from \(file)") }
        }

        signal(SIGINT) { _ in interruptRequested = 1 }
        defer { signal(SIGINT, SIG_DFL) }
        var progress = ProgressBar(total: run.configuration.steps, start: run.state.step)
        let interrupted: Bool
        do {
            interrupted = try run.train(shouldStop: { interruptRequested != 0 }, progress: { progress.update(step: $0, loss: $1) })
        } catch {
            progress.finish()
            throw error
        }
        progress.finish()
        if interrupted {
            print("interrupted: checkpoint saved at step \(run.state.step); continue with `fluxion train --resume \(folder)`")
            throw ExitCode(130)
        }
        print(String(format: "done: %d steps in %.1f s", run.state.step, run.state.elapsedSeconds))
        var rng = SeededGenerator(seed: run.configuration.seed &+ 3)
        let figures = try run.model.evaluate(run.data.testSet, data: run.data, using: &rng)
        print("held-out: " + figures.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", "))
        var pictured = run
        if let bestStep = run.state.bestStep, let best = run.state.bestValidation, bestStep != run.state.step {
            let kept = try TrainingRun<M>.load(folder: folder, best: true).model
            pictured.model = kept
            var rng = SeededGenerator(seed: run.configuration.seed &+ 3)
            let keptFigures = try kept.evaluate(run.data.testSet, data: run.data, using: &rng)
            print(String(format: "best validation %@ %.4f at step %d (best.safetensors; `fluxion eval` and `sample` use it): held-out ", M.validationFigure, best, bestStep)
                  + keptFigures.map { "\($0.name) \(String(format: "%.4f", $0.value))" }.joined(separator: ", "))
        }
        if !common.noPictures { try writePictures(pictured) }
    }

    func writePictures<M: RunModel>(_ run: TrainingRun<M>) throws {
        let folder = run.folder
        func path(_ f: String) -> String { (folder as NSString).appendingPathComponent(f) }
        var name = "\(run.configuration.model) on \(run.configuration.data), \(run.state.step) steps"
        if let best = run.state.bestStep, best != run.state.step { name += " (model of step \(best), best validation)" }
        var rng = SeededGenerator(seed: run.configuration.seed &+ 4)
        try RunPictures.loss(run.lossHistory, title: "\(name): loss", to: path("loss.png"))
        var written = ["loss.png"]
        if !M.trainsOnSequenceTasks {
            let count = run.data.isImage ? 100 : 3000
            let temperature = run.data.isImage ? 0.7 : 1
            let samples = try withoutDerivatives { try run.model.sample(count: count, options: SampleOptions(temperature: temperature), using: &rng) }
            try RunPictures.samples(samples, data: run.data, title: run.data.isImage ? "\(name): samples (T = \(temperature))" : "\(name): samples", to: path("samples.png"))
            written.append("samples.png")
            if try RunPictures.density({ run.model.logDensity($0) }, data: run.data, title: "\(name): density", to: path("density.png")) {
                written.append("density.png")
            }
        }
        print("wrote " + written.map { path($0) }.joined(separator: ", "))
    }
}

/// Prints `record` as one JSON line (sorted keys, slashes unescaped): the last line of bench,
/// eval, hippo and the lines of ssm-scaling.
func printJSONLine(_ record: [String: Any]) throws {
    let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

/// Prints one line to standard error.
func printError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
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
