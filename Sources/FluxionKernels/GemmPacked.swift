// A B operand packed once and reused by many products C = op(A)·B (a recurrent weight multiplied
// at every time step): the per-call packing of B, ~20% of an LSTM's time, disappears.

/// op(B) (k × n, Float) packed into the micro-kernel's column panels, depth block by depth block.
package final class PackedGemmB: @unchecked Sendable {
    package let k: Int
    package let n: Int
    let kcMax: Int
    let blockElements: Int
    let buffer: UnsafeMutablePointer<Float>

    /// Packs op(B): B stored row-major with leading dimension `ldb` (n × k and used transposed when
    /// `transB`).
    package init(b: UnsafePointer<Float>, ldb: Int, transB: Bool, k: Int, n: Int) {
        precondition(k > 0 && n > 0, "PackedGemmB: empty operand \(k) × \(n)")
        self.k = k
        self.n = n
        let kBlocks = (k + Float.kcBlock - 1) / Float.kcBlock
        kcMax = roundUp((k + kBlocks - 1) / kBlocks, 8)
        // One extra panel so the paired AVX-512 kernel may read past a lone last panel.
        blockElements = (roundUp(n, Float.nr) + Float.nr) * kcMax
        buffer = UnsafeMutablePointer<Float>.allocate(capacity: blockElements * kBlocks)
        buffer.initialize(repeating: 0, count: blockElements * kBlocks)
        let rsB = transB ? 1 : ldb, csB = transB ? ldb : 1
        var pc = 0, block = 0
        while pc < k {
            let kc = min(kcMax, k - pc)
            packB(b, rsB, csB, pc, kc, 0, n, buffer + block * blockElements)
            pc += kc
            block += 1
        }
    }

    deinit { buffer.deallocate() }
}

/// C = op(A)·B + β·C with a pre-packed B (α = 1). op(A) is m × k (A stored k × m when `transA`).
package func gemm(m: Int, a: UnsafePointer<Float>, lda: Int, transA: Bool = false, packedB: PackedGemmB,
                 beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    let (k, n) = (packedB.k, packedB.n)
    if m <= 0 { return }
    let rsA = transA ? 1 : lda, csA = transA ? lda : 1
    let mr = Float.mr, nr = Float.nr
    let unit = Float.wideMicroKernel != nil ? 2 * nr : nr
    let pool = ThreadPool.shared
    let threads = m * n * k >= GemmTuning.parallelMinWork ? pool.threadCount : 1
    let rowsMax = min(roundUp(m, mr), GemmTuning.mBig)
    let ws = GemmWorkspace.shared.acquire(rowsMax * packedB.kcMax * MemoryLayout<Float>.stride + 128)
    defer { GemmWorkspace.shared.release(ws) }
    let bufA = ws.0.bindMemory(to: Float.self, capacity: rowsMax * packedB.kcMax)
    var ic = 0
    while ic < m {
        let mc = min(GemmTuning.mBig, m - ic)
        var pc = 0, block = 0
        while pc < k {
            let kc = min(packedB.kcMax, k - pc)
            let betaEff: Float = pc == 0 ? beta : 1
            let pb = packedB.buffer + block * packedB.blockElements
            packA(a, rsA, csA, ic, mc, pc, kc, bufA)
            let cBase = c + ic * ldc
            let units = (n + unit - 1) / unit
            if threads > 1 && units >= 2 {
                let slabs = min(units, 4 * threads)
                let sw = (units + slabs - 1) / slabs * unit
                pool.parallelFor((n + sw - 1) / sw) { t in
                    let j0 = t * sw
                    computeTile(0, mc, j0, min(sw, n - j0), kc, bufA, pb, cBase, ldc, 1, betaEff)
                }
            } else {
                computeTile(0, mc, 0, n, kc, bufA, pb, cBase, ldc, 1, betaEff)
            }
            pc += kc
            block += 1
        }
        ic += mc
    }
}
