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

/// op(B) stored transposed (column j contiguous in p): dot products, vectorised over p.
private func smallNT<T: GemmScalar>(_ m: Int, _ n: Int, _ k: Int, _ alpha: T,
                                    _ a: UnsafePointer<T>, _ rsA: Int, _ csA: Int,
                                    _ b: UnsafePointer<T>, _ ldb: Int,
                                    _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    typealias V = T.Vector
    let w = V.scalarCount
    let kv = k - k % w
    withUnsafeTemporaryAllocation(of: T.self, capacity: csA == 1 ? 1 : k) { tmp in
        for i in 0..<m {
            var ar = a + i * rsA
            if csA != 1 {
                let t = tmp.baseAddress!
                for p in 0..<k { t[p] = ar[p * csA] }
                ar = UnsafePointer(t)
            }
            let cr = c + i * ldc
            var j = 0
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
            while j < n {
                let b0 = b + j * ldb
                var x0 = V()
                var p = 0
                while p < kv { x0 = x0.addingProduct(loadV(ar + p), loadV(b0 + p)); p += w }
                var s0 = x0.sum()
                while p < k { s0 += ar[p] * b0[p]; p += 1 }
                storeS(s0, cr + j, alpha, beta)
                j += 1
            }
        }
    }
}
