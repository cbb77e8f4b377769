import Foundation

/// A batch of a sequence task. `inputs` are int32 tokens [B, T] (or float features [B, T, F]);
/// `targets` are int32 classes [B, T'] scored at the last T' positions (or float [B, 1] for
/// regression).
public struct SequenceBatch {
    /// Tokens [B, T] (int32) or features [B, T, F] (float).
    public var inputs: Tensor
    /// Classes [B, T'] (int32) for the last T' positions, or values [B, 1] (float) for regression.
    public var targets: Tensor
    /// A batch of the given inputs and targets.
    public init(inputs: Tensor, targets: Tensor) { self.inputs = inputs; self.targets = targets }
}

/// How a task is scored.
public enum SequenceTarget: Equatable, Sendable {
    /// Classes at the last `positions` time steps (cross-entropy, accuracy).
    case classes(count: Int, positions: Int)
    /// A real value read at the last time step (mean-squared error).
    case regression
}

/// A synthetic or data-backed sequence task that any sequence model can train on.
public protocol SequenceTask {
    /// A short name for logs and files (e.g. `"copying"`).
    var name: String { get }
    /// Input tokens' vocabulary size, or nil for float features.
    var vocabularySize: Int? { get }
    /// Float input features per step (when `vocabularySize` is nil).
    var featureCount: Int { get }
    /// Sequence length T of an input.
    var length: Int { get }
    /// How the task is scored.
    var target: SequenceTarget { get }
    /// A training batch of `size` sequences drawn with `rng`.
    func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch
    /// A held-out batch (test split or fresh samples).
    func evaluationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch
    /// A validation batch (a split of the training data held out from training, or fresh
    /// samples for the synthetic tasks), for choosing the best checkpoint.
    func validationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch
}

extension SequenceTask {
    /// 1: one feature per step.
    public var featureCount: Int { 1 }
    /// A fresh `batch(size:using:)` (the synthetic tasks have no fixed split).
    public func evaluationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { batch(size: size, using: &rng) }
    /// A fresh `batch(size:using:)` (the synthetic tasks have no fixed split).
    public func validationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { batch(size: size, using: &rng) }
}

func randomToken(_ range: Range<Int>, _ rng: inout SeededGenerator) -> Int32 {
    Int32(range.lowerBound + Int(rng.next() % UInt64(range.count)))
}

/// The copying memory task (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): `symbols` tokens
/// from 1…8, then `delay` blanks (0) with a cue (9) at the last one, then the model must output the
/// symbols. Length = symbols + delay + symbols; scored on the last `symbols` positions. Chance
/// accuracy: 1/8.
public struct CopyingTask: SequenceTask {
    /// Number of symbols to remember (and to recall); 10 by default.
    public var symbols: Int
    /// Number of blanks between the symbols and the recall, the cue included; 20 by default.
    public var delay: Int
    /// The task with `symbols` symbols and a `delay` of blanks (both positive).
    public init(symbols: Int = 10, delay: Int = 20) {
        precondition(symbols > 0 && delay > 0, "CopyingTask: symbols and delay must be positive")
        self.symbols = symbols
        self.delay = delay
    }
    /// `"copying"`.
    public var name: String { "copying" }
    /// 10: blank 0, symbols 1…8, cue 9.
    public var vocabularySize: Int? { 10 }
    /// 2·`symbols` + `delay`.
    public var length: Int { 2 * symbols + delay }
    /// 10 classes at the last `symbols` positions.
    public var target: SequenceTarget { .classes(count: 10, positions: symbols) }
    /// Inputs [size, length] int32; targets [size, symbols] int32 (the symbols in order).
    public func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch {
        var x = [Int32](), y = [Int32]()
        for _ in 0..<size {
            let s = (0..<symbols).map { _ in randomToken(1..<9, &rng) }
            var row = s + [Int32](repeating: 0, count: delay + symbols)
            row[symbols + delay - 1] = 9
            x += row
            y += s
        }
        return SequenceBatch(inputs: Tensor(x, shape: [size, length]), targets: Tensor(y, shape: [size, symbols]))
    }
}

