// The FMA chains of `fluxion bench peak` (FluxionKernels' FMAPeak). The generic body is inlinable so
// that each module compiles it for its own target CPU: FluxionKernels for AVX2 + FMA (SIMD8<Float>,
// SIMD4<Double>), this module for AVX-512 (SIMD16<Float>, SIMD8<Double>), called only after the
// run-time AVX-512 check (Package.swift NOTE(2)).

/// `iterations` rounds of 12 independent chains acc = acc·a + b on vectors `V` (2·lanes·12 flops a
/// round), started at 1…12; returns the sum of every lane so the work cannot be dropped.
@inlinable @inline(__always)
package func fmaChains<V: SIMD>(_: V.Type, _ iterations: Int, _ a: V.Scalar, _ b: V.Scalar) -> V.Scalar where V.Scalar: BinaryFloatingPoint {
    let va = V(repeating: a), vb = V(repeating: b)
    var c0 = V(repeating: 1), c1 = V(repeating: 2), c2 = V(repeating: 3), c3 = V(repeating: 4)
    var c4 = V(repeating: 5), c5 = V(repeating: 6), c6 = V(repeating: 7), c7 = V(repeating: 8)
    var c8 = V(repeating: 9), c9 = V(repeating: 10), c10 = V(repeating: 11), c11 = V(repeating: 12)
    for _ in 0..<iterations {
        c0 = vb.addingProduct(c0, va); c1 = vb.addingProduct(c1, va); c2 = vb.addingProduct(c2, va)
        c3 = vb.addingProduct(c3, va); c4 = vb.addingProduct(c4, va); c5 = vb.addingProduct(c5, va)
        c6 = vb.addingProduct(c6, va); c7 = vb.addingProduct(c7, va); c8 = vb.addingProduct(c8, va)
        c9 = vb.addingProduct(c9, va); c10 = vb.addingProduct(c10, va); c11 = vb.addingProduct(c11, va)
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
}

#if arch(x86_64)
/// The chains on SIMD16<Float> (AVX-512).
@inline(never)
package func fmaChains512Float(_ iterations: Int, _ a: Float, _ b: Float) -> Float { fmaChains(SIMD16<Float>.self, iterations, a, b) }

/// The chains on SIMD8<Double> (AVX-512).
@inline(never)
package func fmaChains512Double(_ iterations: Int, _ a: Double, _ b: Double) -> Double { fmaChains(SIMD8<Double>.self, iterations, a, b) }
#endif
