// Generic BLIS-style GEMM driver shared by Float and Double (specialised under -wmo).
//
// Loop nest: jc (NC columns) -> pc (KC depth) -> ic (up to mBig rows) -> [pack A, B] -> tiles.
// Packed A: panels of MR rows, each kc x MR (MR values per k step). Packed B: panels of NR columns,
// each kc x NR. Edges are zero-padded so the micro-kernel always runs a full tile; partial tiles
// are written through a small temporary (storeEdge).
//
// Threading (only when m*n*k >= GemmTuning.parallelMinWork), per (jc, pc, ic) block:
//  - wide (>= 4*threads NR-panels): A is packed first (in parallel when large), then one
//    parallelFor over column slabs; each item packs its own B panels and computes all rows, so
//    packed B stays in the cache of the core that uses it;
//  - narrow: one parallelFor packs A and B, a second one computes (rows x columns) tiles.
//  - instead, for the whole product when deep and small (k over 3 depth blocks, m·n ≤ 512²: weight
//    gradients): one item per tile of C, each running the whole depth loop with its own packing.
// Columns are split in units of what the micro-kernel fills (two NR panels for the AVX-512 kernel,
// which computes 6 x 32 tiles; GemmCPU.swift chooses it at run time).
// Items are many more than threads and handed out dynamically (see ThreadPool).
// Small problems (work < smallWork, m <= smallM or n <= smallN) take the direct path in
// GemmSmall.swift. gemm is reentrant: buffers come from a locked cache, and a caller that finds
// the pool busy runs its parallel loops inline.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

protocol GemmScalar: BinaryFloatingPoint, SIMDScalar, Codable {
    associatedtype Vector: SIMD where Vector.Scalar == Self
    static var mr: Int { get }
    static var nr: Int { get }
    static var kcBlock: Int { get }
    static var mcBlock: Int { get }
    static var ncBlock: Int { get }
    /// dst[p * ldd + j] = src[j * lds + p] for a Vector.scalarCount-square block.
    static func transposeBlock(_ src: UnsafePointer<Self>, _ lds: Int, _ dst: UnsafeMutablePointer<Self>, _ ldd: Int)
    static func microKernel(_ kc: Int, _ a: UnsafePointer<Self>, _ b: UnsafePointer<Self>,
                            _ c: UnsafeMutablePointer<Self>, _ ldc: Int, _ mr: Int, _ nr: Int,
                            _ alpha: Self, _ beta: Self)
}

/// Tuning thresholds (in multiply-adds, m*n*k).
enum GemmTuning {
    /// Below this work, or when m <= smallM or n <= smallN, the direct (unpacked) path is used.
    static let smallWork = 40 * 40 * 40
    static let smallM = 4
    /// Below this width the packed path would waste most of each NR-wide panel.
    static let smallN = 8
    /// Minimum m*n*k before the work is split over threads.
    static let parallelMinWork = 128 * 128 * 128
    /// Rows of A packed at once (multiple of mr and mcBlock).
    static let mBig = 1536
}

@inline(__always)
func storeEdge<T: GemmScalar>(_ s: UnsafePointer<T>, _ lds: Int, _ c: UnsafeMutablePointer<T>, _ ldc: Int,
                              _ mr: Int, _ nr: Int, _ alpha: T, _ beta: T) {
    for i in 0..<mr {
        let cr = c + i * ldc
        let sr = s + i * lds
        if beta == 0 {
            for j in 0..<nr { cr[j] = alpha * sr[j] }
        } else {
            for j in 0..<nr { cr[j] = alpha * sr[j] + beta * cr[j] }
        }
    }
}

/// C = beta * C for an m x n block (beta == 0 writes zeros without reading C).
func scaleMatrix<T: GemmScalar>(_ m: Int, _ n: Int, _ beta: T, _ c: UnsafeMutablePointer<T>, _ ldc: Int) {
    if beta == 1 { return }
    for i in 0..<m {
        let cr = c + i * ldc
        if beta == 0 {
            cr.update(repeating: 0, count: n)
        } else {
            for j in 0..<n { cr[j] *= beta }
        }
    }
}

// MARK: - Packing

