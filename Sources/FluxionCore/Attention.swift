import FluxionKernels

// Scaled dot-product attention as a fused primitive (NOTE(6) in Fused.swift), memory-efficient:
// the kernel works on one (batch, head) pair at a time, so at most one head's T×S score matrix per
// thread exists; it keeps only the output and each query row's log-sum-exp, and the fast reverse
// pass recomputes the probabilities from them (as FlashAttention does, with whole rows).
//
//   O = softmax(Q·Kᵀ·scale + M) · V,  with M = −∞ above the diagonal when causal, −∞ on padded keys,
//   plus an optional additive mask [T, S] shared by every batch and head.

extension Tensor {
    /// Scaled dot-product attention (PyTorch's `F.scaled_dot_product_attention`).
    ///
    /// Shapes: q [B, H, T, d], k [B, H, S, d], v [B, H, S, dv] → [B, H, T, dv].
    /// - `causal`: query i attends to keys j ≤ i (+ S − T when S > T, as a KV cache: the queries are the last T positions).
    /// - `keyPadding`: [B, S], 1 where a key takes part, 0 where it is padding.
    /// - `mask`: additive [T, S] (e.g. −∞ to forbid), shared by batches and heads.
    /// - `scale`: default 1/√d.
    /// A query row whose keys are all masked gets zeros.
    public static func attention(query q: Tensor, key k: Tensor, value v: Tensor, causal: Bool = false,
                                 keyPadding: Tensor? = nil, mask: Tensor? = nil, scale: Double? = nil) -> Tensor {
        precondition(q.rank == 4 && k.rank == 4 && v.rank == 4, "attention: query \(q.shape), key \(k.shape), value \(v.shape) must be [B, H, T, d]")
        let (b, h, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (s, dv) = (k.shape[2], v.shape[3])
        precondition(k.shape == [b, h, s, d] && v.shape == [b, h, s, dv],
                     "attention: key \(k.shape) and value \(v.shape) do not match query \(q.shape) (expected [\(b), \(h), S, \(d)] and [\(b), \(h), S, dv])")
        precondition(q.dtype == k.dtype && k.dtype == v.dtype && q.dtype.isFloatingPoint, "attention: query, key and value must share a float dtype")
        if let keyPadding { precondition(keyPadding.shape == [b, s], "attention: keyPadding \(keyPadding.shape) must be [\(b), \(s)]") }
        if let mask { precondition(mask.shape == [t, s], "attention: mask \(mask.shape) must be [\(t), \(s)]") }
        let scale = scale ?? 1 / Double(d).squareRoot()
        return fusedPrimitive([q, k, v], kernelSupports: true, reference: { xs in
            [attentionReference(query: xs[0], key: xs[1], value: xs[2], causal: causal, keyPadding: keyPadding, mask: mask, scale: scale)]
        }) { attentionKernel(q, k, v, causal: causal, keyPadding: keyPadding, mask: mask, scale: scale) }[0]
    }

    /// The kernel of `attention` (NOTE(6)).
    static func attentionKernel(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool, keyPadding: Tensor?, mask: Tensor?,
                                scale: Double) -> FusedKernel {
        let (b, h, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (s, dv) = (k.shape[2], v.shape[3])
        // The additive bias of one (batch) row block: [T, S], −∞ where masked.
        // Causal or unmasked: the row-blocked kernel (NOTE(7) in FluxionKernels/Attention.swift), no bias.
        let blocked = keyPadding == nil && mask == nil
        let bias = blocked ? nil : attentionBias(batch: b, queries: t, keys: s, causal: causal, keyPadding: keyPadding?.detached, mask: mask?.detached, dtype: q.dtype)
        var out = Tensor(uninitializedShape: [b, h, t, dv], dtype: q.dtype)
        var lse = Tensor(uninitializedShape: [b, h, t], dtype: q.dtype)
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            q.withUnsafeBufferPointer(as: T.self) { pq in k.withUnsafeBufferPointer(as: T.self) { pk in
            v.withUnsafeBufferPointer(as: T.self) { pv in out.withUnsafeMutableBufferPointer(as: T.self) { po in
            lse.withUnsafeMutableBufferPointer(as: T.self) { pl in
                let (qb, kb, vb, ob, lb) = (pq.baseAddress!, pk.baseAddress!, pv.baseAddress!, po.baseAddress!, pl.baseAddress!)
                if blocked {
                    forEachAttentionPair(b * h, scratchCount: attentionRowBlock * s, T.self) { pair, scratch in
                        let ops = AttentionOperands(q: qb + pair * t * d, ldq: d, k: kb + pair * s * d, ldk: d, v: vb + pair * s * dv, ldv: dv,
                                                    o: ob + pair * t * dv, ldo: dv, lse: lb + pair * t)
                        attentionForwardPair(ops, t: t, s: s, d: d, dv: dv, scale: T(scale), causal: causal, scratch: scratch)
                    }
                    return
                }
                ThreadPool.shared.parallelFor(b * h) { pair in
                    var scores = [T](repeating: 0, count: t * s)
                    scores.withUnsafeMutableBufferPointer { sp in
                        let p = sp.baseAddress!
                        gemmTyped(false, true, t, s, d, qb + pair * t * d, d, kb + pair * s * d, d, 0, p, s)
                        attentionSoftmaxRows(p, rows: t, columns: s, scale: T(scale), bias: bias, batchIndex: pair / h, lse: lb + pair * t)
                        gemmTyped(false, false, t, dv, s, UnsafePointer(p), s, vb + pair * s * dv, dv, 0, ob + pair * t * dv, dv)
                    }
                }
            } } } } }
        }
        if q.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        let savedOut = out, savedLSE = lse
        return FusedKernel(outputs: [out], pullback: { gs in
            attentionBackward(gs[0]!.detached, q.detached, k.detached, v.detached, savedOut, savedLSE, bias, scale, blockedCausal: blocked ? causal : nil)
        })
    }

    /// Attention composed of primitives (materialises all scores; the fused primitive's reference).
    public static func attentionReference(query q: Tensor, key k: Tensor, value v: Tensor, causal: Bool = false,
                                          keyPadding: Tensor? = nil, mask: Tensor? = nil, scale: Double? = nil) -> Tensor {
        let (b, t, s) = (q.shape[0], q.shape[2], k.shape[2])
        let scale = scale ?? 1 / Double(q.shape[3]).squareRoot()
        var scores = Tensor.matmul(q, k, transposeB: true) * scale
        if let bias = attentionBias(batch: b, queries: t, keys: s, causal: causal, keyPadding: keyPadding?.detached, mask: mask?.detached, dtype: q.dtype) {
            scores = scores + bias.reshaped(to: [bias.shape[0], 1, t, s])
        }
        // Rows with every key masked: softmax over all −∞ is NaN; PyTorch's fused kernels give 0.
        let m = withoutDerivatives { scores.max(axis: -1, keepDims: true) }
        let allMasked = withoutDerivatives { m .== m.scalarLike(-.infinity) }
        let safe = Tensor.where(allMasked, Tensor.zeros(like: scores), scores)
        let p = safe.softmax(axis: -1) * (1 - allMasked)
        return Tensor.matmul(p, v)
    }

    /// The additive mask as one tensor [B or 1, T, S] (nil when there is none).
    static func attentionBias(batch: Int, queries t: Int, keys s: Int, causal: Bool, keyPadding: Tensor?, mask: Tensor?, dtype: DType) -> Tensor? {
        if !causal && keyPadding == nil && mask == nil { return nil }
        var bias = mask?.cast(to: dtype) ?? Tensor.zeros(shape: [t, s], dtype: dtype)
        if causal {
            var v = [Double](repeating: 0, count: t * s)
            for i in 0..<t { for j in 0..<s where j > i + (s - t) { v[i * s + j] = -.infinity } }
            bias = bias + Tensor(v, shape: [t, s], dtype: dtype)
        }
        bias = bias.reshaped(to: [1, t, s])
        if let keyPadding {
            let pad = Tensor.where(keyPadding.cast(to: dtype) .> 0, Tensor.zeros(shape: [batch, s], dtype: dtype),
                                   Tensor.full(-.infinity, shape: [batch, s], dtype: dtype))
            bias = bias + pad.reshaped(to: [batch, 1, s])
        }
        return bias
    }

    /// First-order reverse pass: per (batch, head), P = exp(S·scale + M − lse), dV = Pᵀ·dO,
    /// dP = dO·Vᵀ, dS = P ⊙ (dP − rowsum(dO ⊙ O)), dQ = dS·K·scale, dK = dSᵀ·Q·scale.
    static func attentionBackward(_ g: Tensor, _ q: Tensor, _ k: Tensor, _ v: Tensor, _ out: Tensor, _ lse: Tensor,
                                  _ bias: Tensor?, _ scale: Double, blockedCausal: Bool? = nil) -> [Tensor?] {
        let (b, h, t, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
        let (s, dv) = (k.shape[2], v.shape[3])
        var dq = Tensor(uninitializedShape: q.shape, dtype: q.dtype)
        var dk = Tensor(uninitializedShape: k.shape, dtype: q.dtype)
        var dvT = Tensor(uninitializedShape: v.shape, dtype: q.dtype)
        if let causal = blockedCausal {
            dk = Tensor.zeros(shape: k.shape, dtype: q.dtype)
            dvT = Tensor.zeros(shape: v.shape, dtype: q.dtype)
            func blocked<T: TensorFloat & KernelFloat>(_ type: T.Type) {
                q.withUnsafeBufferPointer(as: T.self) { pq in k.withUnsafeBufferPointer(as: T.self) { pk in
                v.withUnsafeBufferPointer(as: T.self) { pv in out.withUnsafeBufferPointer(as: T.self) { po in
                lse.withUnsafeBufferPointer(as: T.self) { pl in g.withUnsafeBufferPointer(as: T.self) { pg in
                dq.withUnsafeMutableBufferPointer(as: T.self) { pdq in dk.withUnsafeMutableBufferPointer(as: T.self) { pdk in
                dvT.withUnsafeMutableBufferPointer(as: T.self) { pdv in
                    let block = attentionRowBlock * s
                    forEachAttentionPair(b * h, scratchCount: 2 * block, T.self) { pair, scratch in
                        let (qo, ko, vo, oo) = (pair * t * d, pair * s * d, pair * s * dv, pair * t * dv)
                        let ops = AttentionOperands(q: pq.baseAddress! + qo, ldq: d, k: pk.baseAddress! + ko, ldk: d,
                                                    v: pv.baseAddress! + vo, ldv: dv, o: UnsafeMutablePointer(mutating: po.baseAddress! + oo), ldo: dv,
                                                    lse: UnsafeMutablePointer(mutating: pl.baseAddress! + pair * t))
                        attentionBackwardPair(ops, g: pg.baseAddress! + oo, ldg: dv, dq: pdq.baseAddress! + qo, lddq: d,
                                              dk: pdk.baseAddress! + ko, lddk: d, dvOut: pdv.baseAddress! + vo, lddv: dv,
                                              t: t, s: s, d: d, dv: dv, scale: T(scale), causal: causal, p: scratch, dp: scratch + block)
                    }
                } } } } } } } } }
            }
            if q.dtype == .float32 { blocked(Float.self) } else { blocked(Double.self) }
            return [dq, dk, dvT]
        }
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            q.withUnsafeBufferPointer(as: T.self) { pq in k.withUnsafeBufferPointer(as: T.self) { pk in
            v.withUnsafeBufferPointer(as: T.self) { pv in out.withUnsafeBufferPointer(as: T.self) { po in
            lse.withUnsafeBufferPointer(as: T.self) { pl in g.withUnsafeBufferPointer(as: T.self) { pg in
            dq.withUnsafeMutableBufferPointer(as: T.self) { pdq in dk.withUnsafeMutableBufferPointer(as: T.self) { pdk in
            dvT.withUnsafeMutableBufferPointer(as: T.self) { pdv in
                ThreadPool.shared.parallelFor(b * h) { pair in
                    var pBuf = [T](repeating: 0, count: t * s), dpBuf = [T](repeating: 0, count: t * s)
                    pBuf.withUnsafeMutableBufferPointer { pp in dpBuf.withUnsafeMutableBufferPointer { dpp in
                        let (p, dp) = (pp.baseAddress!, dpp.baseAddress!)
                        let (qo, ko, vo, oo) = (pair * t * d, pair * s * d, pair * s * dv, pair * t * dv)
                        // P from the saved log-sum-exp
                        gemmTyped(false, true, t, s, d, pq.baseAddress! + qo, d, pk.baseAddress! + ko, d, 0, p, s)
                        attentionProbabilities(p, rows: t, columns: s, scale: T(scale), bias: bias, batchIndex: pair / h, lse: pl.baseAddress! + pair * t)
                        // dV = Pᵀ·dO
                        gemmTyped(true, false, s, dv, t, UnsafePointer(p), s, pg.baseAddress! + oo, dv, 0, pdv.baseAddress! + vo, dv)
                        // dP = dO·Vᵀ
                        gemmTyped(false, true, t, s, dv, pg.baseAddress! + oo, dv, pv.baseAddress! + vo, dv, 0, dp, s)
                        for i in 0..<t {
                            var rowDot: T = 0
                            let go = pg.baseAddress! + oo + i * dv, oi = po.baseAddress! + oo + i * dv
                            for j in 0..<dv { rowDot += go[j] * oi[j] }
                            let pr = p + i * s, dr = dp + i * s
                            for j in 0..<s { dr[j] = pr[j] * (dr[j] - rowDot) * T(scale) }
                        }
                        // dQ = dS·K, dK = dSᵀ·Q (scale folded into dS)
                        gemmTyped(false, false, t, d, s, UnsafePointer(dp), s, pk.baseAddress! + ko, d, 0, pdq.baseAddress! + qo, d)
                        gemmTyped(true, false, s, d, t, UnsafePointer(dp), s, pq.baseAddress! + qo, d, 0, pdk.baseAddress! + ko, d)
                    } }
                }
            } } } } } } } } }
        }
        if q.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return [dq, dk, dvT]
    }
}

/// Softmax of each row of scale·S + bias in place, writing each row's log-sum-exp (of the scaled,
/// biased scores) to `lse`. Rows with every entry masked become zeros (lse = −∞).
@inline(__always)
func attentionSoftmaxRows<T: TensorFloat>(_ p: UnsafeMutablePointer<T>, rows: Int, columns: Int, scale: T, bias: Tensor?,
                                          batchIndex: Int, lse: UnsafeMutablePointer<T>) {
    addBias(p, rows: rows, columns: columns, scale: scale, bias: bias, batchIndex: batchIndex)
    for i in 0..<rows {
        let r = p + i * columns
        var m = -T.infinity
        for j in 0..<columns where r[j] > m { m = r[j] }
        if m == -T.infinity {
            r.update(repeating: 0, count: columns)
            lse[i] = -T.infinity
            continue
        }
        for j in 0..<columns { r[j] -= m }
        expInPlace(r, columns)
        var total: T = 0
        for j in 0..<columns { total += r[j] }
        let inv = 1 / total
        for j in 0..<columns { r[j] *= inv }
        lse[i] = m + T.log(total)
    }
}

/// P = exp(scale·S + bias − lse) in place (the probabilities again, from the saved log-sum-exp).
@inline(__always)
func attentionProbabilities<T: TensorFloat>(_ p: UnsafeMutablePointer<T>, rows: Int, columns: Int, scale: T, bias: Tensor?,
                                            batchIndex: Int, lse: UnsafePointer<T>) {
    addBias(p, rows: rows, columns: columns, scale: scale, bias: bias, batchIndex: batchIndex)
    for i in 0..<rows {
        let r = p + i * columns
        let l = lse[i]
        if l == -T.infinity { r.update(repeating: 0, count: columns); continue }
        for j in 0..<columns { r[j] -= l }
        expInPlace(r, columns)
    }
}

@inline(__always)
func addBias<T: TensorFloat>(_ p: UnsafeMutablePointer<T>, rows: Int, columns: Int, scale: T, bias: Tensor?, batchIndex: Int) {
    let n = rows * columns
    guard let bias else {
        for j in 0..<n { p[j] *= scale }
        return
    }
    bias.withUnsafeBufferPointer(as: T.self) { pb in
        let base = pb.baseAddress! + (bias.shape[0] == 1 ? 0 : batchIndex * n)
        for j in 0..<n { p[j] = p[j] * scale + base[j] }
    }
}

/// eˣ in place (vectorised for Float).
@inline(__always)
func expInPlace<T: TensorFloat>(_ p: UnsafeMutablePointer<T>, _ n: Int) {
    if T.self == Float.self {
        let f = UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self)
        VectorMath.exp(UnsafePointer(f), f, n)
    } else {
        for j in 0..<n { p[j] = T.exp(p[j]) }
    }
}
