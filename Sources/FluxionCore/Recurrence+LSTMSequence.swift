import FluxionKernels

// The LSTM layer over a sequence with its input projection fused in (NOTE(6) in Fused.swift):
//   z_t = [x_t | h_{t−1}]·[W_ih | W_hh]ᵀ + b,   gates and cell as in `lstmRecurrence`.
// The rows [x_t | h_{t−1}] of every step are kept in one time-major buffer XH [T, B, I + H]: each
// step's product reads its rows from there (one GEMM with depth I + H), and the backward pass
// forms [∂W_ih | ∂W_hh] = Σ_t dz_tᵀ·XH_t as a single product. Compared with projecting all inputs
// first (`linear` then `lstmRecurrence`), nothing of size [B, T, 4H] is written and read back
// except the gates themselves, and the gradient dz is packed for one weight product, not two.

extension Tensor {
    /// An LSTM layer over a sequence, input projection included (PyTorch's gate order i, f, g, o).
    ///
    /// Shapes: x [B, T, I], W_ih [4H, I], bias [4H] (b_ih + b_hh) or nil, W_hh [4H, H], initial
    /// states [B, H] → (all hidden states [B, T, H], final hidden [B, H], final cell [B, H]).
    /// Equal in value and in derivatives of every order to
    /// `lstmRecurrence(linear(x, W_ih, bias), W_hh, h0, c0)`, which runs instead in Float64 and under
    /// nested transforms.
    public static func lstmSequence(_ x: Tensor, inputWeight wih: Tensor, bias: Tensor?, recurrentWeight whh: Tensor,
                                    hidden h0: Tensor, cell c0: Tensor) -> (outputs: Tensor, hidden: Tensor, cell: Tensor) {
        precondition(x.rank == 3 && wih.rank == 2 && whh.rank == 2 && whh.shape[0] == 4 * whh.shape[1]
                     && wih.shape == [whh.shape[0], x.shape[2]],
                     "lstmSequence: input \(x.shape), input weight \(wih.shape) and recurrent weight \(whh.shape) must be [B, T, I], [4H, I] and [4H, H]")
        let (batch, steps, n) = (x.shape[0], x.shape[1], whh.shape[1])
        if let bias { precondition(bias.shape == [4 * n], "lstmSequence: bias \(bias.shape) must be [\(4 * n)]") }
        precondition(h0.shape == [batch, n] && c0.shape == [batch, n], "lstmSequence: initial states \(h0.shape), \(c0.shape) must be [\(batch), \(n)]")
        precondition(Set([x.dtype, wih.dtype, whh.dtype, h0.dtype, c0.dtype] + (bias.map { [$0.dtype] } ?? [])).count == 1 && x.dtype.isFloatingPoint,
                     "lstmSequence: all inputs must share one float dtype")
        precondition(steps > 0, "lstmSequence: empty sequence \(x.shape)")
        func reference(_ xs: [Tensor]) -> [Tensor] {
            let b: Tensor? = xs.count == 6 ? xs[2] : nil
            let (wh, h, c) = xs.count == 6 ? (xs[3], xs[4], xs[5]) : (xs[2], xs[3], xs[4])
            let r = lstmRecurrence(Tensor.linear(xs[0], weight: xs[1], bias: b), recurrentWeight: wh, hidden: h, cell: c)
            return [r.outputs, r.hidden, r.cell]
        }
        let all = bias.map { [x, wih, $0, whh, h0, c0] } ?? [x, wih, whh, h0, c0]
        let outs = fusedPrimitive(all, kernelSupports: x.dtype == .float32, reference: reference) {
            lstmSequenceKernel(x, inputWeight: wih, bias: bias, recurrentWeight: whh, hidden: h0, cell: c0)
        }
        return (outs[0], outs[1], outs[2])
    }

