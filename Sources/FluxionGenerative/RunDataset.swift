import Foundation
import FluxionNN
import FluxionData

/// One batch of a run: `data` [B, eventShape...] (points, images, or a sequence task's inputs)
/// and, where the data has them, `labels` (a sequence task's targets; class labels).
public struct RunBatch {
    /// The examples [B, eventShape...].
    public var data: Tensor
    /// A sequence task's targets or class labels; nil when the data has none.
    public var labels: Tensor?
    /// A batch of `data`, and `labels` when given.
    public init(data: Tensor, labels: Tensor? = nil) { self.data = data; self.labels = labels }
    /// The number of examples.
    public var count: Int { data.shape.first ?? 0 }
}

/// The data of a run: a 2-D toy distribution (fresh samples every batch, a fixed held-out set of
/// 10,000 points), the 8×8 digits (the 1,437 images of the train split minus every tenth
/// (1,294, shuffled epochs, freshly dequantised per batch), those 143 as a validation set, and
/// the 360 test images, both dequantised once with fixed generators), or a sequence task
/// (`SequenceTask`: fresh or split training batches, a fixed validation and test batch).
public struct RunDataset {
    /// The name the data set was loaded under (e.g. `"moons"`, `"digits"`, a task name).
    public let name: String
    /// Per-sample shape: [2] for points, [1, 8, 8] for digits, [length] for a sequence task.
    public let eventShape: [Int]
    /// The held-out set.
    public let testSet: RunBatch
    /// Validation examples taken from the training data (digits, sequence tasks; nil for the 2-D
    /// toys, whose training batches are fresh samples and cannot be memorised).
    public let validationSet: RunBatch?
    /// The sequence task of a sequence-model run.
    public let task: (any SequenceTask)?
    let trainDigits: Digits?

    /// The held-out data [N, eventShape...].
    public var test: Tensor { testSet.data }
    /// The validation data, when there is a validation set.
    public var validation: Tensor? { validationSet?.data }

    /// The generative data sets: the 2-D toys (`Toy2D.names`) and `"digits"`.
    public static var names: [String] { Toy2D.names + ["digits"] }
    /// The sequence tasks: copying, adding, selective-copying, induction-heads, digits, chars.
    public static let taskNames = ["copying", "adding", "selective-copying", "induction-heads", "digits", "chars"]
    /// True for image data (the digits, [1, 8, 8]); false for points and sequence tasks.
    public var isImage: Bool { task == nil && eventShape.count == 3 }
    /// The number of training examples (nil: unlimited fresh samples).
    public var trainCount: Int? { trainDigits?.count }

    /// Loads the generative data set `name`; throws a one-line error for unknown names.
    public static func load(_ name: String) throws -> RunDataset {
        var rng = SeededGenerator(seed: 20_240_601)   // the held-out set is the same for every run
        if name == "digits" {
            let all = try Digits.load(.train), test = try Digits.load(.test)
            let (train, validation) = (all.subset { $0 % 10 != 9 }, all.subset { $0 % 10 == 9 })
            var validationRNG = SeededGenerator(seed: 20_240_602)
            return RunDataset(name: name, eventShape: [1, 8, 8],
                              testSet: RunBatch(data: test.dequantized(using: &rng).reshaped(to: [test.count, 1, 8, 8])),
                              validationSet: RunBatch(data: validation.dequantized(using: &validationRNG).reshaped(to: [validation.count, 1, 8, 8])),
                              task: nil, trainDigits: train)
        }
        guard let test = Toy2D.sample(name, count: 10_000, using: &rng) else {
            throw FluxionError(.invalidArgument, "unknown data '\(name)'; known: \(names.joined(separator: ", "))")
        }
        return RunDataset(name: name, eventShape: [2], testSet: RunBatch(data: test), validationSet: nil, task: nil, trainDigits: nil)
    }

    /// The data of a run configuration: a sequence task for the models that train on one (its
    /// options `length`, `text`; `configuration.vocabulary` for text), else `load(data)`.
    /// `requireText: false` rebuilds a character task from the saved vocabulary alone (to
    /// generate after the training text is gone); it then has no held-out data.
    public static func load(_ configuration: RunConfiguration, sequence: Bool, requireText: Bool = true) throws -> RunDataset {
        guard sequence else { return try load(configuration.data) }
        let task = try makeTask(configuration, requireText: requireText)
        var validationRNG = SeededGenerator(seed: 20_240_603), testRNG = SeededGenerator(seed: 20_240_604)
        func run(_ b: SequenceBatch) -> RunBatch { RunBatch(data: b.inputs, labels: b.targets) }
        let hasData = (task as? CharacterTask)?.hasText ?? true
        let empty = RunBatch(data: Tensor.zeros(shape: [0, task.length], dtype: .int32), labels: Tensor.zeros(shape: [0, task.length], dtype: .int32))
        let validation: RunBatch, test: RunBatch
        if let digits = task as? SequentialDigitsTask {
            (validation, test) = (run(digits.validationSet), run(digits.testSet))
        } else if hasData {
            (validation, test) = (run(task.validationBatch(size: 256, using: &validationRNG)), run(task.evaluationBatch(size: 1024, using: &testRNG)))
        } else {
            (validation, test) = (empty, empty)
        }
        return RunDataset(name: configuration.data, eventShape: [task.length], testSet: test, validationSet: validation, task: task, trainDigits: nil)
    }

