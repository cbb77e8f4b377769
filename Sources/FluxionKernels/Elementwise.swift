// Generic elementwise kernels, specialised for Float and Double at their call sites. Large
// contiguous loops are split across the thread pool; the inner loops are plain pointer loops that
// the compiler vectorises (with the x86-64-v3 target flag) when the operation allows it.
// (FluxionCore's `Tensor.mapRaw`, `zipRaw` and `mapVectorized` call them.) They are @inlinable so
// that FluxionCore specialises them for Float and Double, as it did when they lived there.

/// Elements per task below which a loop stays on the calling thread.
@usableFromInline package let parallelGrain = 1 << 16

/// Rows split into one block per thread (at least `minRows` each), for kernels whose threads
/// each take their rows through a whole computation without meeting in between (the fused MLP,
/// the LSTM recurrence).
@usableFromInline package struct RowBlocks {
    @usableFromInline package let rows: Int
    @usableFromInline package let count: Int

    @inlinable package init(rows: Int, minRows: Int) {
        self.rows = rows
        count = Swift.max(1, Swift.min(ThreadPool.shared.threadCount, rows / Swift.max(minRows, 1)))
    }

    @inlinable package func range(_ p: Int) -> Range<Int> { (p * rows / count)..<((p + 1) * rows / count) }
    /// The most rows in one block.
    @inlinable package var maxRows: Int { (rows + count - 1) / count }

    /// Runs `body(p)` for every block; a single block runs on the calling thread, so that the
    /// GEMMs inside may use the pool themselves.
    @inlinable package func forEach(_ body: (Int) -> Void) {
        if count == 1 { body(0) } else { ThreadPool.shared.parallelFor(count, body) }
    }
}

/// Runs `body(start, end)` over `0..<count`, split across threads when `count` is large.
@inlinable @inline(__always)
package func parallelRanges(_ count: Int, grain: Int = parallelGrain, _ body: (Int, Int) -> Void) {
    let pool = ThreadPool.shared
    let threads = pool.threadCount
    if threads <= 1 || count < 2 * grain {
        body(0, count)
        return
    }
    let chunks = min(threads * 4, (count + grain - 1) / grain)
    let size = (count + chunks - 1) / chunks
    pool.parallelFor(chunks) { c in
        let s = c * size
        let e = min(count, s + size)
        if s < e { body(s, e) }
    }
}

@inlinable @inline(__always)
package func mapKernel<T: KernelFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ op: (T) -> T) {
    parallelRanges(n) { s, e in
        for i in s..<e { y[i] = op(x[i]) }
    }
}

/// Strides (in elements) of a contiguous row-major tensor of this shape.
@inlinable
package func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var s = 1
    for i in stride(from: shape.count - 1, through: 0, by: -1) {
        strides[i] = s
        s *= shape[i]
    }
    return strides
}

/// Broadcast strides of `shape` against `outShape` (right-aligned; 0 on broadcast axes).
@inlinable
package func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let strides = contiguousStrides(shape)
    let offset = outShape.count - shape.count
    return (0..<outShape.count).map { i in
        i < offset ? 0 : (shape[i - offset] == 1 ? 0 : strides[i - offset])
    }
}

/// Iterates an output of `shape` with two strided inputs; `inner(aOffset, aStride, bOffset, bStride, outOffset, n)`
/// handles each innermost row (of those in `rows`, all by default).
@inlinable @inline(__always)
package func forEachRow(_ shape: [Int], _ sa: [Int], _ sb: [Int], rows range: Range<Int>? = nil,
                        _ inner: (Int, Int, Int, Int, Int, Int) -> Void) {
    let rank = shape.count
    if rank == 0 { inner(0, 0, 0, 0, 0, 1); return }
    let n = shape[rank - 1]
    let rows = shape.dropLast().reduce(1, *)
    if rows == 0 || n == 0 { return }
    let range = range ?? 0..<rows
    // The odometer starts at the first row of the range.
    var index = [Int](repeating: 0, count: max(rank - 1, 1))
    var ao = 0, bo = 0
    var rest = range.lowerBound
    for d in stride(from: rank - 2, through: 0, by: -1) {
        index[d] = rest % shape[d]
        rest /= shape[d]
        ao += index[d] * sa[d]; bo += index[d] * sb[d]
    }
    for r in range {
        inner(ao, sa[rank - 1], bo, sb[rank - 1], r * n, n)
        // odometer over the outer axes
        var d = rank - 2
        while d >= 0 {
            index[d] += 1
            ao += sa[d]; bo += sb[d]
            if index[d] < shape[d] { break }
            ao -= sa[d] * shape[d]; bo -= sb[d] * shape[d]
            index[d] = 0
            d -= 1
        }
    }
}

