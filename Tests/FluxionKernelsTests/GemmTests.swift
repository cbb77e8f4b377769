import XCTest
import FluxionKernels

final class GemmTests: XCTestCase {
    private struct Rng {
        var s: UInt64
        mutating func next() -> Double {
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return Double(Int(s >> 40) - (1 << 23)) / Double(1 << 23)
        }
    }

    /// Checks gemm<T> against a Double reference for one configuration.
    private func check<T: BinaryFloatingPoint>(
        _: T.Type, transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
        alpha: Double = 1, beta: Double = 0, pad: Int = 0, nanC: Bool = false,
        file: StaticString = #filePath, line: UInt = #line,
        call: (Bool, Bool, Int, Int, Int, T, UnsafePointer<T>, Int, UnsafePointer<T>, Int, T,
               UnsafeMutablePointer<T>, Int) -> Void
    ) {
        var rng = Rng(s: UInt64(m * 7919 + n * 104729 + k * 31 + (transA ? 1 : 0) + (transB ? 2 : 0)))
        let aRows = transA ? k : m, aCols = transA ? m : k
        let bRows = transB ? n : k, bCols = transB ? k : n
        let lda = aCols + pad, ldb = bCols + pad, ldc = n + pad
        var a = [T](repeating: 0, count: max(1, aRows * lda))
        var b = [T](repeating: 0, count: max(1, bRows * ldb))
        var c = [T](repeating: 0, count: max(1, m * ldc))
        for i in 0..<a.count { a[i] = T(rng.next()) }
        for i in 0..<b.count { b[i] = T(rng.next()) }
        for i in 0..<c.count { c[i] = nanC ? T.nan : T(rng.next()) }
        let c0 = c
        a.withUnsafeBufferPointer { ap in
            b.withUnsafeBufferPointer { bp in
                c.withUnsafeMutableBufferPointer { cp in
                    call(transA, transB, m, n, k, T(alpha), ap.baseAddress!, lda, bp.baseAddress!, ldb,
                         T(beta), cp.baseAddress!, ldc)
                }
            }
        }
        let tol = (T.self == Float.self ? 2e-5 : 1e-12) * Double(max(k, 1))
        var worst = 0.0
        var paddingTouched = false
        a.withUnsafeBufferPointer { a in
        b.withUnsafeBufferPointer { b in
        c.withUnsafeBufferPointer { c in
        c0.withUnsafeBufferPointer { c0 in
            for i in 0..<m {
                for j in 0..<n {
                    var s = 0.0
                    for p in 0..<k {
                        let av = Double(transA ? a[p * lda + i] : a[i * lda + p])
                        let bv = Double(transB ? b[j * ldb + p] : b[p * ldb + j])
                        s += av * bv
                    }
                    var expect = alpha * s
                    if beta != 0 { expect += beta * Double(c0[i * ldc + j]) }
                    let got = Double(c[i * ldc + j])
                    let err = abs(got - expect) / (1 + abs(expect))
                    if !(err <= tol) { worst = max(worst, err.isNaN ? .infinity : err) }
                }
                // Padding columns must be untouched.
                for j in n..<ldc where !nanC && c[i * ldc + j] != c0[i * ldc + j] { paddingTouched = true }
            }
        }}}}
        XCTAssertFalse(paddingTouched, "padding modified", file: file, line: line)
        XCTAssertEqual(worst, 0, "\(T.self) tA=\(transA) tB=\(transB) m=\(m) n=\(n) k=\(k) a=\(alpha) b=\(beta)",
                       file: file, line: line)
    }

