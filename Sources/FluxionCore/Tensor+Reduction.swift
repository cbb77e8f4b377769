import FluxionKernels

// Reductions along axes. Every reduction is done one axis at a time on the view
// [outer, n, inner], whose inner loop is contiguous (vectorisable).

enum ReduceKind { case sum, max, min }

@inline(__always)
func reduceAxisKernel<T: TensorFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                      outer: Int, n: Int, inner: Int, kind: ReduceKind) {
    if outer == 1 && inner >= 64 && n * inner >= 2 * parallelGrain && ThreadPool.shared.threadCount > 1 {
        // One long reduction of rows (e.g. a bias gradient Σ_rows g): split the columns.
        parallelRanges(inner, grain: Swift.max(16, parallelGrain / n)) { s, e in
            reduceAxisKernel(x + s, y + s, outer: 1, n: n, inner: e - s, stride: inner, kind: kind)
        }
        return
    }
    parallelRanges(outer, grain: max(1, parallelGrain / max(n * inner, 1))) { s, e in
        for o in s..<e {
            let src = x + o * n * inner, dst = y + o * inner
            if inner == 1 {
                switch kind {
                case .sum:
                    // Eight partial sums: vectorises and loses less precision than one running sum.
                    var acc = SIMD8<T>()
                    var k = 0
                    while k + 8 <= n {
                        acc += UnsafeRawPointer(src + k).loadUnaligned(as: SIMD8<T>.self)
                        k += 8
                    }
                    var total = acc.sum()
                    while k < n { total += src[k]; k += 1 }
                    dst[0] = total
                case .max:
                    var m = -T.infinity
                    for k in 0..<n { let v = src[k]; if v > m || v.isNaN { m = v } }
                    dst[0] = m
                case .min:
                    var m = T.infinity
                    for k in 0..<n { let v = src[k]; if v < m || v.isNaN { m = v } }
                    dst[0] = m
                }
            } else {
                let initial: T = kind == .sum ? 0 : (kind == .max ? -T.infinity : T.infinity)
                dst.update(repeating: initial, count: inner)
                for k in 0..<n {
                    let row = src + k * inner
                    switch kind {
                    case .sum: for i in 0..<inner { dst[i] += row[i] }
                    case .max: for i in 0..<inner { dst[i] = Swift.max(dst[i], row[i]) }
                    case .min: for i in 0..<inner { dst[i] = Swift.min(dst[i], row[i]) }
                    }
                }
            }
        }
    }
}

/// Reduction over n rows of `inner` contiguous columns spaced `stride` apart (a column slice).
func reduceAxisKernel<T: TensorFloat>(_ x: UnsafePointer<T>, _ y: UnsafeMutablePointer<T>,
                                      outer: Int, n: Int, inner: Int, stride: Int, kind: ReduceKind) {
    let initial: T = kind == .sum ? 0 : (kind == .max ? -T.infinity : T.infinity)
    y.update(repeating: initial, count: inner)
    for k in 0..<n {
        let row = x + k * stride
        switch kind {
        case .sum: for i in 0..<inner { y[i] += row[i] }
        case .max: for i in 0..<inner { y[i] = Swift.max(y[i], row[i]) }
        case .min: for i in 0..<inner { y[i] = Swift.min(y[i], row[i]) }
        }
    }
}

extension Tensor {
    /// (outer, n, inner) sizes for reducing one axis.
    func axisView(_ a: Int) -> (Int, Int, Int) {
        (shape[..<a].reduce(1, *), shape[a], shape[(a + 1)...].reduce(1, *))
    }

    /// Raw one-axis reduction keeping the axis (size 1).
    func reduceRaw(axis a: Int, _ kind: ReduceKind) -> Tensor {
        let (outer, n, inner) = axisView(a)
        var s = shape
        s[a] = 1
        var y = Tensor(uninitializedShape: s, dtype: dtype)
        switch dtype {
        case .float32:
            withUnsafeBufferPointer(as: Float.self) { x in y.withUnsafeMutableBufferPointer(as: Float.self) { o in
                reduceAxisKernel(x.baseAddress!, o.baseAddress!, outer: outer, n: n, inner: inner, kind: kind) } }
        case .float64:
            withUnsafeBufferPointer(as: Double.self) { x in y.withUnsafeMutableBufferPointer(as: Double.self) { o in
                reduceAxisKernel(x.baseAddress!, o.baseAddress!, outer: outer, n: n, inner: inner, kind: kind) } }
        case .int32: preconditionFailure("reduction: needs a float tensor, got int32 of shape \(shape)")
        }
        return y
    }

    func normalizedAxes(_ axes: [Int]?, _ op: String) -> [Int] {
        guard let axes else { return Array(0..<rank) }
        let a = axes.map { normalizeAxis($0, rank: rank, op) }
        precondition(Set(a).count == a.count, "\(op): repeated axis in \(axes) for shape \(shape)")
        return a.sorted()
    }

    func reducedShape(_ axes: [Int], keepDims: Bool) -> [Int] {
        keepDims ? shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
                 : shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
    }

