import ArgumentParser
import Fluxion
import Foundation

/// `fluxion bench NAME`: one workload of shared/bench/WORKLOADS.md, printed as one JSON line.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a benchmark workload; prints one JSON line.",
        discussion: "Workloads: \(BenchWorkloads.names.joined(separator: ", ")).")

    @Argument(help: "Workload name.") var name: String
    @Option(help: "Threads (default: FLUXION_THREADS or the core count).") var threads: Int?
    @Option(help: "Seconds to time, after warm-up.") var seconds = 3.0

    func run() throws {
        let threadCount = threads ?? Fluxion.threadCount
        guard threadCount >= 1 else { throw ValidationError("--threads must be at least 1, got \(threadCount)") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive, got \(seconds)") }
        guard let workload = BenchWorkloads.all[name] ?? (name == "checkpoint" ? { _, _ in ("", 0) } : nil) else {
            throw ValidationError("unknown workload '\(name)'; known: \(BenchWorkloads.names.joined(separator: ", "))")
        }
        Fluxion.threadCount = threadCount
        var record: [String: Any] = ["workload": name, "impl": "fluxion", "threads": threadCount]
        if name == "checkpoint" {
            record.merge(CheckpointBenchmark.run(seconds: seconds)) { a, _ in a }
        } else {
            let (unit, value) = workload(threadCount, seconds)
            record["unit"] = unit
            record["value"] = (value * 1000).rounded() / 1000
        }
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}

/// The workloads, each returning (unit, value). Timing as the reference: 5 warm-up steps, then as
/// many steps as fit in `seconds` (at least 3); steps per second of wall time.
enum BenchWorkloads {
    typealias Workload = (_ threads: Int, _ seconds: Double) -> (String, Double)

    static let all: [String: Workload] = [
        "gemm256": { t, s in ("GFLOP/s", GemmBenchmark.run(n: 256, threads: t, seconds: s)) },
        "gemm1024": { t, s in ("GFLOP/s", GemmBenchmark.run(n: 1024, threads: t, seconds: s)) },
        "gemm256-f64": { t, s in ("GFLOP/s", GemmBenchmark.run(n: 256, threads: t, seconds: s, double: true)) },
        "gemm1024-f64": { t, s in ("GFLOP/s", GemmBenchmark.run(n: 1024, threads: t, seconds: s, double: true)) },
        "rectflow2d": { _, s in ("steps/s", rectflow2d(seconds: s)) },
        "ddpm2d": { _, s in ("steps/s", ddpm2d(seconds: s)) },
        "cnf2d": { _, s in ("steps/s", cnf2d(seconds: s)) },
    ]
    static var names: [String] { (all.keys + ["checkpoint"]).sorted() }

    static func timed(_ seconds: Double, warmup: Int = 5, _ step: () -> Void) -> Double {
        for _ in 0..<warmup { step() }
        var n = 0
        let start = DispatchTime.now().uptimeNanoseconds
        while true {
            step()
            n += 1
            let dt = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if dt >= seconds && n >= 3 { return Double(n) / dt }
        }
    }

    /// Rectified flow on two moons, batch 1024: velocity MLP 3-256-256-256-2 with SiLU on [x_t, t],
    /// x_t = (1 − t)x₀ + t·x₁, loss mean‖v − (x₁ − x₀)‖², Adam lr 1e-3.
    static func rectflow2d(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        var net = MLP(sizes: [3, 256, 256, 256, 2], activation: .silu, using: &rng)
        var optimizer = Adam(learningRate: 1e-3)
        let batch = 1024
        let data = Toy2D.twoMoons(count: batch * 64, using: &rng)
        var i = 0
        return timed(seconds) {
            let x1 = data[(i % 64) * batch..<(i % 64 + 1) * batch]
            i += 1
            let x0 = Tensor.randomNormal(shape: [batch, 2], using: &rng)
            let t = Tensor.randomUniform(shape: [batch, 1], using: &rng)
            let xt = (1 - t) * x0 + t * x1
            let input = Tensor.concatenate([xt, t], axis: 1)
            let target = x1 - x0
            let g = gradient(at: net) { net in (net(input) - target).squared().mean() }
            optimizer.update(&net, along: g)
        }
    }
}
