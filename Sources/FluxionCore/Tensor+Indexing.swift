import FluxionKernels

// Gather / scatter along an axis (PyTorch's `gather`, `scatter_add`, `index_select`, `index_add`).

extension Tensor {
    /// Checks an int32 index tensor against an axis size; returns the indices as Ints.
    func checkedIndices(_ indices: Tensor, axisSize: Int, _ op: String) -> [Int] {
        precondition(indices.dtype == .int32, "\(op): indices must be int32, got \(indices.dtype) of shape \(indices.shape)")
        return indices.int32s.map { v in
            let i = Int(v)
            precondition(i >= 0 && i < axisSize, "\(op): index \(i) out of range 0..<\(axisSize) (tensor shape \(shape))")
            return i
        }
    }

    /// `out[..., i, ...] = self[..., indices[..., i, ...], ...]` along `axis`; `indices` has the rank of
    /// `self` and its sizes off `axis` must not exceed `self`'s. Output shape = `indices.shape`.
    public func gather(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "gather")
        precondition(indices.rank == rank, "gather: indices shape \(indices.shape) must have the rank of \(shape)")
        for i in 0..<rank where i != a {
            precondition(indices.shape[i] <= shape[i], "gather: indices shape \(indices.shape) exceeds \(shape) on axis \(i)")
        }
        let idx = checkedIndices(indices, axisSize: shape[a], "gather")
        var y = Tensor(uninitializedShape: indices.shape, dtype: dtype)
        let xs = contiguousStrides(shape), ys = contiguousStrides(indices.shape)
        func run<E>(_ t: E.Type) {
            withUnsafeBufferPointer(as: E.self) { x in y.withUnsafeMutableBufferPointer(as: E.self) { o in
                for j in 0..<idx.count {
                    var rem = j, off = 0
                    for d in 0..<rank {
                        let c = rem / ys[d]; rem -= c * ys[d]
                        off += (d == a ? idx[j] : c) * xs[d]
                    }
                    o[j] = x[off]
                }
            } }
        }
        if dtype == .float64 { run(UInt64.self) } else { run(UInt32.self) }
        return Rules.gather(self, a, indices, y)
    }

    /// A copy of `self` with `source` added at the positions `indices` name along `axis`
    /// (the adjoint of `gather`): `out[..., indices[j], ...] += source[..., j, ...]`.
    public func scatterAdding(axis: Int, indices: Tensor, source: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "scatterAdding")
        precondition(indices.shape == source.shape && source.rank == rank && source.dtype == dtype,
                     "scatterAdding: indices \(indices.shape) and source \(source.dtype) \(source.shape) must match each other and the rank/dtype of \(dtype) \(shape)")
        let idx = checkedIndices(indices, axisSize: shape[a], "scatterAdding")
        var y = detached
        let xs = contiguousStrides(shape), ss = contiguousStrides(source.shape)
        func run<T: TensorFloat>(_ t: T.Type) {
            source.withUnsafeBufferPointer(as: T.self) { s in y.withUnsafeMutableBufferPointer(as: T.self) { o in
                for j in 0..<idx.count {
                    var rem = j, off = 0
                    for d in 0..<rank {
                        let c = rem / ss[d]; rem -= c * ss[d]
                        off += (d == a ? idx[j] : c) * xs[d]
                    }
                    o[off] += s[j]
                }
            } }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: preconditionFailure("scatterAdding: needs a float tensor, got int32")
        }
        return Rules.scatterAdd(self, a, indices, source, y)
    }

    /// Slices along `axis` picked by a 1-D int32 `indices` (rows of an embedding table for axis 0).
    public func indexSelect(axis: Int, indices: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "indexSelect")
        precondition(indices.rank == 1, "indexSelect: indices must be 1-D, got shape \(indices.shape)")
        let idx = checkedIndices(indices, axisSize: shape[a], "indexSelect")
        let (outer, n, inner) = axisView(a)
        var s = shape
        s[a] = idx.count
        var y = Tensor(uninitializedShape: s, dtype: dtype)
        func run<E>(_ t: E.Type) {
            withUnsafeBufferPointer(as: E.self) { x in y.withUnsafeMutableBufferPointer(as: E.self) { o in
                for b in 0..<outer {
                    for (j, i) in idx.enumerated() {
                        (o.baseAddress! + (b * idx.count + j) * inner).update(from: x.baseAddress! + (b * n + i) * inner, count: inner)
                    }
                }
            } }
        }
        if dtype == .float64 { run(UInt64.self) } else { run(UInt32.self) }
        return Rules.indexSelect(self, a, indices, y)
    }

    /// A copy of `self` with slices of `source` added at `indices` along `axis` (adjoint of `indexSelect`).
    public func indexAdding(axis: Int, indices: Tensor, source: Tensor) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "indexAdding")
        var expected = shape
        if indices.rank == 1 { expected[a] = indices.count }
        precondition(indices.rank == 1 && source.shape == expected && source.dtype == dtype,
                     "indexAdding: source \(source.dtype) \(source.shape) must be \(dtype) \(expected) for 1-D indices \(indices.shape)")
        let idx = checkedIndices(indices, axisSize: shape[a], "indexAdding")
        let (outer, n, inner) = axisView(a)
        var y = detached
        func run<T: TensorFloat>(_ t: T.Type) {
            source.withUnsafeBufferPointer(as: T.self) { s in y.withUnsafeMutableBufferPointer(as: T.self) { o in
                for b in 0..<outer {
                    for (j, i) in idx.enumerated() {
                        let dst = o.baseAddress! + (b * n + i) * inner, src = s.baseAddress! + (b * idx.count + j) * inner
                        for k in 0..<inner { dst[k] += src[k] }
                    }
                }
            } }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: preconditionFailure("indexAdding: needs a float tensor, got int32")
        }
        return Rules.indexAdd(self, a, indices, source, y)
    }
}