/// The adding problem (Hochreiter & Schmidhuber 1997): two channels per step, a value U(0, 1) and
/// a marker that is 1 at exactly two positions (one in each half); the target is the sum of the
/// two marked values. Predicting 1 always gives MSE ≈ 0.167; "solved" means MSE ≪ 0.01.
public struct AddingTask: SequenceTask {
    /// Sequence length T (at least 2); 100 by default.
    public var length: Int
    /// The task with sequences of `length` steps.
    public init(length: Int = 100) {
        precondition(length >= 2, "AddingTask: length must be at least 2")
        self.length = length
    }
    /// `"adding"`.
    public var name: String { "adding" }
    /// nil: the inputs are float features.
    public var vocabularySize: Int? { nil }
    /// 2: the value and the marker.
    public var featureCount: Int { 2 }
    /// Regression: the sum of the two marked values.
    public var target: SequenceTarget { .regression }
    /// Inputs [size, length, 2] Float32 (value, marker); targets [size, 1] Float32 (the sum).
    public func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch {
        var x = [Double](repeating: 0, count: size * length * 2), y = [Double]()
        for b in 0..<size {
            let half = length / 2
            let i = Int(rng.next() % UInt64(half)), j = half + Int(rng.next() % UInt64(length - half))
            var sum = 0.0
            for t in 0..<length {
                let v = rng.nextUniform()
                x[(b * length + t) * 2] = v
                if t == i || t == j { x[(b * length + t) * 2 + 1] = 1; sum += v }
            }
            y.append(sum)
        }
        return SequenceBatch(inputs: Tensor(x, shape: [size, length, 2], dtype: .float32), targets: Tensor(y, shape: [size, 1], dtype: .float32))
    }
}

/// Selective copying (Gu & Dao 2023, Mamba): `symbols` tokens from 3…(vocabulary − 1) are placed
/// at random positions of a `spread`-long stretch of noise tokens (1); a cue (2) follows, then
/// `symbols` blanks (0) where the model must output the tokens in order. Content-aware reasoning:
/// the positions vary, so a fixed delay does not solve it.
public struct SelectiveCopyingTask: SequenceTask {
    /// Number of tokens to copy; 4 by default.
    public var symbols: Int
    /// Length of the noise stretch that holds them (at least `symbols`); 32 by default.
    public var spread: Int
    /// Vocabulary size (above 3): blank 0, noise 1, cue 2, tokens 3…(vocabulary − 1); 10 by default.
    public var vocabulary: Int
    /// The task with `symbols` tokens scattered over `spread` positions, from a `vocabulary`.
    public init(symbols: Int = 4, spread: Int = 32, vocabulary: Int = 10) {
        precondition(symbols > 0 && spread >= symbols && vocabulary > 3, "SelectiveCopyingTask: need spread ≥ symbols and vocabulary > 3")
        self.symbols = symbols
        self.spread = spread
        self.vocabulary = vocabulary
    }
    /// `"selective-copying"`.
    public var name: String { "selective-copying" }
    /// `vocabulary`.
    public var vocabularySize: Int? { vocabulary }
    /// `spread` + 1 + `symbols`.
    public var length: Int { spread + 1 + symbols }
    /// `vocabulary` classes at the last `symbols` positions.
    public var target: SequenceTarget { .classes(count: vocabulary, positions: symbols) }
    /// Inputs [size, length] int32; targets [size, symbols] int32 (the tokens in order).
    public func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch {
        var x = [Int32](), y = [Int32]()
        for _ in 0..<size {
            var row = [Int32](repeating: 1, count: spread)
            var positions = Set<Int>()
            while positions.count < symbols { positions.insert(Int(rng.next() % UInt64(spread))) }
            let tokens = (0..<symbols).map { _ in randomToken(3..<vocabulary, &rng) }
            for (p, tok) in zip(positions.sorted(), tokens) { row[p] = tok }
            x += row + [2] + [Int32](repeating: 0, count: symbols)
            y += tokens
        }
        return SequenceBatch(inputs: Tensor(x, shape: [size, length]), targets: Tensor(y, shape: [size, symbols]))
    }
}

