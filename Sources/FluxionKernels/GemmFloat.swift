// Float32 GEMM: public entry point and the 6x16 AVX2/FMA micro-kernel
// (12 SIMD8<Float> accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm registers).

/// C = alpha * op(A) * op(B) + beta * C ; op(A) is m x k, op(B) is k x n, row-major with leading dimensions.
/// transA: A is stored k x m (lda >= m) and used transposed. Same for B (stored n x k when transB).
/// beta == 0 ignores (does not read) C's previous contents.
/// Safe to call concurrently from several threads.
package func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    gemmDriver(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

extension Float: GemmScalar {
    typealias Vector = SIMD8<Float>
    @inline(__always) static var mr: Int { 6 }
    @inline(__always) static var nr: Int { 16 }
    @inline(__always) static var kcBlock: Int { 256 }
    @inline(__always) static var mcBlock: Int { 96 }
    @inline(__always) static var ncBlock: Int { 4096 }

    /// dst[p * ldd + j] = src[j * lds + p] for an 8 x 8 block (3 rounds of even/odd unshuffles).
    @inline(__always)
    static func transposeBlock(_ src: UnsafePointer<Float>, _ lds: Int,
                               _ dst: UnsafeMutablePointer<Float>, _ ldd: Int) {
        typealias V = SIMD8<Float>
        @inline(__always) func ld(_ j: Int) -> V { UnsafeRawPointer(src + j * lds).loadUnaligned(as: V.self) }
        var v0 = ld(0), v1 = ld(1), v2 = ld(2), v3 = ld(3), v4 = ld(4), v5 = ld(5), v6 = ld(6), v7 = ld(7)
        for _ in 0..<3 {
            let n0 = V(lowHalf: v0.evenHalf, highHalf: v1.evenHalf), n4 = V(lowHalf: v0.oddHalf, highHalf: v1.oddHalf)
            let n1 = V(lowHalf: v2.evenHalf, highHalf: v3.evenHalf), n5 = V(lowHalf: v2.oddHalf, highHalf: v3.oddHalf)
            let n2 = V(lowHalf: v4.evenHalf, highHalf: v5.evenHalf), n6 = V(lowHalf: v4.oddHalf, highHalf: v5.oddHalf)
            let n3 = V(lowHalf: v6.evenHalf, highHalf: v7.evenHalf), n7 = V(lowHalf: v6.oddHalf, highHalf: v7.oddHalf)
            v0 = n0; v1 = n1; v2 = n2; v3 = n3; v4 = n4; v5 = n5; v6 = n6; v7 = n7
        }
        let d = UnsafeMutableRawPointer(dst), rs = ldd * 4
        d.storeBytes(of: v0, as: V.self); d.storeBytes(of: v1, toByteOffset: rs, as: V.self)
        d.storeBytes(of: v2, toByteOffset: 2 * rs, as: V.self); d.storeBytes(of: v3, toByteOffset: 3 * rs, as: V.self)
        d.storeBytes(of: v4, toByteOffset: 4 * rs, as: V.self); d.storeBytes(of: v5, toByteOffset: 5 * rs, as: V.self)
        d.storeBytes(of: v6, toByteOffset: 6 * rs, as: V.self); d.storeBytes(of: v7, toByteOffset: 7 * rs, as: V.self)
    }

    /// 6x16 tile: c[0..<mr, 0..<nr] = alpha * (Ap * Bp) + beta * c. Ap: kc x 6 (6 per step),
    /// Bp: kc x 16 (16 per step), both zero-padded.
    @inline(never)
    static func microKernel(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int,
                            _ alpha: Float, _ beta: Float) {
        var c00 = SIMD8<Float>(), c01 = SIMD8<Float>()
        var c10 = SIMD8<Float>(), c11 = SIMD8<Float>()
        var c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
        var c30 = SIMD8<Float>(), c31 = SIMD8<Float>()
        var c40 = SIMD8<Float>(), c41 = SIMD8<Float>()
        var c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
        var ap = a
        var bp = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let b0 = bp.loadUnaligned(as: SIMD8<Float>.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
            var av = SIMD8<Float>(repeating: ap[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[4])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = SIMD8<Float>(repeating: ap[5])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            ap += 6
            bp += 64
            p += 1
        }
        if mr == 6 && nr == 16 {
            let cr = UnsafeMutableRawPointer(c)
            let rs = ldc * 4
            if beta == 0 {
                cr.storeBytes(of: c00 * alpha, as: SIMD8<Float>.self)
                cr.storeBytes(of: c01 * alpha, toByteOffset: 32, as: SIMD8<Float>.self)
                cr.storeBytes(of: c10 * alpha, toByteOffset: rs, as: SIMD8<Float>.self)
                cr.storeBytes(of: c11 * alpha, toByteOffset: rs + 32, as: SIMD8<Float>.self)
                cr.storeBytes(of: c20 * alpha, toByteOffset: 2 * rs, as: SIMD8<Float>.self)
                cr.storeBytes(of: c21 * alpha, toByteOffset: 2 * rs + 32, as: SIMD8<Float>.self)
                cr.storeBytes(of: c30 * alpha, toByteOffset: 3 * rs, as: SIMD8<Float>.self)
                cr.storeBytes(of: c31 * alpha, toByteOffset: 3 * rs + 32, as: SIMD8<Float>.self)
                cr.storeBytes(of: c40 * alpha, toByteOffset: 4 * rs, as: SIMD8<Float>.self)
                cr.storeBytes(of: c41 * alpha, toByteOffset: 4 * rs + 32, as: SIMD8<Float>.self)
                cr.storeBytes(of: c50 * alpha, toByteOffset: 5 * rs, as: SIMD8<Float>.self)
                cr.storeBytes(of: c51 * alpha, toByteOffset: 5 * rs + 32, as: SIMD8<Float>.self)
            } else {
                @inline(__always) func upd(_ v: SIMD8<Float>, _ off: Int) {
                    let old = cr.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
                    cr.storeBytes(of: (v * alpha).addingProduct(old, beta), toByteOffset: off,
                                  as: SIMD8<Float>.self)
                }
                upd(c00, 0); upd(c01, 32)
                upd(c10, rs); upd(c11, rs + 32)
                upd(c20, 2 * rs); upd(c21, 2 * rs + 32)
                upd(c30, 3 * rs); upd(c31, 3 * rs + 32)
                upd(c40, 4 * rs); upd(c41, 4 * rs + 32)
                upd(c50, 5 * rs); upd(c51, 5 * rs + 32)
            }
            return
        }
        withUnsafeTemporaryAllocation(of: SIMD8<Float>.self, capacity: 12) { t in
            t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21
            t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51
            let s = UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self)
            storeEdge(s, 16, c, ldc, mr, nr, alpha, beta)
        }
    }
}
