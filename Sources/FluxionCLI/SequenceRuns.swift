import ArgumentParser
import Fluxion
import Foundation

/// Sequence models on sequence tasks, for `fluxion train rnn|lstm|gru|transformer --task NAME`
/// and `fluxion generate RUN`. A run folder holds config.json, model.safetensors, metrics.jsonl
/// (training loss every step, held-out loss/accuracy at each evaluation) and loss.png/accuracy.png.
struct SequenceRunConfiguration: Codable, Equatable {
    var model: String
    var task: String
    var length: Int?
    var text: String?
    var width: Int
    var hidden: Int
    var layers: Int
    var heads: Int
    var steps: Int
    var batchSize: Int
    var learningRate: Double
    var seed: UInt64
}

enum SequenceRuns {
    static let models = ["rnn", "lstm", "gru", "transformer"]
    static let tasks = ["copying", "adding", "selective-copying", "induction-heads", "digits", "chars"]

    static func makeTask(_ c: SequenceRunConfiguration) throws -> any SequenceTask {
        switch c.task {
        case "copying": return CopyingTask(symbols: 10, delay: c.length ?? 20)
        case "adding": return AddingTask(length: c.length ?? 100)
        case "selective-copying": return SelectiveCopyingTask(symbols: 4, spread: c.length ?? 32)
        case "induction-heads": return InductionHeadsTask(length: c.length ?? 32)
        case "digits": return try SequentialDigitsTask()
        case "chars":
            guard let text = c.text else { throw ValidationError("--task chars needs --text FILE") }
            return try CharacterTask(file: text, length: c.length ?? 128)
        default: throw ValidationError("unknown task '\(c.task)'; known: \(tasks.joined(separator: ", "))")
        }
    }

    static func outputSize(_ task: any SequenceTask) -> Int {
        if case .classes(let n, _) = task.target { return n }
        return 1
    }

    /// Trains, writing the run folder; returns the final held-out figures.
    static func train(_ c: SequenceRunConfiguration, folder: String) throws {
        let task = try makeTask(c)
        var rng = SeededGenerator(seed: c.seed)
        if c.model == "transformer" {
            var model = transformer(c, task, using: &rng)
            try loop(&model, task, c, folder, &rng)
        } else {
            var model = recurrent(c, task, using: &rng)
            try loop(&model, task, c, folder, &rng)
        }
    }

    /// The Transformer a configuration describes (freshly initialised).
    static func transformer(_ c: SequenceRunConfiguration, _ task: any SequenceTask, using rng: inout SeededGenerator) -> TransformerSequenceModel {
        TransformerSequenceModel(vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: c.width,
                                 layerCount: c.layers, headCount: c.heads, maxLength: task.length,
                                 outputSize: outputSize(task), using: &rng)
    }

    /// The recurrent model (rnn, lstm or gru) a configuration describes (freshly initialised).
    static func recurrent(_ c: SequenceRunConfiguration, _ task: any SequenceTask, using rng: inout SeededGenerator) -> RecurrentSequenceModel {
        let kind: RecurrentKind = c.model == "lstm" ? .lstm : (c.model == "gru" ? .gru : .rnnTanh)
        return RecurrentSequenceModel(kind, vocabularySize: task.vocabularySize, featureCount: task.featureCount, width: c.width,
                                      hiddenSize: c.hidden, layerCount: c.layers, outputSize: outputSize(task), using: &rng)
    }

