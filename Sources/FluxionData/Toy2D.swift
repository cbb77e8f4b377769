import Foundation
@_exported import FluxionCore

/// Seeded two-dimensional toy distributions.
public enum Toy2D {
    /// Two interleaved half circles (as the shared benchmark's reference): t ~ U(0, π); with
    /// probability ½ the upper moon (cos t, sin t), else the lower (1 − cos t, ½ − sin t); plus
    /// N(0, noise²) on each coordinate. Shape [count, 2].
    public static func twoMoons(count: Int, noise: Double = 0.05, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        var v = [Double](repeating: 0, count: 2 * count)
        for i in 0..<count {
            let t = rng.nextUniform() * Double.pi
            let upper = rng.nextUniform() < 0.5
            v[2 * i] = (upper ? Foundation.cos(t) : 1 - Foundation.cos(t)) + noise * rng.nextNormal()
            v[2 * i + 1] = (upper ? Foundation.sin(t) : 0.5 - Foundation.sin(t)) + noise * rng.nextNormal()
        }
        return Tensor(v, shape: [count, 2], dtype: dtype)
    }

    /// The names accepted by `sample(_:count:using:)`.
    public static let names = ["moons", "circles", "8gaussians", "checkerboard", "pinwheel", "spirals", "swissroll"]

    /// `count` points of the distribution called `name` (one of `names`) with its default noise,
    /// or nil for an unknown name.
    public static func sample(_ name: String, count: Int, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor? {
        switch name {
        case "moons": return twoMoons(count: count, dtype: dtype, using: &rng)
        case "circles": return concentricCircles(count: count, dtype: dtype, using: &rng)
        case "8gaussians": return eightGaussians(count: count, dtype: dtype, using: &rng)
        case "checkerboard": return checkerboard(count: count, dtype: dtype, using: &rng)
        case "pinwheel": return pinwheel(count: count, dtype: dtype, using: &rng)
        case "spirals": return twoSpirals(count: count, dtype: dtype, using: &rng)
        case "swissroll": return swissRoll(count: count, dtype: dtype, using: &rng)
        default: return nil
        }
    }

    static func points(_ count: Int, _ dtype: DType, _ point: (inout SeededGenerator) -> (Double, Double),
                       using rng: inout SeededGenerator) -> Tensor {
        var v = [Double](repeating: 0, count: 2 * count)
        for i in 0..<count { (v[2 * i], v[2 * i + 1]) = point(&rng) }
        return Tensor(v, shape: [count, 2], dtype: dtype)
    }

    /// Two concentric circles of radii 1 and ½ (each with probability ½), angle ~ U(0, 2π), plus
    /// N(0, noise²) per coordinate. Shape [count, 2].
    public static func concentricCircles(count: Int, noise: Double = 0.05, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        points(count, dtype, { g in
            let a = g.nextUniform() * 2 * Double.pi
            let r = g.nextUniform() < 0.5 ? 1.0 : 0.5
            return (r * Foundation.cos(a) + noise * g.nextNormal(), r * Foundation.sin(a) + noise * g.nextNormal())
        }, using: &rng)
    }

    /// Eight Gaussians N(cₖ, std²·I) with centres cₖ = 2(cos πk/4, sin πk/4), k = 0…7, equally likely.
    public static func eightGaussians(count: Int, standardDeviation: Double = 0.1, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        points(count, dtype, { g in
            let k = Double(Int(g.nextUniform() * 8) % 8)
            let a = k * Double.pi / 4
            return (2 * Foundation.cos(a) + standardDeviation * g.nextNormal(), 2 * Foundation.sin(a) + standardDeviation * g.nextNormal())
        }, using: &rng)
    }

    /// Uniform on the black squares of a 4×4 checkerboard over [−2, 2)² (FFJORD's toy): x ~ U(−2, 2),
    /// y uniform on the unit squares whose ⌊x⌋ + ⌊y⌋ is even.
    public static func checkerboard(count: Int, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        points(count, dtype, { g in
            let x = g.nextUniform() * 4 - 2
            let column = Int(Foundation.floor(x)) + 2            // 0…3
            let row = 2 * Int(g.nextUniform() * 2) % 4 + (column % 2) // same parity as the column
            return (x, Double(row - 2) + g.nextUniform())
        }, using: &rng)
    }

    /// A pinwheel of 5 arms (FFJORD's toy): radial N(1, 0.3²), tangential N(0, 0.05²), each arm
    /// rotated by its index·2π/5 plus a twist of 0.25·exp(radius).
    public static func pinwheel(count: Int, arms: Int = 5, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        points(count, dtype, { g in
            let arm = Int(g.nextUniform() * Double(arms)) % arms
            let r = 1 + 0.3 * g.nextNormal(), t = 0.05 * g.nextNormal()
            let angle = Double(arm) * 2 * Double.pi / Double(arms) + 0.25 * Foundation.exp(r)
            let (c, s) = (Foundation.cos(angle), Foundation.sin(angle))
            return (2 * (c * r - s * t), 2 * (s * r + c * t))
        }, using: &rng)
    }

    /// Two interleaved spirals (FFJORD's "2spirals"): n = √u·540° in radians, point
    /// (−cos n·n, sin n·n)/3 (or its negative, probability ½) plus N(0, noise²).
    public static func twoSpirals(count: Int, noise: Double = 0.1, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        points(count, dtype, { g in
            let n = g.nextUniform().squareRoot() * 540 * Double.pi / 180
            let sign = g.nextUniform() < 0.5 ? 1.0 : -1.0
            let x = sign * -Foundation.cos(n) * n, y = sign * Foundation.sin(n) * n
            return (x / 3 + noise * g.nextNormal(), y / 3 + noise * g.nextNormal())
        }, using: &rng)
    }

    /// The 2-D swiss roll (scikit-learn's make_swiss_roll, coordinates x and z, divided by 5):
    /// t = 1.5π(1 + 2u), point (t cos t, t sin t)/5 plus N(0, noise²).
    public static func swissRoll(count: Int, noise: Double = 0.05, dtype: DType = .float32, using rng: inout SeededGenerator) -> Tensor {
        points(count, dtype, { g in
            let t = 1.5 * Double.pi * (1 + 2 * g.nextUniform())
            return (t * Foundation.cos(t) / 5 + noise * g.nextNormal(), t * Foundation.sin(t) / 5 + noise * g.nextNormal())
        }, using: &rng)
    }
}
