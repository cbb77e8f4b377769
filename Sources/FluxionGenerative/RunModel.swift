import Foundation
import FluxionNN
import FluxionOptim
import FluxionData

/// A generative model that the `fluxion train NAME`, `fluxion sample RUN` and `fluxion eval RUN`
/// commands can drive. To add a model (DDPM, rectified flow, CNF, ...):
///
/// 1. Write a type conforming to `RunModel` (a `ParameterTree`: it lists its parameters, so the
///    run saves them as `model.safetensors` with PyTorch-style names and Adam can update them).
/// 2. `resolve` fills the model's defaults into `configuration.options` (string keys such as
///    `"hidden"`, `"layers"`, `"solver"`; the CLI's `--hidden`, `--layers` and `--set key=value`
///    write there) and rejects bad values with a thrown `FluxionError(.invalidArgument, ...)`:
///    the CLI prints it as one line. Everything needed to rebuild the model must end up in the
///    configuration, which is written to `config.json`.
/// 3. `init(configuration:data:)` builds the model deterministically from the configuration
///    (seeded by `configuration.seed`), so that `sample`/`eval`/`--resume` can rebuild it and
///    then load the saved parameters.
/// 4. `loss` is the training objective on one batch (`batch.data` [B, eventShape...], and
///    `batch.labels` where the data has them; differentiated with respect to `self`); draw any
///    noise from `rng`, which the run checkpoints, so `--resume` is exact.
/// 5. `sample` returns [count, eventShape...] in data space; `evaluate` returns held-out figures
///    (name, value) such as `nll_nats`, `bits_per_dim`; `logDensity` (optional) enables the
///    density heat map for 2-D data. Both throw (a bad option, a failed ODE solve) instead of
///    returning NaNs.
/// 6. Add `"name": YourModel.self` to `RunModels.registry`.
///
/// The run loop (`TrainingRun`) does the rest: batches, Adam, checkpoints, metrics, resume.
public protocol RunModel: ParameterTree {
    /// True for models that train on a `SequenceTask` (`--task NAME`) instead of a data set.
    static var trainsOnSequenceTasks: Bool { get }
    /// The held-out figure (lower is better) that selects the best checkpoint on the validation
    /// split: `"nll_nats"` by default.
    static var validationFigure: String { get }
    /// Checks and completes `configuration.options` with this model's defaults for `data`.
    static func resolve(_ configuration: inout RunConfiguration, data: RunDataset) throws
    /// Builds a fresh model (initialised from `configuration.seed`).
    init(configuration: RunConfiguration, data: RunDataset) throws
    /// Data-dependent initialisation on the first training batch (ActNorm). Default: nothing.
    mutating func prepare(with batch: Tensor)
    /// The scalar training loss on `batch` [B, eventShape...].
    func loss(_ batch: RunBatch, using rng: inout SeededGenerator) -> Tensor
    /// `count` samples [count, eventShape...] in data space.
    func sample(count: Int, options: SampleOptions, using rng: inout SeededGenerator) throws -> Tensor
    /// Held-out figures on `test` (data [N, eventShape...]), e.g. ("nll_nats", 1.2), ("bits_per_dim", 1.9).
    func evaluate(_ test: RunBatch, data: RunDataset, using rng: inout SeededGenerator) throws -> [(name: String, value: Double)]
    /// log p(x) per sample [N] when the model has a tractable density (heat maps); nil otherwise.
    func logDensity(_ x: Tensor) -> Tensor?
    /// The run's optimiser (fresh; a resumed run loads its moments into it). Default: Adam at the
    /// run's learning rate, no weight decay.
    func makeOptimizer(_ configuration: RunConfiguration) throws -> Adam
}

extension RunModel {
    /// False: the model trains on a data set.
    public static var trainsOnSequenceTasks: Bool { false }
    /// `"nll_nats"`.
    public static var validationFigure: String { "nll_nats" }
    /// Does nothing.
    public mutating func prepare(with batch: Tensor) {}
    /// nil: no tractable density.
    public func logDensity(_ x: Tensor) -> Tensor? { nil }
    /// Adam at `configuration.learningRate`.
    public func makeOptimizer(_ configuration: RunConfiguration) throws -> Adam { Adam(learningRate: configuration.learningRate) }
}

/// Options of `fluxion sample` passed to `RunModel.sample`.
public struct SampleOptions: Sendable {
    /// Prior temperature (flows): 1 samples the model; < 1 gives cleaner, less diverse samples.
    public var temperature: Double
    /// Integration steps and solver name (ODE/diffusion models); nil = the model's default.
    public var steps: Int?
    /// The solver name (e.g. `euler`, `ddim`); nil = the model's default.
    public var solver: String?