/// Induction heads (Olsson et al. 2022; Mamba's synthetic task): random tokens from 2…(vocabulary − 1);
/// somewhere a trigger (1) is followed by a token X; the sequence ends with the trigger again and
/// the model must predict X. Scored at the last position; chance is 1/(vocabulary − 2).
public struct InductionHeadsTask: SequenceTask {
    /// Sequence length T (at least 4); 32 by default.
    public var length: Int
    /// Vocabulary size (above 3): trigger 1, tokens 2…(vocabulary − 1); 16 by default.
    public var vocabulary: Int
    /// The task with sequences of `length` tokens from a `vocabulary`.
    public init(length: Int = 32, vocabulary: Int = 16) {
        precondition(length >= 4 && vocabulary > 3, "InductionHeadsTask: need length ≥ 4 and vocabulary > 3")
        self.length = length
        self.vocabulary = vocabulary
    }
    /// `"induction-heads"`.
    public var name: String { "induction-heads" }
    /// `vocabulary`.
    public var vocabularySize: Int? { vocabulary }
    /// `vocabulary` classes at the last position.
    public var target: SequenceTarget { .classes(count: vocabulary, positions: 1) }
    /// Inputs [size, length] int32; targets [size, 1] int32 (the token after the first trigger).
    public func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch {
        var x = [Int32](), y = [Int32]()
        for _ in 0..<size {
            var row = (0..<length).map { _ in randomToken(2..<vocabulary, &rng) }
            let p = Int(rng.next() % UInt64(length - 3))
            row[p] = 1
            row[length - 1] = 1
            x += row
            y.append(row[p + 1])
        }
        return SequenceBatch(inputs: Tensor(x, shape: [size, length]), targets: Tensor(y, shape: [size, 1]))
    }
}

/// Sequential 8×8 digits: the 64 pixels (scaled to [0, 1]) one per step; classify the digit at the
/// end. Training batches come from the train split less every tenth image (the validation set,
/// as for the generative digit runs), evaluation batches from the test split.
public struct SequentialDigitsTask: SequenceTask {
    let train: Digits
    let validation: Digits
    let test: Digits
    /// Loads the shipped digits (train and test splits); throws when the data cannot be read.
    public init() throws {
        let all = try Digits.load(.train)
        train = all.subset { $0 % 10 != 9 }
        validation = all.subset { $0 % 10 == 9 }
        test = try Digits.load(.test)
    }
    /// `"digits"`.
    public var name: String { "digits" }
    /// nil: the inputs are float pixels.
    public var vocabularySize: Int? { nil }
    /// 64: one pixel per step.
    public var length: Int { 64 }
    /// 10 classes at the last position.
    public var target: SequenceTarget { .classes(count: 10, positions: 1) }
    func sample(_ d: Digits, _ size: Int, _ rng: inout SeededGenerator) -> SequenceBatch {
        let idx = Tensor((0..<size).map { _ in Int32(rng.next() % UInt64(d.count)) })
        let pixels = d.pixels.indexSelect(axis: 0, indices: idx).cast(to: .float32) / 16
        return SequenceBatch(inputs: pixels.reshaped(to: [size, 64, 1]), targets: d.labels.indexSelect(axis: 0, indices: idx).reshaped(to: [size, 1]))
    }
    /// Random training images: inputs [size, 64, 1] Float32 in [0, 1], targets [size, 1] int32.
    public func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { sample(train, size, &rng) }
    /// Random test-split images: inputs [size, 64, 1] Float32 in [0, 1], targets [size, 1] int32.
    public func evaluationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { sample(test, size, &rng) }
    /// Random validation images: inputs [size, 64, 1] Float32 in [0, 1], targets [size, 1] int32.
    public func validationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { sample(validation, size, &rng) }
    /// The whole validation split as one batch.
    public var validationSet: SequenceBatch { Self.whole(validation) }
    /// The whole test split as one batch.
    public var testSet: SequenceBatch { Self.whole(test) }
    static func whole(_ d: Digits) -> SequenceBatch {
        SequenceBatch(inputs: (d.pixels.cast(to: .float32) / 16).reshaped(to: [d.count, 64, 1]), targets: d.labels.reshaped(to: [d.count, 1]))
    }
}

