import ArgumentParser
import Fluxion
import FluxionKernels
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
        let threadCount = threads ?? Runtime.threadCount
        guard (1...1024).contains(threadCount) else { throw ValidationError("--threads must be in 1...1024, got \(threadCount)") }
        guard seconds > 0, seconds <= 86_400 else { throw ValidationError("--seconds must be in (0, 86400], got \(seconds)") }
        guard BenchWorkloads.all[name] != nil || BenchWorkloads.records[name] != nil else {
            throw ValidationError("unknown workload '\(name)'; known: \(BenchWorkloads.names.joined(separator: ", "))")
        }
        Runtime.threadCount = threadCount
        var record: [String: Any] = ["workload": name, "impl": "fluxion", "threads": threadCount]
        if let workload = BenchWorkloads.records[name] {
            record.merge(workload(threadCount, seconds)) { a, _ in a }
        } else {
            let (unit, value) = BenchWorkloads.all[name]!(threadCount, seconds)
            record["unit"] = unit
            record["value"] = (value * 1000).rounded() / 1000
        }
        try printJSONLine(record)
        // FLUXION_POOL_STATS=1: how often the thread pool saw a worker preempted (stderr).
        if ProcessInfo.processInfo.environment["FLUXION_POOL_STATS"] == "1" {
            FileHandle.standardError.write(Data("thread pool: \(ThreadPool.shared.contentionCount) long waits for a preempted worker\n".utf8))
        }
    }
}

