import Foundation

// NOTE(1) of FFT.swift: the discrete Fourier transform for lengths n = 2^k (S4's convolution
// kernels, causal convolution by FFT). Split real/imaginary arrays, iterative radix-2
// decimation in time (bit reversal, then log₂ n butterfly passes), twiddles computed in Double.
//
//   forward   X_k = Σ_j x_j e^{−2πi jk/n}          inverse   x_j = (1/n) Σ_k X_k e^{+2πi jk/n}
//
// The real transform of x (n real values) returns X_0 … X_{n/2} (NumPy's `rfft`); its inverse
// (`irfft`) takes n/2 + 1 bins, ignores the imaginary parts of X_0 and X_{n/2} and returns n real
// values. Both run the complex transform on n/2 points: x packed as z_j = x_{2j} + i·x_{2j+1}, then
// X_k = E_k + e^{−2πik/n}·O_k with E, O the transforms of the even and odd samples, unpacked from Z.

/// The element types of the FFT (`Float`, `Double`).
package protocol FFTScalar: BinaryFloatingPoint {}
extension Float: FFTScalar {}
extension Double: FFTScalar {}

/// The twiddles of length-n real transforms, computed once (in Double) and shared by every row
/// and thread: cos and sin of 2πj/n for j = 0 … n/2. The half-length complex transform inside
/// uses every second entry.
package struct FFTPlan<T: FFTScalar>: @unchecked Sendable {
    package let count: Int
    let cosines: [T], sines: [T]

    package init(count n: Int) {
        precondition(FFT.isPowerOfTwo(n), "FFT: length \(n) is not a power of two")
        count = n
        let angles = (0...(n / 2)).map { 2 * Double.pi * Double($0) / Double(n) }
        cosines = angles.map { T(Foundation.cos($0)) }
        sines = angles.map { T(Foundation.sin($0)) }
    }
}

package enum FFT {
    /// True for n = 2^k, k ≥ 0.
    package static func isPowerOfTwo(_ n: Int) -> Bool { n > 0 && n & (n - 1) == 0 }

    /// In-place complex DFT of `re`, `im` (n = 2^k each); `inverse`: the +i exponent and the 1/n factor.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    package static func complex<T: FFTScalar>(_ re: UnsafeMutablePointer<T>, _ im: UnsafeMutablePointer<T>, count n: Int, inverse: Bool) {
        complex(re, im, count: n, inverse: inverse, plan: FFTPlan(count: n))
    }

    /// The same with the twiddles of `plan` (whose length is a multiple of n).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    package static func complex<T: FFTScalar>(_ re: UnsafeMutablePointer<T>, _ im: UnsafeMutablePointer<T>, count n: Int, inverse: Bool,
                                              plan: FFTPlan<T>) {
        precondition(isPowerOfTwo(n) && plan.count % n == 0, "FFT: length \(n) is not a power of two dividing the plan's \(plan.count)")
        if n == 1 { return }
        // Bit reversal.
        var j = 0
        for i in 1..<n {
            var bit = n >> 1
            while j & bit != 0 { j ^= bit; bit >>= 1 }
            j |= bit
            if i < j { swap(&re[i], &re[j]); swap(&im[i], &im[j]) }
        }
        // Butterflies: passes of length 2, 4, …, n; twiddle w_m^k = e^{∓2πik/m} = plan entry k·(N/m).
        let sign: T = inverse ? 1 : -1
        let ratio = plan.count / n
        var length = 2
        while length <= n {
            let half = length / 2, step = n / length
            var start = 0
            while start < n {
                for k in 0..<half {
                    let (cr, ci) = (plan.cosines[k * step * ratio], sign * plan.sines[k * step * ratio])
                    let a = start + k, b = a + half
                    let tr = re[b] * cr - im[b] * ci
                    let ti = re[b] * ci + im[b] * cr
                    re[b] = re[a] - tr; im[b] = im[a] - ti
                    re[a] += tr; im[a] += ti
                }
                start += length
            }
            length *= 2
        }
        if inverse {
            let scale = 1 / T(n)
            for i in 0..<n { re[i] *= scale; im[i] *= scale }
        }
    }

    /// Real DFT: `x` (n = plan.count = 2^k reals) → bins X_0 … X_{n/2} in `re`, `im` (n/2 + 1 each).
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    package static func real<T: FFTScalar>(_ x: UnsafePointer<T>, plan: FFTPlan<T>, re: UnsafeMutablePointer<T>, im: UnsafeMutablePointer<T>) {
        let n = plan.count
        if n == 1 { re[0] = x[0]; im[0] = 0; return }
        let h = n / 2
        var zr = [T](repeating: 0, count: h), zi = [T](repeating: 0, count: h)
        for j in 0..<h { zr[j] = x[2 * j]; zi[j] = x[2 * j + 1] }
        zr.withUnsafeMutableBufferPointer { pr in zi.withUnsafeMutableBufferPointer { pi in
            complex(pr.baseAddress!, pi.baseAddress!, count: h, inverse: false, plan: plan)
        } }
        // E_k = (Z_k + conj Z_{h−k}) / 2, O_k = (Z_k − conj Z_{h−k}) / (2i), X_k = E_k + w^k O_k.
        for k in 0...h {
            let a = k % h, b = (h - k) % h
            let er = (zr[a] + zr[b]) / 2, ei = (zi[a] - zi[b]) / 2
            let or = (zi[a] + zi[b]) / 2, oi = (zr[b] - zr[a]) / 2
            let (cr, ci) = (plan.cosines[k], -plan.sines[k])                     // e^{−2πik/n}
            re[k] = er + or * cr - oi * ci
            im[k] = ei + or * ci + oi * cr
        }
    }

    /// Inverse real DFT: bins X_0 … X_{n/2} (`re`, `im`, n/2 + 1 each) → `x` (n = plan.count reals),
    /// with the 1/n factor; the imaginary parts of X_0 and X_{n/2} are ignored.
    @_specialize(where T == Float)
    @_specialize(where T == Double)
    package static func inverseReal<T: FFTScalar>(re: UnsafePointer<T>, im: UnsafePointer<T>, plan: FFTPlan<T>, _ x: UnsafeMutablePointer<T>) {
        let n = plan.count
        if n == 1 { x[0] = re[0]; return }
        let h = n / 2
        // Z_k = E_k + i·O_k with E_k = (X_k + conj X_{h−k}) / 2 and O_k = (X_k − conj X_{h−k})·w^{−k} / 2.
        var zr = [T](repeating: 0, count: h), zi = [T](repeating: 0, count: h)
        for k in 0..<h {
            let (ar, ai) = (re[k], k == 0 ? 0 : im[k])
            let (br, bi) = (re[h - k], h - k == h ? 0 : -im[h - k])  // conj X_{h−k}
            let er = (ar + br) / 2, ei = (ai + bi) / 2
            let dr = (ar - br) / 2, di = (ai - bi) / 2
            let (cr, ci) = (plan.cosines[k], plan.sines[k])                      // e^{+2πik/n}
            let or = dr * cr - di * ci, oi = dr * ci + di * cr
            zr[k] = er - oi; zi[k] = ei + or
        }
        zr.withUnsafeMutableBufferPointer { pr in zi.withUnsafeMutableBufferPointer { pi in
            complex(pr.baseAddress!, pi.baseAddress!, count: h, inverse: true, plan: plan)
        } }
        for j in 0..<h { x[2 * j] = zr[j]; x[2 * j + 1] = zi[j] }
    }
}
