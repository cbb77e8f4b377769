package enum GemmBenchmark {
    /// Times C = A*B on n x n Float32 (or Float64) matrices for about `seconds`, after warm-up,
    /// with the shared pool at `threads`; returns GFLOP/s (2*n^3 per product). The pool's previous
    /// thread count is restored afterwards.
    package static func run(n: Int, threads: Int, seconds: Double, double: Bool = false) -> Double {
        let pool = ThreadPool.shared
        let saved = pool.threadCount
        pool.threadCount = max(1, threads)
        defer { pool.threadCount = saved }
        return double ? time(Double.self, n, n, n, false, false, seconds) : time(Float.self, n, n, n, false, false, seconds)
    }

    /// The same for one Float32 shape C[m, n] = op(A)·op(B) with depth k (rectangular, transposes).
    package static func run(m: Int, n: Int, k: Int, transA: Bool = false, transB: Bool = false, threads: Int, seconds: Double) -> Double {
        let pool = ThreadPool.shared
        let saved = pool.threadCount
        pool.threadCount = max(1, threads)
        defer { pool.threadCount = saved }
        return time(Float.self, m, n, k, transA, transB, seconds)
    }

    private static func time<T: GemmScalar>(_: T.Type, _ m: Int, _ n: Int, _ k: Int, _ tA: Bool, _ tB: Bool, _ seconds: Double) -> Double {
        let count = max(m, n, k) * max(m, n, k)
        let a = UnsafeMutablePointer<T>.allocate(capacity: count)
        let b = UnsafeMutablePointer<T>.allocate(capacity: count)
        let c = UnsafeMutablePointer<T>.allocate(capacity: count)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        var seed: UInt64 = 0x9E3779B97F4A7C15
        for i in 0..<count {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            a[i] = T(Int(seed >> 40) - (1 << 23)) / T(1 << 23)
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            b[i] = T(Int(seed >> 40) - (1 << 23)) / T(1 << 23)
        }
        let step = {
            gemmDriver(transA: tA, transB: tB, m: m, n: n, k: k, alpha: T(1),
                       a: UnsafePointer(a), lda: tA ? m : k, b: UnsafePointer(b), ldb: tB ? k : n,
                       beta: T(0), c: c, ldc: n)
        }
        // Warm-up: at least 3 products and ~10% of the budget.
        let warmEnd = ThreadPool.nowNs() + Int(seconds * 0.1 * 1e9)
        var w = 0
        while w < 3 || ThreadPool.nowNs() < warmEnd { step(); w += 1 }
        let t0 = ThreadPool.nowNs()
        var iters = 0
        var elapsed = 0
        repeat {
            step()
            iters += 1
            elapsed = ThreadPool.nowNs() - t0
        } while Double(elapsed) < seconds * 1e9 || iters < 3
        return Double(iters) * 2 * Double(m) * Double(n) * Double(k) / Double(elapsed)
    }
}