/// Packs rows [i0, i0+rows) x depth [p0, p0+kc) of op(A) into MR-row panels at dst.
/// op(A)(i, p) = a[i * rsA + p * csA].
@inline(__always)
func packA<T: GemmScalar>(_ a: UnsafePointer<T>, _ rsA: Int, _ csA: Int, _ i0: Int, _ rows: Int,
                          _ p0: Int, _ kc: Int, _ dst: UnsafeMutablePointer<T>) {
    let mr = T.mr
    var i = 0
    while i < rows {
        let r = min(mr, rows - i)
        let d = dst + i * kc
        let src = a + (i0 + i) * rsA + p0 * csA
        if r == mr && rsA == 1 {
            for p in 0..<kc {
                let s = src + p * csA
                let dp = d + p * mr
                for ii in 0..<mr { dp[ii] = s[ii] }
            }
        } else if r == mr {
            // Rows contiguous in p: read mr streams.
            for p in 0..<kc {
                let dp = d + p * mr
                for ii in 0..<mr { dp[ii] = src[ii * rsA + p] }
            }
        } else {
            for p in 0..<kc {
                let dp = d + p * mr
                for ii in 0..<r { dp[ii] = src[ii * rsA + p * csA] }
                for ii in r..<mr { dp[ii] = 0 }
            }
        }
        i += mr
    }
}

/// Packs depth [p0, p0+kc) x columns [j0, j0+cols) of op(B) into NR-column panels at dst.
/// op(B)(p, j) = b[p * rsB + j * csB].
@inline(__always)
func packB<T: GemmScalar>(_ b: UnsafePointer<T>, _ rsB: Int, _ csB: Int, _ p0: Int, _ kc: Int,
                          _ j0: Int, _ cols: Int, _ dst: UnsafeMutablePointer<T>) {
    let nr = T.nr
    var j = 0
    while j < cols {
        let w = min(nr, cols - j)
        let d = dst + j * kc
        let src = b + p0 * rsB + (j0 + j) * csB
        let vw = T.Vector.scalarCount // nr == 2 * vw
        if w == nr && csB == 1 {
            for p in 0..<kc {
                let s = UnsafeRawPointer(src + p * rsB)
                let dp = UnsafeMutableRawPointer(d + p * nr)
                dp.storeBytes(of: s.loadUnaligned(as: T.Vector.self), as: T.Vector.self)
                dp.storeBytes(of: s.loadUnaligned(fromByteOffset: vw * MemoryLayout<T>.stride, as: T.Vector.self),
                              toByteOffset: vw * MemoryLayout<T>.stride, as: T.Vector.self)
            }
        } else if w == nr {
            // B stored transposed: each column j is contiguous in p. Transpose vw x vw blocks.
            let kv = kc - kc % vw
            var p = 0
            while p < kv {
                T.transposeBlock(src + p, csB, d + p * nr, nr)
                T.transposeBlock(src + vw * csB + p, csB, d + p * nr + vw, nr)
                p += vw
            }
            while p < kc {
                let dp = d + p * nr
                for jj in 0..<nr { dp[jj] = src[jj * csB + p] }
                p += 1
            }
        } else {
            for p in 0..<kc {
                let dp = d + p * nr
                for jj in 0..<w { dp[jj] = src[p * rsB + jj * csB] }
                for jj in w..<nr { dp[jj] = 0 }
            }
        }
        j += nr
    }
}

// MARK: - Workspace cache (thread-safe; buffers are reused to avoid page faults per call)

final class GemmWorkspace: @unchecked Sendable {
    static let shared = GemmWorkspace()
    private var lock = pthread_mutex_t()
    private var free: [(UnsafeMutableRawPointer, Int)] = []

    init() { pthread_mutex_init(&lock, nil) }

    func acquire(_ bytes: Int) -> (UnsafeMutableRawPointer, Int) {
        pthread_mutex_lock(&lock)
        if let idx = free.firstIndex(where: { $0.1 >= bytes }) {
            let r = free.remove(at: idx)
            pthread_mutex_unlock(&lock)
            return r
        }
        let old = free.popLast()
        pthread_mutex_unlock(&lock)
        if let old = old { old.0.deallocate() }
        let size = (max(bytes, 64 * 1024) + 4095) & ~4095
        return (UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64), size)
    }

    func release(_ buf: (UnsafeMutableRawPointer, Int)) {
        pthread_mutex_lock(&lock)
        if free.count < 4 {
            free.append(buf)
            pthread_mutex_unlock(&lock)
        } else {
            pthread_mutex_unlock(&lock)
            buf.0.deallocate()
        }
    }
}

