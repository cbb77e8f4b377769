// NOTE(9): Mamba's selective scan (Gu & Dao 2023, `selective_scan_ref` of state-spaces/mamba),
// batch-first. Per batch row b, channel d and state index n:
//
//   δ_t = softplus(Δ_t + bias) (or Δ_t + bias),  Ā_t = exp(δ_t A_{dn}),  B̄_t u_t = δ_t u_t B_{tn}
//   h_t = Ā_t h_{t−1} + B̄_t u_t,   y_t = Σ_n C_{tn} h_{tn} + D_d u_t,   out_t = y_t · silu(z_t)
//
// The whole scan is one fused primitive (u, Δ, A, B, C, h₀, D, z, bias) ↦ (y, h at each row's
// length) (NOTE(6)): its reference is the bias, softplus, skip and gate as Tensor operations around
// the loop over time (`selectiveScanReference`; every order, forward mode, Float64); its Float32
// kernel (FluxionKernels/SelectiveScan.swift) runs sequentially in time with 8 channels per SIMD
// vector, computes δ, the skip and the gate on the fly and keeps only every 64th state for the
// reverse pass: no [B, L, D] intermediate besides y (and no [B, L, D, N] buffer at all).

extension Tensor {
    /// The selective scan of Mamba (`selective_scan_ref` semantics, batch-first) (NOTE(9)).
    ///
    /// Shapes: u, delta, z [B, L, D]; A [D, N]; B, C [B, L, N]; D, deltaBias [D]; initialState
    /// [B, D, N] (zeros when nil) → (y [B, L, D], lastState [B, D, N]). `lengths` (B values in
    /// 1…L) marks right-padded rows: the last state is each row's state after its last real step.
    /// Differentiable in every tensor argument, the last state included.
    public static func selectiveScan(_ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor? = nil,
                                     z: Tensor? = nil, deltaBias: Tensor? = nil, softplus: Bool = false,
                                     initialState: Tensor? = nil, lengths: [Int]? = nil) -> (y: Tensor, lastState: Tensor) {
        precondition(u.rank == 3 && A.rank == 2, "selectiveScan: u \(u.shape) must be [B, L, D] and A \(A.shape) [D, N]")
        let (b, l, d, n) = (u.shape[0], u.shape[1], u.shape[2], A.shape[1])
        func check(_ t: Tensor?, _ name: String, _ shape: [Int]) {
            guard let t else { return }
            precondition(t.shape == shape && t.dtype == u.dtype,
                         "selectiveScan: \(name) is \(t.dtype) \(t.shape), expected \(u.dtype) \(shape) (u is [B, L, D] = \(u.shape), A [D, N] = \(A.shape))")
        }
        precondition(u.dtype.isFloatingPoint && l >= 1, "selectiveScan: u must be a float [B, L, D] with L ≥ 1, got \(u.dtype) \(u.shape)")
        check(delta, "delta", [b, l, d]); check(A, "A", [d, n]); check(B, "B", [b, l, n]); check(C, "C", [b, l, n])
        check(D, "D", [d]); check(z, "z", [b, l, d]); check(deltaBias, "deltaBias", [d]); check(initialState, "initialState", [b, d, n])
        if let lengths {
            precondition(lengths.count == b && lengths.allSatisfy { $0 >= 1 && $0 <= l },
                         "selectiveScan: lengths \(lengths) must give \(b) values in 1…\(l)")
        }
        let h0 = initialState ?? Tensor.zeros(shape: [b, d, n], dtype: u.dtype)
        let ends = lengths ?? [Int](repeating: l, count: b)
        // One fused primitive over the whole scan, bias, softplus, skip and gate included; the
        // optional tensors follow the six fixed inputs in the order D, z, bias.
        let optional = [D, z, deltaBias]
        let inputs = [u, delta, A, B, C, h0] + optional.compactMap { $0 }
        let scanned = fusedPrimitive(inputs, kernelSupports: u.dtype == .float32, reference: { xs in
            var rest = xs[6...].makeIterator()
            let (dv, zv, bias) = (D.map { _ in rest.next()! }, z.map { _ in rest.next()! }, deltaBias.map { _ in rest.next()! })
            var dt = bias.map { xs[1] + $0 } ?? xs[1]
            if softplus { dt = dt.softplus() }
            let r = selectiveScanReference(xs[0], delta: dt, A: xs[2], B: xs[3], C: xs[4], initialState: xs[5], lengths: ends)
            var y = r.y
            if let dv { y = y + xs[0] * dv }
            if let zv { y = y * zv.silu() }
            return [y, r.lastState]
        }) { selectiveScanKernel(u, delta: delta, A: A, B: B, C: C, initialState: h0, D: D, z: z, deltaBias: deltaBias, softplus: softplus, lengths: ends) }
        return (scanned[0], scanned[1])
    }

    /// The scan proper as a loop over time in Tensor operations (the fused scan's reference):
    /// h_t = exp(δ_t A) h_{t−1} + δ_t u_t B_t, y_t = Σ_n C_t h_t; last state at each row's length.
    /// Shapes as `selectiveScan` (δ already biased and softplus'ed).
    public static func selectiveScanReference(_ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                                              initialState h0: Tensor, lengths: [Int]) -> (y: Tensor, lastState: Tensor) {
        let (b, l) = (u.shape[0], u.shape[1])
        let us = u.unstacked(axis: 1), dts = delta.unstacked(axis: 1)        // L × [B, D]
        let bs = B.unstacked(axis: 1), cs = C.unstacked(axis: 1)             // L × [B, N]
        var h = h0, last = h0
        var ys: [Tensor] = []
        for t in 0..<l {
            let decay = (dts[t].unsqueezed(axis: 2) * A).exp()                               // [B, D, N]
            h = decay * h + (dts[t] * us[t]).unsqueezed(axis: 2) * bs[t].unsqueezed(axis: 1)
            ys.append((h * cs[t].unsqueezed(axis: 1)).sum(axis: 2))                           // [B, D]
            let ending = (0..<b).map { lengths[$0] - 1 == t ? 1.0 : 0.0 }
            if ending.contains(1) {
                last = ending.allSatisfy({ $0 == 1 }) ? h
                    : Tensor.where(Tensor(ending, shape: [b, 1, 1], dtype: u.dtype), h, last)
            }
        }
        return (Tensor.stack(ys, axis: 1), last)
    }
}
