#if canImport(Glibc)
import Glibc
#endif
import Dispatch
import FluxionKernelsAVX512

/// `fluxion bench peak`: the machine's fused multiply-add throughput, the ceiling that effective
/// GFLOP/s figures are quoted against. Twelve independent chains acc = acc·a + b per thread (more
/// than the FMA latency × pipes of any x86 core this project targets, so the pipes stay full),
/// on 256-bit vectors (AVX2 + FMA, every machine) and on 512-bit ones where the processor has
/// AVX-512; each thread of the pool runs its own chains at the same time.
package enum FMAPeak {
    /// One measurement: GFLOP/s of all threads together and per thread.
    package struct Figure {
        /// Bits per vector: 256 or 512.
        package var vectorBits: Int
        /// Float32 or Float64.
        package var double: Bool
        /// All threads together.
        package var total: Double
        /// `total` / threads.
        package var perThread: Double { total / Double(threads) }
        /// Threads that ran at once.
        package var threads: Int
    }

    /// Every figure this processor can run: (256, 512 where available) × (Float32, Float64), with
    /// `threads` threads at once, each timed for about `seconds`.
    package static func measure(threads: Int, seconds: Double) -> [Figure] {
        var widths = [256]
        if GemmCPU.hasAVX512 { widths.append(512) }
        var out = [Figure]()
        for bits in widths {
            for double in [false, true] {
                out.append(Figure(vectorBits: bits, double: double,
                                  total: time(bits: bits, double: double, threads: threads, seconds: seconds), threads: threads))
            }
        }
        return out
    }

    /// Flops of one round of `chains` on one thread.
    static func flopsPerRound(bits: Int, double: Bool) -> Double { Double(2 * 12 * bits / (double ? 64 : 32)) }

    /// Runs `rounds` rounds of chains of the given width and type; returns the chains' sum.
    package static func chains(bits: Int, double: Bool, rounds: Int) -> Double {
        #if arch(x86_64)
        if bits == 512 {
            return double ? fmaChains512Double(rounds, 0.999_999, 1e-7) : Double(fmaChains512Float(rounds, 0.999_99, 1e-6))
        }
        #endif
        return double ? fmaChains256Double(rounds, 0.999_999, 1e-7) : Double(fmaChains256Float(rounds, 0.999_99, 1e-6))
    }

    static func time(bits: Int, double: Bool, threads: Int, seconds: Double) -> Double {
        let pool = ThreadPool.shared
        let saved = pool.threadCount
        pool.threadCount = max(1, threads)
        defer { pool.threadCount = saved }
        // Calibrate: rounds for ~1/20 of the budget on one thread.
        var rounds = 1 << 16
        while true {
            let t0 = DispatchTime.now().uptimeNanoseconds
            sink += chains(bits: bits, double: double, rounds: rounds)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if dt > seconds / 20 || rounds > 1 << 34 { rounds = max(1, Int(Double(rounds) * (seconds / 10) / max(dt, 1e-9))); break }
            rounds *= 4
        }
        // Best of 5 parallel runs of ~seconds/10 each (every thread does `rounds`).
        var best = 0.0
        let n = max(1, threads)
        for _ in 0..<5 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            var sums = [Double](repeating: 0, count: n)
            sums.withUnsafeMutableBufferPointer { s in
                let base = s.baseAddress!
                pool.parallelFor(n) { i in base[i] = chains(bits: bits, double: double, rounds: rounds) }
            }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            sink += sums.reduce(0, +)
            best = max(best, Double(n) * Double(rounds) * flopsPerRound(bits: bits, double: double) / dt / 1e9)
        }
        return best
    }

    /// Keeps the chains' results alive.
    nonisolated(unsafe) static var sink = 0.0
}

/// The chains on SIMD8<Float> (AVX2 + FMA).
@inline(never)
func fmaChains256Float(_ iterations: Int, _ a: Float, _ b: Float) -> Float { fmaChains(SIMD8<Float>.self, iterations, a, b) }

/// The chains on SIMD4<Double> (AVX2 + FMA).
@inline(never)
func fmaChains256Double(_ iterations: Int, _ a: Double, _ b: Double) -> Double { fmaChains(SIMD4<Double>.self, iterations, a, b) }