    /// The Float32 kernel of `lstmSequence` (NOTE(6)).
    static func lstmSequenceKernel(_ x: Tensor, inputWeight wih: Tensor, bias: Tensor?, recurrentWeight whh: Tensor,
                                   hidden h0: Tensor, cell c0: Tensor) -> FusedKernel {
        let (batch, steps, inputs, n) = (x.shape[0], x.shape[1], x.shape[2], whh.shape[1])
        let k = inputs + n
        let hs = Tensor(uninitializedShape: [batch, steps, n], dtype: .float32)
        // Saved state, time-major: each step's rows are contiguous.
        let cs = Tensor(uninitializedShape: [steps, batch, n], dtype: .float32)
        let gates = Tensor(uninitializedShape: [steps, batch, 4 * n], dtype: .float32)
        let tanhCs = Tensor(uninitializedShape: [steps, batch, n], dtype: .float32)
        let xh = Tensor(uninitializedShape: [steps, batch, k], dtype: .float32)
        let blocks = RowBlocks(rows: batch, minRows: 8)
        let xd = x.detached, wihd = wih.detached, whhd = whh.detached
        // [W_ih | W_hh] as one [4H, I + H] operand, packed once (used transposed).
        let wcat = Tensor(uninitializedShape: [4 * n, k], dtype: .float32)
        let pwcat = wcat.mutableFloatPointer
        withExtendedLifetime((wihd, whhd, wcat)) {
            for r in 0..<(4 * n) {
                (pwcat + r * k).update(from: wihd.floatPointer + r * inputs, count: inputs)
                (pwcat + r * k + inputs).update(from: whhd.floatPointer + r * n, count: n)
            }
        }
        let packed = PackedGemmB(b: wcat.floatPointer, ldb: k, transB: true, k: k, n: 4 * n)
        let zeroBias = [Float](repeating: 0, count: 4 * n)
        let biasd = bias?.detached
        let z = Tensor(uninitializedShape: [batch, 4 * n], dtype: .float32)
        let (px, ph0, pc0) = (xd.floatPointer, h0.detached.floatPointer, c0.detached.floatPointer)
        let (ph, pc, pg, pt, pxh, pz) = (hs.mutableFloatPointer, cs.mutableFloatPointer, gates.mutableFloatPointer,
                                         tanhCs.mutableFloatPointer, xh.mutableFloatPointer, z.mutableFloatPointer)
        withExtendedLifetime((xd, h0, c0, hs, cs, gates, tanhCs, xh, z, biasd, wcat, packed)) {
            zeroBias.withUnsafeBufferPointer { zb in
                let pb = biasd?.floatPointer ?? zb.baseAddress!
                blocks.forEach { p in
                    let rows = blocks.range(p), b0 = rows.lowerBound, m = rows.count
                    let zr = pz + b0 * 4 * n
                    for t in 0..<steps {
                        // XH_t rows of this block: [x_t | h_{t−1}].
                        let a = pxh + (t * batch + b0) * k
                        for (i, b) in rows.enumerated() {
                            (a + i * k).update(from: px + (b * steps + t) * inputs, count: inputs)
                            let hPrev = t == 0 ? ph0 + b * n : UnsafePointer(ph + (b * steps + t - 1) * n)
                            (a + i * k + inputs).update(from: hPrev, count: n)
                        }
                        gemm(m: m, a: UnsafePointer(a), lda: k, packedB: packed, beta: 0, c: zr, ldc: 4 * n)
                        let cPrev = t == 0 ? pc0 + b0 * n : UnsafePointer(pc + ((t - 1) * batch + b0) * n)
                        let at = (t * batch + b0) * n
                        lstmCellForward(UnsafePointer(zr), pb, 0, cPrev, n, pg + 4 * at, pc + at, pt + at,
                                        ph + b0 * steps * n + t * n, n, steps * n, batch: m, hidden: n)
                    }
                }
            }
        }
        let ys = [hs, hs.sliced(axis: 1, (steps - 1)..<steps).reshaped(to: [batch, n]).detached,
                  cs.sliced(axis: 0, (steps - 1)..<steps).reshaped(to: [batch, n]).detached]
        let needX = x.ad?.node != nil
        return FusedKernel(outputs: ys, pullback: { gs in
            lstmSequenceBackward(gs, gates: gates, cells: cs, tanhCells: tanhCs, xh: xh, inputWeight: wihd,
                                 recurrentWeight: whhd, c0: c0.detached, needX: needX, hasBias: bias != nil)
        })
    }