    /// The task options a run's `config.json` records, so that a resumed run rebuilds the same
    /// task: `length` as `makeTask` reads it (copying: the delay; selective copying: the noise
    /// stretch; otherwise the sequence length), and `symbols`, `vocabulary` where the task has them.
    static func taskOptions(_ task: any SequenceTask) -> [String: String] {
        switch task {
        case let t as CopyingTask: return ["length": String(t.delay)]
        case let t as SelectiveCopyingTask: return ["length": String(t.spread), "symbols": String(t.symbols), "vocabulary": String(t.vocabulary)]
        case let t as InductionHeadsTask: return ["length": String(t.length), "vocabulary": String(t.vocabulary)]
        default: return ["length": String(task.length)]
        }
    }

    /// The sequence task a configuration names (`data`), with its options.
    static func makeTask(_ c: RunConfiguration, requireText: Bool) throws -> any SequenceTask {
        let length = try c.options["length"].map { _ in try c.count("length", default: 0, in: 1...1 << 20) }
        /// The length option (or the task's default), at least `minimum`.
        func lengthOption(default fallback: Int, minimum: Int) throws -> Int {
            let n = length ?? fallback
            guard n >= minimum else { throw FluxionError(.invalidArgument, "length of the \(c.data) task must be at least \(minimum), got \(n)") }
            return n
        }
        switch c.data {
        case "copying": return CopyingTask(symbols: 10, delay: try lengthOption(default: 20, minimum: 1))
        case "adding": return AddingTask(length: try lengthOption(default: 100, minimum: 2))
        case "selective-copying":
            // Mamba's setting: 16 tokens to copy from a vocabulary of 16; `length` is the noise stretch.
            let symbols = try c.count("symbols", default: 16, in: 1...4096)
            let vocabulary = try c.count("vocabulary", default: 16, in: 4...65536)
            let spread = try lengthOption(default: 256, minimum: 1)
            guard spread >= symbols else { throw FluxionError(.invalidArgument, "length (\(spread)) of the selective-copying task must be at least symbols (\(symbols))") }
            return SelectiveCopyingTask(symbols: symbols, spread: spread, vocabulary: vocabulary)
        case "induction-heads":
            return InductionHeadsTask(length: try lengthOption(default: 32, minimum: 4), vocabulary: try c.count("vocabulary", default: 16, in: 4...65536))
        case "digits":
            guard length == nil || length == 64 else { throw FluxionError(.invalidArgument, "the digits task has length 64 (8×8 pixels); drop length") }
            return try SequentialDigitsTask()
        case "chars":
            guard let vocabulary = c.vocabulary, !vocabulary.isEmpty else {
                throw FluxionError(.invalidArgument, "the chars task needs a vocabulary in its configuration (train with --text FILE)")
            }
            let characters = try vocabulary.map { s -> Character in
                guard s.count == 1, let ch = s.first else { throw FluxionError(.malformed, "vocabulary entry '\(s)' is not one character") }
                return ch
            }
            guard Set(characters).count == characters.count else { throw FluxionError(.malformed, "the vocabulary repeats a character") }
            let windowLength = length ?? 128
            guard requireText else { return CharacterTask(characters: characters, length: windowLength) }
            guard let file = c.options["text"] else { throw FluxionError(.invalidArgument, "the chars task needs text=FILE") }
            let text = try CharacterTask.read(file)
            if let expected = c.options["text_sha256"], SHA256.hexDigest(Data(text.utf8)) != expected {
                throw FluxionError(.invalidArgument, file: file, "the text changed since the run started (its SHA-256 differs from config.json's text_sha256)")
            }
            let task = try CharacterTask(text: text, length: windowLength, source: file)
            guard task.characters == characters else {
                throw FluxionError(.invalidArgument, file: file, "the text's characters differ from the run's vocabulary")
            }
            return task
        default:
            throw FluxionError(.invalidArgument, "unknown task '\(c.data)'; known: \(taskNames.joined(separator: ", "))")
        }
    }

    /// One training batch [size, eventShape...].
    public func trainBatch(_ size: Int, batches: inout ShuffledBatches?, using rng: inout SeededGenerator) -> RunBatch {
        if let task {
            let b = task.batch(size: size, using: &rng)
            return RunBatch(data: b.inputs, labels: b.targets)
        }
        if let digits = trainDigits {
            if batches == nil { batches = ShuffledBatches(count: digits.count, batchSize: size) }
            let index = batches!.next(using: &rng)
            let pixels = digits.pixels.indexSelect(axis: 0, indices: index)
            let u = Tensor.randomUniform(shape: pixels.shape, dtype: .float64, using: &rng)
            return RunBatch(data: ((pixels + u) / Double(Digits.levels)).cast(to: .float32).reshaped(to: [index.count, 1, 8, 8]))
        }
        return RunBatch(data: Toy2D.sample(name, count: size, using: &rng)!)
    }

    /// Some training examples for pictures (the test set stands in for fresh samples).
    public func examples(_ count: Int) -> Tensor { test[0..<Swift.min(count, test.shape[0])] }
}
