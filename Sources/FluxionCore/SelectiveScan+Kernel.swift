import FluxionKernels

// The Float32 kernel of the selective scan is SelectiveScanKernel (FluxionKernels/SelectiveScan.swift).

extension Tensor {
    /// The Float32 kernel of the whole scan (NOTE(9)): outputs (y [B, L, D], last state [B, D, N]);
    /// the pullback returns cotangents for (u, Δ, A, B, C, h₀) then those of D, z, bias present.
    static func selectiveScanKernel(_ u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, initialState h0: Tensor,
                                    D: Tensor?, z: Tensor?, deltaBias: Tensor?, softplus: Bool, lengths: [Int]) -> FusedKernel {
        let (b, l, d, n) = (u.shape[0], u.shape[1], u.shape[2], A.shape[1])
        let scan = SelectiveScanKernel(batch: b, length: l, channels: d, states: n, lengths: lengths)
        let (ud, dd, bd, cd, hd) = (u.detached, delta.detached, B.detached, C.detached, h0.detached)
        let (skip, zd, bias) = (D?.detached, z?.detached, deltaBias?.detached)
        let aT = A.detached.transposed()                                                   // [N, D]
        let y = Tensor(uninitializedShape: [b, l, d], dtype: .float32)
        let last = Tensor(uninitializedShape: [b, d, n], dtype: .float32)
        let saved = ScanCheckpoints(count: b * scan.blocks * scan.segments * n)
        func operands() -> SelectiveScanKernel.Operands {
            .init(u: ud.floatPointer, delta: dd.floatPointer, aT: aT.floatPointer, b: bd.floatPointer, c: cd.floatPointer,
                  h0: hd.floatPointer, skip: skip?.floatPointer, z: zd?.floatPointer, bias: bias?.floatPointer, softplus: softplus)
        }
        withExtendedLifetime((ud, dd, bd, cd, hd, aT, skip, zd, bias, y, last)) {
            scan.forward(operands(), y: y.mutableFloatPointer, last: last.mutableFloatPointer, checkpoints: saved.pointer)
        }
        return FusedKernel(outputs: [y, last], pullback: { gs in
            let gy = gs[0]?.detached, gLast = gs[1]?.detached
            // ∂u, ∂Δ, ∂z and ∂h₀ are written whole by the reverse pass; the partials accumulate from zero.
            let gu = Tensor(uninitializedShape: [b, l, d], dtype: .float32), gd = Tensor(uninitializedShape: [b, l, d], dtype: .float32)
            let gh0 = Tensor(uninitializedShape: [b, d, n], dtype: .float32)
            let gz = zd.map { _ in Tensor(uninitializedShape: [b, l, d], dtype: .float32) }
            let items = b * scan.groups
            let gB = Tensor.zeros(shape: [items, l, n]), gC = Tensor.zeros(shape: [items, l, n])
            let gAT = Tensor.zeros(shape: [items, n, d])
            let gSkip = skip.map { _ in Tensor.zeros(shape: [items, d]) }, gBias = bias.map { _ in Tensor.zeros(shape: [items, d]) }
            withExtendedLifetime((ud, dd, bd, cd, hd, aT, skip, zd, bias, gy, gLast, gu, gd, gh0, gz, gB, gC, gAT, gSkip, gBias, saved)) {
                scan.backward(operands(), gy: gy?.floatPointer, gLast: gLast?.floatPointer, checkpoints: saved.pointer,
                              into: .init(u: gu.mutableFloatPointer, delta: gd.mutableFloatPointer, h0: gh0.mutableFloatPointer,
                                          bPartial: gB.mutableFloatPointer, cPartial: gC.mutableFloatPointer,
                                          aPartial: gAT.mutableFloatPointer, z: gz?.mutableFloatPointer,
                                          skipPartial: gSkip?.mutableFloatPointer, biasPartial: gBias?.mutableFloatPointer))
            }
            // Items of one batch row are consecutive: their ∂B, ∂C partials add up per row.
            let perRow = scan.groups
            let gBRows = gB.reshaped(to: [b, perRow, l, n]).sum(axis: 1)
            let gCRows = gC.reshaped(to: [b, perRow, l, n]).sum(axis: 1)
            var grads: [Tensor?] = [gu, gd, gAT.sum(axis: 0).transposed(), gBRows, gCRows, gh0]
            if let gSkip { grads.append(gSkip.sum(axis: 0)) }
            if let gz { grads.append(gz) }
            if let gBias { grads.append(gBias.sum(axis: 0)) }
            return grads
        })
    }
}

/// Owns the checkpoints of one forward pass until its pullback is released; counted in the tensor
/// memory figures (`Runtime.liveBytes`, `peakBytes`) like tensor storage.
final class ScanCheckpoints {
    let pointer: UnsafeMutablePointer<SIMD8<Float>>
    let byteCount: Int
    init(count: Int) {
        byteCount = count * MemoryLayout<SIMD8<Float>>.stride
        pointer = MemoryAccounting.allocate(byteCount: byteCount).bindMemory(to: SIMD8<Float>.self, capacity: count)
    }
    deinit { MemoryAccounting.deallocate(UnsafeMutableRawPointer(pointer), byteCount: byteCount) }
}
