import ArgumentParser
import Fluxion
import Foundation

/// `fluxion demo`: the README's main job. Trains two small generative models on two moons in
/// about a minute on 2 cores and writes pictures:
/// 1. a RealNVP normalizing flow (exact likelihood; a run folder `OUT/realnvp` that
///    `fluxion sample` and `fluxion eval` accept), with its density as a heat map;
/// 2. the library's rectified flow (`RectifiedFlowRunModel`, run folder `OUT/rectified-flow`:
///    velocity MLP on [x_t, t], loss mean‖v(x_t, t) − (ε − x₀)‖² with x_t = (1 − t)x₀ + tε, data
///    at t = 0 and noise at t = 1, sampled with Euler steps from N(0, I) at t = 1 down to 0).
/// `OUT/demo.png` puts data, flow density, flow samples and rectified-flow samples side by side.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a RealNVP flow and a rectified flow on two moons (about a minute) and write pictures.")

    @Option(help: "Output folder.") var out = "demo"
    @Option(help: "Training steps of each model.") var steps = 6000
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Euler steps of the rectified-flow sampler.") var eulerSteps = 32

    func run() throws {
        guard steps >= 10 else { throw ValidationError("--steps must be at least 10") }
        guard eulerSteps >= 1 else { throw ValidationError("--euler-steps must be at least 1") }
        let started = Date()
        let flowFolder = (out as NSString).appendingPathComponent("realnvp")
        let rfFolder = (out as NSString).appendingPathComponent("rectified-flow")
        try? FileManager.default.removeItem(atPath: flowFolder)
        try? FileManager.default.removeItem(atPath: rfFolder)

        // 1. RealNVP through the run system (config.json, checkpoints, model.safetensors, metrics.jsonl).
        print("1/2  RealNVP (8 affine couplings, hidden 128) on two moons, \(steps) steps, batch 256")
        var run = try TrainingRun<FlowRunModel>.start(
            RunConfiguration(model: "realnvp", data: "moons", steps: steps, batchSize: 256, learningRate: 2e-3, seed: seed,
                             checkpointEvery: steps), folder: flowFolder)
        var progress = ProgressBar(total: steps, start: 0)
        _ = try run.train(progress: { progress.update(step: $0, loss: $1) })
        progress.finish()
        var rng = SeededGenerator(seed: seed &+ 10)
        let nll = try run.model.evaluate(run.data.testSet, data: run.data, using: &rng)[0].value
        print(String(format: "     held-out NLL %.3f nats (a Gaussian fit: ≈ 1.95)", nll))

        // 2. The library's rectified flow (RectifiedFlowRunModel: noise at t = 1, data at t = 0,
        //    velocity MLP on [x_t, t], sampled by Euler steps from t = 1 to 0), also a run folder.
        print("2/2  rectified flow (velocity MLP 3-128-128-128-2, SiLU) on two moons, \(steps) steps, batch 512")
        var rf = try TrainingRun<RectifiedFlowRunModel>.start(
            RunConfiguration(model: "rectified-flow", data: "moons", steps: steps, batchSize: 512, learningRate: 2e-3, seed: seed,
                             checkpointEvery: steps, options: ["sample_steps": String(eulerSteps)]), folder: rfFolder)
        progress = ProgressBar(total: steps, start: 0)
        _ = try rf.train(progress: { progress.update(step: $0, loss: $1) })
        progress.finish()
        let x = try rf.model.sample(count: 3000, options: SampleOptions(steps: eulerSteps, solver: "euler"), using: &rng)
        let rfLosses = rf.lossHistory

        // Pictures.
        do {
            func path(_ f: String) -> String { (out as NSString).appendingPathComponent(f) }
            let flowSamples = try withoutDerivatives { try run.model.sample(count: 3000, options: SampleOptions(), using: &rng) }
            let data = run.data.examples(3000)
            let (xr, yr) = RunPictures.window(run.data.test)
            func scatter(_ title: String, _ points: Tensor, _ color: Color) -> Figure {
                var f = Figure(width: 560, height: 520, title: title, xLabel: "x1", yLabel: "x2", xRange: xr, yRange: yr)
                let (xs, ys) = RunPictures.pairs(points)
                f.scatter(xs: xs, ys: ys, color: color, radius: 1.5, opacity: 0.5)
                return f
            }
            var density = Figure(width: 560, height: 520, title: String(format: "RealNVP density (NLL %.2f nats)", nll),
                                 xLabel: "x1", yLabel: "x2", xRange: xr, yRange: yr)
            density.heatMap = HeatMap.density(x: xr, y: yr, resolution: 160) { points in
                run.model.logDensity(Tensor(points, shape: [points.count / 2, 2], dtype: .float32))!.scalars
            }
            let panels = [scatter("two moons (data)", data, Color(hex: 0x555555)), density,
                          scatter("RealNVP samples", flowSamples, Color.palette[0]),
                          scatter("rectified flow, \(eulerSteps) Euler steps", x, Color.palette[1])].map { $0.render() }
            var sheet = Canvas(width: 2 * 560, height: 2 * 520)
            for (i, panel) in panels.enumerated() { sheet.blit(panel, x: (i % 2) * 560, y: (i / 2) * 520) }
            try sheet.writePNG(to: path("demo.png"))
            try density.writePNG(to: path("realnvp_density.png"))
            try RunPictures.samples(flowSamples, data: run.data, title: "RealNVP samples over the data", to: path("realnvp_samples.png"))
            try RunPictures.samples(x, data: run.data, title: "rectified flow samples over the data", to: path("rectified_flow_samples.png"))
            try RunPictures.loss(run.lossHistory, title: "RealNVP: negative log-likelihood (nats)", to: path("realnvp_loss.png"))
            try RunPictures.loss(rfLosses, title: "rectified flow: mean ‖v − (ε − x)‖²", to: path("rectified_flow_loss.png"))
            print("wrote \(path("demo.png")) (data | flow density / flow samples | rectified-flow samples) and 5 more PNGs in \(out)/")
        }
        print(String(format: "done in %.0f s. Next: fluxion sample %@ --temperature 0.8, fluxion eval %@", Date().timeIntervalSince(started), flowFolder, flowFolder))
    }
}

extension Canvas {
    /// Copies `other` with its top-left corner at (x, y) (clipped to this canvas).
    mutating func blit(_ other: Canvas, x: Int, y: Int) {
        for row in 0..<other.height where y + row >= 0 && y + row < height {
            for column in 0..<other.width where x + column >= 0 && x + column < width {
                setPixel(x: x + column, y: y + row, color: other[column, row])
            }
        }
    }
}