// MARK: - Driver

@inline(__always)
func roundUp(_ x: Int, _ m: Int) -> Int { (x + m - 1) / m * m }

// Explicit specialisations: debug builds compile without -wmo, and the generic entry point called
// from GemmFloat.swift / GemmDouble.swift would otherwise run unspecialised (20x slower). The
// paths below are `@inline(__always)`, so each becomes part of the specialised driver.
@_specialize(where T == Float)
@_specialize(where T == Double)
func gemmDriver<T: GemmScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                               a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                               beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
    if m <= 0 || n <= 0 { return }
    if k <= 0 || alpha == 0 {
        scaleMatrix(m, n, beta, c, ldc)
        return
    }
    // Two shapes run better as Cᵀ = op(B)ᵀ·op(A)ᵀ (into a buffer, then transposed into C):
    // - C = AᵀB with A stored k × m, B stored k × n, m well above n (weight gradients of wide
    //   layers): packing the transposed A (m·k elements, gathered) costs more than the product
    //   gains; swapped, the wide operand packs as B (contiguous rows);
    // - n just above a multiple of the micro-kernel's width (65 = 2·32 + 1, a language model's
    //   vocabulary) with many rows: a third of the columns the kernel computes are padding, while
    //   m as the row count wastes at most 5 of 6 rows once.
    let unitWidth = T.self == Float.self && Float.wideMicroKernel != nil ? 2 * T.nr : T.nr
    let wideWaste = n >= 16 && m >= 8 * n && k >= 64 && 4 * n < 3 * roundUp(n, unitWidth)
    if (transA && !transB && m >= 2 * n && n >= 16 && k >= 256) || wideWaste {
        gemmSwapped(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    beta: beta, c: c, ldc: ldc)
        return
    }
    let ops = GemmOperands(a: a, rsA: transA ? 1 : lda, csA: transA ? lda : 1,
                           b: b, rsB: transB ? 1 : ldb, csB: transB ? ldb : 1, c: c, ldc: ldc, alpha: alpha)
    let work = m * n * k
    if work < GemmTuning.smallWork || m <= GemmTuning.smallM || n <= GemmTuning.smallN {
        gemmSmall(m, n, k, alpha, a, ops.rsA, ops.csA, b, ops.rsB, ops.csB, beta, c, ldc)
        return
    }
    let threads = work >= GemmTuning.parallelMinWork ? ThreadPool.shared.threadCount : 1
    // Balanced depth blocks (no tiny last block).
    let kBlocks = (k + T.kcBlock - 1) / T.kcBlock
    let kcMax = roundUp((k + kBlocks - 1) / kBlocks, 8)
    if threads > 1 && kBlocks >= 4 && m * n <= 512 * 512 && m <= GemmTuning.mBig && n <= T.ncBlock {
        gemmDeepTiles(ops, m: m, n: n, k: k, kcMax: kcMax, beta: beta, threads: threads)
    } else {
        gemmBlocked(ops, m: m, n: n, k: k, kcMax: kcMax, beta: beta, threads: threads)
    }
}

/// The operands of C = α·op(A)·op(B) + β·C as strided views (row and column strides of op(A) and
/// op(B)), shared by the paths of `gemmDriver`.
struct GemmOperands<T: GemmScalar> {
    let a: UnsafePointer<T>, rsA: Int, csA: Int
    let b: UnsafePointer<T>, rsB: Int, csB: Int
    let c: UnsafeMutablePointer<T>, ldc: Int
    let alpha: T
}

/// Columns are split among threads in units the micro-kernel fills: two B panels for the 6 x 32
/// AVX-512 kernel (a lone 16-column panel would waste half of it).
@inline(__always)
func gemmColumnUnit<T: GemmScalar>(_: T.Type) -> Int {
    T.self == Float.self && Float.wideMicroKernel != nil ? 2 * T.nr : T.nr
}

