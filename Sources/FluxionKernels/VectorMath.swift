import Foundation
// Vectorised transcendental functions for Float (8 lanes, AVX2): exp, sigmoid, SiLU, tanh, erf, GELU, sin, cos.
// Polynomials are Cephes' single-precision ones (≈1–2 ulp on their ranges); erf is Eigen's rational
// approximation (odd degree-13 / even degree-8, |error| ≲ 2 ulp of 1 on [−4, 4], ±1 outside).
// The 8-lane functions are @inlinable @_transparent: inlined into every loop that calls them, in this
// module and others (@inline(__always) left exp8 an out-of-line call in the scan and softmax loops).

@usableFromInline package typealias Float8 = SIMD8<Float>

@inlinable @_transparent
func bits(_ x: Float8) -> SIMD8<Int32> { unsafeBitCast(x, to: SIMD8<Int32>.self) }
@inlinable @_transparent
func float8(_ x: SIMD8<Int32>) -> Float8 { unsafeBitCast(x, to: Float8.self) }

/// eˣ on 8 lanes: x = n·ln2 + r with |r| ≤ ln2/2, eʳ by a degree-6 polynomial, 2ⁿ by exponent bits.
/// Overflows to +∞ above 88.72; underflows to 0 below −87.33 (no denormals).
@inlinable @_transparent
package func exp8(_ x: Float8) -> Float8 {
    let hi: Float = 88.7228, lo: Float = -87.3365
    // (`clamped(lowerBound:upperBound:)` goes through unspecialised generic code: select instead.)
    var xc = x.replacing(with: hi, where: x .> hi)
    xc.replace(with: lo, where: xc .< lo)
    // n = round(x / ln 2) with the 1.5·2²³ trick (its low mantissa bits hold the integer).
    let magic = Float8(repeating: 12_582_912)
    let t = xc * 1.442_695_04 + magic
    let n = t - magic
    var r = xc - n * 0.693_359_375
    r = r + n * 2.121_944_4e-4
    var p = Float8(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_59e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_12e-1
    let e = p * (r * r) + r + 1
    let ni = bits(t) &- bits(magic)
    let scale = float8((ni &+ 127) &<< 23)
    var y = e * scale
    y.replace(with: Float8(repeating: .infinity), where: x .> hi)
    y.replace(with: Float8(repeating: 0), where: x .< lo)
    y.replace(with: x, where: x .!= x)  // NaN stays NaN
    return y
}

/// sin x and cos x on 8 lanes (Cephes' sinf/cosf polynomials): x = q·π/2 + r with q the nearest
/// integer and r by a three-part Cody–Waite reduction in fused multiply-adds (|r| ≤ π/4), then
/// r − r³/6 + … and 1 − r²/2 + … (degree 7 and 8), the quadrant q mod 4 picking and negating
/// them. Accurate to a few ulp for |x| ≤ 65,536; a vector with a larger lane goes lane by lane
/// through the C library (exact reduction). NaN and ±∞ give NaN.
@inlinable @_transparent
package func sincos8(_ x: Float8) -> (sin: Float8, cos: Float8) {
    // (Integer-lane masks are built lane by lane by the compiler, and SIMD's max() and
    // pointwiseMax stay generic calls: the quadrant logic below is bit arithmetic, the range test
    // a float comparison and a sum.)
    let ax = x.replacing(with: -x, where: x .< 0)
    if Float8(repeating: 0).replacing(with: 1, where: ax .> 65_536).sum() > 0 {
        var s = Float8(), c = Float8()
        for i in 0..<8 { s[i] = Foundation.sinf(x[i]); c[i] = Foundation.cosf(x[i]) }
        return (s, c)
    }
    let magic = Float8(repeating: 12_582_912)
    let t = x * 0.636_619_772 + magic              // 2/π, rounded to the nearest integer by the 1.5·2²³ trick
    let q = t - magic
    var r = x - q * 1.570_312_5                    // π/2 = 1.5703125 + 4.8375129699707031e-4 + 7.5497899548918821e-8
    r = r - q * 4.837_512_969_970_703_1e-4
    r = r - q * 7.549_789_954_891_882_1e-8
    let r2 = r * r
    var ps = Float8(repeating: -1.951_529_589_1e-4)
    ps = ps * r2 + 8.332_160_873_6e-3
    ps = ps * r2 - 1.666_665_461_1e-1
    let sinR = ps * (r2 * r) + r
    var pc = Float8(repeating: 2.443_315_711_809_948e-5)
    pc = pc * r2 - 1.388_731_625_493_765e-3
    pc = pc * r2 + 4.166_664_568_298_827e-2
    let cosR = pc * (r2 * r2) - r2 * 0.5 + 1
    let qi = bits(t) &- bits(magic)
    let swap = SIMD8<Int32>() &- (qi & 1)              // all ones in odd quadrants
    let (bs, bc) = (bits(sinR), bits(cosR))
    let sinX = ((bc & swap) | (bs & ~swap)) ^ ((qi & 2) &<< 30)          // quadrants 2, 3: −
    let cosX = ((bs & swap) | (bc & ~swap)) ^ (((qi &+ 1) & 2) &<< 30)   // quadrants 1, 2: −
    return (float8(sinX), float8(cosX))
}

/// ln x on 8 lanes for x > 0 (Cephes' logf: x = m·2ᵉ with m ∈ [√½, √2), ln m by a degree-8
/// polynomial in m − 1). x ≤ 0 or NaN lanes are not handled (callers pass x ≥ 1).
@inlinable @_transparent
package func log8(_ x: Float8) -> Float8 {
    let xb = bits(x)
    // The biased exponent k ∈ 0…255 as a float: the bits of 2²³ + k, minus 2²³ (no int→float conversion,
    // which goes through unspecialised generic code for SIMD vectors).
    var e = float8(((xb &>> 23) & 0xff) | 0x4b00_0000) - (8_388_608 + 126)
    var m = float8((xb & 0x007f_ffff) | 0x3f00_0000)                      // [0.5, 1)
    let small = m .< 0.707_106_781
    e.replace(with: e - 1, where: small)
    m = m.replacing(with: m + m, where: small) - 1
    let z = m * m
    var p = Float8(repeating: 7.037_683_629_2e-2)
    p = p * m - 1.151_461_031_0e-1
    p = p * m + 1.167_699_874_0e-1
    p = p * m - 1.242_014_084_6e-1
    p = p * m + 1.424_932_278_7e-1
    p = p * m - 1.666_805_766_5e-1
    p = p * m + 2.000_071_476_5e-1
    p = p * m - 2.499_999_399_3e-1
    p = p * m + 3.333_333_117_4e-1
    var y = m * z * p - 2.121_944_40e-4 * e - 0.5 * z
    y = m + y + 0.693_359_375 * e
    return y
}

/// softplus x = ln(1 + eˣ) = max(x, 0) + ln(1 + e^{−|x|}) on 8 lanes; ln(1 + t) as
/// ln(u)·t/(u − 1) with u = 1 + t (exact to rounding even where 1 + t rounds to 1).
@inlinable @_transparent
package func softplus8(_ x: Float8) -> Float8 {
    let t = exp8(x.replacing(with: -x, where: x .> 0))                     // e^{−|x|} ∈ (0, 1]
    let u = 1 + t
    let l = (log8(u) * (t / (u - 1))).replacing(with: t, where: u .== 1)
    return x.replacing(with: 0, where: x .< 0) + l
}

/// 1 / (1 + e⁻ˣ) on 8 lanes (e⁻ˣ overflowing to ∞ gives exactly 0).
@inlinable @_transparent
package func sigmoid8(_ x: Float8) -> Float8 { 1 / (1 + exp8(-x)) }

/// tanh on 8 lanes: an odd polynomial for |x| < 0.625 (no cancellation near 0), else
/// sign(x)·(1 − 2/(e^{2|x|} + 1)).
@inlinable @_transparent
package func tanh8(_ x: Float8) -> Float8 {
    let a = x.replacing(with: -x, where: x .< 0)
    let big = 1 - 2 / (exp8(2 * a) + 1)
    let z = x * x
    var p = Float8(repeating: -5.704_988_72e-3)
    p = p * z + 2.063_908_88e-2
    p = p * z - 5.373_971_55e-2
    p = p * z + 1.333_144_22e-1
    p = p * z - 3.333_328_19e-1
    let small = x + x * z * p
    var y = big.replacing(with: -big, where: x .< 0)
    y.replace(with: small, where: a .< 0.625)
    return y
}

/// erf on 8 lanes: p(x)/q(x) with x clamped to [−4, 4] (erf is ±1 in Float beyond).
@inlinable @_transparent
package func erf8(_ a: Float8) -> Float8 {
    var x = a.replacing(with: 4, where: a .> 4)
    x.replace(with: -4, where: x .< -4)
    let x2 = x * x
    var p = x2 * -2.726_142_258_013_06e-10 + 2.770_681_424_959_02e-08
    p = x2 * p - 2.101_024_020_825_08e-06
    p = x2 * p - 5.692_506_394_623_46e-05
    p = x2 * p - 7.349_906_303_268_55e-04
    p = x2 * p - 2.954_599_808_540_25e-03
    p = x2 * p - 1.609_603_332_624_15e-02
    p = x * p
    var q = x2 * -1.456_607_184_649_96e-05 - 2.133_740_552_789_05e-04
    q = x2 * q - 1.682_826_974_382_03e-03
    q = x2 * q - 7.373_329_167_204_68e-03
    q = x2 * q - 1.426_473_905_141_89e-02
    var y = p / q
    y.replace(with: a, where: a .!= a)  // NaN stays NaN
    return y
}

/// GELU x·Φ(x) = ½x(1 + erf(x/√2)) on 8 lanes.
@inlinable @_transparent
package func gelu8(_ x: Float8) -> Float8 { 0.5 * x * (1 + erf8(x * 0.707_106_781_186_547_5)) }

/// GELU′(x) = Φ(x) + x·φ(x) on 8 lanes (φ the standard normal density).
@inlinable @_transparent
package func geluDerivative8(_ x: Float8) -> Float8 {
    0.5 * (1 + erf8(x * 0.707_106_781_186_547_5)) + x * 0.398_942_280_401_432_7 * exp8(-0.5 * x * x)
}

/// Applies an 8-lane function to `n` floats (scalar tail through a padded vector).
@inlinable @_transparent
package func map8(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Float8) -> Float8) {
    var i = 0
    while i + 8 <= n {
        let v = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self)
        UnsafeMutableRawPointer(y + i).storeBytes(of: f(v), as: Float8.self)
        i += 8
    }
    if i < n {
        var v = Float8()
        for j in 0..<(n - i) { v[j] = x[i + j] }
        let r = f(v)
        for j in 0..<(n - i) { y[i + j] = r[j] }
    }
}