/// `fluxion bench peak`: FMA throughput per core (GFLOP/s of each of `threads` threads running at
/// once). `value` is Float32 at the widest vectors the kernels use now (512 bits where the CPU has
/// AVX-512 and FLUXION_AVX512 is not 0, else 256); `f32_256`, `f64_256` (and `f32_512`, `f64_512`
/// on AVX-512 machines) give each width; `cpu` names the processor.
func peak(threads: Int, seconds: Double) -> [String: Any] {
    let figures = FMAPeak.measure(threads: threads, seconds: seconds / 4)
    let bits = GemmCPU.useAVX512 ? 512 : 256
    let info = GemmCPU.cpuinfo
    var record: [String: Any] = ["unit": "GFLOP/s per core", "vector_bits": bits,
                                 "cpu": "\(info["model name"] ?? "?") (family \(info["cpu family"] ?? "?"), model \(info["model"] ?? "?"))"]
    for f in figures {
        record["\(f.double ? "f64" : "f32")_\(f.vectorBits)"] = (f.perThread * 10).rounded() / 10
    }
    record["value"] = record["f32_\(bits)"]
    return record
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
        "charlstm": { _, s in ("steps/s", charlstm(seconds: s)) },
        "gpt": { _, s in ("steps/s", gpt(seconds: s)) },
        "realnvp2d": { _, s in ("steps/s", realnvp2d(seconds: s)) },
        "selective-scan": { _, s in ("steps/s", selectiveScan(seconds: s)) },
        "mamba": { _, s in ("steps/s", mamba(seconds: s)) },
        "s4d": { _, s in ("steps/s", s4d(seconds: s)) },
        "mamba-generate-100": { _, s in ("tokens/s", mambaGeneration(position: 100, seconds: s)) },
        "mamba-generate-8000": { _, s in ("tokens/s", mambaGeneration(position: 8000, seconds: s)) },
    ]
    /// Workloads that report several figures: the fields of their JSON line (beside workload,
    /// impl, threads).
    static let records: [String: (_ threads: Int, _ seconds: Double) -> [String: Any]] = [
        "checkpoint": { _, s in CheckpointBenchmark.run(seconds: s) },
        "peak": { t, s in peak(threads: t, seconds: s) },
    ]
    static var names: [String] { (Array(all.keys) + records.keys).sorted() }

    static func timed(_ seconds: Double, warmup: Int = 5, _ step: () -> Void) -> Double {
        for _ in 0..<warmup { step() }
        var n = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuStart = processCPUSeconds()
        while true {
            step()
            n += 1
            let dt = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            if dt >= seconds && n >= 3 {
                // FLUXION_BENCH_MEMORY=1: tensor bytes live at the end and at the peak, on stderr
                // (a live figure that grows with the run length is a leak).
                if ProcessInfo.processInfo.environment["FLUXION_BENCH_MEMORY"] == "1" {
                    printError("memory: \(Runtime.liveBytes >> 20) MiB live, \(Runtime.peakBytes >> 20) MiB peak after \(n + warmup) steps")
                }
                // FLUXION_BENCH_CPU=1: steps per CPU-second of this process (for A/B comparisons of
                // one-thread runs on a machine busy with other work; not what compare.py reports).
                if ProcessInfo.processInfo.environment["FLUXION_BENCH_CPU"] == "1" {
                    return Double(n) / (processCPUSeconds() - cpuStart)
                }
                return Double(n) / dt
            }
        }
    }

    /// Consecutive batches of `batch` rows of `data` (64 batches long), cycling, as the reference's
    /// `data[(i % 64) * B:(i % 64 + 1) * B]`.
    static func cyclingBatches(_ data: Tensor, batch: Int) -> () -> Tensor {
        var i = 0
        return {
            defer { i += 1 }
            return data[(i % 64) * batch..<(i % 64 + 1) * batch]
        }
    }

    static func processCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    /// Rectified flow on two moons, batch 1024: velocity MLP 3-256-256-256-2 with SiLU on [x_t, t],
    /// x_t = (1 − t)x₀ + t·x₁, loss mean‖v − (x₁ − x₀)‖², Adam lr 1e-3.
    static func rectflow2d(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        var net = MLP(sizes: [3, 256, 256, 256, 2], activation: .silu, using: &rng)
        var optimizer = Adam(learningRate: 1e-3)
        let batch = 1024
        let next = cyclingBatches(Toy2D.twoMoons(count: batch * 64, using: &rng), batch: batch)
        return timed(seconds) {
            let x1 = next()
            let x0 = Tensor.randomNormal(shape: [batch, 2], using: &rng)
            let t = Tensor.randomUniform(shape: [batch, 1], using: &rng)
            let xt = (1 - t) * x0 + t * x1
            let input = Tensor.concatenate([xt, t], axis: 1)
            let target = x1 - x0
            let g = gradient(at: net) { net in (net(input) - target).squared().mean() }
            optimizer.update(&net, along: g)
        }
    }

    /// RealNVP on two moons, batch 512 (WORKLOADS.md, `w_realnvp2d`): 8 affine couplings with masks
    /// [1,0]/[0,1], nets Linear(2,128)-ReLU-Linear(128,128)-ReLU-Linear(128,4), s = tanh(s)·(1−b);
    /// loss −mean log N(z; 0, I) − mean log-det; Adam lr 1e-3. The library's `NormalizingFlow`.
    static func realnvp2d(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        var flow = try! FlowConfiguration(kind: "realnvp", eventShape: [2], couplingLayers: 8, hiddenSize: 128).makeFlow()
        var optimizer = Adam(learningRate: 1e-3)
        let batch = 512
        let next = cyclingBatches(Toy2D.twoMoons(count: batch * 64, using: &rng), batch: batch)
        return timed(seconds) {
            let x = next()
            let g = gradient(at: flow) { $0.negativeLogLikelihood(x) }
            optimizer.update(&flow, along: g)
        }
    }

    /// Character LSTM: vocabulary 65, embedding 64, one LSTM layer of 256, sequence 128, batch 32,
    /// random tokens, next-token cross-entropy, Adam lr 2e-3.
    static func charlstm(seconds: Double) -> Double {
        var rng = SeededGenerator(seed: 0)
        let (vocab, width, hidden, steps, batch) = (65, 64, 256, 128, 32)
        struct Model: ParameterTree {
            var embedding: Embedding
            var lstm: Recurrent
            var head: Linear
            mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
                embedding.visitParameters(prefix: Self.join(prefix, "embedding"), body)
                lstm.visitParameters(prefix: Self.join(prefix, "lstm"), body)
                head.visitParameters(prefix: Self.join(prefix, "head"), body)
            }
        }
        var model = Model(embedding: Embedding(embeddingCount: vocab, embeddingSize: width, using: &rng),
                          lstm: Recurrent(.lstm, inputSize: width, hiddenSize: hidden, using: &rng),
                          head: Linear(inputSize: hidden, outputSize: vocab, using: &rng))
        var optimizer = Adam(learningRate: 2e-3)
        let tokens = Tensor((0..<(batch * (steps + 1))).map { _ in Int32(rng.next() % UInt64(vocab)) }, shape: [batch, steps + 1])
        let inputs = tokens.sliced(axis: 1, 0..<steps), targets = tokens.sliced(axis: 1, 1..<(steps + 1))
        return timed(seconds) {
            let g = gradient(at: model) { m in
                crossEntropy(logits: m.head(m.lstm(m.embedding(inputs))), labels: targets)
            }
            optimizer.update(&model, along: g)
        }
    }
}
