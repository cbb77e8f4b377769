import ArgumentParser
import Fluxion
import Foundation

/// `fluxion ssm-scaling`: the cost of one training step against the sequence length for the
/// sequence models at about equal parameter budgets (the rows of Tools/sequence_study.sh: LSTM
/// state 64, a 1-block Transformer of width 48, S4D width 56 and Mamba width 40 with 2 blocks):
/// next-token cross-entropy on random tokens (vocabulary 16), forward + backward + Adam, a fixed
/// number of tokens per step (batch = tokens / L, at least 1). Prints one JSON line per
/// (model, L) with ms/step, µs/token and the peak tensor bytes of the step, and draws both
/// against log₂ L (`ssm-scaling-time.png`, `ssm-scaling-memory.png`). A point whose estimated
/// attention scores alone pass `--memory-limit` is skipped and reported as such.
struct SSMScalingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssm-scaling",
        abstract: "Training-step time and peak memory against sequence length (LSTM, Transformer, S4D, Mamba).")

    @Option(help: "Comma-separated sequence lengths.") var lengths: String = "256,1024,4096,16384"
    @Option(help: "Comma-separated models: lstm, transformer, s4d, mamba.") var models: String = "lstm,transformer,s4d,mamba"
    @Option(help: "Tokens per step (batch = tokens / length, at least 1).") var tokens: Int = 16384
    @Option(help: "Timed steps per point (after one warm-up step).") var steps: Int = 3
    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Skip a Transformer point whose attention scores alone would pass this many GiB.") var memoryLimit: Double = 8
    @Option(help: "Folder for the two pictures.") var out: String = "runs/ssm-scaling"

    func run() throws {
        let ls = try lengths.split(separator: ",").map { s -> Int in
            guard let v = Int(s.trimmingCharacters(in: .whitespaces)), (2...(1 << 20)).contains(v) else { throw ValidationError("--lengths: '\(s)' is not a length in 2...1048576") }
            return v
        }
        let names = models.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        let known = ["lstm", "transformer", "s4d", "mamba"]
        if let bad = names.first(where: { !known.contains($0) }) { throw ValidationError("--models: unknown model '\(bad)'; known: \(known.joined(separator: ", "))") }
        guard !ls.isEmpty, !names.isEmpty else { throw ValidationError("give at least one length and one model") }
        guard tokens >= 1, steps >= 1 else { throw ValidationError("--tokens and --steps must be positive") }
        guard memoryLimit > 0, memoryLimit.isFinite else { throw ValidationError("--memory-limit must be a positive number of GiB") }
        if let threads {
            guard (1...256).contains(threads) else { throw ValidationError("--threads must be in 1...256, got \(threads)") }
            Runtime.threadCount = threads
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        var time = Figure(title: "training step per token vs length", xLabel: "log2 L", yLabel: "microseconds per token")
        var memory = Figure(title: "peak tensor memory of a step vs length", xLabel: "log2 L", yLabel: "MiB per 1k tokens")
        for name in names {
            var xs: [Double] = [], perToken: [Double] = [], peak: [Double] = []
            for l in ls {
                let batch = Swift.max(1, tokens / l)
                var record: [String: Any] = ["model": name, "length": l, "batch": batch]
                // Attention scores (and their softmax and gradient) are [B, heads, L, L] Float32.
                let scoreBytes = Double(batch) * 4 * Double(l) * Double(l) * 4 * 3
                if name == "transformer", scoreBytes > memoryLimit * Double(1 << 30) {
                    record["skipped"] = "attention scores need ≈ \(Int(scoreBytes / Double(1 << 30))) GiB (> --memory-limit \(memoryLimit))"
                    try printJSONLine(record)
                    continue
                }
                let (seconds, bytes, parameters) = measure(name, length: l, batch: batch)
                record["ms_per_step"] = (seconds * 1e5).rounded() / 100
                record["us_per_token"] = (seconds / Double(batch * l) * 1e8).rounded() / 100
                record["peak_mib"] = (Double(bytes) / Double(1 << 20) * 10).rounded() / 10
                record["parameters"] = parameters
                try printJSONLine(record)
                xs.append(Foundation.log2(Double(l)))
                perToken.append(seconds / Double(batch * l) * 1e6)
                peak.append(Double(bytes) / Double(1 << 20) / (Double(batch * l) / 1000))
            }
            time.line(xs: xs, ys: perToken, label: name)
            memory.line(xs: xs, ys: peak, label: name)
        }
        try time.writePNG(to: (out as NSString).appendingPathComponent("ssm-scaling-time.png"))
        try memory.writePNG(to: (out as NSString).appendingPathComponent("ssm-scaling-memory.png"))
        print("wrote \(out)/ssm-scaling-time.png and \(out)/ssm-scaling-memory.png")
    }

    /// (seconds per step, peak tensor bytes of a step, parameter count) of one model at one length.
    func measure(_ name: String, length l: Int, batch: Int) -> (Double, Int, Int) {
        var rng = SeededGenerator(seed: 0)
        let vocabulary = 16
        let tokens = Tensor((0..<(batch * (l + 1))).map { _ in Int32(rng.next() % UInt64(vocabulary)) }, shape: [batch, l + 1])
        let inputs = tokens.sliced(axis: 1, 0..<l), targets = tokens.sliced(axis: 1, 1..<(l + 1))
        func run<M: SequenceModel>(_ model: M) -> (Double, Int, Int) {
            var model = model, optimizer = Adam(learningRate: 1e-3)
            func step() {
                let g = gradient(at: model) { m in crossEntropy(logits: m(inputs), labels: targets) }
                optimizer.update(&model, along: g)
            }
            step()
            Runtime.resetPeakBytes()
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<steps { step() }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(steps)
            return (seconds, Runtime.peakBytes, model.parameterCount)
        }
        switch name {
        case "lstm": return run(RecurrentSequenceModel(.lstm, vocabularySize: vocabulary, width: 64, hiddenSize: 64, outputSize: vocabulary, using: &rng))
        case "transformer": return run(TransformerSequenceModel(vocabularySize: vocabulary, width: 48, layerCount: 1, headCount: 4, maxLength: l,
                                                                outputSize: vocabulary, using: &rng))
        case "s4d": return run(S4DSequenceModel(vocabularySize: vocabulary, width: 56, layerCount: 2, outputSize: vocabulary, using: &rng))
        default: return run(MambaSequenceModel(vocabularySize: vocabulary, width: 40, layerCount: 2, outputSize: vocabulary, using: &rng))
        }
    }
}
