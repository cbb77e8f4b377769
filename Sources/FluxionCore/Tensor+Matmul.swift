import FluxionKernels

extension Tensor {
    /// Batched matrix product op(a)·op(b) over the last two axes, broadcasting the batch axes
    /// (NumPy rules). `transposeA`/`transposeB` use the transpose of the last two axes without copying.
    /// Shapes: a [..., m, k] (or [..., k, m] transposed), b [..., k, n] (or [..., n, k]) → [..., m, n].
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: needs rank ≥ 2, got \(a.shape) and \(b.shape)")
        precondition(a.dtype.isFloatingPoint && b.dtype.isFloatingPoint, "matmul: needs float tensors, got \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape)")
        precondition(a.dtype == b.dtype, dtypeMismatchMessage("matmul", a, b))
        let (ar, ac) = (a.shape[a.rank - 2], a.shape[a.rank - 1])
        let (br, bc) = (b.shape[b.rank - 2], b.shape[b.rank - 1])
        let (m, k) = transposeA ? (ac, ar) : (ar, ac)
        let (k2, n) = transposeB ? (bc, br) : (br, bc)
        precondition(k == k2, "matmul: inner sizes differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        let aBatch = Array(a.shape.dropLast(2)), bBatch = Array(b.shape.dropLast(2))
        guard let batch = broadcastShapes(aBatch, bBatch) else {
            preconditionFailure("matmul: batch shapes of \(a.shape) and \(b.shape) do not broadcast")
        }
        let batchCount = batch.reduce(1, *)
        var y = Tensor(uninitializedShape: batch + [m, n], dtype: a.dtype)
        let aStrides = broadcastStrides(aBatch, to: batch).map { $0 * ar * ac }
        let bStrides = broadcastStrides(bBatch, to: batch).map { $0 * br * bc }
        let batchIndex = contiguousStrides(batch)
        func offsets(_ i: Int) -> (Int, Int) {
            var rem = i, ao = 0, bo = 0
            for d in 0..<batch.count {
                let c = rem / batchIndex[d]; rem -= c * batchIndex[d]
                ao += c * aStrides[d]; bo += c * bStrides[d]
            }
            return (ao, bo)
        }
        func run<T: TensorFloat>(_ t: T.Type, _ gemmT: @escaping (Bool, Bool, Int, Int, Int, UnsafePointer<T>, Int, UnsafePointer<T>, Int, UnsafeMutablePointer<T>, Int) -> Void) {
            a.withUnsafeBufferPointer(as: T.self) { pa in b.withUnsafeBufferPointer(as: T.self) { pb in
                y.withUnsafeMutableBufferPointer(as: T.self) { py in
                    let one = { (i: Int) in
                        let (ao, bo) = offsets(i)
                        gemmT(transposeA, transposeB, m, n, k, pa.baseAddress! + ao, ac, pb.baseAddress! + bo, bc,
                              py.baseAddress! + i * m * n, n)
                    }
                    // Many small products: one per task. Few large ones: the GEMM splits itself.
                    if batchCount > 1 && m * n * k < 128 * 128 * 128 && ThreadPool.shared.threadCount > 1 {
                        ThreadPool.shared.parallelFor(batchCount, one)
                    } else {
                        for i in 0..<batchCount { one(i) }
                    }
                } } }
        }
        if a.dtype == .float32 {
            run(Float.self) { ta, tb, m, n, k, pa, lda, pb, ldb, pc, ldc in
                gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: pc, ldc: ldc)
            }
        } else {
            run(Double.self) { ta, tb, m, n, k, pa, lda, pb, ldb, pc, ldc in
                gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: pa, lda: lda, b: pb, ldb: ldb, beta: 0, c: pc, ldc: ldc)
            }
        }
        return Rules.matmul(a, b, transposeA, transposeB, y)
    }

    /// Matrix product with `other` (see `Tensor.matmul`); vectors are promoted as in NumPy.
    public func matmul(_ other: Tensor) -> Tensor {
        switch (rank, other.rank) {
        case (1, 1): return (self * other).sum()
        case (1, _): return Tensor.matmul(unsqueezed(axis: 0), other).squeezed(axis: -2)
        case (_, 1): return Tensor.matmul(self, other.unsqueezed(axis: -1)).squeezed(axis: -1)
        default: return Tensor.matmul(self, other)
        }
    }
}

extension Tensor {
    /// The affine map of a linear layer, fused: y = x·Wᵀ + b for x [..., in], W [out, in], b [out]
    /// → y [..., out]. The bias is written first and the GEMM accumulates onto it (β = 1), so the
    /// layer costs one pass over its output.
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) -> Tensor {
        precondition(weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
                     "linear: input \(x.shape) does not match weight \(weight.shape) (expected [..., \(weight.rank == 2 ? weight.shape[1] : -1)])")
        precondition(x.dtype.isFloatingPoint && weight.dtype.isFloatingPoint, "linear: needs float tensors, got input \(x.dtype) \(x.shape) and weight \(weight.dtype) \(weight.shape)")
        precondition(x.dtype == weight.dtype, dtypeMismatchMessage("linear (input, weight)", x, weight))
        let (out, inp) = (weight.shape[0], weight.shape[1])
        if let bias {
            precondition(bias.shape == [out] && bias.dtype == x.dtype, "linear: bias \(bias.dtype) \(bias.shape) does not match weight \(weight.shape) (expected [\(out)])")
        }
        let rows = x.count / Swift.max(inp, 1)
        let outShape = Array(x.shape.dropLast()) + [out]
        var y = Tensor(uninitializedShape: outShape, dtype: x.dtype)
        func run<T: TensorFloat>(_ t: T.Type, _ gemmT: (UnsafePointer<T>, UnsafePointer<T>, UnsafeMutablePointer<T>, T) -> Void) {
            x.withUnsafeBufferPointer(as: T.self) { px in weight.withUnsafeBufferPointer(as: T.self) { pw in
                y.withUnsafeMutableBufferPointer(as: T.self) { py in
                    var beta: T = 0
                    if let bias {
                        bias.withUnsafeBufferPointer(as: T.self) { pb in
                            let (src, dst) = (pb.baseAddress!, py.baseAddress!)
                            parallelRanges(rows, grain: Swift.max(1, parallelGrain / Swift.max(out, 1))) { s, e in
                                for r in s..<e { (dst + r * out).update(from: src, count: out) }
                            }
                        }
                        beta = 1
                    }
                    gemmT(px.baseAddress!, pw.baseAddress!, py.baseAddress!, beta)
                } } }
        }
        if x.dtype == .float32 {
            run(Float.self) { a, b, c, beta in
                gemm(transA: false, transB: true, m: rows, n: out, k: inp, alpha: 1, a: a, lda: inp, b: b, ldb: inp, beta: beta, c: c, ldc: out)
            }
        } else {
            run(Double.self) { a, b, c, beta in
                gemm(transA: false, transB: true, m: rows, n: out, k: inp, alpha: 1, a: a, lda: inp, b: b, ldb: inp, beta: beta, c: c, ldc: out)
            }
        }
        return Rules.linear(x, weight, bias, y)
    }
}
