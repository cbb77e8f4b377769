// The attention kernel for one (batch, head) pair with strided operands (so that heads can be read
// straight out of a packed [B, T, 3E] projection and written into [B, T, E]), causal or unmasked.
// FluxionCore's `Tensor.attention` and `packedAttention` kernels call it (specialised there: the
// functions are @inlinable).
//
// NOTE(7): causal attention in row blocks. With a causal mask, query rows [r₀, r₁) see keys
// [0, r₁ + S − T) only, so each block of `attentionRowBlock` rows multiplies against a prefix of
// the keys: the score, P·V and all four backward GEMMs skip the blocks above the diagonal (for
// T = S = 128 and 32-row blocks, 10 of 16 tiles are computed). Within a block the entries right
// of a row's last visible key are exactly zero in P (and hence in dS), so the block GEMMs may run
// over the block's full key prefix. The probabilities are recomputed in the reverse pass from the
// saved log-sum-exp (one head's block of scores at a time; no T×T tensor is ever kept).

@usableFromInline package let attentionRowBlock = 32

/// Strided operands of one pair: element (i, j) of Q is q[i·ldq + j], etc.
@usableFromInline package struct AttentionOperands<T: KernelFloat> {
    @usableFromInline package var q: UnsafePointer<T>, ldq: Int
    @usableFromInline package var k: UnsafePointer<T>, ldk: Int
    @usableFromInline package var v: UnsafePointer<T>, ldv: Int
    @usableFromInline package var o: UnsafeMutablePointer<T>, ldo: Int
    @usableFromInline package var lse: UnsafeMutablePointer<T>

    @inlinable package init(q: UnsafePointer<T>, ldq: Int, k: UnsafePointer<T>, ldk: Int, v: UnsafePointer<T>, ldv: Int,
                            o: UnsafeMutablePointer<T>, ldo: Int, lse: UnsafeMutablePointer<T>) {
        (self.q, self.ldq, self.k, self.ldk, self.v, self.ldv, self.o, self.ldo, self.lse) = (q, ldq, k, ldk, v, ldv, o, ldo, lse)
    }
}

@inlinable @inline(__always)
package func visibleKeys(row i: Int, queries t: Int, keys s: Int, causal: Bool) -> Int {
    causal ? Swift.max(0, Swift.min(s, i + 1 + s - t)) : s
}

/// Forward pass of one pair: O = softmax(scale·Q·Kᵀ [+ causal]) · V, lse per row.
/// `scratch` holds at least attentionRowBlock·S elements.
@inlinable
package func attentionForwardPair<T: KernelFloat>(_ a: AttentionOperands<T>, t: Int, s: Int, d: Int, dv: Int, scale: T,
                                                  causal: Bool, scratch p: UnsafeMutablePointer<T>) {
    var r0 = 0
    while r0 < t {
        let r1 = Swift.min(t, r0 + attentionRowBlock), rows = r1 - r0
        let n = visibleKeys(row: r1 - 1, queries: t, keys: s, causal: causal)
        if n == 0 {
            for i in r0..<r1 { (a.o + i * a.ldo).update(repeating: 0, count: dv); a.lse[i] = -T.infinity }
            r0 = r1
            continue
        }
        gemmTyped(false, true, rows, n, d, a.q + r0 * a.ldq, a.ldq, a.k, a.ldk, 0, p, n)
        for i in r0..<r1 {
            let len = visibleKeys(row: i, queries: t, keys: s, causal: causal)
            a.lse[i] = softmaxRowInPlace(p + (i - r0) * n, count: len, width: n, scale: scale)
        }
        gemmTyped(false, false, rows, dv, n, UnsafePointer(p), n, a.v, a.ldv, 0, a.o + r0 * a.ldo, a.ldo)
        r0 = r1
    }
}

