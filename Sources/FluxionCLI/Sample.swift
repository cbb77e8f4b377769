import ArgumentParser
import Fluxion
import Foundation

/// Opens the model type of a run folder and calls `body` with the loaded run.
protocol RunVisitor {
    associatedtype Result
    func visit<M: RunModel>(_ run: TrainingRun<M>) throws -> Result
}

/// `best`: load the best-validation parameters when the run kept them (see `TrainingRun.validate`).
/// `sequence`: whether the command needs a sequence model (true), a generative one (false) or
/// either (nil); a run of the other kind is a usage error naming the run. Notices about damaged
/// checkpoints passed over go to standard error.
func withRun<V: RunVisitor>(_ folder: String, best: Bool = false, sequence: Bool? = nil, requireData: Bool = true,
                            command: String, _ visitor: V) throws -> V.Result {
    let config = try TrainingRun<FlowRunModel>.readConfiguration(folder: folder)
    let type = RunModels.registry[config.model]!
    if let sequence, sequence != type.trainsOnSequenceTasks {
        throw ValidationError("\(folder) is a \(config.model) run; `fluxion \(command)` needs a " + (sequence ? "sequence-model run" : "generative-model run"))
    }
    func open<M: RunModel>(_ type: M.Type) throws -> V.Result {
        let run = try TrainingRun<M>.load(folder: folder, best: best, requireData: requireData)
        for notice in run.notices { printError("notice: \(notice)") }
        return try visitor.visit(run)
    }
    return try open(type)
}

/// `fluxion sample RUN`: draws samples from a trained run, writes a PNG and an .npy file.
struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Draw samples from a trained run (PNG and .npy).")

    @Argument(help: "The run folder.") var folder: String
    @Option(help: "Number of samples.") var count: Int = 2000
    @Option(help: "Prior temperature (flows; < 1 gives cleaner samples).") var temperature: Double = 1
    @Option(help: "Integration steps (ODE/diffusion models).") var steps: Int?
    @Option(help: "ODE solver (ODE/diffusion models).") var solver: String?
    @Option(help: "Random seed.") var seed: UInt64 = 1
    @Option(help: "Output PNG (default RUN/samples-T<temperature>.png; the .npy goes beside it).") var out: String?
    @Flag(help: "Use the last checkpoint, not the best-validation model (runs on digits keep both).") var last = false

    func run() throws {
        guard count >= 1, count <= 1_000_000 else { throw ValidationError("--count must be in 1...1000000, got \(count)") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be non-negative, got \(temperature)") }
        if let steps, !(1...1_000_000).contains(steps) { throw ValidationError("--steps must be in 1...1000000, got \(steps)") }
        let solvers = ODEMethod.allCases.map(\.rawValue) + ["ancestral", "ddim"]
        if let solver, !solvers.contains(solver) {
            throw ValidationError("unknown solver '\(solver)'; known: \(solvers.joined(separator: ", "))")
        }
        try withRun(folder, best: !last, sequence: false, command: "sample", Visitor(command: self))
    }

    struct Visitor: RunVisitor {
        let command: Sample
        func visit<M: RunModel>(_ run: TrainingRun<M>) throws {
            var rng = SeededGenerator(seed: command.seed)
            let options = SampleOptions(temperature: command.temperature, steps: command.steps, solver: command.solver)
            let started = Date()
            let samples = try withoutDerivatives { try run.model.sample(count: command.count, options: options, using: &rng) }
            guard samples.scalars.allSatisfy(\.isFinite) else {
                throw FluxionError(.diverged, file: run.folder, "the samples are not finite (the model or the solver diverged)")
            }
            let seconds = Date().timeIntervalSince(started)
            let png = command.out ?? (run.folder as NSString).appendingPathComponent("samples-T\(String(format: "%g", command.temperature)).png")
            let npy = (png as NSString).deletingPathExtension + ".npy"
            let shown = run.data.isImage ? samples[0..<Swift.min(100, command.count)] : samples
            try RunPictures.samples(shown, data: run.data, title: "\(run.configuration.model) on \(run.configuration.data): \(command.count) samples, T = \(String(format: "%g", command.temperature))", to: png)
            try NPY.write(samples, to: npy)
            let step = !command.last ? run.state.bestStep ?? run.state.step : run.state.step
            print(String(format: "%d samples in %.2f s (model of step %d%@); wrote %@ and %@", command.count, seconds, step,
                         step != run.state.step ? ", best validation NLL" : "", png, npy))
            let flat = samples.reshaped(to: [command.count, -1])
            print("sample mean " + flat.mean(axis: 0).scalars.prefix(4).map { String(format: "%.4f", $0) }.joined(separator: ", ")
                  + (flat.shape[1] > 4 ? ", ..." : "") + "; data mean " + run.data.test.reshaped(to: [run.data.test.shape[0], -1]).mean(axis: 0).scalars.prefix(4).map { String(format: "%.4f", $0) }.joined(separator: ", "))
        }
    }
}

