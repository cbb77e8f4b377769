import FluxionKernels

// The Float32 kernel of the selective scan (NOTE(9) in SelectiveScan.swift). A work item is one
// batch row and a group of 8-channel blocks; within a block the 8 channels are the lanes of one
// SIMD vector and the N states are N vectors, carried sequentially through time:
//
//   forward   a_n = exp(δ A_n),  h_n ← a_n h_n + (δ u) B_{tn},  y_t = Σ_n C_{tn} h_n
//   backward  (t from L − 1 down to 0, the state adjoint g_n carried back)
//             g_n += ∂y_t · C_{tn};  ∂C_{tn} += Σ_lanes ∂y_t h_n;  ∂a_n = g_n h_{n,t−1}
//             ∂δ += Σ_n ∂a_n a_n A_n + g_n u B_{tn};  ∂A_n += ∂a_n a_n δ;  ∂u += Σ_n g_n δ B_{tn}
//             ∂B_{tn} += Σ_lanes g_n δ u;  g_n ← g_n a_n;   ∂h₀ = g after t = 0
//
// The reverse pass needs h_{t−1} at every step; rather than a [B, L, D, N] buffer, the forward
// pass keeps the state every 64 steps and the reverse pass recomputes each 64-step segment's
// states from its checkpoint. ∂B and ∂C sum over channels, ∂A over the batch: each work item
// writes its own partial sums, added up at the end.

/// Loads `w` ≤ 8 floats into the low lanes (the rest 0).
@inline(__always)
private func loadLanes(_ p: UnsafePointer<Float>, _ w: Int) -> SIMD8<Float> {
    if w == 8 { return UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self) }
    var v = SIMD8<Float>()
    for i in 0..<w { v[i] = p[i] }
    return v
}

/// Stores the low `w` ≤ 8 lanes.
@inline(__always)
private func storeLanes(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ w: Int) {
    if w == 8 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self); return }
    for i in 0..<w { p[i] = v[i] }
}

/// Geometry and saved state of one selective scan (Float32).
struct SelectiveScanKernel {
    static let segment = 64
    let batch: Int, length: Int, channels: Int, states: Int
    let lengths: [Int]
    var blocks: Int { (channels + 7) / 8 }
    var segments: Int { (length + Self.segment - 1) / Self.segment }
    /// Work items per batch row (channel-block groups), enough to keep every thread busy.
    var groups: Int { Swift.min(blocks, Swift.max(1, (2 * ThreadPool.shared.threadCount + batch - 1) / batch)) }

    /// The pointers of one scan: inputs (u, δ [B, L, D], Aᵀ [N, D], B, C [B, L, N], h₀ [B, D, N]).
    struct Operands {
        let u: UnsafePointer<Float>, delta: UnsafePointer<Float>, aT: UnsafePointer<Float>
        let b: UnsafePointer<Float>, c: UnsafePointer<Float>, h0: UnsafePointer<Float>
    }

    /// Runs `body(batchRow, blockRange, item)` for every work item, in parallel.
    func forEachItem(_ body: (Int, Range<Int>, Int) -> Void) {
        let g = groups, per = (blocks + g - 1) / g
        ThreadPool.shared.parallelFor(batch * g) { item in
            let (row, group) = (item / g, item % g)
            let range = (group * per)..<Swift.min(blocks, (group + 1) * per)
            if !range.isEmpty { body(row, range, item) }
        }
    }

    /// The state of block `blk` of row `row` at the start: h₀ gathered into N vectors.
    func initialState(_ ops: Operands, _ row: Int, _ blk: Int, into h: UnsafeMutablePointer<SIMD8<Float>>) {
        let d0 = blk * 8, w = Swift.min(8, channels - d0)
        for k in 0..<states {
            var v = SIMD8<Float>()
            for lane in 0..<w { v[lane] = ops.h0[(row * channels + d0 + lane) * states + k] }
            h[k] = v
        }
    }

    /// Steps t in `range` of one block from state `h` (updated in place); `each(t, h)` sees the
    /// state before step t's update, `y` (if given) receives Σ_n C h after it.
    @inline(__always)
    func run(_ ops: Operands, _ row: Int, _ blk: Int, _ range: Range<Int>, _ h: UnsafeMutablePointer<SIMD8<Float>>,
             y: UnsafeMutablePointer<Float>?, before each: (Int, UnsafeMutablePointer<SIMD8<Float>>) -> Void) {
        let (d, n) = (channels, states)
        let d0 = blk * 8, w = Swift.min(8, d - d0)
        for t in range {
            each(t, h)
            let at = (row * length + t) * d + d0
            let dl = loadLanes(ops.delta + at, w), du = dl * loadLanes(ops.u + at, w)
            let bt = ops.b + (row * length + t) * n, ct = ops.c + (row * length + t) * n
            var acc = SIMD8<Float>()
            for k in 0..<n {
                let a = exp8(dl * loadLanes(ops.aT + k * d + d0, w))
                let hk = a * h[k] + du * bt[k]
                h[k] = hk
                acc += hk * ct[k]
            }
            if let y { storeLanes(acc, y + at, w) }
        }
    }

