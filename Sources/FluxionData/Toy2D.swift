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
}