    /// Sum over `axes` (all axes when nil).
    public func sum(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, "sum")
        var y = detached
        for a in ax where shape[a] != 1 { y = y.reduceRaw(axis: a, .sum) }
        if ax.contains(where: { shape[$0] == 0 }) { y = Tensor.zeros(shape: reducedShape(ax, keepDims: true), dtype: dtype) }
        y = Tensor(storage: y.storage, shape: reducedShape(ax, keepDims: keepDims), dtype: dtype, count: y.count)
        return Rules.sum(self, ax, keepDims, y)
    }

    /// Sum along one axis.
    public func sum(axis: Int, keepDims: Bool = false) -> Tensor { sum(axes: [axis], keepDims: keepDims) }

    /// Arithmetic mean over `axes`.
    public func mean(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, "mean")
        let n = ax.reduce(1) { $0 * shape[$1] }
        return sum(axes: ax, keepDims: keepDims) * (1 / Double(Swift.max(n, 1)))
    }
    /// Mean along one axis.
    public func mean(axis: Int, keepDims: Bool = false) -> Tensor { mean(axes: [axis], keepDims: keepDims) }

    /// Variance over `axes`; `unbiased` divides by n − 1 (Bessel), else by n (PyTorch's LayerNorm convention).
    public func variance(axes: [Int]? = nil, keepDims: Bool = false, unbiased: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, "variance")
        let n = ax.reduce(1) { $0 * shape[$1] }
        let centered = self - mean(axes: ax, keepDims: true)
        return (centered * centered).sum(axes: ax, keepDims: keepDims) * (1 / Double(Swift.max(unbiased ? n - 1 : n, 1)))
    }

    /// Maximum over `axes`. The gradient is shared equally among tied maxima.
    public func max(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, keepDims, .max, "max") }
    /// Maximum along one axis.
    public func max(axis: Int, keepDims: Bool = false) -> Tensor { max(axes: [axis], keepDims: keepDims) }
    /// Minimum over `axes`.
    public func min(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor { extremum(axes, keepDims, .min, "min") }
    /// Minimum along one axis.
    public func min(axis: Int, keepDims: Bool = false) -> Tensor { min(axes: [axis], keepDims: keepDims) }

    func extremum(_ axes: [Int]?, _ keepDims: Bool, _ kind: ReduceKind, _ op: String) -> Tensor {
        let ax = normalizedAxes(axes, op)
        for a in ax { precondition(shape[a] > 0, "\(op): empty axis \(a) in shape \(shape)") }
        var y = detached
        for a in ax where shape[a] != 1 { y = y.reduceRaw(axis: a, kind) }
        let kept = y
        y = Tensor(storage: y.storage, shape: reducedShape(ax, keepDims: keepDims), dtype: dtype, count: y.count)
        return Rules.extremum(self, kept, ax, keepDims, y)
    }

    /// Index of the maximum along `axis` (int32; first index on ties).
    public func argmax(axis: Int, keepDims: Bool = false) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "argmax")
        precondition(shape[a] > 0, "argmax: empty axis \(axis) in shape \(shape)")
        let (outer, n, inner) = axisView(a)
        let x = scalars
        var out = [Int32](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0
                var bestValue = x[o * n * inner + i]
                for k in 1..<n {
                    let v = x[(o * n + k) * inner + i]
                    if v > bestValue || (v.isNaN && !bestValue.isNaN) { best = k; bestValue = v }
                }
                out[o * inner + i] = Int32(best)
            }
        }
        return Tensor(out, shape: reducedShape([a], keepDims: keepDims))
    }

    /// log Σ exp(x) over `axes`, stabilised by subtracting the (constant) maximum.
    public func logSumExp(axes: [Int]? = nil, keepDims: Bool = false) -> Tensor {
        let ax = normalizedAxes(axes, "logSumExp")
        var m = withoutDerivatives { self.max(axes: ax, keepDims: true) }
        // An all −∞ slice would give (−∞) − (−∞) = NaN: shift by 0 there instead.
        m = withoutDerivatives { Tensor.where(m.abs() .< m.scalarLike(.infinity), m, Tensor.zeros(like: m)) }
        let s = (self - m).exp().sum(axes: ax, keepDims: true).log() + m
        return keepDims ? s : s.reshaped(to: reducedShape(ax, keepDims: false))
    }
    /// log Σ exp(x) along one axis.
    public func logSumExp(axis: Int, keepDims: Bool = false) -> Tensor { logSumExp(axes: [axis], keepDims: keepDims) }

    /// exp(x − logSumExp(x)) along `axis`.
    public func softmax(axis: Int = -1) -> Tensor { (self - logSumExp(axis: axis, keepDims: true)).exp() }
    /// x − logSumExp(x) along `axis`.
    public func logSoftmax(axis: Int = -1) -> Tensor { self - logSumExp(axis: axis, keepDims: true) }

    /// Inclusive cumulative sum along `axis` (`reverse`: from the end).
    public func cumulativeSum(axis: Int, reverse: Bool = false) -> Tensor {
        let a = normalizeAxis(axis, rank: rank, "cumulativeSum")
        if reverse { return flipped(axes: [a]).cumulativeSum(axis: a).flipped(axes: [a]) }
        let (outer, n, inner) = axisView(a)
        var y = Tensor(uninitializedShape: shape, dtype: dtype)
        func run<T: TensorFloat>(_ t: T.Type) {
            withUnsafeBufferPointer(as: T.self) { x in y.withUnsafeMutableBufferPointer(as: T.self) { o in
                for b in 0..<outer {
                    let base = b * n * inner
                    for i in 0..<inner { o[base + i] = x[base + i] }
                    for k in 1..<Swift.max(n, 1) {
                        let row = base + k * inner
                        for i in 0..<inner { o[row + i] = o[row - inner + i] + x[row + i] }
                    }
                }
            } }
        }
        switch dtype {
        case .float32: run(Float.self)
        case .float64: run(Double.self)
        case .int32: preconditionFailure("cumulativeSum: needs a float tensor, got int32 of shape \(shape)")
        }
        return Rules.cumulativeSum(self, a, y)
    }
}