/// C = α·op(A)·op(B) + β·C computed as Cᵀ = op(B)ᵀ·op(A)ᵀ into a buffer, then transposed into C.
@inline(__always)
func gemmSwapped<T: GemmScalar>(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: T,
                                a: UnsafePointer<T>, lda: Int, b: UnsafePointer<T>, ldb: Int,
                                beta: T, c: UnsafeMutablePointer<T>, ldc: Int) {
    let tw = GemmWorkspace.shared.acquire(m * n * MemoryLayout<T>.stride)
    defer { GemmWorkspace.shared.release(tw) }
    let tmp = tw.0.bindMemory(to: T.self, capacity: m * n)
    gemmDriver(transA: !transB, transB: !transA, m: n, n: m, k: k, alpha: 1, a: b, lda: ldb, b: a, ldb: lda,
               beta: 0, c: tmp, ldc: m)
    let tile = 16, tiles = (m + tile - 1) / tile
    let threads = m * n >= 1 << 16 ? ThreadPool.shared.threadCount : 1
    ThreadPool.shared.parallelFor(min(threads, tiles)) { part in
        let parts = min(threads, tiles)
        for ti in stride(from: part, to: tiles, by: parts) {
            let i0 = ti * tile, i1 = min(m, i0 + tile)
            var j0 = 0
            while j0 < n {
                let j1 = min(n, j0 + tile)
                for i in i0..<i1 {
                    let row = c + i * ldc
                    if beta == 0 {
                        for j in j0..<j1 { row[j] = alpha * tmp[j * m + i] }
                    } else {
                        for j in j0..<j1 { row[j] = alpha * tmp[j * m + i] + beta * row[j] }
                    }
                }
                j0 = j1
            }
        }
    }
}

/// Deep and small (weight gradients: k = rows of a batch): per-depth-block barriers would
/// dominate, so each item owns a tile of C and runs the whole depth loop with its own packing.
@inline(__always)
func gemmDeepTiles<T: GemmScalar>(_ ops: GemmOperands<T>, m: Int, n: Int, k: Int, kcMax: Int, beta: T, threads: Int) {
    let mr = T.mr, nr = T.nr, unit = gemmColumnUnit(T.self)
    let aPanels = (m + mr - 1) / mr, bUnits = (n + unit - 1) / unit
    var rowTiles = 1, colTiles = 1
    while rowTiles * colTiles < 2 * threads {
        if m / rowTiles >= n / colTiles && rowTiles < aPanels { rowTiles += 1 }
        else if colTiles < bUnits { colTiles += 1 }
        else if rowTiles < aPanels { rowTiles += 1 }
        else { break }
    }
    let mt = roundUp((m + rowTiles - 1) / rowTiles, mr), nt = roundUp((n + colTiles - 1) / colTiles, unit)
    let rowTilesN = (m + mt - 1) / mt, colTilesN = (n + nt - 1) / nt
    ThreadPool.shared.parallelFor(rowTilesN * colTilesN) { t in
        let i0 = (t / colTilesN) * mt, j0 = (t % colTilesN) * nt
        let rows = min(mt, m - i0), cols = min(nt, n - j0)
        let aE = roundUp(rows, mr) * kcMax, bE = roundUp(cols, nr) * kcMax
        let tw = GemmWorkspace.shared.acquire((aE + bE) * MemoryLayout<T>.stride + 128)
        defer { GemmWorkspace.shared.release(tw) }
        let tA = tw.0.bindMemory(to: T.self, capacity: aE + bE + 16)
        let tB = tA + roundUp(aE, 16)
        var pc = 0
        while pc < k {
            let kc = min(kcMax, k - pc)
            packA(ops.a, ops.rsA, ops.csA, i0, rows, pc, kc, tA)
            packB(ops.b, ops.rsB, ops.csB, pc, kc, j0, cols, tB)
            computeTile(0, rows, 0, cols, kc, tA, tB, ops.c + i0 * ops.ldc + j0, ops.ldc, ops.alpha, pc == 0 ? beta : 1)
            pc += kc
        }
    }
}

