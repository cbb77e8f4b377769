// NOTE(6): fused primitives. A fused primitive computes its value (and, for first-order
// gradients, its reverse rule) with a hand-written kernel, and has a *reference* implementation
// composed of ordinary primitives. Its derivative rules are those of the reference whenever
// anything might differentiate them further (an outer reverse transform or an active forward
// level), so higher-order derivatives stay exact; otherwise the fast first-order kernel runs.
// Tests check that value and gradients of the kernel match the reference.

/// Records a fused primitive with outputs `ys` (computed by a kernel) of `inputs`.
/// - `reference`: the same function built from primitives.
/// - `fastPullback`: first-order input cotangents from output cotangents (nil entries: zero).
func recordFused(_ ys: [Tensor], _ inputs: [Tensor], reference: @escaping ([Tensor]) -> [Tensor],
                 fastPullback: @escaping ([Tensor?]) -> [Tensor?]) -> [Tensor] {
    recordMultiple(ys, inputs, vjp: { gs, _ in
        let ctx = ADContext.current
        let plain = ctx.reverseDepth == 0 && ctx.forwardLevels.isEmpty && gs.allSatisfy { $0?.ad == nil }
        if plain { return fastPullback(gs) }
        let grads = gradient(at: inputs.map { $0.dtype.isFloatingPoint ? $0 : Tensor.zeros(shape: [0]) }) { xs -> Tensor in
            let outs = reference(xs)
            var total: Tensor? = nil
            for (y, g) in zip(outs, gs) {
                guard let g else { continue }
                let term = (y * g).sum()
                total = total.map { $0 + term } ?? term
            }
            return total ?? Tensor.zeros(shape: [], dtype: outs[0].dtype)
        }
        return zip(inputs, grads).map { x, g in x.dtype.isFloatingPoint ? g : nil }
    }, jvp: { ys, ts in
        let tangents = zip(inputs, ts).map { x, t in t ?? Tensor.zeros(like: x) }
        return jvp(at: inputs, along: tangents, of: reference).differential
    })
}
