import Fluxion
import FluxionKernels
import Foundation

/// `fluxion bench checkpoint`: a chain of 100 blocks tanh(x·W + b) of width 512 on a batch of 256,
/// differentiated with plain backpropagation and with ⌈√n⌉-segment checkpointing. Prints peak
/// activation memory (peak live tensor bytes above the start, less the parameter gradients both
/// runs return) and time per gradient for each, and their ratios.
enum CheckpointBenchmark {
    struct Block: ParameterTree {
        var weight: Tensor
        var bias: Tensor
        mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
            body(Self.join(prefix, "weight"), &weight)
            body(Self.join(prefix, "bias"), &bias)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { Tensor.linear(x, weight: weight, bias: bias).tanh() }
    }

    static func run(seconds: Double, blocks n: Int = 100, width: Int = 512, batch: Int = 256) -> [String: Any] {
        var rng = SeededGenerator(seed: 0)
        let blocks = (0..<n).map { _ in
            Block(weight: Tensor.randomNormal(shape: [width, width], standardDeviation: 1 / Double(width).squareRoot(), using: &rng),
                  bias: Tensor.zeros(shape: [width]))
        }
        let x = Tensor.randomNormal(shape: [batch, width], using: &rng)
        let gradientBytes = blocks.parameterCount * 4
        func measure(_ f: @escaping ([Block]) -> Tensor) -> (peak: Int, seconds: Double) {
            _ = gradient(at: blocks, of: f)  // warm-up (buffer cache)
            let base = MemoryAccounting.liveBytes
            MemoryAccounting.resetPeak()
            _ = gradient(at: blocks, of: f)
            let peak = MemoryAccounting.peakBytes - base - gradientBytes
            var best = Double.infinity, total = 0.0
            while total < seconds / 2 {
                let start = DispatchTime.now().uptimeNanoseconds
                _ = gradient(at: blocks, of: f)
                let dt = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                best = Swift.min(best, dt)
                total += dt
            }
            return (peak, best)
        }
        let plain = measure { bs in bs.reduce(x) { $1($0) }.sum() }
        let checkpointed = measure { bs in checkpointedSequence(bs, x) { $0($1) }.sum() }
        let mb = { (b: Int) in (Double(b) / 1_048_576 * 10).rounded() / 10 }
        return ["blocks": n, "width": width, "batch": batch,
                "plain_peak_mib": mb(plain.peak), "checkpoint_peak_mib": mb(checkpointed.peak),
                "plain_seconds": (plain.seconds * 1e4).rounded() / 1e4, "checkpoint_seconds": (checkpointed.seconds * 1e4).rounded() / 1e4,
                "memory_ratio": (Double(checkpointed.peak) / Double(plain.peak) * 1000).rounded() / 1000,
                "time_ratio": (checkpointed.seconds / plain.seconds * 1000).rounded() / 1000]
    }
}