    private func checkBoth(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double = 1,
                           beta: Double = 0, pad: Int = 0, nanC: Bool = false,
                           file: StaticString = #filePath, line: UInt = #line) {
        check(Float.self, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
              pad: pad, nanC: nanC, file: file, line: line) {
            gemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9,
                 beta: $10, c: $11, ldc: $12)
        }
        check(Double.self, transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
              pad: pad, nanC: nanC, file: file, line: line) {
            gemm(transA: $0, transB: $1, m: $2, n: $3, k: $4, alpha: $5, a: $6, lda: $7, b: $8, ldb: $9,
                 beta: $10, c: $11, ldc: $12)
        }
    }

    private static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 37, 19), (3, 5, 7), (4, 33, 65), (5, 17, 3), (7, 16, 16), (8, 8, 8),
        (13, 31, 29), (6, 16, 256), (64, 64, 64), (50, 70, 90), (200, 3, 100), (2, 300, 200),
        (8, 4100, 8), (1600, 20, 10),
        // Large enough (m*n*k >= 128^3) for the threaded paths: wide, narrow (k > KC), rows > 1536
        // (several row chunks) and few-rows column split.
        (97, 130, 170), (100, 97, 220), (1600, 40, 34), (3, 700, 1020),
        // deep and small (tiles with their own depth loop when threaded)
        (60, 70, 800), (37, 130, 1024),
    ]

    private func allShapes(threads: Int, onlyLarge: Bool = false) {
        let pool = ThreadPool.shared
        let saved = pool.threadCount
        pool.threadCount = threads
        defer { pool.threadCount = saved }
        for (m, n, k) in Self.shapes where !onlyLarge || m * n * k >= 128 * 128 * 128 {
            for tA in [false, true] {
                for tB in [false, true] {
                    checkBoth(transA: tA, transB: tB, m: m, n: n, k: k)
                }
            }
        }
    }

    func testAllTransposesOneThread() { allShapes(threads: 1) }
    func testAllTransposesTwoThreads() { allShapes(threads: 2, onlyLarge: true) }
    func testAllTransposesFourThreads() { allShapes(threads: 4, onlyLarge: true) }

    func testAlphaBetaAndPadding() {
        for tA in [false, true] {
            for tB in [false, true] {
                for (m, n, k) in [(3, 9, 4), (37, 45, 53), (70, 100, 290), (2, 200, 150)] {
                    checkBoth(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 0.5, beta: -1.5, pad: 3)
                    checkBoth(transA: tA, transB: tB, m: m, n: n, k: k, alpha: -2, beta: 1, pad: 0)
                    checkBoth(transA: tA, transB: tB, m: m, n: n, k: k, alpha: 1, beta: 0, pad: 5, nanC: true)
                }
            }
        }
    }

    /// The AVX2 micro-kernel where the processor has AVX-512 (the tests above then run the AVX-512
    /// kernel; elsewhere they run the AVX2 one and this test repeats them).
    func testAVX2KernelOnAVX512Processors() {
        let saved = GemmCPU.useAVX512
        defer { GemmCPU.useAVX512 = saved }
        GemmCPU.useAVX512 = false
        allShapes(threads: 1)
        for (m, n, k) in [(37, 45, 53), (70, 100, 290)] {
            checkBoth(transA: false, transB: true, m: m, n: n, k: k, alpha: 0.5, beta: -1.5, pad: 3)
            checkBoth(transA: true, transB: false, m: m, n: n, k: k, alpha: 1, beta: 0, pad: 5, nanC: true)
        }
    }

    /// C = AᵀB with m ≥ 2n and a deep k, and n just above a kernel-width multiple with many rows,
    /// run as Cᵀ = op(B)ᵀ·op(A)ᵀ plus a transpose.
    func testTransposedAWideOutputRunsSwapped() {
        let saved = ThreadPool.shared.threadCount
        defer { ThreadPool.shared.threadCount = saved }
        for threads in [1, 2] {
            ThreadPool.shared.threadCount = threads
            for (m, n, k) in [(96, 20, 300), (1030, 64, 260), (67, 33, 256)] {
                checkBoth(transA: true, transB: false, m: m, n: n, k: k, alpha: 0.5, beta: -1.5, pad: 3)
                checkBoth(transA: true, transB: false, m: m, n: n, k: k, alpha: 1, beta: 0, pad: 0, nanC: true)
            }
            // n just above a multiple of the kernel width, many rows: every transpose combination.
            for tA in [false, true] {
                for tB in [false, true] {
                    checkBoth(transA: tA, transB: tB, m: 700, n: 65, k: 70, alpha: 0.5, beta: -1.5, pad: 2)
                    checkBoth(transA: tA, transB: tB, m: 531, n: 17, k: 64, alpha: 1, beta: 0, pad: 0, nanC: true)
                }
            }
        }
    }

    func testZeroDepthScalesC() {
        for (m, n) in [(3, 4), (70, 90)] {
            checkBoth(transA: false, transB: false, m: m, n: n, k: 0, alpha: 1, beta: 2)
            checkBoth(transA: true, transB: true, m: m, n: n, k: 0, alpha: 1, beta: 0, nanC: true)
        }
        // alpha == 0 also just scales C.
        checkBoth(transA: false, transB: true, m: 20, n: 30, k: 40, alpha: 0, beta: 0.5)
    }

    func testEmptyOutputIsNoOp() {
        var c: [Float] = [1, 2]
        let a: [Float] = [1], b: [Float] = [1]
        gemm(transA: false, transB: false, m: 0, n: 2, k: 1, alpha: 1, a: a, lda: 1, b: b, ldb: 2,
             beta: 0, c: &c, ldc: 2)
        XCTAssertEqual(c, [1, 2])
    }

    func testConcurrentCallers() {
        // gemm may be called from several threads at once (pool busy -> serial fallback).
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            self.checkBoth(transA: false, transB: false, m: 100, n: 100, k: 100)
        }
    }
}
