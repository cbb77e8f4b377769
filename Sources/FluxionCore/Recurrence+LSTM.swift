import FluxionKernels

// The LSTM recurrence over a whole sequence as one fused primitive (NOTE(6) in Fused.swift).
// Gates in PyTorch's order i, f, g, o:
//   z_t = x̃_t + h_{t−1}·W_hhᵀ,  i, f, o = σ(z_i), σ(z_f), σ(z_o),  g = tanh(z_g)
//   c_t = f ⊙ c_{t−1} + i ⊙ g,   h_t = o ⊙ tanh(c_t)
// where x̃ = x·W_ihᵀ + b (all time steps in one GEMM, done by the caller). The forward pass saves
// the activated gates and cells; the fast reverse pass walks back in time with one [B, 4H]·[4H, H]
// GEMM per step and forms ∂W_hh in a single GEMM over all steps.

extension Tensor {
    /// The LSTM recurrence over a sequence (PyTorch's gate order i, f, g, o), fused.
    ///
    /// Shapes: projected inputs x̃ [B, T, 4H] (= x·W_ihᵀ + b_ih + b_hh), recurrent weight W_hh [4H, H],
    /// initial hidden and cell states [B, H] → (all hidden states [B, T, H], final hidden [B, H],
    /// final cell [B, H]).
    public static func lstmRecurrence(_ projected: Tensor, recurrentWeight w: Tensor, hidden h0: Tensor, cell c0: Tensor)
        -> (outputs: Tensor, hidden: Tensor, cell: Tensor) {
        precondition(projected.rank == 3 && w.rank == 2 && w.shape[0] == 4 * w.shape[1] && projected.shape[2] == w.shape[0],
                     "lstmRecurrence: projected inputs \(projected.shape) and recurrent weight \(w.shape) must be [B, T, 4H] and [4H, H]")
        let (batch, steps, n) = (projected.shape[0], projected.shape[1], w.shape[1])
        precondition(h0.shape == [batch, n] && c0.shape == [batch, n], "lstmRecurrence: initial states \(h0.shape), \(c0.shape) must be [\(batch), \(n)]")
        precondition(Set([projected.dtype, w.dtype, h0.dtype, c0.dtype]).count == 1 && w.dtype.isFloatingPoint,
                     "lstmRecurrence: all inputs must share one float dtype")
        precondition(steps > 0, "lstmRecurrence: empty sequence \(projected.shape)")
        let outs = fusedPrimitive([projected, w, h0, c0], kernelSupports: true, reference: { xs in
            let r = lstmRecurrenceReference(xs[0], recurrentWeight: xs[1], hidden: xs[2], cell: xs[3])
            return [r.outputs, r.hidden, r.cell]
        }) { lstmRecurrenceKernel(projected, recurrentWeight: w, hidden: h0, cell: c0) }
        return (outs[0], outs[1], outs[2])
    }

