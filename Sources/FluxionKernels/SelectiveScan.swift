import Foundation

// The Float32 kernel of the selective scan (NOTE(9) in FluxionCore/SelectiveScan.swift), the
// whole `selectiveScan` in one pass: δ = softplus(Δ + bias) (bias and softplus optional),
// y = (Σ_n C h + D u) · silu(z) (D and z optional). A work item is one batch row and a group of
// 8-channel blocks; within a block the 8 channels are the lanes of one SIMD vector and the N
// states are N vectors, carried sequentially through time:
//
//   forward   a_n = exp(δ A_n),  h_n ← a_n h_n + (δ u) B_{tn},  s_t = Σ_n C_{tn} h_n + D u,  y_t = s_t silu(z_t)
//   backward  (t from L − 1 down to 0, the state adjoint g_n carried back; ∂s = ∂y silu(z))
//             g_n += ∂s · C_{tn};  ∂C_{tn} += Σ_lanes ∂s h_n;  ∂a_n = g_n h_{n,t−1}
//             ∂δ = Σ_n ∂a_n a_n A_n + u Σ_n g_n B_{tn};  ∂A_n += ∂a_n a_n δ;  ∂u = δ Σ_n g_n B_{tn} + D ∂s
//             ∂B_{tn} += Σ_lanes g_n δ u;  g_n ← g_n a_n;   ∂h₀ = g after t = 0
//             ∂z = ∂y s silu'(z);  ∂D += ∂s u;  ∂Δ = ∂δ σ(Δ + bias) (softplus) or ∂δ;  ∂bias += ∂Δ
//
// The reverse pass needs h_{t−1} at every step; rather than a [B, L, D, N] buffer, the forward
// pass keeps the state every 64 steps and the reverse pass recomputes each 64-step segment's
// states (and their decays) from its checkpoint. ∂B and ∂C sum over channels, ∂A, ∂D and ∂bias
// over the batch: each work item writes its own partial sums, added up at the end.

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
package struct SelectiveScanKernel {
    package static let segment = 64
    package let batch: Int, length: Int, channels: Int, states: Int
    package let lengths: [Int]

    package init(batch: Int, length: Int, channels: Int, states: Int, lengths: [Int]) {
        (self.batch, self.length, self.channels, self.states, self.lengths) = (batch, length, channels, states, lengths)
    }

    package var blocks: Int { (channels + 7) / 8 }
    package var segments: Int { (length + Self.segment - 1) / Self.segment }
    /// Work items per batch row (channel-block groups), enough to keep every thread busy.
    package var groups: Int { Swift.min(blocks, Swift.max(1, (2 * ThreadPool.shared.threadCount + batch - 1) / batch)) }

    /// The pointers of one scan: inputs (u, Δ [B, L, D], Aᵀ [N, D], B, C [B, L, N], h₀ [B, D, N]) and
    /// the optional D [D], z [B, L, D], bias [D] with the softplus flag.
    package struct Operands {
        let u: UnsafePointer<Float>, delta: UnsafePointer<Float>, aT: UnsafePointer<Float>
        let b: UnsafePointer<Float>, c: UnsafePointer<Float>, h0: UnsafePointer<Float>
        let skip: UnsafePointer<Float>?, z: UnsafePointer<Float>?, bias: UnsafePointer<Float>?
        let softplus: Bool
        package init(u: UnsafePointer<Float>, delta: UnsafePointer<Float>, aT: UnsafePointer<Float>,
                     b: UnsafePointer<Float>, c: UnsafePointer<Float>, h0: UnsafePointer<Float>,
                     skip: UnsafePointer<Float>?, z: UnsafePointer<Float>?, bias: UnsafePointer<Float>?, softplus: Bool) {
            (self.u, self.delta, self.aT, self.b, self.c, self.h0) = (u, delta, aT, b, c, h0)
            (self.skip, self.z, self.bias, self.softplus) = (skip, z, bias, softplus)
        }

        /// (δ, Δ + bias) at offset `at` of a [B, L, D] tensor, channels d0 ..< d0 + w.
        @_transparent
        func delta(_ at: Int, _ d0: Int, _ w: Int) -> (SIMD8<Float>, SIMD8<Float>) {
            var raw = loadLanes(delta + at, w)
            if let bias { raw += loadLanes(bias + d0, w) }
            return (softplus ? softplus8(raw) : raw, raw)
        }
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
        let d0 = blk * 8, w = Swift.min(8, d - d0), t0 = range.lowerBound
        // δ and δu first, each step independent of the others: the softplus stays off the scan's
        // dependency chain (and the skip and gate after it, below).
        let dus = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: 2 * range.count)
        defer { dus.deallocate() }
        for t in range {
            let at = (row * length + t) * d + d0
            let dl = ops.delta(at, d0, w).0
            dus[2 * (t - t0)] = dl
            dus[2 * (t - t0) + 1] = dl * loadLanes(ops.u + at, w)
        }
        for t in range {
            each(t, h)
            let at = (row * length + t) * d + d0
            let dl = dus[2 * (t - t0)], du = dus[2 * (t - t0) + 1]
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
        guard let y, ops.skip != nil || ops.z != nil else { return }
        for t in range {
            let at = (row * length + t) * d + d0
            var acc = loadLanes(y + at, w)
            if let skip = ops.skip { acc += loadLanes(skip + d0, w) * loadLanes(ops.u + at, w) }
            if let z = ops.z { let zl = loadLanes(z + at, w); acc *= zl * sigmoid8(zl) }
            storeLanes(acc, y + at, w)
        }
    }

    /// Forward: y [B, L, D], the last state [B, D, N] and the checkpoints [B, blocks, segments, N] (vectors).
    package func forward(_ ops: Operands, y: UnsafeMutablePointer<Float>, last: UnsafeMutablePointer<Float>,
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

    /// Cotangent buffers of the reverse pass (partials per work item where sums cross items);
    /// `z` is written when the scan has z, the D and bias partials are accumulated when it has them.
    package struct Gradients {
        let u: UnsafeMutablePointer<Float>, delta: UnsafeMutablePointer<Float>, h0: UnsafeMutablePointer<Float>
        /// [items, L, N] partials of ∂B, ∂C; [items, N, D] partials of ∂Aᵀ; [items, D] of ∂D, ∂bias.
        let bPartial: UnsafeMutablePointer<Float>, cPartial: UnsafeMutablePointer<Float>, aPartial: UnsafeMutablePointer<Float>
        let z: UnsafeMutablePointer<Float>?, skipPartial: UnsafeMutablePointer<Float>?, biasPartial: UnsafeMutablePointer<Float>?
        package init(u: UnsafeMutablePointer<Float>, delta: UnsafeMutablePointer<Float>, h0: UnsafeMutablePointer<Float>,
                     bPartial: UnsafeMutablePointer<Float>, cPartial: UnsafeMutablePointer<Float>, aPartial: UnsafeMutablePointer<Float>,
                     z: UnsafeMutablePointer<Float>?, skipPartial: UnsafeMutablePointer<Float>?, biasPartial: UnsafeMutablePointer<Float>?) {
            (self.u, self.delta, self.h0, self.bPartial, self.cPartial, self.aPartial) = (u, delta, h0, bPartial, cPartial, aPartial)
            (self.z, self.skipPartial, self.biasPartial) = (z, skipPartial, biasPartial)
        }
    }

    /// Reverse pass from ∂y [B, L, D] and ∂(last state) [B, D, N] (either may be nil: zero).
    /// Each 64-step segment is recomputed from its checkpoint once, keeping the state before each
    /// step and its decay exp(δA) (one exponential per state and step here, none in the reverse
    /// loop); ∂B and ∂C gather per (t, n) as 8-lane vectors over the item's blocks and are summed
    /// across lanes once per item, not once per block.
    package func backward(_ ops: Operands, gy: UnsafePointer<Float>?, gLast: UnsafePointer<Float>?,
                          checkpoints: UnsafePointer<SIMD8<Float>>, into g: Gradients) {
        let (l, d, n, segs) = (length, channels, states, segments)
        forEachItem { row, range, item in
            let h = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: n)
            let adj = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: n)
            let gA = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: n)
            // Per step of a segment: the N states before the step, then their N decays.
            let saved = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: Self.segment * 2 * n)
            // Per step of a segment: δ, δu and softplus'(Δ + bias) (1 without softplus).
            let seg = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: Self.segment * 3)
            let vB = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: l * n), vC = UnsafeMutablePointer<SIMD8<Float>>.allocate(capacity: l * n)
            vB.initialize(repeating: SIMD8<Float>(), count: l * n)
            vC.initialize(repeating: SIMD8<Float>(), count: l * n)
            defer { h.deallocate(); adj.deallocate(); gA.deallocate(); saved.deallocate(); seg.deallocate(); vB.deallocate(); vC.deallocate() }
            let gB = g.bPartial + item * l * n, gC = g.cPartial + item * l * n, gAT = g.aPartial + item * n * d
            for blk in range {
                let d0 = blk * 8, w = Swift.min(8, d - d0), end = lengths[row]
                adj.initialize(repeating: SIMD8<Float>(), count: n)
                gA.initialize(repeating: SIMD8<Float>(), count: n)
                var gD = SIMD8<Float>(), gBias = SIMD8<Float>()
                let base = checkpoints + ((row * blocks + blk) * segs) * n
                for s in stride(from: segs - 1, through: 0, by: -1) {
                    let t0 = s * Self.segment, t1 = Swift.min(l, t0 + Self.segment)
                    h.update(from: base + s * n, count: n)
                    for t in t0..<t1 {
                        let at = (row * l + t) * d + d0
                        let (dl, raw) = ops.delta(at, d0, w)
                        seg[3 * (t - t0)] = dl
                        seg[3 * (t - t0) + 1] = dl * loadLanes(ops.u + at, w)
                        seg[3 * (t - t0) + 2] = ops.softplus ? sigmoid8(raw) : SIMD8<Float>(repeating: 1)
                    }
                    for t in t0..<t1 {
                        let dl = seg[3 * (t - t0)], du = seg[3 * (t - t0) + 1]
                        let bt = ops.b + (row * l + t) * n
                        let slot = saved + (t - t0) * 2 * n
                        for k in 0..<n {
                            let a = exp8(dl * loadLanes(ops.aT + k * d + d0, w))
                            slot[k] = h[k]
                            slot[n + k] = a
                            h[k] = a * h[k] + du * bt[k]
                        }
                    }
                    for t in stride(from: t1 - 1, through: t0, by: -1) {
                        if t == end - 1, let gLast {
                            for k in 0..<n {
                                var v = SIMD8<Float>()
                                for lane in 0..<w { v[lane] = gLast[(row * d + d0 + lane) * n + k] }
                                adj[k] += v
                            }
                        }
                        let at = (row * l + t) * d + d0
                        let dl = seg[3 * (t - t0)], du = seg[3 * (t - t0) + 1], dsoft = seg[3 * (t - t0) + 2]
                        let ul = loadLanes(ops.u + at, w)
                        let gyl = gy.map { loadLanes($0 + at, w) } ?? SIMD8<Float>()
                        // ∂s = ∂y · silu(z) (the gate's sigmoid kept for ∂z below).
                        var gs = gyl, zl = SIMD8<Float>(), sz = SIMD8<Float>()
                        if let z = ops.z { zl = loadLanes(z + at, w); sz = sigmoid8(zl); gs = gyl * zl * sz }
                        let bt = ops.b + (row * l + t) * n, ct = ops.c + (row * l + t) * n
                        let slot = saved + (t - t0) * 2 * n
                        let cv = vC + t * n, bv = vB + t * n
                        var gdl = SIMD8<Float>(), gub = SIMD8<Float>(), ch = SIMD8<Float>()
                        for k in 0..<n {
                            let prev = slot[k], a = slot[n + k], bk = SIMD8<Float>(repeating: bt[k]), ck = SIMD8<Float>(repeating: ct[k])
                            let hk = a * prev + du * bk
                            cv[k] += gs * hk
                            ch += ck * hk
                            let gk = adj[k] + gs * ck
                            let ga = gk * prev * a
                            gdl += ga * loadLanes(ops.aT + k * d + d0, w)
                            gub += gk * bk
                            gA[k] += ga * dl
                            bv[k] += gk * du
                            adj[k] = gk * a
                        }
                        var gu = dl * gub
                        if let skip = ops.skip {
                            let dk = loadLanes(skip + d0, w)
                            gu += dk * gs
                            gD += gs * ul
                            ch += dk * ul
                        }
                        if let gz = g.z {
                            // ∂z = ∂y · s · silu'(z), silu'(z) = σ(z)(1 + z(1 − σ(z))).
                            storeLanes(gyl * ch * sz * (1 + zl * (1 - sz)), gz + at, w)
                        }
                        // ∂δ = Σ_n ∂a_n a_n A_n + u Σ_n g_n B_n, then through softplus: σ(Δ + bias).
                        let graw = (gdl + ul * gub) * dsoft
                        gBias += graw
                        storeLanes(graw, g.delta + at, w)
                        storeLanes(gu, g.u + at, w)
                    }
                }
                storeState(adj, g.h0, row, d0, w)
                for k in 0..<n { storeLanes(gA[k] + loadLanes(gAT + k * d + d0, w), gAT + k * d + d0, w) }
                if let p = g.skipPartial { storeLanes(gD + loadLanes(p + item * d + d0, w), p + item * d + d0, w) }
                if let p = g.biasPartial { storeLanes(gBias + loadLanes(p + item * d + d0, w), p + item * d + d0, w) }
            }
            for i in 0..<(l * n) {
                gB[i] += vB[i].sum()
                gC[i] += vC[i].sum()
            }
        }
    }
}
