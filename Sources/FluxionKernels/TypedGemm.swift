// The GEMM for either float type, callable from the generic kernels (and FluxionCore) with
// the element type still generic.

/// The GEMM of FluxionKernels for either float type (α = 1).
@inlinable @inline(__always)
package func gemmTyped<T: KernelFloat>(_ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<T>, _ lda: Int,
                                       _ b: UnsafePointer<T>, _ ldb: Int, _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    if T.self == Float.self {
        gemmEntry(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: UnsafeRawPointer(a).assumingMemoryBound(to: Float.self), lda: lda,
                  b: UnsafeRawPointer(b).assumingMemoryBound(to: Float.self), ldb: ldb, beta: Float(beta),
                  c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self), ldc: ldc)
    } else {
        gemmEntry(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: UnsafeRawPointer(a).assumingMemoryBound(to: Double.self), lda: lda,
                  b: UnsafeRawPointer(b).assumingMemoryBound(to: Double.self), ldb: ldb, beta: Double(beta),
                  c: UnsafeMutableRawPointer(c).assumingMemoryBound(to: Double.self), ldc: ldc)
    }
}

/// `gemm` for @inlinable callers (`gemmTyped`, specialised in other modules), which cannot name
/// `gemm` itself (it is not @usableFromInline).
@usableFromInline func gemmEntry(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}

@usableFromInline func gemmEntry(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Double,
                                 a: UnsafePointer<Double>, lda: Int, b: UnsafePointer<Double>, ldb: Int,
                                 beta: Double, c: UnsafeMutablePointer<Double>, ldc: Int) {
    gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
}
