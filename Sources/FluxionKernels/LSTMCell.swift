// The LSTM cell's forward sweep for Float, vectorised 8 units at a time with its own inlined
// activations (below).

/// For `batch` rows of `n` hidden units, gates in PyTorch's order i, f, g, o:
///   (i, f, g, o) = (σ, σ, tanh, σ)(z + x),  c = f ⊙ c_prev + i ⊙ g,  h = o ⊙ tanh(c).
/// z rows are 4n apart; x, gates, c, tanhC, h and c_prev rows have the given strides (elements;
/// gates rows are `4 · stateStride` apart). Only the units below the last multiple of 8 are
/// computed; the caller does the remaining n mod 8 (`lstmCellForward`, below).
@usableFromInline
package func lstmCellForwardFloat(_ z: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ xStride: Int,
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
    }
}

// The cell's activations: tanh as Eigen's rational approximation (odd degree-13 over even
// degree-6 polynomial of x clamped to [−9, 9]; |error| < 4e-7 in Float), sigmoid as
// ½ + ½·tanh(x/2). One division and no exponential each, where exp-based forms took three times
// the instructions; the cell's sweep was a quarter of the LSTM's forward time.
@inline(__always)
private func cellTanh(_ v: Float8) -> Float8 {
    var x = v.replacing(with: 9, where: v .> 9)
    x.replace(with: -9, where: x .< -9)
    let x2 = x * x
    var p = Float8(repeating: -2.760_768_477_423_55e-16)
    p = Float8(repeating: 2.000_187_904_824_77e-13).addingProduct(p, x2)
    p = Float8(repeating: -8.604_671_522_137_35e-11).addingProduct(p, x2)
    p = Float8(repeating: 5.122_297_090_371_14e-08).addingProduct(p, x2)
    p = Float8(repeating: 1.485_722_357_179_79e-05).addingProduct(p, x2)
    p = Float8(repeating: 6.372_619_288_754_36e-04).addingProduct(p, x2)
    p = Float8(repeating: 4.893_524_558_917_86e-03).addingProduct(p, x2)
    var q = Float8(repeating: 1.198_258_394_667_02e-06)
    q = Float8(repeating: 1.185_347_056_866_54e-04).addingProduct(q, x2)
    q = Float8(repeating: 2.268_434_632_439_00e-03).addingProduct(q, x2)
    q = Float8(repeating: 4.893_525_185_543_85e-03).addingProduct(q, x2)
    var y = x * p / q
    y.replace(with: v, where: v .!= v)  // NaN stays NaN
    return y
}
@inline(__always)
private func cellSigmoid(_ x: Float8) -> Float8 { Float8(repeating: 0.5).addingProduct(cellTanh(0.5 * x), Float8(repeating: 0.5)) }

// The cell's sweeps for either float type, called by FluxionCore's LSTM recurrence and sequence
// kernels once per time step (@inlinable: specialised there for Float and Double).

@inlinable @inline(__always)
package func lstmCellForward<T: KernelFloat>(_ z: UnsafePointer<T>, _ x: UnsafePointer<T>, _ xStride: Int,
                                             _ cPrev: UnsafePointer<T>, _ cPrevStride: Int,
                                             _ gates: UnsafeMutablePointer<T>, _ c: UnsafeMutablePointer<T>, _ tanhC: UnsafeMutablePointer<T>,
                                             _ h: UnsafeMutablePointer<T>, _ stateStride: Int, _ hStride: Int, batch: Int, hidden n: Int) {
    // Pre-activations z + x̃ (the recurrent product and the projected input, added here rather
    // than copying x̃ into z first); tanh(c_t) is kept for the backward pass.
    if T.self == Float.self {
        func f(_ p: UnsafePointer<T>) -> UnsafePointer<Float> { UnsafeRawPointer(p).assumingMemoryBound(to: Float.self) }
        func f(_ p: UnsafeMutablePointer<T>) -> UnsafeMutablePointer<Float> { UnsafeMutableRawPointer(p).assumingMemoryBound(to: Float.self) }
        lstmCellForwardFloat(f(z), f(x), xStride, f(cPrev), cPrevStride, f(gates), f(c), f(tanhC), f(h), stateStride, hStride,
                             batch: batch, hidden: n)
    }
    // Double, and Float's last n mod 8 units.
    let start = T.self == Float.self ? n / 8 * 8 : 0
    if start == n { return }
    for b in 0..<batch {
        let zr = z + b * 4 * n, xr = x + b * xStride, gr = gates + b * stateStride * 4, cp = cPrev + b * cPrevStride
        let cr = c + b * stateStride, tr = tanhC + b * stateStride, hr = h + b * hStride
        var j = start
        while j < n {
            let sig = { (x: T) -> T in 1 / (1 + T.exp(-x)) }
            let i = sig(zr[j] + xr[j]), f = sig(zr[n + j] + xr[n + j])
            let g = T.tanh(zr[2 * n + j] + xr[2 * n + j]), o = sig(zr[3 * n + j] + xr[3 * n + j])
            let cNew = f * cp[j] + i * g
            gr[j] = i; gr[n + j] = f; gr[2 * n + j] = g; gr[3 * n + j] = o
            cr[j] = cNew
            tr[j] = T.tanh(cNew)
            hr[j] = o * tr[j]
            j += 1
        }
    }
}

