// Direct (unpacked) GEMM for small problems and for very few rows (m <= GemmTuning.smallM):
// no workspace, no packing. op(A)(i, p) = a[i*rsA + p*csA], op(B)(p, j) = b[p*rsB + j*csB].

@inline(__always)
private func loadV<T: GemmScalar>(_ p: UnsafePointer<T>) -> T.Vector {
    UnsafeRawPointer(p).loadUnaligned(as: T.Vector.self)
}

@inline(__always)
private func storeV<T: GemmScalar>(_ v: T.Vector, _ p: UnsafeMutablePointer<T>, _ alpha: T, _ beta: T) {
    let raw = UnsafeMutableRawPointer(p)
    if beta == 0 {
        raw.storeBytes(of: v * alpha, as: T.Vector.self)
    } else {
        let old = raw.loadUnaligned(as: T.Vector.self)
        raw.storeBytes(of: (v * alpha).addingProduct(old, T.Vector(repeating: beta)), as: T.Vector.self)
    }
}

@inline(__always)
private func storeS<T: GemmScalar>(_ v: T, _ p: UnsafeMutablePointer<T>, _ alpha: T, _ beta: T) {
    p.pointee = beta == 0 ? alpha * v : alpha * v + beta * p.pointee
}

@_specialize(where T == Float)
@_specialize(where T == Double)
func gemmSmall<T: GemmScalar>(_ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                              _ a: UnsafePointer<T>, _ rsA: Int, _ csA: Int,
                              _ b: UnsafePointer<T>, _ rsB: Int, _ csB: Int,
                              _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    let pool = ThreadPool.shared
    let threads = pool.threadCount
    if threads > 1 && m * n * k >= GemmTuning.parallelMinWork && n >= 128 {
        // Few rows but a lot of work: split the columns.
        let w = 2 * T.Vector.scalarCount
        let chunks = min(n / 64, 8 * threads)
        let cw = roundUp((n + chunks - 1) / chunks, w)
        let count = (n + cw - 1) / cw
        pool.parallelFor(count) { t in
            let j0 = t * cw
            smallBlock(m, min(cw, n - j0), k, alpha, a, rsA, csA, b + j0 * csB, rsB, csB, beta, c + j0, ldc)
        }
    } else {
        smallBlock(m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, ldc)
    }
}

@_specialize(where T == Float)
@_specialize(where T == Double)
func smallBlock<T: GemmScalar>(_ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                               _ a: UnsafePointer<T>, _ rsA: Int, _ csA: Int,
                               _ b: UnsafePointer<T>, _ rsB: Int, _ csB: Int,
                               _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    if csB == 1 {
        smallNN(m, n, k, alpha, a, rsA, csA, b, rsB, beta, c, ldc)
    } else {
        smallNT(m, n, k, alpha, a, rsA, csA, b, csB, beta, c, ldc)
    }
}