/// Reverse pass of one pair. `g` is dO (stride ldg); dq is written, dk and dv are accumulated
/// (the caller zeroes them). `p` and `dp` hold at least attentionRowBlock·S elements each.
@inlinable
package func attentionBackwardPair<T: KernelFloat>(_ a: AttentionOperands<T>, g: UnsafePointer<T>, ldg: Int,
                                                   dq: UnsafeMutablePointer<T>, lddq: Int, dk: UnsafeMutablePointer<T>, lddk: Int,
                                                   dvOut: UnsafeMutablePointer<T>, lddv: Int,
                                                   t: Int, s: Int, d: Int, dv: Int, scale: T, causal: Bool,
                                                   p: UnsafeMutablePointer<T>, dp: UnsafeMutablePointer<T>) {
    var r0 = 0
    while r0 < t {
        let r1 = Swift.min(t, r0 + attentionRowBlock), rows = r1 - r0
        let n = visibleKeys(row: r1 - 1, queries: t, keys: s, causal: causal)
        if n == 0 {
            for i in r0..<r1 { (dq + i * lddq).update(repeating: 0, count: d) }
            r0 = r1
            continue
        }
        // P from the saved log-sum-exp
        gemmTyped(false, true, rows, n, d, a.q + r0 * a.ldq, a.ldq, a.k, a.ldk, 0, p, n)
        for i in r0..<r1 {
            let len = visibleKeys(row: i, queries: t, keys: s, causal: causal)
            probabilitiesRowInPlace(p + (i - r0) * n, count: len, width: n, scale: scale, lse: a.lse[i])
        }
        // dV += Pᵀ·dO
        gemmTyped(true, false, n, dv, rows, UnsafePointer(p), n, g + r0 * ldg, ldg, 1, dvOut, lddv)
        // dP = dO·Vᵀ
        gemmTyped(false, true, rows, n, dv, g + r0 * ldg, ldg, a.v, a.ldv, 0, dp, n)
        // dS = P ⊙ (dP − rowsum(dO ⊙ O)) · scale
        for i in r0..<r1 {
            var rowDot: T = 0
            let gi = g + i * ldg, oi = UnsafePointer(a.o) + i * a.ldo
            for j in 0..<dv { rowDot += gi[j] * oi[j] }
            softmaxBackwardRow(p + (i - r0) * n, dp + (i - r0) * n, count: n, rowDot: rowDot, scale: scale)
        }
        // dQ = dS·K, dK += dSᵀ·Q
        gemmTyped(false, false, rows, d, n, UnsafePointer(dp), n, a.k, a.ldk, 0, dq + r0 * lddq, lddq)
        gemmTyped(true, false, n, d, rows, UnsafePointer(dp), n, a.q + r0 * a.ldq, a.ldq, 1, dk, lddk)
        r0 = r1
    }
}

/// Softmax of scale·r[0..<count] in place, zeros in r[count..<width]; returns the log-sum-exp of
/// the scaled row (−∞ and all zeros when count = 0).
@inlinable @inline(__always)
package func softmaxRowInPlace<T: KernelFloat>(_ r: UnsafeMutablePointer<T>, count: Int, width: Int, scale: T) -> T {
    if count < width { (r + count).update(repeating: 0, count: width - count) }
    if count == 0 { return -T.infinity }
    if T.self == Float.self {
        let f = UnsafeMutableRawPointer(r).assumingMemoryBound(to: Float.self)
        let sc = Float(scale)
        var m8 = Float8(repeating: -.infinity)
        var j = 0
        // (pointwiseMax and SIMD.max() handle NaN lane by lane and compile to scalar code: select instead.)
        while j + 8 <= count {
            let v = UnsafeRawPointer(f + j).loadUnaligned(as: Float8.self)
            m8.replace(with: v, where: v .> m8)
            j += 8
        }
        var m4 = m8.lowHalf
        m4.replace(with: m8.highHalf, where: m8.highHalf .> m4)
        var m = Swift.max(Swift.max(m4[0], m4[1]), Swift.max(m4[2], m4[3]))
        while j < count { m = Swift.max(m, f[j]); j += 1 }
        let ms = m * sc
        var s8 = Float8()
        j = 0
        while j + 8 <= count {
            let e = exp8(UnsafeRawPointer(f + j).loadUnaligned(as: Float8.self) * sc - ms)
            UnsafeMutableRawPointer(f + j).storeBytes(of: e, as: Float8.self)
            s8 += e
            j += 8
        }
        var total = s8.sum()
        if j < count {
            var v = Float8(repeating: -.infinity)
            for u in 0..<(count - j) { v[u] = f[j + u] * sc - ms }
            let e = exp8(v)
            for u in 0..<(count - j) { f[j + u] = e[u]; total += e[u] }
        }
        let inv = 1 / total
        j = 0
        while j + 8 <= count {
            UnsafeMutableRawPointer(f + j).storeBytes(of: UnsafeRawPointer(f + j).loadUnaligned(as: Float8.self) * inv, as: Float8.self)
            j += 8
        }
        while j < count { f[j] *= inv; j += 1 }
        return T(Double(ms + Float.log(total)))
    }
    var m = -T.infinity
    for j in 0..<count { m = Swift.max(m, r[j]) }
    let ms = m * scale
    var total: T = 0
    for j in 0..<count { let e = T.exp(r[j] * scale - ms); r[j] = e; total += e }
    let inv = 1 / total
    for j in 0..<count { r[j] *= inv }
    return ms + T.log(total)
}

