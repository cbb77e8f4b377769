// The AVX-512 half of `fluxion bench peak` (FluxionKernels' FMAPeak): dependent FMA chains on
// 512-bit vectors. Called only after the run-time AVX-512 check (Package.swift NOTE(2)).

#if arch(x86_64)
/// `iterations` rounds of 12 independent chains acc = acc·a + b on SIMD16<Float> (2·16·12 flops a
/// round); returns a sum of the accumulators so the work cannot be dropped.
@inline(never)
package func fmaChains512Float(_ iterations: Int, _ a: Float, _ b: Float) -> Float {
    typealias V = SIMD16<Float>
    let va = V(repeating: a), vb = V(repeating: b)
    var c0 = V(repeating: 1), c1 = V(repeating: 2), c2 = V(repeating: 3), c3 = V(repeating: 4)
    var c4 = V(repeating: 5), c5 = V(repeating: 6), c6 = V(repeating: 7), c7 = V(repeating: 8)
    var c8 = V(repeating: 9), c9 = V(repeating: 10), c10 = V(repeating: 11), c11 = V(repeating: 12)
    for _ in 0..<iterations {
        c0 = c0.addingProduct(va, vb); c1 = c1.addingProduct(va, vb); c2 = c2.addingProduct(va, vb)
        c3 = c3.addingProduct(va, vb); c4 = c4.addingProduct(va, vb); c5 = c5.addingProduct(va, vb)
        c6 = c6.addingProduct(va, vb); c7 = c7.addingProduct(va, vb); c8 = c8.addingProduct(va, vb)
        c9 = c9.addingProduct(va, vb); c10 = c10.addingProduct(va, vb); c11 = c11.addingProduct(va, vb)
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
}

/// The same on SIMD8<Double> (2·8·12 flops a round).
@inline(never)
package func fmaChains512Double(_ iterations: Int, _ a: Double, _ b: Double) -> Double {
    typealias V = SIMD8<Double>
    let va = V(repeating: a), vb = V(repeating: b)
    var c0 = V(repeating: 1), c1 = V(repeating: 2), c2 = V(repeating: 3), c3 = V(repeating: 4)
    var c4 = V(repeating: 5), c5 = V(repeating: 6), c6 = V(repeating: 7), c7 = V(repeating: 8)
    var c8 = V(repeating: 9), c9 = V(repeating: 10), c10 = V(repeating: 11), c11 = V(repeating: 12)
    for _ in 0..<iterations {
        c0 = c0.addingProduct(va, vb); c1 = c1.addingProduct(va, vb); c2 = c2.addingProduct(va, vb)
        c3 = c3.addingProduct(va, vb); c4 = c4.addingProduct(va, vb); c5 = c5.addingProduct(va, vb)
        c6 = c6.addingProduct(va, vb); c7 = c7.addingProduct(va, vb); c8 = c8.addingProduct(va, vb)
        c9 = c9.addingProduct(va, vb); c10 = c10.addingProduct(va, vb); c11 = c11.addingProduct(va, vb)
    }
    return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).sum()
}
#endif