/// `fluxion eval RUN`: held-out figures of a trained run; the last line is one JSON object.
struct Eval: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Held-out figures of a trained run; the last line is one JSON object.")

    @Argument(help: "The run folder.") var folder: String
    @Option(help: "Random seed (models whose figures are stochastic).") var seed: UInt64 = 2
    @Flag(help: "Evaluate the last checkpoint, not the best-validation model (runs on digits keep both).") var last = false
    @Option(help: "Sequence runs: evaluate on the task at this length (its `length` option) with the same weights.") var length: Int?

    func run() throws {
        if let length, !(1...(1 << 20)).contains(length) { throw ValidationError("--length must be in 1...1048576, got \(length)") }
        try withRun(folder, best: !last, sequence: length == nil ? nil : true, command: "eval", Visitor(seed: seed, last: last, length: length))
    }

    struct Visitor: RunVisitor {
        let seed: UInt64
        let last: Bool
        let length: Int?
        func visit<M: RunModel>(_ run: TrainingRun<M>) throws {
            var rng = SeededGenerator(seed: seed)
            var data = run.data
            if let length {
                // The task's held-out set rebuilt at the new length (same seeds, same other options).
                var config = run.configuration
                config.options["length"] = String(length)
                data = try RunDataset.load(config, sequence: true)
                if let model = run.model as? SequenceRunModel, let limit = model.maxLength, let what = model.maxLengthReason,
                   let needed = data.eventShape.first, needed > limit {
                    throw ValidationError("\(run.folder): the \(run.configuration.model) model has \(what); --length \(length) needs sequences of \(needed)")
                }
            }
            let figures = try run.model.evaluate(data.testSet, data: data, using: &rng)
            // The model evaluated: the best-validation one (if kept) unless --last.
            let step = !last ? run.state.bestStep ?? run.state.step : run.state.step
            print("\(run.configuration.model) on \(run.configuration.data), step \(step) of \(run.configuration.steps)"
                  + (step != run.state.step ? " (best validation \(M.validationFigure); the last checkpoint is step \(run.state.step), see --last)" : "")
                  + ", \(run.model.parameterCount) parameters")
            for f in figures { print("  \(pad(f.name, 16)) \(String(format: "%.6g", f.value))") }
            if figures.contains(where: { $0.name == "nll_nats" }) {
                print("  (nll_nats: mean −ln p(x) over the held-out set, in nats\(run.data.isImage ? "; bits_per_dim on the 17-level digits, (nll + 64 ln 17)/(64 ln 2)" : ""))")
            }
            var record: [String: Any] = ["run": run.folder, "model": run.configuration.model, "data": run.configuration.data, "step": step]
            if let length { record["length"] = length }
            for f in figures { record[f.name] = f.value.isFinite ? (f.value * 1e6).rounded() / 1e6 : String(f.value) }
            try printJSONLine(record)
        }
    }
}