/// The blocked GEMM (Goto's loop order: column blocks jc, depth blocks pc, row blocks ic), with
/// packed A and B shared by the threads of each block.
@inline(__always)
func gemmBlocked<T: GemmScalar>(_ ops: GemmOperands<T>, m: Int, n: Int, k: Int, kcMax: Int, beta: T, threads: Int) {
    let mr = T.mr, nr = T.nr, unit = gemmColumnUnit(T.self)
    let ncMax = min(roundUp(n, nr), T.ncBlock)
    let mBigMax = min(roundUp(m, mr), GemmTuning.mBig)
    let aElems = mBigMax * kcMax, bElems = ncMax * kcMax
    let ws = GemmWorkspace.shared.acquire((aElems + bElems) * MemoryLayout<T>.stride + 128)
    defer { GemmWorkspace.shared.release(ws) }
    let bufA = ws.0.bindMemory(to: T.self, capacity: aElems + bElems + 16)
    let bufB = bufA + roundUp(aElems, 16)
    var jc = 0
    while jc < n {
        let nc = min(T.ncBlock, n - jc)
        var pc = 0
        while pc < k {
            let kc = min(kcMax, k - pc)
            let block = GemmBlock(ops: ops, ic: 0, mc: 0, jc: jc, nc: nc, pc: pc, kc: kc, beta: pc == 0 ? beta : 1,
                                  bufA: bufA, bufB: bufB)
            var ic = 0
            while ic < m {
                var b = block
                b.ic = ic
                b.mc = min(GemmTuning.mBig, m - ic)
                if threads == 1 {
                    if ic == 0 { packB(ops.b, ops.rsB, ops.csB, pc, kc, jc, nc, bufB) }
                    packA(ops.a, ops.rsA, ops.csA, ic, b.mc, pc, kc, bufA)
                    computeTile(0, b.mc, 0, nc, kc, bufA, bufB, ops.c + ic * ops.ldc + jc, ops.ldc, ops.alpha, b.beta)
                } else if (nc + unit - 1) / unit >= 4 * threads {
                    gemmBlockWide(b, threads: threads)
                } else {
                    gemmBlockNarrow(b, threads: threads)
                }
                ic += b.mc
            }
            pc += kc
        }
        jc += nc
    }
}

/// One (ic, jc, pc) block of `gemmBlocked`: rows ic..<ic+mc, columns jc..<jc+nc, depth pc..<pc+kc.
struct GemmBlock<T: GemmScalar> {
    let ops: GemmOperands<T>
    var ic: Int, mc: Int
    let jc: Int, nc: Int, pc: Int, kc: Int
    let beta: T
    let bufA: UnsafeMutablePointer<T>, bufB: UnsafeMutablePointer<T>
}

/// Wide block: shared A is packed first (in parallel only when large); then each item owns a
/// column slab, packs its own B panels and computes all rows, so packed B stays in the cache of
/// the core that uses it. One barrier fewer than the narrow split.
@inline(__always)
func gemmBlockWide<T: GemmScalar>(_ blk: GemmBlock<T>, threads: Int) {
    let (ops, ic, mc, jc, nc, pc, kc) = (blk.ops, blk.ic, blk.mc, blk.jc, blk.nc, blk.pc, blk.kc)
    let mr = T.mr, unit = gemmColumnUnit(T.self)
    let aPanels = (mc + mr - 1) / mr, bUnits = (nc + unit - 1) / unit
    let aGroup = 8
    let aTasks = (aPanels + aGroup - 1) / aGroup
    if aTasks >= 2 && mc * kc >= 8 * 1024 {
        ThreadPool.shared.parallelFor(aTasks) { t in
            let i = t * aGroup * mr
            packA(ops.a, ops.rsA, ops.csA, ic + i, min(aGroup * mr, mc - i), pc, kc, blk.bufA + i * kc)
        }
    } else {
        packA(ops.a, ops.rsA, ops.csA, ic, mc, pc, kc, blk.bufA)
    }
    let slabs = min(bUnits, (mc >= 512 ? 4 : 8) * threads)
    let sw = (bUnits + slabs - 1) / slabs * unit
    let slabsN = (nc + sw - 1) / sw
    let cBase = ops.c + ic * ops.ldc + jc
    ThreadPool.shared.parallelFor(slabsN) { t in
        let j0 = t * sw, w = min(sw, nc - j0)
        packB(ops.b, ops.rsB, ops.csB, pc, kc, jc + j0, w, blk.bufB + j0 * kc)
        computeTile(0, mc, j0, w, kc, blk.bufA, blk.bufB, cBase, ops.ldc, ops.alpha, blk.beta)
    }
}

