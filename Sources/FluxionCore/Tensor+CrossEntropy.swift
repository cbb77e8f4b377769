import FluxionKernels

// Softmax cross-entropy of logits against class labels as a fused primitive (NOTE(6)): one pass
// per row for the maximum, the log-sum-exp and the picked logit; the reverse pass writes
// g·(softmax − one-hot) in one sweep from the saved log-sum-exp.

extension Tensor {
    /// Per-row cross-entropy ℓ_i = logSumExp(x_i) − x_i[y_i] of logits [N, C] and int32 labels [N]
    /// (each in 0..<C) → [N]. Stable: the row maximum is subtracted before exponentiating.
    public static func softmaxCrossEntropy(logits x: Tensor, labels: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.dtype.isFloatingPoint && labels.dtype == .int32 && labels.shape == [x.shape[0]],
                     "softmaxCrossEntropy: logits \(x.dtype) \(x.shape) and labels \(labels.dtype) \(labels.shape) must be float [N, C] and int32 [N]")
        let (rows, c) = (x.shape[0], x.shape[1])
        let raw = labels.int32s
        for v in raw { precondition(v >= 0 && Int(v) < c, "softmaxCrossEntropy: label \(v) out of range 0..<\(c)") }
        return fusedPrimitive([x], kernelSupports: true, reference: { xs in
            [-xs[0].logSoftmax(axis: 1).gather(axis: 1, indices: labels.reshaped(to: [rows, 1])).reshaped(to: [rows])]
        }) { softmaxCrossEntropyKernel(x, raw) }[0]
    }

    /// The kernel of `softmaxCrossEntropy` (NOTE(6)).
    static func softmaxCrossEntropyKernel(_ x: Tensor, _ raw: [Int32]) -> FusedKernel {
        let (rows, c) = (x.shape[0], x.shape[1])
        var loss = Tensor(uninitializedShape: [rows], dtype: x.dtype)
        var lse = Tensor(uninitializedShape: [rows], dtype: x.dtype)
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            x.withUnsafeBufferPointer(as: T.self) { px in loss.withUnsafeMutableBufferPointer(as: T.self) { pl in
            lse.withUnsafeMutableBufferPointer(as: T.self) { ps in raw.withUnsafeBufferPointer { py in
                let (xb, lb, sb, yb) = (px.baseAddress!, pl.baseAddress!, ps.baseAddress!, py.baseAddress!)
                parallelRanges(rows, grain: Swift.max(1, parallelGrain / 4 / Swift.max(c, 1))) { s, e in
                    for r in s..<e {
                        let l = rowLogSumExp(xb + r * c, c)
                        sb[r] = l
                        lb[r] = l - xb[r * c + Int(yb[r])]
                    }
                }
            } } } }
        }
        if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        let savedLSE = lse
        return FusedKernel(outputs: [loss], pullback: { gs in
            [softmaxCrossEntropyBackward(gs[0]!.detached, x.detached, raw, savedLSE)]
        })
    }

    static func softmaxCrossEntropyBackward(_ g: Tensor, _ x: Tensor, _ labels: [Int32], _ lse: Tensor) -> Tensor {
        let (rows, c) = (x.shape[0], x.shape[1])
        var dx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        func run<T: TensorFloat>(_ type: T.Type) {
            x.withUnsafeBufferPointer(as: T.self) { px in g.withUnsafeBufferPointer(as: T.self) { pg in
            lse.withUnsafeBufferPointer(as: T.self) { ps in dx.withUnsafeMutableBufferPointer(as: T.self) { pd in
                let (xb, gb, sb, db) = (px.baseAddress!, pg.baseAddress!, ps.baseAddress!, pd.baseAddress!)
                parallelRanges(rows, grain: Swift.max(1, parallelGrain / 4 / Swift.max(c, 1))) { s, e in
                    for r in s..<e {
                        let xr = xb + r * c, dr = db + r * c, l = sb[r], gr = gb[r]
                        if T.self == Float.self {
                            let xf = UnsafeRawPointer(xr).assumingMemoryBound(to: Float.self)
                            let df = UnsafeMutableRawPointer(dr).assumingMemoryBound(to: Float.self)
                            let (lf, gf) = (Float(l), Float(gr))
                            map8(xf, df, c) { exp8($0 - lf) * gf }
                        } else {
                            for j in 0..<c { dr[j] = T.exp(xr[j] - l) * gr }
                        }
                        dr[Int(labels[r])] -= gr
                    }
                }
            } } } }
        }
        if x.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return dx
    }
}