    /// Forward: y [B, L, D], the last state [B, D, N] and the checkpoints [B, blocks, segments, N] (vectors).
    func forward(_ ops: Operands, y: UnsafeMutablePointer<Float>, last: UnsafeMutablePointer<Float>,
                 checkpoints: UnsafeMutablePointer<SIMD8<Float>>) {
        let (n, segs) = (states, segments)
        forEachItem { row, range, _ in
            let h = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: n)
            defer { h.deallocate() }
            for blk in range {
                initialState(ops, row, blk, into: h)
                let base = checkpoints + ((row * blocks + blk) * segs) * n
                let end = lengths[row], d0 = blk * 8, w = Swift.min(8, channels - d0)
                run(ops, row, blk, 0..<length, h, y: y) { t, h in
                    if t % Self.segment == 0 { (base + (t / Self.segment) * n).update(from: h, count: n) }
                    if t == end { self.storeState(h, last, row, d0, w) }
                }
                if end == length { storeState(h, last, row, d0, w) }
            }
        }
    }

    /// Scatters N vectors of one block into a [B, D, N] state tensor.
    func storeState(_ h: UnsafeMutablePointer<SIMD8<Float>>, _ out: UnsafeMutablePointer<Float>, _ row: Int, _ d0: Int, _ w: Int) {
        for k in 0..<states { for lane in 0..<w { out[(row * channels + d0 + lane) * states + k] = h[k][lane] } }
    }

    /// Cotangent buffers of the reverse pass (partials per work item where sums cross items).
    struct Gradients {
        let u: UnsafeMutablePointer<Float>, delta: UnsafeMutablePointer<Float>, h0: UnsafeMutablePointer<Float>
        /// [items, L, N] partials of ∂B, ∂C; [items, N, D] partials of ∂Aᵀ.
        let bPartial: UnsafeMutablePointer<Float>, cPartial: UnsafeMutablePointer<Float>, aPartial: UnsafeMutablePointer<Float>
    }

    /// Reverse pass from ∂y [B, L, D] and ∂(last state) [B, D, N] (either may be nil: zero).
    func backward(_ ops: Operands, gy: UnsafePointer<Float>?, gLast: UnsafePointer<Float>?,
                  checkpoints: UnsafePointer<SIMD8<Float>>, into g: Gradients) {
        let (l, d, n, segs) = (length, channels, states, segments)
        forEachItem { row, range, item in
            let h = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: n)
            let adj = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: n)
            let saved = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: Self.segment * n)
            defer { h.deallocate(); adj.deallocate(); saved.deallocate() }
            let gB = g.bPartial + item * l * n, gC = g.cPartial + item * l * n, gAT = g.aPartial + item * n * d
            for blk in range {
                let d0 = blk * 8, w = Swift.min(8, d - d0), end = lengths[row]
                adj.initialize(repeating: SIMD8<Float>(), count: n)
                let base = checkpoints + ((row * blocks + blk) * segs) * n
                var gA = [SIMD8<Float>](repeating: SIMD8<Float>(), count: n)
                for s in stride(from: segs - 1, through: 0, by: -1) {
                    let t0 = s * Self.segment, t1 = Swift.min(l, t0 + Self.segment)
                    h.update(from: base + s * n, count: n)
                    run(ops, row, blk, t0..<t1, h, y: nil) { t, h in (saved + (t - t0) * n).update(from: h, count: n) }
                    for t in stride(from: t1 - 1, through: t0, by: -1) {
                        if t == end - 1, let gLast {
                            for k in 0..<n {
                                var v = SIMD8<Float>()
                                for lane in 0..<w { v[lane] = gLast[(row * d + d0 + lane) * n + k] }
                                adj[k] += v
                            }
                        }
                        let at = (row * l + t) * d + d0
                        let dl = loadLanes(ops.delta + at, w), ul = loadLanes(ops.u + at, w), du = dl * ul
                        let gyl = gy.map { loadLanes($0 + at, w) } ?? SIMD8<Float>()
                        let bt = ops.b + (row * l + t) * n, ct = ops.c + (row * l + t) * n
                        let prev = saved + (t - t0) * n
                        var gdl = SIMD8<Float>(), gul = SIMD8<Float>()
                        for k in 0..<n {
                            let ak = loadLanes(ops.aT + k * d + d0, w)
                            let a = exp8(dl * ak)
                            let hk = a * prev[k] + du * bt[k]
                            gC[t * n + k] += (gyl * hk).sum()
                            let gk = adj[k] + gyl * ct[k]
                            let ga = gk * prev[k] * a
                            gdl += ga * ak + gk * ul * bt[k]
                            gA[k] += ga * dl
                            gul += gk * dl * bt[k]
                            gB[t * n + k] += (gk * du).sum()
                            adj[k] = gk * a
                        }
                        storeLanes(gdl, g.delta + at, w)
                        storeLanes(gul, g.u + at, w)
                    }
                }
                storeState(adj, g.h0, row, d0, w)
                for k in 0..<n { storeLanes(gA[k] + loadLanes(gAT + k * d + d0, w), gAT + k * d + d0, w) }
            }
        }
    }
}

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