/// op(B) rows contiguous: 4 rows x 2 vectors of accumulators, broadcasting A.
private func smallNN<T: GemmScalar>(_ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                                    _ a: UnsafePointer<T>, _ rsA: Int, _ csA: Int,
                                    _ b: UnsafePointer<T>, _ rsB: Int,
                                    _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    typealias V = T.Vector
    let w = V.scalarCount
    if m == 1 {
        smallNN1(n, k, alpha, a, csA, b, rsB, beta, c)
        return
    }
    var i = 0
    while i < m {
        let r = min(4, m - i)
        // Rows beyond r alias the last valid row; their results are discarded.
        let a0 = a + i * rsA
        let a1 = a + (i + min(1, r - 1)) * rsA
        let a2 = a + (i + min(2, r - 1)) * rsA
        let a3 = a + (i + min(3, r - 1)) * rsA
        let c0 = c + i * ldc
        var j = 0
        while j + 2 * w <= n {
            var x00 = V(), x01 = V(), x10 = V(), x11 = V()
            var x20 = V(), x21 = V(), x30 = V(), x31 = V()
            var bp = b + j
            var off = 0
            for _ in 0..<k {
                let b0: V = loadV(bp), b1: V = loadV(bp + w)
                var s = V(repeating: a0[off]); x00 = x00.addingProduct(s, b0); x01 = x01.addingProduct(s, b1)
                s = V(repeating: a1[off]); x10 = x10.addingProduct(s, b0); x11 = x11.addingProduct(s, b1)
                s = V(repeating: a2[off]); x20 = x20.addingProduct(s, b0); x21 = x21.addingProduct(s, b1)
                s = V(repeating: a3[off]); x30 = x30.addingProduct(s, b0); x31 = x31.addingProduct(s, b1)
                bp += rsB
                off += csA
            }
            let cj = c0 + j
            storeV(x00, cj, alpha, beta); storeV(x01, cj + w, alpha, beta)
            if r > 1 { storeV(x10, cj + ldc, alpha, beta); storeV(x11, cj + ldc + w, alpha, beta) }
            if r > 2 { storeV(x20, cj + 2 * ldc, alpha, beta); storeV(x21, cj + 2 * ldc + w, alpha, beta) }
            if r > 3 { storeV(x30, cj + 3 * ldc, alpha, beta); storeV(x31, cj + 3 * ldc + w, alpha, beta) }
            j += 2 * w
        }
        while j + w <= n {
            var x0 = V(), x1 = V(), x2 = V(), x3 = V()
            var bp = b + j
            var off = 0
            for _ in 0..<k {
                let b0: V = loadV(bp)
                x0 = x0.addingProduct(V(repeating: a0[off]), b0)
                x1 = x1.addingProduct(V(repeating: a1[off]), b0)
                x2 = x2.addingProduct(V(repeating: a2[off]), b0)
                x3 = x3.addingProduct(V(repeating: a3[off]), b0)
                bp += rsB
                off += csA
            }
            let cj = c0 + j
            storeV(x0, cj, alpha, beta)
            if r > 1 { storeV(x1, cj + ldc, alpha, beta) }
            if r > 2 { storeV(x2, cj + 2 * ldc, alpha, beta) }
            if r > 3 { storeV(x3, cj + 3 * ldc, alpha, beta) }
            j += w
        }
        while j < n {
            var s0: T = 0, s1: T = 0, s2: T = 0, s3: T = 0
            var bp = b + j
            var off = 0
            for _ in 0..<k {
                let bv = bp.pointee
                s0 += a0[off] * bv; s1 += a1[off] * bv; s2 += a2[off] * bv; s3 += a3[off] * bv
                bp += rsB
                off += csA
            }
            let cj = c0 + j
            storeS(s0, cj, alpha, beta)
            if r > 1 { storeS(s1, cj + ldc, alpha, beta) }
            if r > 2 { storeS(s2, cj + 2 * ldc, alpha, beta) }
            if r > 3 { storeS(s3, cj + 3 * ldc, alpha, beta) }
            j += 1
        }
        i += 4
    }
}

/// One row of C: 4 vectors of accumulators, streaming the rows of B.
private func smallNN1<T: GemmScalar>(_ n: Int, _ k: Int, _ alpha: T, _ a: UnsafePointer<T>, _ csA: Int,
                                     _ b: UnsafePointer<T>, _ rsB: Int,
                                     _ beta: T, _ c: UnsafeMutablePointer<T>) {
    typealias V = T.Vector
    let w = V.scalarCount
    var j = 0
    while j + 4 * w <= n {
        var x0 = V(), x1 = V(), x2 = V(), x3 = V()
        var bp = b + j
        var off = 0
        for _ in 0..<k {
            let s = V(repeating: a[off])
            x0 = x0.addingProduct(s, loadV(bp)); x1 = x1.addingProduct(s, loadV(bp + w))
            x2 = x2.addingProduct(s, loadV(bp + 2 * w)); x3 = x3.addingProduct(s, loadV(bp + 3 * w))
            bp += rsB
            off += csA
        }
        storeV(x0, c + j, alpha, beta); storeV(x1, c + j + w, alpha, beta)
        storeV(x2, c + j + 2 * w, alpha, beta); storeV(x3, c + j + 3 * w, alpha, beta)
        j += 4 * w
    }
    while j + w <= n {
        var x0 = V()
        var bp = b + j
        var off = 0
        for _ in 0..<k {
            x0 = x0.addingProduct(V(repeating: a[off]), loadV(bp))
            bp += rsB
            off += csA
        }
        storeV(x0, c + j, alpha, beta)
        j += w
    }
    while j < n {
        var s0: T = 0
        var bp = b + j
        var off = 0
        for _ in 0..<k { s0 += a[off] * bp.pointee; bp += rsB; off += csA }
        storeS(s0, c + j, alpha, beta)
        j += 1
    }
}