/// Vectorised elementwise functions on Float buffers (single-threaded; callers split work).
package enum VectorMath {
    package static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, exp8) }
    package static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, sigmoid8) }
    package static func softplus(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, softplus8) }
    package static func silu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n) { $0 * sigmoid8($0) } }
    /// y = x·σ(x), also writing σ(x) to `s` (kept for the backward pass).
    package static func silu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, sigmoid s: UnsafeMutablePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n {
            let v = UnsafeRawPointer(x + i).loadUnaligned(as: Float8.self)
            let sv = sigmoid8(v)
            UnsafeMutableRawPointer(s + i).storeBytes(of: sv, as: Float8.self)
            UnsafeMutableRawPointer(y + i).storeBytes(of: v * sv, as: Float8.self)
            i += 8
        }
        while i < n {
            let sv = 1 / (1 + Foundation.expf(-x[i]))
            s[i] = sv
            y[i] = x[i] * sv
            i += 1
        }
    }
    /// out = g·σ(x)(1 + x(1 − σ(x))) from a saved σ(x): the SiLU backward pass, one memory sweep.
    package static func siluBackward(_ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ s: UnsafePointer<Float>,
                                    _ out: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { out[i] = g[i] * s[i] * (1 + x[i] * (1 - s[i])) }
    }
    /// silu'(x) = σ(x)(1 + x(1 − σ(x))).
    package static func siluDerivative(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        map8(x, y, n) { v in let s = sigmoid8(v); return s * (1 + v * (1 - s)) }
    }
    package static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, tanh8) }
    package static func sin(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n) { sincos8($0).sin } }
    package static func cos(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n) { sincos8($0).cos } }
    package static func erf(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, erf8) }
    package static func gelu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, gelu8) }
    package static func geluDerivative(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, geluDerivative8) }
}
