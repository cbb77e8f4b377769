// Row helpers of the normalisation and loss kernels (FluxionCore's layerNorm and
// softmaxCrossEntropy): unaligned 8-lane loads and stores, a row's sum and its log-sum-exp.
// @inlinable, so that FluxionCore specialises them for Float and Double.

@inlinable @inline(__always)
package func load8<T: KernelFloat>(_ p: UnsafePointer<T>) -> SIMD8<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self) }
@inlinable @inline(__always)
package func load8<T: KernelFloat>(_ p: UnsafeMutablePointer<T>) -> SIMD8<T> { UnsafeRawPointer(p).loadUnaligned(as: SIMD8<T>.self) }
@inlinable @inline(__always)
package func store8<T: KernelFloat>(_ v: SIMD8<T>, _ p: UnsafeMutablePointer<T>) { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<T>.self) }

@inlinable @inline(__always)
package func rowSum<T: KernelFloat>(_ p: UnsafePointer<T>, _ n: Int) -> T {
    var acc = SIMD8<T>(), j = 0
    while j + 8 <= n { acc += load8(p + j); j += 8 }
    var total = acc.sum()
    while j < n { total += p[j]; j += 1 }
    return total
}

/// log Σ exp over one row of n values (maximum subtracted; −∞ for an all −∞ row).
@inlinable @inline(__always)
package func rowLogSumExp<T: KernelFloat>(_ p: UnsafePointer<T>, _ n: Int) -> T {
    var m = -T.infinity
    for j in 0..<n { m = Swift.max(m, p[j]) }
    if m == -T.infinity || !m.isFinite { return m }
    var total: T = 0
    if T.self == Float.self {
        let f = UnsafeRawPointer(p).assumingMemoryBound(to: Float.self)
        let mf = Float(m)
        var acc = Float8(), j = 0
        while j + 8 <= n { acc += exp8(UnsafeRawPointer(f + j).loadUnaligned(as: Float8.self) - mf); j += 8 }
        var t = acc.sum()
        while j < n { t += Float.exp(f[j] - mf); j += 1 }
        total = T(Double(t))
    } else {
        for j in 0..<n { total += T.exp(p[j] - m) }
    }
    return m + T.log(total)
}