/// op(B) stored transposed (column j contiguous in p): dot products, vectorised over p.
private func smallNT<T: GemmScalar>(_ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                                    _ a: UnsafePointer<T>, _ rsA: Int, _ csA: Int,
                                    _ b: UnsafePointer<T>, _ ldb: Int,
                                    _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    typealias V = T.Vector
    let w = V.scalarCount
    let kv = k - k % w
    // op(A) rows must be contiguous in p; copy them (4 at a time) when A is transposed.
    withUnsafeTemporaryAllocation(of: T.self, capacity: csA == 1 ? 1 : 4 * k) { tmp in
        var i = 0
        while i < m {
            let r = m - i >= 2 ? min(4, m - i) : 1
            var rows = (a + i * rsA, a + i * rsA, a + i * rsA, a + i * rsA)
            var lda = rsA
            if csA != 1 {
                let t = tmp.baseAddress!
                for rr in 0..<r {
                    let src = a + (i + rr) * rsA
                    for p in 0..<k { t[rr * k + p] = src[p * csA] }
                }
                rows.0 = UnsafePointer(t)
                lda = k
            }
            rows.1 = rows.0 + min(1, r - 1) * lda
            rows.2 = rows.0 + min(2, r - 1) * lda
            rows.3 = rows.0 + min(3, r - 1) * lda
            let cr = c + i * ldc
            var j = 0
            if r == 1 {
                let ar = rows.0
                while j + 4 <= n {
                    let b0 = b + j * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb
                    var x0 = V(), x1 = V(), x2 = V(), x3 = V()
                    var p = 0
                    while p < kv {
                        let av: V = loadV(ar + p)
                        x0 = x0.addingProduct(av, loadV(b0 + p))
                        x1 = x1.addingProduct(av, loadV(b1 + p))
                        x2 = x2.addingProduct(av, loadV(b2 + p))
                        x3 = x3.addingProduct(av, loadV(b3 + p))
                        p += w
                    }
                    var s0 = x0.sum(), s1 = x1.sum(), s2 = x2.sum(), s3 = x3.sum()
                    while p < k {
                        let av = ar[p]
                        s0 += av * b0[p]; s1 += av * b1[p]; s2 += av * b2[p]; s3 += av * b3[p]
                        p += 1
                    }
                    storeS(s0, cr + j, alpha, beta); storeS(s1, cr + j + 1, alpha, beta)
                    storeS(s2, cr + j + 2, alpha, beta); storeS(s3, cr + j + 3, alpha, beta)
                    j += 4
                }
            } else {
                let (a0, a1, a2, a3) = rows
                while j + 2 <= n {
                    let b0 = b + j * ldb, b1 = b0 + ldb
                    var x00 = V(), x01 = V(), x10 = V(), x11 = V()
                    var x20 = V(), x21 = V(), x30 = V(), x31 = V()
                    var p = 0
                    while p < kv {
                        let u: V = loadV(b0 + p), v: V = loadV(b1 + p)
                        var av: V = loadV(a0 + p); x00 = x00.addingProduct(av, u); x01 = x01.addingProduct(av, v)
                        av = loadV(a1 + p); x10 = x10.addingProduct(av, u); x11 = x11.addingProduct(av, v)
                        av = loadV(a2 + p); x20 = x20.addingProduct(av, u); x21 = x21.addingProduct(av, v)
                        av = loadV(a3 + p); x30 = x30.addingProduct(av, u); x31 = x31.addingProduct(av, v)
                        p += w
                    }
                    var s = (x00.sum(), x01.sum(), x10.sum(), x11.sum(), x20.sum(), x21.sum(), x30.sum(), x31.sum())
                    while p < k {
                        let u = b0[p], v = b1[p]
                        s.0 += a0[p] * u; s.1 += a0[p] * v; s.2 += a1[p] * u; s.3 += a1[p] * v
                        s.4 += a2[p] * u; s.5 += a2[p] * v; s.6 += a3[p] * u; s.7 += a3[p] * v
                        p += 1
                    }
                    storeS(s.0, cr + j, alpha, beta); storeS(s.1, cr + j + 1, alpha, beta)
                    if r > 1 { storeS(s.2, cr + ldc + j, alpha, beta); storeS(s.3, cr + ldc + j + 1, alpha, beta) }
                    if r > 2 { storeS(s.4, cr + 2 * ldc + j, alpha, beta); storeS(s.5, cr + 2 * ldc + j + 1, alpha, beta) }
                    if r > 3 { storeS(s.6, cr + 3 * ldc + j, alpha, beta); storeS(s.7, cr + 3 * ldc + j + 1, alpha, beta) }
                    j += 2
                }
            }
            // Remaining columns, one at a time, for each of the r rows.
            while j < n {
                let b0 = b + j * ldb
                for rr in 0..<r {
                    let ar = rr == 0 ? rows.0 : rr == 1 ? rows.1 : rr == 2 ? rows.2 : rows.3
                    var x0 = V()
                    var p = 0
                    while p < kv { x0 = x0.addingProduct(loadV(ar + p), loadV(b0 + p)); p += w }
                    var s0 = x0.sum()
                    while p < k { s0 += ar[p] * b0[p]; p += 1 }
                    storeS(s0, cr + rr * ldc + j, alpha, beta)
                }
                j += 1
            }
            i += r
        }
    }
}
