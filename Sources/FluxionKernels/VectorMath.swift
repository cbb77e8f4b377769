// Vectorised transcendental functions for Float (8 lanes, AVX2): exp, sigmoid, SiLU, tanh.
// Polynomials are Cephes' single-precision ones (≈1–2 ulp on their ranges).

public typealias Float8 = SIMD8<Float>

@inline(__always)
func bits(_ x: Float8) -> SIMD8<Int32> { unsafeBitCast(x, to: SIMD8<Int32>.self) }
@inline(__always)
func float8(_ x: SIMD8<Int32>) -> Float8 { unsafeBitCast(x, to: Float8.self) }

/// eˣ on 8 lanes: x = n·ln2 + r with |r| ≤ ln2/2, eʳ by a degree-6 polynomial, 2ⁿ by exponent bits.
/// Overflows to +∞ above 88.72; underflows to 0 below −87.33 (no denormals).
@inline(__always)
public func exp8(_ x: Float8) -> Float8 {
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

/// 1 / (1 + e⁻ˣ) on 8 lanes (e⁻ˣ overflowing to ∞ gives exactly 0).
@inline(__always)
public func sigmoid8(_ x: Float8) -> Float8 { 1 / (1 + exp8(-x)) }

/// tanh on 8 lanes: an odd polynomial for |x| < 0.625 (no cancellation near 0), else
/// sign(x)·(1 − 2/(e^{2|x|} + 1)).
@inline(__always)
public func tanh8(_ x: Float8) -> Float8 {
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

/// Applies an 8-lane function to `n` floats (scalar tail through a padded vector).
@inline(__always)
public func map8(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, _ f: (Float8) -> Float8) {
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
public enum VectorMath {
    public static func exp(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, exp8) }
    public static func sigmoid(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, sigmoid8) }
    public static func silu(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n) { $0 * sigmoid8($0) } }
    /// silu'(x) = σ(x)(1 + x(1 − σ(x))).
    public static func siluDerivative(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
        map8(x, y, n) { v in let s = sigmoid8(v); return s * (1 + v * (1 - s)) }
    }
    public static func tanh(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) { map8(x, y, n, tanh8) }
}
