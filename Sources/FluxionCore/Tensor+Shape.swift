import FluxionKernels

// Shape operations. Tensors are always contiguous, so permute/expand/slice/pad/flip/concatenate
// materialise their result with one strided copy.

extension Tensor {
    /// The same elements with a new shape; one axis may be −1 (inferred).
    public func reshaped(to newShape: [Int]) -> Tensor {
        var shape = newShape
        if let i = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != i }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "reshaped(to:): cannot reshape \(self.shape) to \(newShape)")
            shape[i] = count / known
        }
        precondition(shape.reduce(1, *) == count, "reshaped(to:): cannot reshape \(self.shape) (\(count) elements) to \(newShape)")
        if shape == self.shape { return self }
        let y = Tensor(storage: storage, shape: shape, dtype: dtype, count: count)
        return Rules.reshape(self, y)
    }

    /// Flattens to one axis.
    public func flattened() -> Tensor { reshaped(to: [count]) }

    /// Axes reordered: result axis i is input axis `permutation[i]`.
    public func permuted(_ permutation: [Int]) -> Tensor {
        precondition(permutation.count == rank && Set(permutation) == Set(0..<rank),
                     "permuted: \(permutation) is not a permutation of the axes of shape \(shape)")
        if permutation == Array(0..<rank) { return self }
        let newShape = permutation.map { shape[$0] }
        let srcStrides = contiguousStrides(shape)
        var y = Tensor(uninitializedShape: newShape, dtype: dtype)
        stridedCopy(from: self, offset: 0, strides: permutation.map { srcStrides[$0] },
                    into: &y, offset: 0, strides: contiguousStrides(newShape), shape: newShape)
        return Rules.permute(self, permutation, y)
    }

    /// Swaps two axes (default: the last two).
    public func transposed(_ axis0: Int = -2, _ axis1: Int = -1) -> Tensor {
        precondition(rank >= 2 || (rank == 1 && axis0 == -2), "transposed: needs rank ≥ 2, got shape \(shape)")
        if rank < 2 { return self }
        var p = Array(0..<rank)
        p.swapAt(normalizeAxis(axis0, rank: rank, "transposed"), normalizeAxis(axis1, rank: rank, "transposed"))
        return permuted(p)
    }

    /// Broadcasts to `newShape` (NumPy rules: size-1 axes and missing leading axes repeat).
    public func expanded(to newShape: [Int]) -> Tensor {
        if newShape == shape { return self }
        precondition(newShape.count >= rank && broadcastShapes(shape, newShape) == newShape,
                     "expanded(to:): shape \(shape) cannot broadcast to \(newShape)")
        var y = Tensor(uninitializedShape: newShape, dtype: dtype)
        stridedCopy(from: self, offset: 0, strides: broadcastStrides(shape, to: newShape),
                    into: &y, offset: 0, strides: contiguousStrides(newShape), shape: newShape)
        return Rules.expand(self, y)
    }

    /// Sums broadcast axes away so the result has `target` shape (the adjoint of `expanded(to:)`).
    public func summed(toShape target: [Int]) -> Tensor {
        if shape == target { return self }
        precondition(broadcastShapes(target, shape) == shape, "summed(toShape:): \(target) does not broadcast to \(shape)")
        let lead = rank - target.count
        var axes = Array(0..<lead)
        for (i, d) in target.enumerated() where d == 1 && shape[lead + i] != 1 { axes.append(lead + i) }
        return sum(axes: axes, keepDims: true).reshaped(to: target)
    }

    /// Inserts a size-1 axis at `axis`.
    public func unsqueezed(axis: Int) -> Tensor {
        let a = axis < 0 ? axis + rank + 1 : axis
        precondition(a >= 0 && a <= rank, "unsqueezed: axis \(axis) out of range for shape \(shape)")
        var s = shape
        s.insert(1, at: a)
        return reshaped(to: s)
    }

    /// Removes a size-1 axis (or every size-1 axis when `axis` is nil).
    public func squeezed(axis: Int? = nil) -> Tensor {
        guard let axis else { return reshaped(to: shape.filter { $0 != 1 }) }
        let a = normalizeAxis(axis, rank: rank, "squeezed")
        precondition(shape[a] == 1, "squeezed: axis \(axis) has size \(shape[a]) in shape \(shape), expected 1")
        var s = shape
        s.remove(at: a)
        return reshaped(to: s)
    }

    /// The block `lower[i] ..< upper[i]` on every axis.
    public func sliced(lower: [Int], upper: [Int]) -> Tensor {
        precondition(lower.count == rank && upper.count == rank, "sliced: bounds \(lower)..<\(upper) do not match shape \(shape)")
        for i in 0..<rank {
            precondition(lower[i] >= 0 && lower[i] <= upper[i] && upper[i] <= shape[i],
                         "sliced: range \(lower[i])..<\(upper[i]) out of bounds for axis \(i) of shape \(shape)")
        }
        if lower.allSatisfy({ $0 == 0 }) && upper == shape { return self }
        let newShape = zip(lower, upper).map { $1 - $0 }
        let strides = contiguousStrides(shape)
        let offset = zip(lower, strides).reduce(0) { $0 + $1.0 * $1.1 }
        var y = Tensor(uninitializedShape: newShape, dtype: dtype)
        stridedCopy(from: self, offset: offset, strides: strides, into: &y, offset: 0,
                    strides: contiguousStrides(newShape), shape: newShape)
        return Rules.slice(self, lower, upper, y)
    }

    /// `range` along one axis.
    public func sliced(axis: Int, _ range: Range<Int>) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "sliced")
        var lo = [Int](repeating: 0, count: rank), hi = shape
        lo[a] = range.lowerBound
        hi[a] = range.upperBound
        return sliced(lower: lo, upper: hi)
    }

    /// Index `i` of the first axis (removing it).
    public subscript(_ i: Int) -> Tensor {
        precondition(rank >= 1, "subscript: cannot index a scalar")
        let j = i < 0 ? i + shape[0] : i
        precondition(j >= 0 && j < shape[0], "subscript: index \(i) out of range for axis 0 of shape \(shape)")
        return sliced(axis: 0, j..<(j + 1)).squeezed(axis: 0)
    }

    /// A range of the first axis.
    public subscript(_ r: Range<Int>) -> Tensor { sliced(axis: 0, r) }

    /// Pads with `value`: `before[i]` and `after[i]` elements on axis i.
    public func padded(before: [Int], after: [Int], value: Double = 0) -> Tensor {
        precondition(before.count == rank && after.count == rank && (before + after).allSatisfy { $0 >= 0 },
                     "padded: widths \(before), \(after) invalid for shape \(shape)")
        let newShape = (0..<rank).map { shape[$0] + before[$0] + after[$0] }
        var y = Tensor.full(value, shape: newShape, dtype: dtype)
        let strides = contiguousStrides(newShape)
        let offset = zip(before, strides).reduce(0) { $0 + $1.0 * $1.1 }
        stridedCopy(from: self, offset: 0, strides: contiguousStrides(shape), into: &y, offset: offset, strides: strides, shape: shape)
        return Rules.pad(self, before, after, y)
    }

    /// Reverses the order of elements along `axes`.
    public func flipped(axes: [Int]) -> Tensor {
        let ax = Set(axes.map { normalizeAxis($0, rank: rank, "flipped") })
        var strides = contiguousStrides(shape)
        var offset = 0
        for a in ax where shape[a] > 0 {
            offset += (shape[a] - 1) * strides[a]
            strides[a] = -strides[a]
        }
        var y = Tensor(uninitializedShape: shape, dtype: dtype)
        stridedCopy(from: self, offset: offset, strides: strides, into: &y, offset: 0, strides: contiguousStrides(shape), shape: shape)
        return Rules.flip(self, Array(ax), y)
    }

    /// Joins tensors along an existing axis.
    public static func concatenate(_ xs: [Tensor], axis: Int) -> Tensor {
        precondition(!xs.isEmpty, "concatenate: no tensors")
        let first = xs[0]
        let a = normalizeAxis(axis, rank: first.rank, "concatenate")
        for x in xs {
            var s1 = x.shape, s0 = first.shape
            precondition(x.rank == first.rank && x.dtype == first.dtype, "concatenate: \(x.dtype) \(x.shape) does not match \(first.dtype) \(first.shape)")
            s1[a] = 0; s0[a] = 0
            precondition(s1 == s0, "concatenate: shapes \(first.shape) and \(x.shape) differ off axis \(axis)")
        }
        var newShape = first.shape
        newShape[a] = xs.reduce(0) { $0 + $1.shape[a] }
        var y = Tensor(uninitializedShape: newShape, dtype: first.dtype)
        let strides = contiguousStrides(newShape)
        var start = 0
        for x in xs {
            stridedCopy(from: x, offset: 0, strides: contiguousStrides(x.shape), into: &y, offset: start * strides[a], strides: strides, shape: x.shape)
            start += x.shape[a]
        }
        return Rules.concatenate(xs, a, y)
    }

    /// Stacks equally shaped tensors along a new axis.
    public static func stack(_ xs: [Tensor], axis: Int = 0) -> Tensor {
        precondition(!xs.isEmpty, "stack: no tensors")
        for x in xs { precondition(x.shape == xs[0].shape, "stack: shapes \(xs[0].shape) and \(x.shape) differ") }
        return concatenate(xs.map { $0.unsqueezed(axis: axis) }, axis: axis < 0 ? axis : axis)
    }

    /// Splits along `axis` into pieces of the given sizes.
    public func split(sizes: [Int], axis: Int) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank, "split")
        precondition(sizes.reduce(0, +) == shape[a] && sizes.allSatisfy { $0 >= 0 },
                     "split: sizes \(sizes) do not add up to axis \(axis) of shape \(shape)")
        var start = 0
        return sizes.map { n in
            defer { start += n }
            return sliced(axis: a, start..<(start + n))
        }
    }

    /// Splits along `axis` into `count` equal pieces.
    public func split(count: Int, axis: Int) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank, "split")
        precondition(count > 0 && shape[a] % count == 0, "split: axis \(axis) of shape \(shape) does not split into \(count) equal parts")
        return split(sizes: [Int](repeating: shape[a] / count, count: count), axis: a)
    }
}

extension Tensor {
    /// The slices along `axis`, each without that axis (the inverse of `stack`). One primitive with
    /// one output per slice: its reverse rule stacks the cotangents once (zeros where a slice got
    /// none), instead of one full-size padded cotangent per slice.
    public func unstacked(axis: Int = 0) -> [Tensor] {
        let a = normalizeAxis(axis, rank: rank, "unstacked")
        let (outer, n, inner) = axisView(a)
        var pieceShape = shape
        pieceShape.remove(at: a)
        var pieces: [Tensor] = []
        pieces.reserveCapacity(n)
        for k in 0..<n {
            var piece = Tensor(uninitializedShape: pieceShape, dtype: dtype)
            stridedCopy(from: self, offset: k * inner, strides: [n * inner, 1], into: &piece, offset: 0,
                        strides: [inner, 1], shape: [outer, inner])
            pieces.append(piece)
        }
        return Rules.unstack(self, a, pieces)
    }
}