/// exp(scale·r − lse) in place over r[0..<count], zeros after (up to width).
@inlinable @inline(__always)
package func probabilitiesRowInPlace<T: KernelFloat>(_ r: UnsafeMutablePointer<T>, count: Int, width: Int, scale: T, lse: T) {
    if count < width { (r + count).update(repeating: 0, count: width - count) }
    if count == 0 || lse == -T.infinity { r.update(repeating: 0, count: count); return }
    if T.self == Float.self {
        let f = UnsafeMutableRawPointer(r).assumingMemoryBound(to: Float.self)
        let (sc, l) = (Float(scale), Float(lse))
        map8(UnsafePointer(f), f, count) { exp8($0 * sc - l) }
        return
    }
    for j in 0..<count { r[j] = T.exp(r[j] * scale - lse) }
}

/// dp ← p ⊙ (dp − rowDot) · scale over `count` entries.
@inlinable @inline(__always)
package func softmaxBackwardRow<T: KernelFloat>(_ p: UnsafePointer<T>, _ dp: UnsafeMutablePointer<T>, count: Int, rowDot: T, scale: T) {
    if T.self == Float.self {
        let pf = UnsafeRawPointer(p), df = UnsafeMutableRawPointer(dp)
        let (rd, sc) = (Float(rowDot), Float(scale))
        var j = 0
        while j + 8 <= count {
            let pv = pf.loadUnaligned(fromByteOffset: 4 * j, as: Float8.self)
            let dv = df.loadUnaligned(fromByteOffset: 4 * j, as: Float8.self)
            df.storeBytes(of: pv * (dv - rd) * sc, toByteOffset: 4 * j, as: Float8.self)
            j += 8
        }
        while j < count { dp[j] = p[j] * (dp[j] - rowDot) * scale; j += 1 }
        return
    }
    for j in 0..<count { dp[j] = p[j] * (dp[j] - rowDot) * scale }
}

/// Runs `body(pair, scratch)` for every pair, split across the pool in a few chunks, each with its
/// own scratch of `scratchCount` elements.
@inlinable
package func forEachAttentionPair<T: KernelFloat>(_ pairs: Int, scratchCount: Int, _ type: T.Type,
                                                  _ body: (Int, UnsafeMutablePointer<T>) -> Void) {
    let threads = ThreadPool.shared.threadCount
    let chunks = threads <= 1 ? 1 : Swift.min(pairs, threads * 4)
    let size = (pairs + chunks - 1) / Swift.max(chunks, 1)
    withoutActuallyEscaping(body) { body in
        let run = { (c: Int) in
            let scratch = UnsafeMutablePointer<T>.allocate(capacity: Swift.max(scratchCount, 1))
            defer { scratch.deallocate() }
            for pair in (c * size)..<Swift.min(pairs, (c + 1) * size) { body(pair, scratch) }
        }
        if chunks <= 1 { run(0) } else { ThreadPool.shared.parallelFor(chunks, run) }
    }
}