/// Narrow block: pack A and B together, then split into (rows x columns) tiles, many more than
/// threads for dynamic balance.
@inline(__always)
func gemmBlockNarrow<T: GemmScalar>(_ blk: GemmBlock<T>, threads: Int) {
    let (ops, ic, mc, jc, nc, pc, kc) = (blk.ops, blk.ic, blk.mc, blk.jc, blk.nc, blk.pc, blk.kc)
    let mr = T.mr, nr = T.nr, mcB = T.mcBlock, unit = gemmColumnUnit(T.self)
    let aPanels = (mc + mr - 1) / mr, bPanels = (nc + nr - 1) / nr, bUnits = (nc + unit - 1) / unit
    let aGroup = 8, bGroup = 8
    let aTasks = (aPanels + aGroup - 1) / aGroup
    let bTasks = ic == 0 ? (bPanels + bGroup - 1) / bGroup : 0
    ThreadPool.shared.parallelFor(aTasks + bTasks) { t in
        if t < bTasks {
            let j = t * bGroup * nr
            packB(ops.b, ops.rsB, ops.csB, pc, kc, jc + j, min(bGroup * nr, nc - j), blk.bufB + j * kc)
        } else {
            let i = (t - bTasks) * aGroup * mr
            packA(ops.a, ops.rsA, ops.csA, ic + i, min(aGroup * mr, mc - i), pc, kc, blk.bufA + i * kc)
        }
    }
    let rowTiles = (mc + mcB - 1) / mcB
    let mt = roundUp((mc + rowTiles - 1) / rowTiles, mr)
    let rowTilesN = (mc + mt - 1) / mt
    let wantCols = max(1, (12 * threads + rowTilesN - 1) / rowTilesN)
    let colTiles = min(bUnits, wantCols)
    let nt = roundUp((nc + colTiles - 1) / colTiles, unit)
    let colTilesN = (nc + nt - 1) / nt
    let cBase = ops.c + ic * ops.ldc + jc
    ThreadPool.shared.parallelFor(rowTilesN * colTilesN) { t in
        let ri = t / colTilesN, ci = t % colTilesN
        let i0 = ri * mt, j0 = ci * nt
        computeTile(i0, min(mt, mc - i0), j0, min(nt, nc - j0), kc, blk.bufA, blk.bufB,
                    cBase, ops.ldc, ops.alpha, blk.beta)
    }
}

/// Runs the micro-kernel over rows [i0, i0+rows) and columns [j0, j0+cols) of the packed block.
@inline(__always)
func computeTile<T: GemmScalar>(_ i0: Int, _ rows: Int, _ j0: Int, _ cols: Int, _ kc: Int,
                                _ pa: UnsafeMutablePointer<T>, _ pb: UnsafeMutablePointer<T>,
                                _ c: UnsafeMutablePointer<T>, _ ldc: Int, _ alpha: T, _ beta: T) {
    let mr = T.mr, nr = T.nr, mcB = T.mcBlock
    var ib = i0
    let iEnd = i0 + rows, jEnd = j0 + cols
    if T.self == Float.self, let wide = Float.wideMicroKernel {
        // Pairs of B panels through the 6 x 32 AVX-512 kernel (GemmCPU.swift).
        let pa = UnsafeMutableRawPointer(pa).assumingMemoryBound(to: Float.self)
        let pb = UnsafeMutableRawPointer(pb).assumingMemoryBound(to: Float.self)
        let c = UnsafeMutableRawPointer(c).assumingMemoryBound(to: Float.self)
        let (alpha, beta) = (Float(alpha), Float(beta))
        while ib < iEnd {
            let ibEnd = min(ib + mcB, iEnd)
            var j = j0
            while j < jEnd {
                let w = min(2 * nr, jEnd - j)
                let b0 = UnsafePointer(pb + j * kc)
                let b1 = w > nr ? b0 + nr * kc : b0  // a lone last panel: its pair is ignored (w ≤ 16)
                var i = ib
                while i < ibEnd {
                    wide(kc, UnsafePointer(pa + i * kc), b0, b1, c + i * ldc + j, ldc, min(mr, ibEnd - i), w, alpha, beta)
                    i += mr
                }
                j += 2 * nr
            }
            ib = ibEnd
        }
        return
    }
    while ib < iEnd {
        let ibEnd = min(ib + mcB, iEnd)
        var j = j0
        while j < jEnd {
            let w = min(nr, jEnd - j)
            let bp = UnsafePointer(pb + j * kc)
            var i = ib
            while i < ibEnd {
                T.microKernel(kc, UnsafePointer(pa + i * kc), bp, c + i * ldc + j, ldc,
                              min(mr, ibEnd - i), w, alpha, beta)
                i += mr
            }
            j += nr
        }
        ib = ibEnd
    }
}