    /// Options with temperature 1 and the model's default steps and solver.
    public init(temperature: Double = 1, steps: Int? = nil, solver: String? = nil) {
        self.temperature = temperature; self.steps = steps; self.solver = solver
    }

    /// Throws when a solver or step count was given to a model that integrates no ODE.
    public func rejectSolver(_ reason: String) throws {
        if let solver { throw FluxionError(.invalidArgument, "--solver \(solver) does not apply: \(reason)") }
        if let steps { throw FluxionError(.invalidArgument, "--steps \(steps) does not apply: \(reason)") }
    }
}

/// The models known to `fluxion train`. Add new models here.
public enum RunModels {
    /// Model names and their types: nice, realnvp, glow, ddpm, rectified-flow, cnf, rnn, lstm, gru, transformer.
    public static let registry: [String: any RunModel.Type] = [
        "nice": FlowRunModel.self,
        "realnvp": FlowRunModel.self,
        "glow": FlowRunModel.self,
        "ddpm": DDPMRunModel.self,
        "rectified-flow": RectifiedFlowRunModel.self,
        "cnf": CNFRunModel.self,
        "rnn": SequenceRunModel.self,
        "lstm": SequenceRunModel.self,
        "gru": SequenceRunModel.self,
        "transformer": SequenceRunModel.self,
        "mamba": SequenceRunModel.self,
        "s4d": SequenceRunModel.self,
        "s4": SequenceRunModel.self,
    ]
    /// The registered model names, sorted.
    public static var names: [String] { registry.keys.sorted() }
}

/// Everything a run needs to be rebuilt and resumed: written as the run folder's `config.json`.
public struct RunConfiguration: Codable, Equatable, Sendable {
    /// The registry name of the model ("realnvp").
    public var model: String
    /// The data set name (`RunDataset.names`).
    public var data: String
    /// Number of training steps; 2000 by default.
    public var steps: Int
    /// Examples per batch; 256 by default.
    public var batchSize: Int
    /// Adam's learning rate; 1e-3 by default.
    public var learningRate: Double
    /// The seed of the model's initialisation, the data order and the noise; 0 by default.
    public var seed: UInt64
    /// Steps between checkpoints (model, optimiser, generator state, metrics).
    public var checkpointEvery: Int
    /// Model-specific settings, completed by `RunModel.resolve`.
    public var options: [String: String]
    /// Complete checkpoints kept in `checkpoints/` (nil: 2).
    public var keepCheckpoints: Int?
    /// The vocabulary of a character-level run (one string per token), so that the model can be
    /// rebuilt and generate text without the training file.
    public var vocabulary: [String]?
    /// The safetensors file whose parameters replaced the fresh initialisation (`fluxion train
    /// --init-from`: fine-tuning, or a curriculum over task lengths); nil for a fresh start.
    public var initialModel: String?
    /// The SHA-256 of `initialModel` when the run started: a restart before the first checkpoint
    /// refuses a changed file instead of silently starting from other weights.
    public var initialModelSHA256: String?

    /// A configuration for `model` on `data`; 2000 steps, batch 256, learning rate 1e-3, seed 0,
    /// a checkpoint every 500 steps and no options unless given.
    public init(model: String, data: String, steps: Int = 2000, batchSize: Int = 256, learningRate: Double = 1e-3,
                seed: UInt64 = 0, checkpointEvery: Int = 500, options: [String: String] = [:]) {
        self.model = model; self.data = data; self.steps = steps; self.batchSize = batchSize
        self.learningRate = learningRate; self.seed = seed; self.checkpointEvery = checkpointEvery; self.options = options
    }

    /// An integer option, or `fallback` when absent; a non-integer value throws.
    public func integer(_ key: String, default fallback: Int) throws -> Int {
        guard let text = options[key] else { return fallback }
        guard let v = Int(text) else { throw FluxionError(.invalidArgument, "option \(key)=\(text) is not an integer") }
        return v
    }

    /// A floating-point option, or `fallback` when absent; a non-number throws.
    public func number(_ key: String, default fallback: Double) throws -> Double {
        guard let text = options[key] else { return fallback }
        guard let v = Double(text), v.isFinite else { throw FluxionError(.invalidArgument, "option \(key)=\(text) is not a finite number") }
        return v
    }

    /// A non-negative integer option, or `fallback` when absent; anything else throws.
    public func count(_ key: String, default fallback: Int, in range: ClosedRange<Int> = 0...Int.max) throws -> Int {
        let v = try integer(key, default: fallback)
        guard range.contains(v) else { throw FluxionError(.invalidArgument, "option \(key)=\(v) is outside \(range.lowerBound)...\(range.upperBound)") }
        return v
    }

    /// Sets `key` to `value` unless it is already set.
    public mutating func setDefault(_ key: String, _ value: String) {
        if options[key] == nil { options[key] = value }
    }
}