@inlinable @inline(__always)
package func lstmCellBackward<T: KernelFloat>(_ gates: UnsafePointer<T>, _ tanhC: UnsafePointer<T>, _ cPrev: UnsafePointer<T>, _ cPrevStride: Int,
                                              _ stateStride: Int, _ dh: UnsafePointer<T>, _ dc: UnsafeMutablePointer<T>,
                                              _ dz: UnsafeMutablePointer<T>, _ dzStride: Int, batch: Int, hidden n: Int) {
    // dc holds ∂L/∂c_t on entry and ∂L/∂c_{t−1} on exit; dh is ∂L/∂h_t; dz gets ∂L/∂z_t.
    for b in 0..<batch {
        let gr = gates + b * stateStride * 4, cr = tanhC + b * stateStride, cp = cPrev + b * cPrevStride
        let dhr = dh + b * n, dcr = dc + b * n, dzr = dz + b * dzStride
        var j = 0
        if T.self == Float.self {
            let gf = UnsafeRawPointer(gr), crf = UnsafeRawPointer(cr), cpf = UnsafeRawPointer(cp)
            let dhf = UnsafeRawPointer(dhr), dcf = UnsafeMutableRawPointer(dcr), dzf = UnsafeMutableRawPointer(dzr)
            while j + 8 <= n {
                let o4 = 4 * j
                let i = gf.loadUnaligned(fromByteOffset: o4, as: Float8.self)
                let f = gf.loadUnaligned(fromByteOffset: o4 + 4 * n, as: Float8.self)
                let g = gf.loadUnaligned(fromByteOffset: o4 + 8 * n, as: Float8.self)
                let o = gf.loadUnaligned(fromByteOffset: o4 + 12 * n, as: Float8.self)
                let tc = crf.loadUnaligned(fromByteOffset: o4, as: Float8.self)
                let dhv = dhf.loadUnaligned(fromByteOffset: o4, as: Float8.self)
                let dct = dcf.loadUnaligned(fromByteOffset: o4, as: Float8.self) + dhv * o * (1 - tc * tc)
                let cpv = cpf.loadUnaligned(fromByteOffset: o4, as: Float8.self)
                dzf.storeBytes(of: dct * g * i * (1 - i), toByteOffset: o4, as: Float8.self)
                dzf.storeBytes(of: dct * cpv * f * (1 - f), toByteOffset: o4 + 4 * n, as: Float8.self)
                dzf.storeBytes(of: dct * i * (1 - g * g), toByteOffset: o4 + 8 * n, as: Float8.self)
                dzf.storeBytes(of: dhv * tc * o * (1 - o), toByteOffset: o4 + 12 * n, as: Float8.self)
                dcf.storeBytes(of: dct * f, toByteOffset: o4, as: Float8.self)
                j += 8
            }
        }
        while j < n {
            let i = gr[j], f = gr[n + j], g = gr[2 * n + j], o = gr[3 * n + j]
            let tc = cr[j]
            let dct = dcr[j] + dhr[j] * o * (1 - tc * tc)
            dzr[j] = dct * g * i * (1 - i)
            dzr[n + j] = dct * cp[j] * f * (1 - f)
            dzr[2 * n + j] = dct * i * (1 - g * g)
            dzr[3 * n + j] = dhr[j] * tc * o * (1 - o)
            dcr[j] = dct * f
            j += 1
        }
    }
}