    static func loop<M: SequenceModel>(_ model: inout M, _ task: any SequenceTask, _ c: SequenceRunConfiguration,
                                       _ folder: String, _ rng: inout SeededGenerator) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try writeAtomically(encoder.encode(c), to: folder + "/config.json")
        print("training \(c.model) on \(task.name) (length \(task.length)) into \(folder): \(c.steps) steps, batch \(c.batchSize), \(model.parameterCount) parameters")
        var optimizer = Adam(learningRate: c.learningRate)
        let trainer = SequenceTrainer(batchSize: c.batchSize, learningRate: c.learningRate)
        var metrics = ""
        var steps: [Double] = [], losses: [Double] = [], evalSteps: [Double] = [], accuracies: [Double] = [], evalLosses: [Double] = []
        let evalEvery = Swift.max(1, c.steps / 20)
        var evalRng = SeededGenerator(seed: c.seed &+ 1)
        let started = Date()
        func evaluate(_ step: Int) {
            let (loss, accuracy) = SequenceObjective.evaluate(model, task.evaluationBatch(size: 256, using: &evalRng), task.target)
            evalSteps.append(Double(step)); evalLosses.append(loss)
            if let accuracy { accuracies.append(accuracy) }
            let acc = accuracy.map { String(format: ", \"eval_accuracy\": %.4f", $0) } ?? ""
            metrics += String(format: "{\"step\": %d, \"eval_loss\": %.6f%@}\n", step, loss, acc)
            let rate = Double(step) / Swift.max(Date().timeIntervalSince(started), 1e-9)
            print(String(format: "step %6d/%d  train loss %.4f  held-out loss %.4f", step, c.steps, losses.last ?? .nan, loss)
                  + (accuracy.map { String(format: "  accuracy %.3f", $0) } ?? "") + String(format: "  %.1f steps/s", rate))
        }
        var stepRng = rng
        for s in 0..<c.steps {
            let loss = trainer.train(&model, on: task, steps: 1, using: &stepRng, optimizer: &optimizer)
            steps.append(Double(s + 1)); losses.append(loss)
            metrics += String(format: "{\"step\": %d, \"loss\": %.6f}\n", s + 1, loss)
            if (s + 1) % evalEvery == 0 || s + 1 == c.steps { evaluate(s + 1) }
        }
        rng = stepRng
        try model.save(to: folder + "/model.safetensors")
        try writeAtomically(Data(metrics.utf8), to: folder + "/metrics.jsonl")
        var lossFigure = Figure(title: "\(c.model) on \(task.name): loss", xLabel: "step", yLabel: "loss")
        lossFigure.line(xs: steps, ys: losses, label: "training")
        lossFigure.line(xs: evalSteps, ys: evalLosses, label: "held out")
        try lossFigure.writePNG(to: folder + "/loss.png")
        if !accuracies.isEmpty {
            var accuracyFigure = Figure(title: "\(c.model) on \(task.name): held-out accuracy", xLabel: "step", yLabel: "accuracy", yRange: 0...1)
            accuracyFigure.line(xs: evalSteps, ys: accuracies, label: "accuracy")
            try accuracyFigure.writePNG(to: folder + "/accuracy.png")
        }
        var summary: [String: Any] = ["model": c.model, "task": task.name, "eval_loss": evalLosses.last ?? .nan]
        if let a = accuracies.last { summary["eval_accuracy"] = a }
        print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
    }

    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp"
        try data.write(to: URL(fileURLWithPath: temporary))
        guard rename(temporary, path) == 0 else { throw ValidationError("cannot write \(path)") }
    }

    static func readConfiguration(_ folder: String) throws -> SequenceRunConfiguration {
        guard let data = FileManager.default.contents(atPath: folder + "/config.json") else {
            throw ValidationError("\(folder): no config.json (not a run folder)")
        }
        do { return try JSONDecoder().decode(SequenceRunConfiguration.self, from: data) } catch {
            throw ValidationError("\(folder)/config.json: not a sequence-model configuration")
        }
    }
}

/// `fluxion generate RUN`: samples text from a character language model run.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate text from a character language-model run (train ... --task chars).")

    @Argument(help: "The run folder.") var folder: String
    @Option(help: "Characters to generate.") var count = 400
    @Option(help: "Text to start from.") var prompt = ""
    @Option(help: "Sampling temperature (> 0).") var temperature = 0.8
    @Option(help: "Keep only the k most likely characters (0: all).") var topK = 0
    @Option(help: "Random seed.") var seed: UInt64 = 0

    func run() throws {
        guard temperature > 0 else { throw ValidationError("--temperature must be positive") }
        let c = try SequenceRuns.readConfiguration(folder)
        guard c.task == "chars" else { throw ValidationError("\(folder) was trained on '\(c.task)', not a character language model") }
        let task = try SequenceRuns.makeTask(c) as! CharacterTask
        var rng = SeededGenerator(seed: c.seed)
        var context = task.encode(prompt)
        if context.isEmpty { context = [Int32(rng.next() % UInt64(task.characters.count))] }
        func next(_ logits: Tensor) -> Int32 {
            var l = (logits / temperature).scalars
            if topK > 0 && topK < l.count {
                let cut = l.sorted(by: >)[topK - 1]
                l = l.map { $0 < cut ? -.infinity : $0 }
            }
            let m = l.max()!
            let p = l.map { Foundation.exp($0 - m) }
            var u = rng.nextUniform() * p.reduce(0, +)
            for (i, v) in p.enumerated() { u -= v; if u <= 0 { return Int32(i) } }
            return Int32(p.count - 1)
        }
        var output = context
        func sample<M: SequenceModel>(_ model: M) {
            for _ in 0..<count {
                let window = Array(output.suffix(task.length))
                let logits = withoutDerivatives { model(Tensor(window, shape: [1, window.count])) }
                output.append(next(logits[0][window.count - 1]))
            }
        }
        var initial = SeededGenerator(seed: 0)
        if c.model == "transformer" {
            var model = SequenceRuns.transformer(c, task, using: &initial)
            try loadModel(&model)
            sample(model)
        } else {
            var model = SequenceRuns.recurrent(c, task, using: &initial)
            try loadModel(&model)
            sample(model)
        }
        print(task.decode(output))
    }

    func loadModel<M: ParameterTree>(_ model: inout M) throws {
        do { try model.load(from: folder + "/model.safetensors") } catch { throw ValidationError("\(error)") }
    }
}
