import FluxionKernels

// The Tensor-level elementwise operations (no autodiff): they read the tensors and call the raw
// loops of FluxionKernels (Elementwise.swift: parallelRanges, binaryLoop, unaryLoop, forEachRow,
// zipKernel, mapKernel), which FluxionCore specialises for Float and Double.

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

extension Tensor {
    /// Applies a unary float kernel elementwise (no autodiff; the rules table adds it).
    @inline(__always)
    func mapRaw(_ op32: (Float) -> Float, _ op64: (Double) -> Double, _ name: String) -> Tensor {
        var y = Tensor(uninitializedShape: shape, dtype: dtype)
        if let op = UnaryOp(rawValue: name), dtype.isFloatingPoint {
            func run<T: TensorFloat & KernelFloat>(_ t: T.Type) {
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
            let n = shape.last ?? 1, rows = shape.isEmpty ? 1 : shape.dropLast().reduce(1, *)
            func run<T: TensorFloat & KernelFloat>(_ t: T.Type) {
                a.withUnsafeBufferPointer(as: T.self) { pa in b.withUnsafeBufferPointer(as: T.self) { pb in
                    y.withUnsafeMutableBufferPointer(as: T.self) { o in
                        let (x0, x1, out) = (pa.baseAddress!, pb.baseAddress!, o.baseAddress!)
                        // Rows split across threads (each range starts its own odometer).
                        parallelRanges(rows, grain: Swift.max(1, parallelGrain / Swift.max(n, 1))) { s, e in
                            forEachRow(shape, sa, sb, rows: s..<e) { ao, ast, bo, bst, yo, len in
                                if ast <= 1 && bst <= 1 && (ast == 1 || bst == 1) {
                                    binaryLoop(op, x0 + ao, ast, x1 + bo, bst, out + yo, len)
                                } else {
                                    for i in 0..<len { binaryLoop(op, x0 + ao + i * ast, 0, x1 + bo + i * bst, 0, out + yo + i, 1) }
                                }
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
            func run<T: TensorFloat & KernelFloat>(_ t: T.Type) {
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
