import XCTest
@testable import FluxionKernels

/// The pre-packed-B product against the ordinary GEMM, for both B layouts, odd sizes and β.
final class GemmPackedTests: XCTestCase {
    func testMatchesGemm() {
        var seed: UInt64 = 1
        func rand() -> Float { seed = seed &* 6364136223846793005 &+ 1442695040888963407; return Float(Int(seed >> 40) % 2001 - 1000) / 1000 }
        for (m, n, k) in [(32, 1024, 256), (7, 50, 300), (1, 17, 9), (40, 33, 600)] {
            for transB in [false, true] {
                for transA in [false, true] {
                    let a = (0..<(m * k)).map { _ in rand() }, b = (0..<(k * n)).map { _ in rand() }
                    let c0 = (0..<(m * n)).map { _ in rand() }
                    var expected = c0, got = c0
                    let (lda, ldb) = (transA ? m : k, transB ? k : n)
                    gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: 1, a: a, lda: lda, b: b, ldb: ldb, beta: 0.5, c: &expected, ldc: n)
                    let packed = PackedGemmB(b: b, ldb: ldb, transB: transB, k: k, n: n)
                    for threads in [1, 2] {
                        ThreadPool.shared.threadCount = threads
                        got = c0
                        gemm(m: m, a: a, lda: lda, transA: transA, packedB: packed, beta: 0.5, c: &got, ldc: n)
                        for i in 0..<(m * n) where abs(got[i] - expected[i]) > 1e-3 * max(1, abs(expected[i])) {
                            XCTFail("m \(m) n \(n) k \(k) transA \(transA) transB \(transB) threads \(threads): \(got[i]) vs \(expected[i]) at \(i)")
                            break
                        }
                    }
                    ThreadPool.shared.threadCount = ThreadPool.defaultThreadCount()
                }
            }
        }
    }
}