@inlinable @inline(__always)
package func zipKernel<T: KernelFloat>(_ a: UnsafePointer<T>, _ aShape: [Int], _ b: UnsafePointer<T>, _ bShape: [Int],
                                       _ y: UnsafeMutablePointer<T>, _ shape: [Int], _ op: (T, T) -> T) {
    let n = shape.reduce(1, *)
    if aShape == bShape {
        parallelRanges(n) { s, e in for i in s..<e { y[i] = op(a[i], b[i]) } }
    } else if bShape.reduce(1, *) == 1 && aShape == shape {
        let bv = b[0]
        parallelRanges(n) { s, e in for i in s..<e { y[i] = op(a[i], bv) } }
    } else if aShape.reduce(1, *) == 1 && bShape == shape {
        let av = a[0]
        parallelRanges(n) { s, e in for i in s..<e { y[i] = op(av, b[i]) } }
    } else {
        let sa = broadcastStrides(aShape, to: shape)
        let sb = broadcastStrides(bShape, to: shape)
        forEachRow(shape, sa, sb) { ao, ast, bo, bst, yo, len in
            let pa = a + ao, pb = b + bo, py = y + yo
            if ast == 1 && bst == 1 {
                for i in 0..<len { py[i] = op(pa[i], pb[i]) }
            } else if ast == 1 && bst == 0 {
                let bv = pb[0]
                for i in 0..<len { py[i] = op(pa[i], bv) }
            } else if ast == 0 && bst == 1 {
                let av = pa[0]
                for i in 0..<len { py[i] = op(av, pb[i]) }
            } else {
                for i in 0..<len { py[i] = op(pa[i * ast], pb[i * bst]) }
            }
        }
    }
}

/// Binary operations with concrete loops (named as the operations that use them).
@usableFromInline package enum BinaryOp: String {
    case add, subtract, multiply, divide, minimum, maximum
    // Comparisons (1 where true, 0 where false), named as `Tensor.compare`'s operations.
    case less, lessEqual, greater, greaterEqual, equal, notEqual
}

/// y[i] = a[i·sa] ∘ b[i·sb] with strides 0 or 1; the switch sits outside the loops so each loop
/// is concrete and vectorises.
@inlinable @inline(never)
package func binaryLoop<T: KernelFloat>(_ op: BinaryOp, _ a: UnsafePointer<T>, _ sa: Int, _ b: UnsafePointer<T>, _ sb: Int,
                                        _ y: UnsafeMutablePointer<T>, _ n: Int) {
    @inline(__always) func loop(_ f: (T, T) -> T) {
        if sa == 1 && sb == 1 {
            for i in 0..<n { y[i] = f(a[i], b[i]) }
        } else if sa == 0 && sb == 0 {
            let v = f(a[0], b[0])
            for i in 0..<n { y[i] = v }
        } else if sb == 0 {
            let v = b[0]
            for i in 0..<n { y[i] = f(a[i], v) }
        } else {
            let v = a[0]
            for i in 0..<n { y[i] = f(v, b[i]) }
        }
    }
    switch op {
    case .add: loop(+)
    case .subtract: loop(-)
    case .multiply: loop(*)
    case .divide: loop(/)
    case .minimum: loop { $0 < $1 || $0.isNaN ? $0 : $1 }
    case .maximum: loop { $0 > $1 || $0.isNaN ? $0 : $1 }
    case .less: loop { $0 < $1 ? 1 : 0 }
    case .lessEqual: loop { $0 <= $1 ? 1 : 0 }
    case .greater: loop { $0 > $1 ? 1 : 0 }
    case .greaterEqual: loop { $0 >= $1 ? 1 : 0 }
    case .equal: loop { $0 == $1 ? 1 : 0 }
    case .notEqual: loop { $0 != $1 ? 1 : 0 }
    }
}

/// Unary operations with concrete loops (named as the operations that use them).
@usableFromInline package enum UnaryOp: String {
    case negate, abs, relu, sqrt, rsqrt
}

@inlinable @inline(never)
package func unaryLoop<T: KernelFloat>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
    switch op {
    case .negate: for i in 0..<n { y[i] = -x[i] }
    case .abs: for i in 0..<n { y[i] = Swift.abs(x[i]) }
    case .relu: for i in 0..<n { y[i] = x[i] < 0 ? 0 : x[i] }  // NaN stays NaN
    case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
    case .rsqrt: for i in 0..<n { y[i] = 1 / x[i].squareRoot() }
    }
}
