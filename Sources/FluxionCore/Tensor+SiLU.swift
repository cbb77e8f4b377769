import FluxionKernels

extension Tensor {
    /// The Float32 SiLU kernel of the fused `silu` (NOTE(6)): the forward sweep keeps σ(x), so the
    /// first-order backward pass is one memory sweep g·σ(1 + x(1 − σ)) with no exponential.
    func siluKernel() -> FusedKernel {
        var y = Tensor(uninitializedShape: shape, dtype: .float32)
        var s = Tensor(uninitializedShape: shape, dtype: .float32)
        let n = count
        withUnsafeBufferPointer(as: Float.self) { px in y.withUnsafeMutableBufferPointer(as: Float.self) { py in
            s.withUnsafeMutableBufferPointer(as: Float.self) { ps in
                let (x, o, sg) = (px.baseAddress!, py.baseAddress!, ps.baseAddress!)
                parallelRanges(n, grain: parallelGrain / 4) { a, b in VectorMath.silu(x + a, o + a, sigmoid: sg + a, b - a) }
            } } }
        let x = detached, sigmoid = s
        return FusedKernel(outputs: [y], pullback: { gs in
            let g = gs[0]!.detached
            var out = Tensor(uninitializedShape: x.shape, dtype: .float32)
            g.withUnsafeBufferPointer(as: Float.self) { pg in x.withUnsafeBufferPointer(as: Float.self) { px in
                sigmoid.withUnsafeBufferPointer(as: Float.self) { ps in out.withUnsafeMutableBufferPointer(as: Float.self) { po in
                    let (gp, xp, sp, op) = (pg.baseAddress!, px.baseAddress!, ps.baseAddress!, po.baseAddress!)
                    parallelRanges(n) { a, b in VectorMath.siluBackward(gp + a, xp + a, sp + a, op + a, b - a) }
                } } } }
            return [out]
        })
    }
}