    /// First-order reverse pass of `lstmSequence` (Float) from its saved state.
    static func lstmSequenceBackward(_ gs: [Tensor?], gates: Tensor, cells cs: Tensor, tanhCells tanhCs: Tensor, xh: Tensor,
                                     inputWeight wih: Tensor, recurrentWeight whh: Tensor, c0: Tensor,
                                     needX: Bool, hasBias: Bool) -> [Tensor?] {
        let (steps, batch, n) = (cs.shape[0], cs.shape[1], cs.shape[2])
        let inputs = wih.shape[1], k = inputs + n
        let dz = Tensor(uninitializedShape: [steps, batch, 4 * n], dtype: .float32)   // time-major, as XH
        let dh = Tensor(uninitializedShape: [batch, n], dtype: .float32)
        let dc = Tensor(uninitializedShape: [batch, n], dtype: .float32)
        let gOut = gs[0]?.detached, gH = gs[1]?.detached, gC = gs[2]?.detached
        // Per step, [∂h_{t−1} | ∂x_t] = dz_t·[W_hh | W_ih] as one product (dz_t packed once), when x
        // needs a gradient; else dz_t·W_hh alone.
        let outWidth = needX ? n + inputs : n
        let wcat = Tensor(uninitializedShape: [4 * n, outWidth], dtype: .float32)
        let pwcat = wcat.mutableFloatPointer
        withExtendedLifetime((whh, wih, wcat)) {
            for r in 0..<(4 * n) {
                (pwcat + r * outWidth).update(from: whh.floatPointer + r * n, count: n)
                if needX { (pwcat + r * outWidth + n).update(from: wih.floatPointer + r * inputs, count: inputs) }
            }
        }
        let packed = PackedGemmB(b: wcat.floatPointer, ldb: outWidth, transB: false, k: 4 * n, n: outWidth)
        let blocks = RowBlocks(rows: batch, minRows: 8)
        let dx: Tensor? = needX ? Tensor(uninitializedShape: [batch, steps, inputs], dtype: .float32) : nil
        let pdx = dx?.mutableFloatPointer
        let scratch = Tensor(uninitializedShape: [blocks.count, blocks.maxRows * outWidth], dtype: .float32)
        let pscratch = scratch.mutableFloatPointer
        let (pdz, pdh, pdc) = (dz.mutableFloatPointer, dh.mutableFloatPointer, dc.mutableFloatPointer)
        // ∂b = Σ dz, summed per block while each step's dz is still in cache.
        let dbParts = Tensor.zeros(shape: [blocks.count, 4 * n])
        let pdb = dbParts.mutableFloatPointer
        let (pg, pc, pt, pc0) = (gates.floatPointer, cs.floatPointer, tanhCs.floatPointer, c0.floatPointer)
        withExtendedLifetime((dz, dh, dc, gOut, gH, gC, packed, gates, cs, tanhCs, c0, wcat, dbParts, dx, scratch)) {
            if let gH { pdh.update(from: gH.floatPointer, count: batch * n) } else { pdh.update(repeating: 0, count: batch * n) }
            if let gC { pdc.update(from: gC.floatPointer, count: batch * n) } else { pdc.update(repeating: 0, count: batch * n) }
            let po = gOut?.floatPointer
            blocks.forEach { p in
                let rows = blocks.range(p), b0 = rows.lowerBound, m = rows.count
                let dhr = pdh + b0 * n, dcr = pdc + b0 * n, dbr = pdb + p * 4 * n
                for t in stride(from: steps - 1, through: 0, by: -1) {
                    if let po {
                        for b in rows {
                            let src = po + (b * steps + t) * n, dst = pdh + b * n
                            for j in 0..<n { dst[j] += src[j] }
                        }
                    }
                    let at = (t * batch + b0) * n
                    let cPrev = t == 0 ? pc0 + b0 * n : pc + ((t - 1) * batch + b0) * n
                    let dzr = pdz + 4 * at
                    lstmCellBackward(pg + 4 * at, pt + at, cPrev, n, n, UnsafePointer(dhr), dcr, dzr, 4 * n, batch: m, hidden: n)
                    if hasBias {
                        for i in 0..<m {
                            let row = dzr + i * 4 * n
                            for j in 0..<(4 * n) { dbr[j] += row[j] }
                        }
                    }
                    // ∂L/∂h_{t−1} = dz_t · W_hh, over ∂L/∂h_t (consumed by the cell above), and ∂x_t.
                    if let pdx {
                        let out = pscratch + p * blocks.maxRows * outWidth
                        gemm(m: m, a: UnsafePointer(dzr), lda: 4 * n, packedB: packed, beta: 0, c: out, ldc: outWidth)
                        for (i, b) in rows.enumerated() {
                            (dhr + i * n).update(from: out + i * outWidth, count: n)
                            (pdx + (b * steps + t) * inputs).update(from: out + i * outWidth + n, count: inputs)
                        }
                    } else {
                        gemm(m: m, a: UnsafePointer(dzr), lda: 4 * n, packedB: packed, beta: 0, c: dhr, ldc: n)
                    }
                }
            }
        }
        // [∂W_ih | ∂W_hh] = dzᵀ·XH over all steps and sequences.
        let rowsAll = steps * batch
        let dwcat = Tensor(uninitializedShape: [4 * n, k], dtype: .float32)
        withExtendedLifetime((dz, xh, dwcat)) {
            gemm(transA: true, transB: false, m: 4 * n, n: k, k: rowsAll, alpha: 1, a: dz.floatPointer, lda: 4 * n,
                 b: xh.floatPointer, ldb: k, beta: 0, c: dwcat.mutableFloatPointer, ldc: k)
        }
        let dwih = dwcat.sliced(axis: 1, 0..<inputs)
        let dwhh = dwcat.sliced(axis: 1, inputs..<k)
        var grads: [Tensor?] = [dx, dwih]
        if hasBias { grads.append(dbParts.sum(axis: 0)) }
        grads += [dwhh, dh, dc]
        return grads
    }
}