    /// The kernel of `lstmRecurrence` (NOTE(6)).
    static func lstmRecurrenceKernel(_ projected: Tensor, recurrentWeight w: Tensor, hidden h0: Tensor, cell c0: Tensor) -> FusedKernel {
        let (batch, steps, n) = (projected.shape[0], projected.shape[1], w.shape[1])
        var hs = Tensor(uninitializedShape: [batch, steps, n], dtype: w.dtype)
        // Saved state is time-major ([T, B, ·]): each step's rows are contiguous (batch-major rows
        // would put every sequence's slice of a step on a different page).
        var cs = Tensor(uninitializedShape: [steps, batch, n], dtype: w.dtype)
        var gates = Tensor(uninitializedShape: [steps, batch, 4 * n], dtype: w.dtype)
        var tanhCs = Tensor(uninitializedShape: [steps, batch, n], dtype: w.dtype)
        let blocks = RowBlocks(rows: batch, minRows: 8)
        func forward<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            var z = [T](repeating: 0, count: batch * 4 * n)
            // Float: W_hhᵀ packed once for all steps (not once per step inside each GEMM).
            let packed: PackedGemmB? = T.self == Float.self ? w.withUnsafeBufferPointer(as: Float.self) {
                PackedGemmB(b: $0.baseAddress!, ldb: n, transB: true, k: n, n: 4 * n)
            } : nil
            projected.withUnsafeBufferPointer(as: T.self) { px in w.withUnsafeBufferPointer(as: T.self) { pw in
            h0.withUnsafeBufferPointer(as: T.self) { ph0 in c0.withUnsafeBufferPointer(as: T.self) { pc0 in
            hs.withUnsafeMutableBufferPointer(as: T.self) { ph in cs.withUnsafeMutableBufferPointer(as: T.self) { pc in
            gates.withUnsafeMutableBufferPointer(as: T.self) { pg in z.withUnsafeMutableBufferPointer { pz in
            tanhCs.withUnsafeMutableBufferPointer(as: T.self) { pt in
                let (x, h, c, g, zb) = (px.baseAddress!, ph.baseAddress!, pc.baseAddress!, pg.baseAddress!, pz.baseAddress!)
                let tc = pt.baseAddress!
                // Each thread takes a block of sequences through all steps: no meeting per step.
                blocks.forEach { p in
                    let rows = blocks.range(p), b0 = rows.lowerBound, m = rows.count
                    let zr = zb + b0 * 4 * n
                    for t in 0..<steps {
                        let (hPrev, hStride) = t == 0 ? (ph0.baseAddress! + b0 * n, n) : (UnsafePointer(h + b0 * steps * n + (t - 1) * n), steps * n)
                        let cPrev = t == 0 ? pc0.baseAddress! + b0 * n : UnsafePointer(c + ((t - 1) * batch + b0) * n)
                        if let packed {
                            gemm(m: m, a: UnsafeRawPointer(hPrev).assumingMemoryBound(to: Float.self), lda: hStride, packedB: packed,
                                 beta: 0, c: UnsafeMutableRawPointer(zr).assumingMemoryBound(to: Float.self), ldc: 4 * n)
                        } else {
                            gemmTyped(false, true, m, 4 * n, n, hPrev, hStride, pw.baseAddress!, n, 0, zr, 4 * n)
                        }
                        let at = (t * batch + b0) * n
                        lstmCellForward(UnsafePointer(zr), x + (b0 * steps + t) * 4 * n, steps * 4 * n, cPrev, n,
                                        g + 4 * at, c + at, tc + at, h + b0 * steps * n + t * n, n, steps * n, batch: m, hidden: n)
                    }
                }
            } } } } } } } } }
        }
        if w.dtype == .float32 { forward(Float.self) } else { forward(Double.self) }
        let ys = [hs, hs.sliced(axis: 1, (steps - 1)..<steps).reshaped(to: [batch, n]).detached,
                  cs.sliced(axis: 0, (steps - 1)..<steps).reshaped(to: [batch, n]).detached]
        let (savedGates, savedCells, savedTanh) = (gates, cs, tanhCs)
        return FusedKernel(outputs: ys, pullback: { gs in
            lstmRecurrenceBackward(gs, savedGates, savedCells, savedTanh, hs, w, h0, c0)
        })
    }

    /// The LSTM recurrence composed of primitives (the fused primitive's reference).
    public static func lstmRecurrenceReference(_ projected: Tensor, recurrentWeight w: Tensor, hidden h0: Tensor, cell c0: Tensor)
        -> (outputs: Tensor, hidden: Tensor, cell: Tensor) {
        var h = h0, c = c0
        var hs: [Tensor] = []
        for x in projected.unstacked(axis: 1) {
            let z = Tensor.linear(h, weight: w, bias: nil) + x
            let p = z.split(count: 4, axis: -1)
            let (i, f, g, o) = (p[0].sigmoid(), p[1].sigmoid(), p[2].tanh(), p[3].sigmoid())
            c = f * c + i * g
            h = o * c.tanh()
            hs.append(h)
        }
        return (Tensor.stack(hs, axis: 1), h, c)
    }

    /// First-order reverse pass of `lstmRecurrence` from its saved gates and cells.
    static func lstmRecurrenceBackward(_ gs: [Tensor?], _ gates: Tensor, _ cs: Tensor, _ tanhCs: Tensor, _ hs: Tensor, _ w: Tensor,
                                       _ h0: Tensor, _ c0: Tensor) -> [Tensor?] {
        let (batch, steps, n) = (hs.shape[0], hs.shape[1], hs.shape[2])
        var dz = Tensor(uninitializedShape: [batch, steps, 4 * n], dtype: w.dtype)
        var dw = Tensor(uninitializedShape: [4 * n, n], dtype: w.dtype)
        var dh = gs[1]?.detached ?? Tensor.zeros(like: h0)
        var dc = gs[2]?.detached ?? Tensor.zeros(like: c0)
        dh = dh.cast(to: w.dtype) * 1  // own buffer
        dc = dc * 1
        let gOut = gs[0]?.detached
        // h_{t−1} for every step, for ∂W_hh = Σ_t dz_tᵀ·h_{t−1} in one GEMM.
        let hPrev = Tensor.concatenate([h0.unsqueezed(axis: 1), hs.sliced(axis: 1, 0..<(steps - 1))], axis: 1)
        let blocks = RowBlocks(rows: batch, minRows: 8)
        func run<T: TensorFloat & KernelFloat>(_ type: T.Type) {
            // Float: W_hh packed once for the 4H × H products of every step.
            let packed: PackedGemmB? = T.self == Float.self ? w.withUnsafeBufferPointer(as: Float.self) {
                PackedGemmB(b: $0.baseAddress!, ldb: n, transB: false, k: 4 * n, n: n)
            } : nil
            gates.withUnsafeBufferPointer(as: T.self) { pg in cs.withUnsafeBufferPointer(as: T.self) { pc in
            tanhCs.withUnsafeBufferPointer(as: T.self) { ptc in c0.withUnsafeBufferPointer(as: T.self) { pc0 in w.withUnsafeBufferPointer(as: T.self) { pw in
            dz.withUnsafeMutableBufferPointer(as: T.self) { pdz in dh.withUnsafeMutableBufferPointer(as: T.self) { pdh in
            dc.withUnsafeMutableBufferPointer(as: T.self) { pdc in
                // Each thread takes a block of sequences back through all steps (as forward).
                blocks.forEach { p in
                    let rows = blocks.range(p), b0 = rows.lowerBound, m = rows.count
                    let dhr = pdh.baseAddress! + b0 * n, dcr = pdc.baseAddress! + b0 * n
                    let gr = pg.baseAddress! + b0 * 4 * n, cr = pc.baseAddress! + b0 * n, tr = ptc.baseAddress! + b0 * n
                    let dzr = pdz.baseAddress! + b0 * steps * 4 * n
                    for t in stride(from: steps - 1, through: 0, by: -1) {
                        if let gOut {
                            gOut.withUnsafeBufferPointer(as: T.self) { po in
                                for b in rows {
                                    let src = po.baseAddress! + (b * steps + t) * n, dst = pdh.baseAddress! + b * n
                                    for j in 0..<n { dst[j] += src[j] }
                                }
                            }
                        }
                        let cPrev = t == 0 ? pc0.baseAddress! + b0 * n : cr + (t - 1) * batch * n
                        lstmCellBackward(gr + t * batch * 4 * n, tr + t * batch * n, cPrev, n, n,
                                         UnsafePointer(dhr), dcr, dzr + t * 4 * n, steps * 4 * n, batch: m, hidden: n)
                        // ∂L/∂h_{t−1} = dz_t · W_hh, over ∂L/∂h_t (consumed by the cell above)
                        if let packed {
                            gemm(m: m, a: UnsafeRawPointer(dzr + t * 4 * n).assumingMemoryBound(to: Float.self),
                                 lda: steps * 4 * n, packedB: packed, beta: 0,
                                 c: UnsafeMutableRawPointer(dhr).assumingMemoryBound(to: Float.self), ldc: n)
                        } else {
                            gemmTyped(false, false, m, n, 4 * n, UnsafePointer(dzr + t * 4 * n), steps * 4 * n,
                                      pw.baseAddress!, n, 0, dhr, n)
                        }
                    }
                }
            } } } } } } } }
            dz.withUnsafeBufferPointer(as: T.self) { pdz in hPrev.withUnsafeBufferPointer(as: T.self) { php in
                dw.withUnsafeMutableBufferPointer(as: T.self) { pdw in
                    gemmTyped(true, false, 4 * n, n, batch * steps, pdz.baseAddress!, 4 * n, php.baseAddress!, n, 0, pdw.baseAddress!, n)
                } } }
        }
        if w.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return [dz, dw, dh, dc]
    }
}
