import XCTest
import Foundation
import FluxionGenerative

final class DiffusionHeatEquationTests: XCTestCase {
    let mixture = GaussianMixture(weights: [0.3, 0.7], means: [[-3, 2], [2.5, -1.5]], standardDeviations: [0.5, 0.8])

    /// Φ⁻¹(u) by bisection on Φ(x) = ½ erfc(−x/√2).
    private func inverseNormal(_ u: Double) -> Double {
        var lo = -10.0, hi = 10.0
        for _ in 0..<80 {
            let mid = (lo + hi) / 2
            if 0.5 * Foundation.erfc(-mid / 2.0.squareRoot()) < u { lo = mid } else { hi = mid }
        }
        return (lo + hi) / 2
    }

    /// N(0, σ² I) in d dimensions by Latin hypercube sampling (stratified marginals, variance reduction).
    private func stratifiedNormal(count n: Int, dimension d: Int, sigma: Double, using rng: inout SeededGenerator) -> Tensor {
        var values = [Double](repeating: 0, count: n * d)
        for j in 0..<d {
            var strata = Array(0..<n)
            strata.shuffle(using: &rng)
            for i in 0..<n { values[i * d + j] = sigma * inverseNormal((Double(strata[i]) + rng.nextUniform()) / Double(n)) }
        }
        return Tensor(values, shape: [n, d], dtype: .float64)
    }

    func testMixtureMarginalsSolveTheHeatEquation() {
        // ∂_t p = D_t ∇²p with D_t = σ̇σ, checked by central differences (Float64).
        let flow = HeatEquationFlow(maximumSigma: 3)
        let density = { (x: [Double], t: Double) -> Double in
            let s = flow.sigma(at: t)
            return Foundation.exp(self.mixture.logDensity(Tensor(x, shape: [1, 2], dtype: .float64), addedVariance: s * s).item)
        }
        for (x, t) in [([-2.0, 1.5], 0.3), ([0.5, 0.0], 0.6), ([2.0, -1.0], 0.15)] {
            let ht = 1e-5, hx = 1e-3
            let dpdt = (density(x, t + ht) - density(x, t - ht)) / (2 * ht)
            var laplacian = 0.0
            for j in 0..<2 {
                var up = x, down = x
                up[j] += hx
                down[j] -= hx
                laplacian += (density(up, t) - 2 * density(x, t) + density(down, t)) / (hx * hx)
            }
            let residual = dpdt - flow.diffusionCoefficient(at: t) * laplacian
            XCTAssertLessThan(Swift.abs(residual), 1e-3 * Swift.max(1, Swift.abs(dpdt)), "x=\(x) t=\(t): ∂p/∂t = \(dpdt)")
        }
    }

    func testClosedFormScoreIsTheGradientOfTheLogDensity() {
        var rng = SeededGenerator(seed: 2)
        let x = Tensor.randomNormal(shape: [6, 2], standardDeviation: 3, dtype: .float64, using: &rng)
        let automatic = gradient(at: x) { x in self.mixture.logDensity(x, addedVariance: 0.7).sum() }
        XCTAssertLessThan((automatic - mixture.score(x, addedVariance: 0.7)).abs().max().item, 1e-12)
    }

    func testExactScoreODEMapsTheNoiseBackToTheMixture() throws {
        // x₁ ~ N(0, σ_max² I), integrated back with dx/dt = −σ̇σ∇log p_t: means and variances within
        // 2% over 10⁴ samples (each component's, after assigning samples to the nearer mean).
        let flow = HeatEquationFlow(maximumSigma: 60)
        var rng = SeededGenerator(seed: 4)
        let noise = stratifiedNormal(count: 10_000, dimension: 2, sigma: 60, using: &rng)
        let solution = try flow.sample(noise: noise, solver: ODESolver(method: .dopri5, relativeTolerance: 1e-6, absoluteTolerance: 1e-6),
                                       score: HeatEquationFlow.exactScore(of: mixture))
        let x = solution.state[0].scalars
        let target = mixture.mean, targetVariance = mixture.variance()
        var sum = [0.0, 0.0], squares = [0.0, 0.0]
        var componentSamples: [[[Double]]] = [[], []]
        for i in 0..<10_000 {
            let p = [x[2 * i], x[2 * i + 1]]
            for j in 0..<2 { sum[j] += p[j]; squares[j] += p[j] * p[j] }
            let d0 = zip(p, mixture.means[0]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            let d1 = zip(p, mixture.means[1]).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }
            componentSamples[d0 < d1 ? 0 : 1].append(p)
        }
        for j in 0..<2 {
            let mean = sum[j] / 1e4, variance = squares[j] / 1e4 - mean * mean
            XCTAssertEqual(mean, target[j], accuracy: 0.02 * targetVariance[j].squareRoot(), "mixture mean \(j)")
            XCTAssertEqual(variance, targetVariance[j], accuracy: 0.02 * targetVariance[j], "mixture variance \(j)")
        }
        for k in 0..<2 {
            let points = componentSamples[k]
            XCTAssertEqual(Double(points.count) / 1e4, mixture.weights[k], accuracy: 0.01, "weight \(k)")
            for j in 0..<2 {
                let mean = points.reduce(0) { $0 + $1[j] } / Double(points.count)
                let variance = points.reduce(0) { $0 + ($1[j] - mean) * ($1[j] - mean) } / Double(points.count)
                let s2 = mixture.standardDeviations[k] * mixture.standardDeviations[k]
                XCTAssertEqual(mean, mixture.means[k][j], accuracy: 0.02 * Swift.abs(mixture.means[k][j]), "component \(k) mean \(j)")
                XCTAssertEqual(variance, s2, accuracy: 0.02 * s2 + 3 * s2 * (2 / Double(points.count)).squareRoot(),
                               "component \(k) variance \(j)")
            }
        }
    }
}
