import FluxionKernels

// Generic elementwise kernels, specialised for Float and Double at their call sites. Large
// contiguous loops are split across the thread pool; the inner loops are plain pointer loops that
// the compiler vectorises (with the x86-64-v3 target flag) when the operation allows it.

/// Elements per task below which a loop stays on the calling thread.
@usableFromInline let parallelGrain = 1 << 16

/// Rows split into one block per thread (at least `minRows` each), for kernels whose threads
/// each take their rows through a whole computation without meeting in between (the fused MLP,
/// the LSTM recurrence).
struct RowBlocks {
    let rows: Int
    let count: Int

    init(rows: Int, minRows: Int) {
        self.rows = rows
        count = Swift.max(1, Swift.min(ThreadPool.shared.threadCount, rows / Swift.max(minRows, 1)))
    }

    func range(_ p: Int) -> Range<Int> { (p * rows / count)..<((p + 1) * rows / count) }
    /// The most rows in one block.
    var maxRows: Int { (rows + count - 1) / count }

    /// Runs `body(p)` for every block; a single block runs on the calling thread, so that the
    /// GEMMs inside may use the pool themselves.
    func forEach(_ body: (Int) -> Void) {
        if count == 1 { body(0) } else { ThreadPool.shared.parallelFor(count, body) }
    }
}

/// Runs `body(start, end)` over `0..<count`, split across threads when `count` is large.
@inline(__always)
func parallelRanges(_ count: Int, grain: Int = parallelGrain, _ body: (Int, Int) -> Void) {
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

@inline(__always)
func mapKernel<T: TensorFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int, _ op: (T) -> T) {
    parallelRanges(n) { s, e in
        for i in s..<e { y[i] = op(x[i]) }
    }
}

/// Broadcast strides of `shape` against `outShape` (right-aligned; 0 on broadcast axes).
func broadcastStrides(_ shape: [Int], to outShape: [Int]) -> [Int] {
    let strides = contiguousStrides(shape)
    let offset = outShape.count - shape.count
    return (0..<outShape.count).map { i in
        i < offset ? 0 : (shape[i - offset] == 1 ? 0 : strides[i - offset])
    }
}

/// The broadcast of two shapes (NumPy rules); nil if incompatible.
public func broadcastShapes(_ a: [Int], _ b: [Int]) -> [Int]? {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else { return nil }
    }
    return out
}

