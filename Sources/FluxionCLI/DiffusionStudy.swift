import ArgumentParser
import Fluxion
import Foundation

/// `fluxion diffusion-study`: the sample-quality study of issue 6 on one 2-D data set.
///
/// Trains DDPM (ε, T = 1000, linear β), a 1-rectified flow, its reflow (2-RF, initialised from the
/// 1-RF and trained on noise–sample pairs), and an FFJORD CNF (exact trace), then reports the
/// energy distance to held-out data for DDPM (1,000 ancestral and 50 DDIM steps), 1-RF and 2-RF
/// (1, 2, 4, 8, 100 Euler steps), the straightness before and after reflow, and the exact NLL
/// (Dopri5, exact trace) of the CNF and both rectified flows. Writes pictures to `--out`.
struct DiffusionStudy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diffusion-study",
        abstract: "DDPM vs 1-/2-rectified flow vs CNF on a 2-D toy: quality against steps, straightness, exact NLL.")

    @Option(help: "Data set (moons, 8gaussians, ...).") var data = "moons"
    @Option(help: "Training steps of DDPM, 1-RF and 2-RF each.") var steps = 4000
    @Option(help: "Training steps of the CNF.") var cnfSteps = 1000
    @Option(help: "Batch size.") var batch = 512
    @Option(help: "Reflow pairs generated with the 1-RF (RK4, 100 steps).") var pairs = 50_000
    @Option(help: "Samples per quality measurement (and held-out points).") var count = 4000
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Folder for the pictures and report.json (created).") var out: String?

    func run() throws {
        setvbuf(stdout, nil, _IOLBF, 0)   // progress lines appear at once when redirected to a file
        guard steps >= 1, cnfSteps >= 0, (1...1_000_000).contains(batch), pairs >= batch, pairs <= 10_000_000, (10...1_000_000).contains(count) else {
            throw ValidationError("need steps ≥ 1, cnf-steps ≥ 0, batch in 1...1000000, pairs in batch...10000000, count in 10...1000000")
        }
        var rng = SeededGenerator(seed: seed)
        guard let heldOut = Toy2D.sample(data, count: count, using: &rng) else {
            throw ValidationError("unknown data '\(data)'; known: \(Toy2D.names.joined(separator: ", "))")
        }
        if let out { try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true) }
        var report: [String: Any] = ["data": data, "steps": steps, "cnf_steps": cnfSteps, "batch": batch, "pairs": pairs,
                                     "count": count, "seed": seed]
        let noise = Tensor.randomNormal(shape: [count, 2], using: &rng)
        let floor = energyDistance(Toy2D.sample(data, count: count, using: &rng)!, heldOut)
        print("data \(data): energy distance between two held-out sets (the floor) \(studyFormat(floor)); prior N(0, I) \(studyFormat(energyDistance(noise, heldOut)))")
        report["floor"] = floor
        let start = Date()

        // DDPM
        let schedule = NoiseSchedule(kind: .linear, stepCount: 1000)
        var ddpm = TimeConditionedMLP(dimension: 2, hiddenSizes: [128, 128, 128], timeFrequencies: 2, using: &rng)
        train(&ddpm, label: "ddpm", using: &rng) { m, x, r in diffusionLoss(m, data: x, schedule: schedule, using: &r) }
        let ancestral = ddpmSample(ddpm, noise: noise, schedule: schedule, using: &rng)
        let ddim50 = ddimSample(ddpm, noise: noise, schedule: schedule, timesteps: schedule.timesteps(count: 50), using: &rng)
        let ddpmQuality = ["ancestral_1000": energyDistance(ancestral, heldOut), "ddim_50": energyDistance(ddim50, heldOut)]
        print("DDPM energy distance: 1000 ancestral steps \(studyFormat(ddpmQuality["ancestral_1000"]!)), 50 DDIM steps (η = 0) \(studyFormat(ddpmQuality["ddim_50"]!))")
        report["ddpm"] = ddpmQuality

        // 1-RF
        var flow1 = TimeConditionedMLP(dimension: 2, hiddenSizes: [128, 128, 128], timeFrequencies: 2, using: &rng)
        train(&flow1, label: "1-rf", using: &rng) { m, x, r in rectifiedFlowLoss(m, data: x, using: &r) }
        // Reflow pairs, then the 2-RF from the 1-RF's weights.
        let (pairData, pairNoise) = try reflowPairs(flow1, count: pairs, dimension: 2, solver: ODESolver(method: .rk4, steps: 100), using: &rng)
        var flow2 = flow1
        var cursor = 0
        train(&flow2, label: "2-rf", learningRate: 5e-4, using: &rng, batchSource: { _ in
            if cursor + batch > pairs { cursor = 0 }
            defer { cursor += batch }
            return (pairData[cursor..<cursor + batch], pairNoise[cursor..<cursor + batch])
        }) { m, pair, r in rectifiedFlowLoss(m, data: pair.0, noise: pair.1, using: &r) }

        let stepCounts = [1, 2, 4, 8, 100]
        var rfRows: [String: Any] = [:]
        for (name, model) in [("1-rf", flow1), ("2-rf", flow2)] {
            var quality: [String: Double] = [:]
            for n in stepCounts {
                quality["euler_\(n)"] = energyDistance(try sampleFlow(model, noise: noise, solver: ODESolver(method: .euler, steps: n)).state[0], heldOut)
            }
            let s = straightness(model, noise: noise, steps: 100).value
            let nll = try exactNLL(model, heldOut, using: &rng)
            print("\(name) energy distance at Euler steps \(stepCounts.map { "\($0): \(studyFormat(quality["euler_\($0)"]!))" }.joined(separator: ", ")); straightness \(studyFormat(s)); exact NLL \(studyFormat(nll)) nats")
            rfRows[name] = ["quality": quality, "straightness": s, "nll_nats": nll]
        }
        report["rectified_flow"] = rfRows

        // CNF (FFJORD, exact trace, RK4 with 4 steps in training; the NLL is then evaluated with Dopri5).
        if cnfSteps > 0 {
            var cnf = ContinuousNormalizingFlow(model: TimeConditionedMLP(dimension: 2, hiddenSizes: [64, 64, 64], activation: .tanh, using: &rng))
            let solver = ODESolver(method: .rk4, steps: 4)
            var optimizer = Adam(learningRate: 2e-3)
            let schedule = LearningRateSchedule.cosine(initial: 2e-3, total: cnfSteps, minimum: 1e-5)
            for step in 0..<cnfSteps {
                let x = Toy2D.sample(data, count: 256, using: &rng)!
                var r = rng.split()
                optimizer.learningRate = schedule.rate(at: step)
                let (loss, g) = valueWithGradient(at: cnf) { c in try! c.negativeLogLikelihood(x, solver: solver, using: &r) }
                optimizer.update(&cnf, along: g)
                if step % 200 == 0 || step == cnfSteps - 1 { print("  cnf step \(step) NLL \(studyFormat(loss.item)) (\(Int(Date().timeIntervalSince(start))) s)") }
            }
            let nll = try exactNLL(cnf.model, heldOut, using: &rng)
            let samples = try cnf.sample(noise: noise, solver: ODESolver(method: .dopri5, relativeTolerance: 1e-5, absoluteTolerance: 1e-5))
            let quality = energyDistance(samples.state[0], heldOut)
            print("cnf exact NLL \(studyFormat(nll)) nats; energy distance (Dopri5, \(samples.evaluationCount) NFE) \(studyFormat(quality))")
            report["cnf"] = ["nll_nats": nll, "quality_dopri5": quality, "nfe": samples.evaluationCount]
        }
        print("total \(Int(Date().timeIntervalSince(start))) s")

        if let out {
            try pictures(out: out, heldOut: heldOut, noise: noise, flow1: flow1, flow2: flow2, ddpm: ancestral, rows: rfRows, stepCounts: stepCounts)
            let json = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys, .prettyPrinted])
            try FileIO.writeAtomically(json, to: (out as NSString).appendingPathComponent("report.json"))
            print("wrote \(out)/report.json, samples.png, trajectories.png, quality.png")
        }
    }

    /// −mean log p(x) by the CNF change of variables with the exact trace and Dopri5 (rtol = atol = 1e-5).
    private func exactNLL<M: TimeConditionedModel>(_ model: M, _ x: Tensor, using rng: inout SeededGenerator) throws -> Double {
        // Not inside withoutDerivatives: the traces are forward-mode derivatives (`jvp`).
        try ContinuousNormalizingFlow(model: model).negativeLogLikelihood(
            x, solver: ODESolver(method: .dopri5, relativeTolerance: 1e-5, absoluteTolerance: 1e-5), using: &rng).item
    }

    /// Adam with a cosine decay to 1e-5 over `steps`, on fresh data batches.
    private func train<M: TimeConditionedModel>(_ model: inout M, label: String, learningRate: Double = 2e-3, using rng: inout SeededGenerator,
                                                loss: (M, Tensor, inout SeededGenerator) -> Tensor) {
        let name = data, size = batch
        train(&model, label: label, learningRate: learningRate, using: &rng,
              batchSource: { r in Toy2D.sample(name, count: size, using: &r)! }, loss: loss)
    }

    private func train<M: TimeConditionedModel, B>(_ model: inout M, label: String, learningRate: Double = 2e-3, using rng: inout SeededGenerator,
                                                   batchSource: (inout SeededGenerator) -> B, loss: (M, B, inout SeededGenerator) -> Tensor) {
        var optimizer = Adam(learningRate: learningRate)
        let schedule = LearningRateSchedule.cosine(initial: learningRate, total: steps, minimum: 1e-5)
        var running = 0.0
        let start = Date()
        for step in 0..<steps {
            let b = batchSource(&rng)
            var r = rng.split()
            optimizer.learningRate = schedule.rate(at: step)
            let (value, g) = valueWithGradient(at: model) { m in loss(m, b, &r) }
            optimizer.update(&model, along: g)
            running = step == 0 ? value.item : 0.99 * running + 0.01 * value.item
            if step % 1000 == 0 || step == steps - 1 { print("  \(label) step \(step) loss \(studyFormat(running)) (\(Int(Date().timeIntervalSince(start))) s)") }
        }
    }

    private func pictures(out: String, heldOut: Tensor, noise: Tensor, flow1: TimeConditionedMLP, flow2: TimeConditionedMLP,
                          ddpm: Tensor, rows: [String: Any], stepCounts: [Int]) throws {
        let path = { (name: String) in (out as NSString).appendingPathComponent(name) }
        func columns(_ x: Tensor) -> ([Double], [Double]) {
            let v = x.cast(to: .float64).scalars
            return (stride(from: 0, to: v.count, by: 2).map { v[$0] }, stride(from: 1, to: v.count, by: 2).map { v[$0] })
        }
        var figure = Figure(width: 900, height: 700, title: "\(data): held-out, DDPM (1000 steps), 1-RF and 2-RF (1 Euler step)",
                            xRange: -3...3, yRange: -3...3)
        let panels: [(String, Tensor)] = [("held-out", heldOut), ("DDPM 1000", ddpm),
                                          ("1-RF 1 step", try sampleFlow(flow1, noise: noise, solver: ODESolver(method: .euler, steps: 1)).state[0]),
                                          ("2-RF 1 step", try sampleFlow(flow2, noise: noise, solver: ODESolver(method: .euler, steps: 1)).state[0])]
        for (label, x) in panels { let (xs, ys) = columns(x[0..<Swift.min(1500, x.shape[0])]); figure.scatter(xs: xs, ys: ys, radius: 1.5, opacity: 0.4, label: label) }
        try figure.writePNG(to: path("samples.png"))

        var trajectories = Figure(width: 900, height: 700, title: "\(data): ODE trajectories from noise, 1-RF (curved) vs 2-RF (straighter)",
                                  xRange: -3.5...3.5, yRange: -3.5...3.5)
        let starts = noise[0..<60]
        for (index, model) in [flow1, flow2].enumerated() {
            var solver = ODESolver(method: .euler, steps: 50)
            solver.recordTrajectory = true
            let path = try sampleFlow(model, noise: starts, solver: solver).trajectory.map { $0[0].cast(to: .float64).scalars }
            for i in 0..<60 {
                trajectories.line(xs: path.map { $0[2 * i] }, ys: path.map { $0[2 * i + 1] }, color: Color.palette[index], thickness: 1,
                                  label: i == 0 ? (index == 0 ? "1-RF" : "2-RF") : nil)
            }
        }
        try trajectories.writePNG(to: path("trajectories.png"))

        var quality = Figure(width: 800, height: 560, title: "\(data): energy distance against Euler steps", xLabel: "log2(steps)",
                             yLabel: "log10(energy distance)")
        for name in ["1-rf", "2-rf"] {
            let q = ((rows[name] as? [String: Any])?["quality"] as? [String: Double]) ?? [:]
            quality.line(xs: stepCounts.map { Foundation.log2(Double($0)) },
                         ys: stepCounts.map { Foundation.log10(Swift.max(q["euler_\($0)"] ?? 1, 1e-6)) }, label: name)
        }
        try quality.writePNG(to: path("quality.png"))
    }
}

private func studyFormat(_ v: Double) -> String { String(format: "%.4g", v) }
