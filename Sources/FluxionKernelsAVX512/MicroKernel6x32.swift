// The AVX-512 micro-kernel for Float GEMM, in a module of its own: only this module is compiled for
// an AVX-512 target CPU (Package.swift NOTE(2)), and FluxionKernels calls it only after checking at
// run time that the processor has AVX-512 (GemmCPU in FluxionKernels). Nothing here runs otherwise.
//
// It computes a 6 x 32 tile from the ordinary packed operands (A in 6-row panels, B in 16-column
// panels): two adjacent B panels give 12 zmm accumulators, enough to keep two 512-bit FMA pipes
// busy, with 2 vector loads and 6 broadcasts per 12 FMAs.

#if arch(x86_64)
/// c[0..<mr, 0..<nr] = alpha·(A·[B₀ B₁]) + beta·c for mr ≤ 6, nr ≤ 32. A: kc x 6 (6 per step);
/// B₀, B₁: kc x 16 each (zero-padded panels). beta = 0 never reads c.
@inline(never)
package func sgemmMicroKernel6x32(_ kc: Int, _ a: UnsafePointer<Float>, _ b0: UnsafePointer<Float>, _ b1: UnsafePointer<Float>,
                                 _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ mr: Int, _ nr: Int,
                                 _ alpha: Float, _ beta: Float) {
    typealias V = SIMD16<Float>
    var c00 = V(), c01 = V(), c10 = V(), c11 = V(), c20 = V(), c21 = V()
    var c30 = V(), c31 = V(), c40 = V(), c41 = V(), c50 = V(), c51 = V()
    var ap = a
    var p0 = UnsafeRawPointer(b0), p1 = UnsafeRawPointer(b1)
    var p = 0
    while p < kc {
        let x0 = p0.loadUnaligned(as: V.self), x1 = p1.loadUnaligned(as: V.self)
        var av = V(repeating: ap[0])
        c00 = c00.addingProduct(av, x0); c01 = c01.addingProduct(av, x1)
        av = V(repeating: ap[1])
        c10 = c10.addingProduct(av, x0); c11 = c11.addingProduct(av, x1)
        av = V(repeating: ap[2])
        c20 = c20.addingProduct(av, x0); c21 = c21.addingProduct(av, x1)
        av = V(repeating: ap[3])
        c30 = c30.addingProduct(av, x0); c31 = c31.addingProduct(av, x1)
        av = V(repeating: ap[4])
        c40 = c40.addingProduct(av, x0); c41 = c41.addingProduct(av, x1)
        av = V(repeating: ap[5])
        c50 = c50.addingProduct(av, x0); c51 = c51.addingProduct(av, x1)
        ap += 6
        p0 += 64
        p1 += 64
        p += 1
    }
    @inline(__always) func put(_ v0: V, _ v1: V, _ i: Int) {
        let cr = UnsafeMutableRawPointer(c + i * ldc)
        if beta == 0 {
            cr.storeBytes(of: v0 * alpha, as: V.self)
            cr.storeBytes(of: v1 * alpha, toByteOffset: 64, as: V.self)
        } else {
            cr.storeBytes(of: (v0 * alpha).addingProduct(cr.loadUnaligned(as: V.self), beta), as: V.self)
            cr.storeBytes(of: (v1 * alpha).addingProduct(cr.loadUnaligned(fromByteOffset: 64, as: V.self), beta), toByteOffset: 64, as: V.self)
        }
    }
    if mr == 6 && nr == 32 {
        put(c00, c01, 0); put(c10, c11, 1); put(c20, c21, 2)
        put(c30, c31, 3); put(c40, c41, 4); put(c50, c51, 5)
        return
    }
    withUnsafeTemporaryAllocation(of: V.self, capacity: 12) { t in
        t[0] = c00; t[1] = c01; t[2] = c10; t[3] = c11; t[4] = c20; t[5] = c21
        t[6] = c30; t[7] = c31; t[8] = c40; t[9] = c41; t[10] = c50; t[11] = c51
        let s = UnsafeRawPointer(t.baseAddress!).assumingMemoryBound(to: Float.self)
        for i in 0..<mr {
            let cr = c + i * ldc, sr = s + 32 * i
            for j in 0..<nr { cr[j] = beta == 0 ? alpha * sr[j] : alpha * sr[j] + beta * cr[j] }
        }
    }
}
#endif