/// Character-level language modelling on a text file: the vocabulary is the file's distinct
/// characters (sorted); batches are random windows of `length` + 1 characters, the model predicts
/// every next character. The text splits 80% / 10% / 10% into training, validation and test.
public struct CharacterTask: SequenceTask {
    /// The vocabulary: the text's distinct characters, sorted; a character's code is its index.
    public let characters: [Character]
    let codes: [Int32]
    /// Window length T: the model reads `length` characters and predicts the next of each.
    public let length: Int
    /// The task over `text`, windows of `length` (1…2²⁰; 128 by default). Throws when the text is
    /// shorter than 10·(`length` + 2) characters; `source` names it in the error.
    public init(text: String, length: Int = 128, source: String = "<text>") throws {
        let chars = Array(text)
        guard length >= 1, length <= 1 << 20 else {
            throw FluxionError(.invalidArgument, "length must be in 1...\(1 << 20), got \(length)")
        }
        guard chars.count >= 10 * (length + 2) else {
            throw FluxionError(.invalidArgument, file: source, "text has \(chars.count) characters; need at least \(10 * (length + 2)) for windows of \(length) in each of the training, validation and test parts (10%)")
        }
        characters = Array(Set(chars)).sorted()
        let index = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($1, Int32($0)) })
        codes = chars.map { index[$0]! }
        self.length = length
    }
    /// The task over the UTF-8 text of `file` (see `init(text:length:source:)`).
    public init(file: String, length: Int = 128) throws {
        try self.init(text: try Self.read(file), length: length, source: file)
    }
    /// A task that knows only its vocabulary (to rebuild a trained model and generate from it
    /// without the training text); it has no data to draw batches from.
    public init(characters: [Character], length: Int) {
        self.characters = characters
        self.codes = []
        self.length = length
    }
    /// The text of `file` (UTF-8; invalid bytes are an error).
    public static func read(_ file: String) throws -> String {
        let data = try FileIO.read(file)
        guard let text = String(data: data, encoding: .utf8) else { throw FluxionError(.malformed, file: file, "not UTF-8 text") }
        return text
    }
    /// Whether the task holds text to draw batches from.
    public var hasText: Bool { !codes.isEmpty }
    /// `"chars"`.
    public var name: String { "chars" }
    /// The number of distinct characters.
    public var vocabularySize: Int? { characters.count }
    /// `characters.count` classes at every one of the `length` positions.
    public var target: SequenceTarget { .classes(count: characters.count, positions: length) }
    var trainEnd: Int { codes.count * 8 / 10 }
    var validationEnd: Int { codes.count * 9 / 10 }
    func windows(_ range: Range<Int>, _ size: Int, _ rng: inout SeededGenerator) -> SequenceBatch {
        var x = [Int32](), y = [Int32]()
        let span = Swift.max(1, range.count - length - 1)
        for _ in 0..<size {
            let s = range.lowerBound + Int(rng.next() % UInt64(span))
            x += codes[s..<(s + length)]
            y += codes[(s + 1)..<(s + length + 1)]
        }
        return SequenceBatch(inputs: Tensor(x, shape: [size, length]), targets: Tensor(y, shape: [size, length]))
    }
    /// Random windows from the first 80% of the text: inputs and targets [size, length] int32,
    /// the targets shifted by one character.
    public func batch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { windows(0..<trainEnd, size, &rng) }
    /// Random windows from the next 10% of the text (the validation part), as `batch(size:using:)`.
    public func validationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { windows(trainEnd..<validationEnd, size, &rng) }
    /// Random windows from the last 10% of the text (the test part), as `batch(size:using:)`.
    public func evaluationBatch(size: Int, using rng: inout SeededGenerator) -> SequenceBatch { windows(validationEnd..<codes.count, size, &rng) }
    /// The codes of `text`'s characters; a character outside the vocabulary throws an error that
    /// names it (dropping it would feed the model a different text than the one asked for).
    public func encode(_ text: String) throws -> [Int32] {
        let index = Dictionary(uniqueKeysWithValues: characters.enumerated().map { ($1, Int32($0)) })
        return try text.map { c in
            guard let code = index[c] else {
                throw FluxionError(.invalidArgument, "character \(String(reflecting: String(c))) is not in the vocabulary of the training text (\(characters.count) characters)")
            }
            return code
        }
    }
    /// The text of `codes` (each a valid index into `characters`).
    public func decode(_ codes: [Int32]) -> String { String(codes.map { characters[Int($0)] }) }
}