/// Iterates an output of `shape` with two strided inputs; `inner(aOffset, aStride, bOffset, bStride, outOffset, n)`
/// handles each innermost row.
@inline(__always)
func forEachRow(_ shape: [Int], _ sa: [Int], _ sb: [Int],
                _ inner: (Int, Int, Int, Int, Int, Int) -> Void) {
    let rank = shape.count
    if rank == 0 { inner(0, 0, 0, 0, 0, 1); return }
    let n = shape[rank - 1]
    let rows = shape.dropLast().reduce(1, *)
    if rows == 0 || n == 0 { return }
    var index = [Int](repeating: 0, count: max(rank - 1, 1))
    var ao = 0, bo = 0
    for r in 0..<rows {
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

@inline(__always)
func zipKernel<T: TensorFloat>(_ a: UnsafePointer<T>, _ aShape: [Int], _ b: UnsafePointer<T>, _ bShape: [Int],
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

extension Tensor {
    /// Applies a unary float kernel elementwise (no autodiff; the rules table adds it).
    @inline(__always)
    func mapRaw(_ op32: (Float) -> Float, _ op64: (Double) -> Double, _ name: String) -> Tensor {
        var y = Tensor(uninitializedShape: shape, dtype: dtype)
        if let op = UnaryOp(rawValue: name), dtype.isFloatingPoint {
            func run<T: TensorFloat>(_ t: T.Type) {
                withUnsafeBufferPointer(as: T.self) { x in y.withUnsafeMutableBufferPointer(as: T.self) { o in
                    let (px, py) = (x.baseAddress!, o.baseAddress!)
                    parallelRanges(count) { s, e in unaryLoop(op, px + s, py + s, e - s) }
                } }
            }
            if dtype == .float32 { run(Float.self) } else { run(Double.self) }
            return y
        }
        switch dtype {
        case .float32:
            withUnsafeBufferPointer(as: Float.self) { x in
                y.withUnsafeMutableBufferPointer(as: Float.self) { o in mapKernel(x.baseAddress!, o.baseAddress!, count, op32) }
            }
        case .float64:
            withUnsafeBufferPointer(as: Double.self) { x in
                y.withUnsafeMutableBufferPointer(as: Double.self) { o in mapKernel(x.baseAddress!, o.baseAddress!, count, op64) }
            }
        case .int32:
            preconditionFailure("\(name): needs a float tensor, got int32 of shape \(shape)")
        }
        return y
    }

    /// Applies a binary float kernel with broadcasting (no autodiff).
    @inline(__always)
    static func zipRaw(_ a: Tensor, _ b: Tensor, _ op32: (Float, Float) -> Float, _ op64: (Double, Double) -> Double, _ name: String) -> Tensor {
        precondition(a.dtype == b.dtype, dtypeMismatchMessage(name, a, b))
        guard let shape = a.shape == b.shape ? a.shape : broadcastShapes(a.shape, b.shape) else {
            preconditionFailure("\(name): shapes \(a.shape) and \(b.shape) do not broadcast")
        }
        var y = Tensor(uninitializedShape: shape, dtype: a.dtype)
        if let op = BinaryOp(rawValue: name), !(a.shape == b.shape || a.count == 1 || b.count == 1) {
            // Broadcasting: one concrete loop per innermost row.
            let sa = broadcastStrides(a.shape, to: shape), sb = broadcastStrides(b.shape, to: shape)
            func run<T: TensorFloat>(_ t: T.Type) {
                a.withUnsafeBufferPointer(as: T.self) { pa in b.withUnsafeBufferPointer(as: T.self) { pb in
                    y.withUnsafeMutableBufferPointer(as: T.self) { o in
                        let (x0, x1, out) = (pa.baseAddress!, pb.baseAddress!, o.baseAddress!)
                        forEachRow(shape, sa, sb) { ao, ast, bo, bst, yo, len in
                            if ast <= 1 && bst <= 1 && (ast == 1 || bst == 1) {
                                binaryLoop(op, x0 + ao, ast, x1 + bo, bst, out + yo, len)
                            } else {
                                for i in 0..<len { binaryLoop(op, x0 + ao + i * ast, 0, x1 + bo + i * bst, 0, out + yo + i, 1) }
                            }
                        }
                    } } }
            }
            switch a.dtype {
            case .float32: run(Float.self)
            case .float64: run(Double.self)
            case .int32: preconditionFailure("\(name): needs float tensors, got int32 \(a.shape) and \(b.shape)")
            }
            return y
        }
        if let op = BinaryOp(rawValue: name), a.shape == b.shape || a.count == 1 || b.count == 1 {
            // The common arithmetic on equal shapes or with a scalar: concrete, vectorised loops.
            let n = y.count
            let (sa, sb) = (a.count == 1 && n > 1 ? 0 : 1, b.count == 1 && n > 1 ? 0 : 1)
            func run<T: TensorFloat>(_ t: T.Type) {
                a.withUnsafeBufferPointer(as: T.self) { pa in b.withUnsafeBufferPointer(as: T.self) { pb in
                    y.withUnsafeMutableBufferPointer(as: T.self) { o in
                        let (x0, x1, out) = (pa.baseAddress!, pb.baseAddress!, o.baseAddress!)
                        parallelRanges(n) { s, e in binaryLoop(op, x0 + s * sa, sa, x1 + s * sb, sb, out + s, e - s) }
                    } } }
            }
            switch a.dtype {
            case .float32: run(Float.self)
            case .float64: run(Double.self)
            case .int32: preconditionFailure("\(name): needs float tensors, got int32 \(a.shape) and \(b.shape)")
            }
            return y
        }
        switch a.dtype {
        case .float32:
            a.withUnsafeBufferPointer(as: Float.self) { pa in b.withUnsafeBufferPointer(as: Float.self) { pb in
                y.withUnsafeMutableBufferPointer(as: Float.self) { o in
                    zipKernel(pa.baseAddress!, a.shape, pb.baseAddress!, b.shape, o.baseAddress!, shape, op32)
                } } }
        case .float64:
            a.withUnsafeBufferPointer(as: Double.self) { pa in b.withUnsafeBufferPointer(as: Double.self) { pb in
                y.withUnsafeMutableBufferPointer(as: Double.self) { o in
                    zipKernel(pa.baseAddress!, a.shape, pb.baseAddress!, b.shape, o.baseAddress!, shape, op64)
                } } }
        case .int32:
            preconditionFailure("\(name): needs float tensors, got int32 \(a.shape) and \(b.shape)")
        }
        return y
    }
}

extension Tensor {
    /// A unary function with a vectorised Float kernel and a scalar Double one.
    @inline(__always)
    func mapVectorized(_ kernel32: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int) -> Void,
                       _ op64: (Double) -> Double, _ name: String) -> Tensor {
        guard dtype == .float32 else { return mapRaw({ $0 }, op64, name) }
        var y = Tensor(uninitializedShape: shape, dtype: dtype)
        withUnsafeBufferPointer(as: Float.self) { x in
            y.withUnsafeMutableBufferPointer(as: Float.self) { o in
                let px = x.baseAddress!, py = o.baseAddress!
                parallelRanges(count, grain: parallelGrain / 4) { s, e in kernel32(px + s, py + s, e - s) }
            }
        }
        return y
    }
}

/// Binary operations with concrete loops (named as the operations that use them).
enum BinaryOp: String {
    case add, subtract, multiply, divide, minimum, maximum
    // Comparisons (1 where true, 0 where false), named as `Tensor.compare`'s operations.
    case less, lessEqual, greater, greaterEqual, equal, notEqual
}

/// y[i] = a[i·sa] ∘ b[i·sb] with strides 0 or 1; the switch sits outside the loops so each loop
/// is concrete and vectorises.
@inline(never)
func binaryLoop<T: TensorFloat>(_ op: BinaryOp, _ a: UnsafePointer<T>, _ sa: Int, _ b: UnsafePointer<T>, _ sb: Int,
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
enum UnaryOp: String {
    case negate, abs, relu, sqrt, rsqrt
}

@inline(never)
func unaryLoop<T: TensorFloat>(_ op: UnaryOp, _ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>, _ n: Int) {
    switch op {
    case .negate: for i in 0..<n { y[i] = -x[i] }
    case .abs: for i in 0..<n { y[i] = Swift.abs(x[i]) }
    case .relu: for i in 0..<n { y[i] = x[i] < 0 ? 0 : x[i] }  // NaN stays NaN
    case .sqrt: for i in 0..<n { y[i] = x[i].squareRoot() }
    case .rsqrt: for i in 0..<n { y[i] = 1 / x[i].squareRoot() }
    }
}
