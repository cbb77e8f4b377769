import FluxionKernels

// Multi-head self-attention straight from a packed projection, as a fused primitive (NOTE(6)):
// the heads are read from qkv [B, T, 3E] with strides and the output is written in [B, T, E], so
// the split into q, k, v, the head permutations and their reverse rules (each a full copy) vanish.

extension Tensor {
    /// Multi-head scaled dot-product self-attention of a packed projection.
    ///
    /// qkv [B, T, 3E] holds [q | k | v] along the last axis, each the heads h = 0..<H side by side
    /// (d = E/H columns each, PyTorch's `view(B, T, H, d)`); the result [B, T, E] holds
    /// softmax(q_h·k_hᵀ/√d [+ causal mask])·v_h for head h in columns h·d..<(h + 1)·d.
    /// Equal to `attention(query:key:value:causal:)` on the split heads (the reference).
    public static func packedAttention(_ qkv: Tensor, headCount: Int, causal: Bool = true) -> Tensor {
        precondition(qkv.rank == 3 && qkv.shape[2] % (3 * headCount) == 0 && qkv.dtype.isFloatingPoint,
                     "packedAttention: input \(qkv.shape) must be a float [B, T, 3E] with E divisible by \(headCount) heads")
        return fusedPrimitive([qkv], kernelSupports: true, reference: { xs in
            [packedAttentionReference(xs[0], headCount: headCount, causal: causal)]
        }) { packedAttentionKernel(qkv, headCount: headCount, causal: causal) }[0]
    }

    /// The kernel of `packedAttention` (NOTE(6)).
    static func packedAttentionKernel(_ qkv: Tensor, headCount: Int, causal: Bool) -> FusedKernel {
        let (b, t, e3) = (qkv.shape[0], qkv.shape[1], qkv.shape[2])
        let e = e3 / 3, h = headCount, d = e / headCount
        let scale = 1 / Double(d).squareRoot()
        var out = Tensor(uninitializedShape: [b, t, e], dtype: qkv.dtype)
        var lse = Tensor(uninitializedShape: [b, h, t], dtype: qkv.dtype)
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            qkv.withUnsafeBufferPointer(as: T.self) { px in out.withUnsafeMutableBufferPointer(as: T.self) { po in
            lse.withUnsafeMutableBufferPointer(as: T.self) { pl in
                let (x, o, l) = (px.baseAddress!, po.baseAddress!, pl.baseAddress!)
                forEachAttentionPair(b * h, scratchCount: attentionRowBlock * t, T.self) { pair, scratch in
                    let (bi, hi) = (pair / h, pair % h)
                    let base = x + bi * t * e3 + hi * d
                    let ops = AttentionOperands(q: base, ldq: e3, k: base + e, ldk: e3, v: base + 2 * e, ldv: e3,
                                                o: o + bi * t * e + hi * d, ldo: e, lse: l + pair * t)
                    attentionForwardPair(ops, t: t, s: t, d: d, dv: d, scale: T(scale), causal: causal, scratch: scratch)
                }
            } } }
        }
        if qkv.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        let savedOut = out, savedLSE = lse
        return FusedKernel(outputs: [out], pullback: { gs in
            [packedAttentionBackward(gs[0]!.detached, qkv.detached, savedOut, savedLSE, headCount: headCount, causal: causal)]
        })
    }

    /// `packedAttention` composed of primitives (split, head permutations, `attentionReference`).
    public static func packedAttentionReference(_ qkv: Tensor, headCount: Int, causal: Bool = true) -> Tensor {
        let (b, t, e) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
        let heads = qkv.split(count: 3, axis: 2).map { $0.reshaped(to: [b, t, headCount, e / headCount]).permuted([0, 2, 1, 3]) }
        let a = attentionReference(query: heads[0], key: heads[1], value: heads[2], causal: causal)
        return a.permuted([0, 2, 1, 3]).reshaped(to: [b, t, e])
    }

    static func packedAttentionBackward(_ g: Tensor, _ qkv: Tensor, _ out: Tensor, _ lse: Tensor, headCount h: Int, causal: Bool) -> Tensor {
        let (b, t, e3) = (qkv.shape[0], qkv.shape[1], qkv.shape[2])
        let e = e3 / 3, d = e / h
        let scale = 1 / Double(d).squareRoot()
        var dx = Tensor.zeros(shape: qkv.shape, dtype: qkv.dtype)
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            qkv.withUnsafeBufferPointer(as: T.self) { px in out.withUnsafeBufferPointer(as: T.self) { po in
            lse.withUnsafeBufferPointer(as: T.self) { pl in g.withUnsafeBufferPointer(as: T.self) { pg in
            dx.withUnsafeMutableBufferPointer(as: T.self) { pdx in
                let (x, o, l, gb, dxb) = (px.baseAddress!, po.baseAddress!, pl.baseAddress!, pg.baseAddress!, pdx.baseAddress!)
                let block = attentionRowBlock * t
                forEachAttentionPair(b * h, scratchCount: 2 * block, T.self) { pair, scratch in
                    let (bi, hi) = (pair / h, pair % h)
                    let base = x + bi * t * e3 + hi * d, dbase = dxb + bi * t * e3 + hi * d
                    let ops = AttentionOperands(q: base, ldq: e3, k: base + e, ldk: e3, v: base + 2 * e, ldv: e3,
                                                o: UnsafeMutablePointer(mutating: o) + bi * t * e + hi * d, ldo: e,
                                                lse: UnsafeMutablePointer(mutating: l) + pair * t)
                    attentionBackwardPair(ops, g: gb + bi * t * e + hi * d, ldg: e, dq: dbase, lddq: e3, dk: dbase + e, lddk: e3,
                                          dvOut: dbase + 2 * e, lddv: e3, t: t, s: t, d: d, dv: d, scale: T(scale), causal: causal,
                                          p: scratch, dp: scratch + block)
                }
            } } } } }
        }
        if qkv.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return dx
    }
}
