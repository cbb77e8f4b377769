import Foundation

// The LSTM cell's forward sweep for Float, here beside the 8-lane transcendentals so that they
// inline into its loop (called across modules they stayed out-of-line calls that passed vectors
// in halves and serialised each polynomial).

/// For `batch` rows of `n` hidden units, gates in PyTorch's order i, f, g, o:
///   (i, f, g, o) = (σ, σ, tanh, σ)(z + x),  c = f ⊙ c_prev + i ⊙ g,  h = o ⊙ tanh(c).
/// z rows are 4n apart; x, gates, c, tanhC, h and c_prev rows have the given strides (elements;
/// gates rows are `4 · stateStride` apart).
public func lstmCellForwardFloat(_ z: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ xStride: Int,
                                 _ cPrev: UnsafePointer<Float>, _ cPrevStride: Int,
                                 _ gates: UnsafeMutablePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                                 _ tanhC: UnsafeMutablePointer<Float>, _ h: UnsafeMutablePointer<Float>,
                                 _ stateStride: Int, _ hStride: Int, batch: Int, hidden n: Int) {
    for b in 0..<batch {
        let zr = UnsafeRawPointer(z + b * 4 * n), xr = UnsafeRawPointer(x + b * xStride)
        let gr = UnsafeMutableRawPointer(gates + b * stateStride * 4), cp = UnsafeRawPointer(cPrev + b * cPrevStride)
        let cr = UnsafeMutableRawPointer(c + b * stateStride), tr = UnsafeMutableRawPointer(tanhC + b * stateStride)
        let hr = UnsafeMutableRawPointer(h + b * hStride)
        @inline(__always) func pre(_ offset: Int) -> Float8 {
            zr.loadUnaligned(fromByteOffset: offset, as: Float8.self) + xr.loadUnaligned(fromByteOffset: offset, as: Float8.self)
        }
        var j = 0
        while j + 8 <= n {
            let o4 = 4 * j
            let i = cellSigmoid(pre(o4))
            let f = cellSigmoid(pre(o4 + 4 * n))
            let g = cellTanh(pre(o4 + 8 * n))
            let o = cellSigmoid(pre(o4 + 12 * n))
            let cNew = f * cp.loadUnaligned(fromByteOffset: o4, as: Float8.self) + i * g
            let tc = cellTanh(cNew)
            gr.storeBytes(of: i, toByteOffset: o4, as: Float8.self)
            gr.storeBytes(of: f, toByteOffset: o4 + 4 * n, as: Float8.self)
            gr.storeBytes(of: g, toByteOffset: o4 + 8 * n, as: Float8.self)
            gr.storeBytes(of: o, toByteOffset: o4 + 12 * n, as: Float8.self)
            cr.storeBytes(of: cNew, toByteOffset: o4, as: Float8.self)
            tr.storeBytes(of: tc, toByteOffset: o4, as: Float8.self)
            hr.storeBytes(of: o * tc, toByteOffset: o4, as: Float8.self)
            j += 8
        }
        let zs = z + b * 4 * n, xs = x + b * xStride, gs = gates + b * stateStride * 4, cps = cPrev + b * cPrevStride
        while j < n {
            let sig = { (v: Float) -> Float in 1 / (1 + Foundation.expf(-v)) }
            let i = sig(zs[j] + xs[j]), f = sig(zs[n + j] + xs[n + j])
            let g = Foundation.tanhf(zs[2 * n + j] + xs[2 * n + j]), o = sig(zs[3 * n + j] + xs[3 * n + j])
            let cNew = f * cps[j] + i * g
            gs[j] = i; gs[n + j] = f; gs[2 * n + j] = g; gs[3 * n + j] = o
            c[b * stateStride + j] = cNew
            let tc = Foundation.tanhf(cNew)
            tanhC[b * stateStride + j] = tc
            h[b * hStride + j] = o * tc
            j += 1
        }
    }
}

// Local copies of exp8/sigmoid8/tanh8 that the compiler does inline here (the public ones stay
// calls), with fused multiply-adds in the polynomials. Same algorithms and constants.
@inline(__always)
private func cellExp(_ x: Float8) -> Float8 {
    let hi: Float = 88.7228, lo: Float = -87.3365
    var xc = x.replacing(with: hi, where: x .> hi)
    xc.replace(with: lo, where: xc .< lo)
    let magic = Float8(repeating: 12_582_912)
    let t = magic.addingProduct(xc, Float8(repeating: 1.442_695_04))
    let n = t - magic
    var r = xc.addingProduct(n, Float8(repeating: -0.693_359_375))
    r = r.addingProduct(n, Float8(repeating: 2.121_944_4e-4))
    var p = Float8(repeating: 1.987_569_15e-4)
    p = Float8(repeating: 1.398_199_95e-3).addingProduct(p, r)
    p = Float8(repeating: 8.333_451_9e-3).addingProduct(p, r)
    p = Float8(repeating: 4.166_579_59e-2).addingProduct(p, r)
    p = Float8(repeating: 1.666_666_55e-1).addingProduct(p, r)
    p = Float8(repeating: 5.000_000_12e-1).addingProduct(p, r)
    let e = (r + 1).addingProduct(p, r * r)
    let ni = bits(t) &- bits(magic)
    var y = e * float8((ni &+ 127) &<< 23)
    y.replace(with: Float8(repeating: .infinity), where: x .> hi)
    y.replace(with: Float8(repeating: 0), where: x .< lo)
    y.replace(with: x, where: x .!= x)
    return y
}
@inline(__always)
private func cellSigmoid(_ x: Float8) -> Float8 { 1 / (1 + cellExp(-x)) }
@inline(__always)
private func cellTanh(_ x: Float8) -> Float8 {
    let a = x.replacing(with: -x, where: x .< 0)
    let big = 1 - 2 / (cellExp(2 * a) + 1)
    let z = x * x
    var p = Float8(repeating: -5.704_988_72e-3)
    p = Float8(repeating: 2.063_908_88e-2).addingProduct(p, z)
    p = Float8(repeating: -5.373_971_55e-2).addingProduct(p, z)
    p = Float8(repeating: 1.333_144_22e-1).addingProduct(p, z)
    p = Float8(repeating: -3.333_328_19e-1).addingProduct(p, z)
    let small = x.addingProduct(x * z, p)
    var y = big.replacing(with: -big, where: x .< 0)
    y.replace(with: small, where: a .< 0.625)
    return y
}
