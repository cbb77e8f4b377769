// Float64 GEMM: public entry point and the 6x8 AVX2/FMA micro-kernel
// (12 SIMD4<Double> accumulators + 2 B vectors + 1 broadcast = 15 of 16 ymm registers).

/// C = alpha * op(A) * op(B) + beta * C ; see the Float overload.
package func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                 a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                 beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
    gemmDriver(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
               a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

extension Double: GemmScalar {
    typealias Vector = SIMD4<Double>
    @inline(__always) static var mr: Int { 6 }
    @inline(__always) static var nr: Int { 8 }
    @inline(__always) static var kcBlock: Int { 256 }
    @inline(__always) static var mcBlock: Int { 96 }
    @inline(__always) static var ncBlock: Int { 4096 }

    /// dst[p * ldd + j] = src[j * lds + p] for a 4 x 4 block.
    @inline(__always)
    static func transposeBlock(_ src: UnsafePointer<Double>, _ lds: Int,
                               _ dst: UnsafeMutablePointer<Double>, _ ldd: Int) {
        typealias V = SIMD4<Double>
        @inline(__always) func ld(_ j: Int) -> V { UnsafeRawPointer(src + j * lds).loadUnaligned(as: V.self) }
        var v0 = ld(0), v1 = ld(1), v2 = ld(2), v3 = ld(3)
        for _ in 0..<2 {
            let n0 = V(lowHalf: v0.evenHalf, highHalf: v1.evenHalf), n2 = V(lowHalf: v0.oddHalf, highHalf: v1.oddHalf)
            let n1 = V(lowHalf: v2.evenHalf, highHalf: v3.evenHalf), n3 = V(lowHalf: v2.oddHalf, highHalf: v3.oddHalf)
            v0 = n0; v1 = n1; v2 = n2; v3 = n3
        }
        let d = UnsafeMutableRawPointer(dst), rs = ldd * 8
        d.storeBytes(of: v0, as: V.self); d.storeBytes(of: v1, toByteOffset: rs, as: V.self)
        d.storeBytes(of: v2, toByteOffset: 2 * rs, as: V.self); d.storeBytes(of: v3, toByteOffset: 3 * rs, as: V.self)
    }

    @inline(never)
    static func microKernel(_ kc: Int, _ a: UnsafePointer<Double>, _ b: UnsafePointer<Double>,
                            _ c: UnsafeMutablePointer<Double>, _ ldc: Int, _ mr: Int, _ nr: Int,
                            _ alpha: Double, _ beta: Double) {
        typealias V = SIMD4<Double>
        var c00 = V(), c01 = V()
        var c10 = V(), c11 = V()
        var c20 = V(), c21 = V()
        var c30 = V(), c31 = V()
        var c40 = V(), c41 = V()
        var c50 = V(), c51 = V()
        var ap = a
        var bp = UnsafeRawPointer(b)
        var p = 0
        while p < kc {
            let b0 = bp.loadUnaligned(as: V.self)
            let b1 = bp.loadUnaligned(fromByteOffset: 32, as: V.self)
            var av = V(repeating: ap[0])
            c00 = c00.addingProduct(av, b0); c01 = c01.addingProduct(av, b1)
            av = V(repeating: ap[1])
            c10 = c10.addingProduct(av, b0); c11 = c11.addingProduct(av, b1)
            av = V(repeating: ap[2])
            c20 = c20.addingProduct(av, b0); c21 = c21.addingProduct(av, b1)
            av = V(repeating: ap[3])
            c30 = c30.addingProduct(av, b0); c31 = c31.addingProduct(av, b1)
            av = V(repeating: ap[4])
            c40 = c40.addingProduct(av, b0); c41 = c41.addingProduct(av, b1)
            av = V(repeating: ap[5])
            c50 = c50.addingProduct(av, b0); c51 = c51.addingProduct(av, b1)
            ap += 6
            bp += 64
            p += 1
        }
        if mr == 6 && nr == 8 {
            let cr = UnsafeMutableRawPointer(c)
            let rs = ldc * 8
            if beta == 0 {
                cr.storeBytes(of: c00 * alpha, as: V.self)
                cr.storeBytes(of: c01 * alpha, toByteOffset: 32, as: V.self)
                cr.storeBytes(of: c10 * alpha, toByteOffset: rs, as: V.self)
                cr.storeBytes(of: c11 * alpha, toByteOffset: rs + 32, as: V.self)
                cr.storeBytes(of: c20 * alpha, toByteOffset: 2 * rs, as: V.self)
                cr.storeBytes(of: c21 * alpha, toByteOffset: 2 * rs + 32, as: V.self)
                cr.storeBytes(of: c30 * alpha, toByteOffset: 3 * rs, as: V.self)
                cr.storeBytes(of: c31 * alpha, toByteOffset: 3 * rs + 32, as: V.self)
                cr.storeBytes(of: c40 * alpha, toByteOffset: 4 * rs, as: V.self)
                cr.storeBytes(of: c41 * alpha, toByteOffset: 4 * rs + 32, as: V.self)
                cr.storeBytes(of: c50 * alpha, toByteOffset: 5 * rs, as: V.self)
                cr.storeBytes(of: c51 * alpha, toByteOffset: 5 * rs + 32, as: V.self)
            } else {
                @inline(__always) func upd(_ v: V, _ off: Int) {
                    let old = cr.loadUnaligned(fromByteOffset: off, as: V.self)
                    cr.storeBytes(of: (v * alpha).addingProduct(old, beta), toByteOffset: off, as: V.self)
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
        withUnsafeTemporaryAllocation(of: V.self, capacity: 12) { t in
            t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21
            t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51
            let s = UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Double.self)
            storeEdge(s, 8, c, ldc, mr, nr, alpha, beta)
        }
    }
}
