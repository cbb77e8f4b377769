import ArgumentParser
import Fluxion
import Foundation

/// `fluxion bench NAME`: one workload of shared/bench/WORKLOADS.md, printed as one JSON line.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Time a benchmark workload; prints one JSON line.")

    @Argument(help: "Workload: gemm256, gemm1024, gemm256-f64, gemm1024-f64.") var name: String
    @Option(help: "Threads (default: FLUXION_THREADS or the core count).") var threads: Int?
    @Option(help: "Seconds to time, after warm-up.") var seconds = 3.0

    func run() throws {
        let threadCount = threads ?? Fluxion.threadCount
        guard threadCount >= 1 else { throw ValidationError("--threads must be at least 1, got \(threadCount)") }
        guard seconds > 0 else { throw ValidationError("--seconds must be positive, got \(seconds)") }
        Fluxion.threadCount = threadCount
        let value: Double
        let unit: String
        switch name {
        case "gemm256", "gemm1024", "gemm256-f64", "gemm1024-f64":
            let n = name.hasPrefix("gemm256") ? 256 : 1024
            value = GemmBenchmark.run(n: n, threads: threadCount, seconds: seconds, double: name.hasSuffix("f64"))
            unit = "GFLOP/s"
        default:
            throw ValidationError("unknown workload '\(name)'; known: gemm256, gemm1024, gemm256-f64, gemm1024-f64")
        }
        let record: [String: Any] = ["workload": name, "impl": "fluxion", "threads": threadCount, "unit": unit,
                                     "value": (value * 100).rounded() / 100]
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        print(String(decoding: data, as: UTF8.self))
    }
}
