import FluxionKernels

// The Float32 kernel of the selective scan is SelectiveScanKernel (FluxionKernels/SelectiveScan.swift).

extension Tensor {
    /// The Float32 kernel of the scan proper (NOTE(9)): outputs (Σ_n C h [B, L, D], last state [B, D, N]).
    static func selectiveScanKernel(_ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor,
                                    initialState h0: Tensor, lengths: [Int]) -> FusedKernel {
        let (b, l, d, n) = (u.shape[0], u.shape[1], u.shape[2], A.shape[1])
        let scan = SelectiveScanKernel(batch: b, length: l, channels: d, states: n, lengths: lengths)
        let (ud, dd, bd, cd, hd) = (u.detached, delta.detached, B.detached, C.detached, h0.detached)
        let aT = A.detached.transposed()                                                   // [N, D]
        let y = Tensor(uninitializedShape: [b, l, d], dtype: .float32)
        let last = Tensor(uninitializedShape: [b, d, n], dtype: .float32)
        let checkpoints = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: b * scan.blocks * scan.segments * n)
        let saved = ScanCheckpoints(checkpoints)
        let ops = SelectiveScanKernel.Operands(u: ud.floatPointer, delta: dd.floatPointer, aT: aT.floatPointer,
                                               b: bd.floatPointer, c: cd.floatPointer, h0: hd.floatPointer)
        withExtendedLifetime((ud, dd, bd, cd, hd, aT, y, last)) {
            scan.forward(ops, y: y.mutableFloatPointer, last: last.mutableFloatPointer, checkpoints: checkpoints)
        }
        return FusedKernel(outputs: [y, last], pullback: { gs in
            let gy = gs[0]?.detached, gLast = gs[1]?.detached
            // ∂u, ∂δ and ∂h₀ are written whole by the reverse pass; the partials accumulate from zero.
            let gu = Tensor(uninitializedShape: [b, l, d], dtype: .float32), gd = Tensor(uninitializedShape: [b, l, d], dtype: .float32)
            let gh0 = Tensor(uninitializedShape: [b, d, n], dtype: .float32)
            let items = b * scan.groups
            let gB = Tensor.zeros(shape: [items, l, n]), gC = Tensor.zeros(shape: [items, l, n])
            let gAT = Tensor.zeros(shape: [items, n, d])
            let ops = SelectiveScanKernel.Operands(u: ud.floatPointer, delta: dd.floatPointer, aT: aT.floatPointer,
                                                   b: bd.floatPointer, c: cd.floatPointer, h0: hd.floatPointer)
            withExtendedLifetime((ud, dd, bd, cd, hd, aT, gy, gLast, gu, gd, gh0, gB, gC, gAT, saved)) {
                scan.backward(ops, gy: gy?.floatPointer, gLast: gLast?.floatPointer, checkpoints: saved.pointer,
                              into: .init(u: gu.mutableFloatPointer, delta: gd.mutableFloatPointer, h0: gh0.mutableFloatPointer,
                                          bPartial: gB.mutableFloatPointer, cPartial: gC.mutableFloatPointer,
                                          aPartial: gAT.mutableFloatPointer))
            }
            // Items of one batch row are consecutive: their ∂B, ∂C partials add up per row.
            let perRow = scan.groups
            let gBRows = gB.reshaped(to: [b, perRow, l, n]).sum(axis: 1)
            let gCRows = gC.reshaped(to: [b, perRow, l, n]).sum(axis: 1)
            return [gu, gd, gAT.sum(axis: 0).transposed(), gBRows, gCRows, gh0]
        })
    }
}

/// Owns the checkpoints of one forward pass until its pullback is released.
final class ScanCheckpoints {
    let pointer: UnsafeMutablePointer<SIMD8<Float>>
    init(_ pointer: UnsafeMutablePointer<SIMD8<Float>>) { self.pointer = pointer }
    deinit { pointer.deallocate() }
}
