import ArgumentParser
import Fluxion
import Foundation

/// `fluxion reflow RUN`: the (k+1)-rectified flow of a k-rectified-flow run (Liu et al. 2022, §3.3).
///
/// Draws `--pairs` noise samples ε, pushes them through RUN's flow (t = 1 → 0) to x₀ = ODE(v_k, ε),
/// writes the pairs to OUT/pairs.safetensors, and trains a new rectified-flow run in OUT on the
/// straight lines between them, starting from RUN's weights (options `reflow_pairs`, `init_from`,
/// `rectification` = k + 1 in OUT/config.json). The training itself is `fluxion train --resume OUT`.
struct Reflow: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reflow a rectified-flow run: generate noise–sample pairs with it and train the next rectified flow on them.")

    @Argument(help: "A rectified-flow run folder (trained with `fluxion train rectified-flow`).") var sourceFolder: String
    @Option(help: "Number of (noise, sample) pairs.") var pairs = 50_000
    @Option(help: "ODE solver for the pairs (euler, midpoint, heun, rk4, dopri5).") var solver = "rk4"
    @Option(help: "Solver steps for the pairs.") var solverSteps = 100
    @Option(help: "Training steps of the new run (default: as RUN).") var steps: Int?
    @Option(name: .customLong("lr"), help: "Adam learning rate (default: half of RUN's).") var learningRate: Double?
    @Option(help: "Output run folder (default RUN-reflow).") var out: String?
    @Option(help: "Random seed of the pairs.") var seed: UInt64 = 7
    @Option(help: "Threads (default: FLUXION_THREADS or the core count).") var threads: Int?
    @Flag(help: "No pictures at the end.") var noPictures = false

    func run() throws {
        if let threads {
            guard (1...1024).contains(threads) else { throw ValidationError("--threads must be in 1...1024, got \(threads)") }
            Runtime.threadCount = threads
        }
        guard (1...10_000_000).contains(pairs) else { throw ValidationError("--pairs must be in 1...10000000, got \(pairs)") }
        guard (1...1_000_000).contains(solverSteps) else { throw ValidationError("--solver-steps must be in 1...1000000, got \(solverSteps)") }
        if let steps, steps < 1 { throw ValidationError("--steps must be positive, got \(steps)") }
        if let learningRate, !(learningRate.isFinite && learningRate > 0) { throw ValidationError("--lr must be a positive number, got \(learningRate)") }
        guard let method = ODEMethod(rawValue: solver) else {
            throw ValidationError("--solver must be one of \(ODEMethod.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let folder = out ?? (sourceFolder.hasSuffix("/") ? String(sourceFolder.dropLast()) : sourceFolder) + "-reflow"
        if FileManager.default.fileExists(atPath: (folder as NSString).appendingPathComponent("config.json")) {
            throw ValidationError("\(folder) already holds a run; continue it with `fluxion train --resume \(folder)` or give another --out")
        }
        let sourceConfig = try TrainingRun<RectifiedFlowRunModel>.readConfiguration(folder: sourceFolder)
        guard sourceConfig.model == "rectified-flow" else { throw ValidationError("\(sourceFolder) is a \(sourceConfig.model) run; reflow needs a rectified-flow run") }
        let source = try TrainingRun<RectifiedFlowRunModel>.load(folder: sourceFolder)
        for notice in source.notices { printError("notice: \(notice)") }

        var rng = SeededGenerator(seed: seed)
        let started = Date()
        let (data, noise) = try withoutDerivatives {
            try reflowPairs(source.model.network, count: pairs, dimension: 2, solver: ODESolver(method: method, steps: solverSteps), using: &rng)
        }
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let pairsPath = URL(fileURLWithPath: (folder as NSString).appendingPathComponent("pairs.safetensors")).standardizedFileURL.path
        // The source's parameters as verified from its checkpoint, copied so the new run does not
        // depend on the source run staying as it is.
        let initPath = URL(fileURLWithPath: (folder as NSString).appendingPathComponent("init.safetensors")).standardizedFileURL.path
        try source.model.save(to: initPath, metadata: ["source_run": sourceFolder, "step": String(source.state.step)])
        try SafeTensors.write([("data", data), ("noise", noise)], metadata: ["source_run": sourceFolder, "solver": solver, "solver_steps": String(solverSteps)],
                              to: pairsPath)
        print(String(format: "reflow: %d pairs from %@ (%@, %d steps) in %.1f s → %@", pairs, sourceFolder, solver, solverSteps,
                     Date().timeIntervalSince(started), pairsPath))

        var config = source.configuration
        let k = (Int(config.options["rectification"] ?? "1") ?? 1)
        config.options["rectification"] = String(k + 1)
        config.options["reflow_pairs"] = pairsPath
        config.options["init_from"] = initPath
        config.options["reflow_of"] = sourceFolder
        if let steps { config.steps = steps }
        config.learningRate = learningRate ?? config.learningRate / 2
        let fresh = try TrainingRun<RectifiedFlowRunModel>.start(config, folder: folder)
        try fresh.saveCheckpoint()
        print("training the \(k + 1)-rectified flow into \(folder)")
        var arguments = ["--resume", folder]
        if let threads { arguments += ["--threads", String(threads)] }
        if noPictures { arguments.append("--no-pictures") }
        let train = try Train.parse(arguments)
        try train.run()
    }
}
