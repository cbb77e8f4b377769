import Foundation

/// An isotropic Gaussian mixture p(x) = Σₖ wₖ N(x; μₖ, sₖ² I), with its exact density and score
/// after convolution with N(0, σ² I) (the heat-equation marginal p_σ = p ∗ N(0, σ² I) of SPEC §3):
///
///     p_σ(x) = Σₖ wₖ N(x; μₖ, (sₖ² + σ²) I)
///     ∇ log p_σ(x) = Σₖ rₖ(x) (μₖ − x)/(sₖ² + σ²),   rₖ = softmax_k(log wₖ + log N(x; μₖ, (sₖ² + σ²) I))
///
/// The responsibilities are a softmax of log terms (log-sum-exp), which stays finite far from every
/// component. Used as exact test targets and as the 8-Gaussians toy data.
public struct GaussianMixture: Sendable {
    /// The mixture weights wₖ, normalised to sum to 1.
    public var weights: [Double]
    /// The means μₖ, each of `dimension` coordinates.
    public var means: [[Double]]
    /// The standard deviations sₖ of the isotropic components.
    public var standardDeviations: [Double]

    /// A mixture of the components (wₖ, μₖ, sₖ); the weights are normalised to sum to 1.
    public init(weights: [Double], means: [[Double]], standardDeviations: [Double]) {
        precondition(!weights.isEmpty && weights.count == means.count && weights.count == standardDeviations.count,
                     "GaussianMixture: \(weights.count) weights, \(means.count) means, \(standardDeviations.count) deviations")
        precondition(Set(means.map(\.count)).count == 1, "GaussianMixture: all means need the same dimension")
        let total = weights.reduce(0, +)
        self.weights = weights.map { $0 / total }
        self.means = means
        self.standardDeviations = standardDeviations
    }

    /// Eight equal Gaussians on a circle of radius `radius` (the common 2-D toy).
    public static func eightGaussians(radius: Double = 2, standardDeviation: Double = 0.1) -> GaussianMixture {
        let means = (0..<8).map { k -> [Double] in
            let a = Double(k) * Double.pi / 4
            return [radius * Foundation.cos(a), radius * Foundation.sin(a)]
        }
        return GaussianMixture(weights: Array(repeating: 1, count: 8), means: means,
                               standardDeviations: Array(repeating: standardDeviation, count: 8))
    }

    /// The dimension d of x.
    public var dimension: Int { means[0].count }

    /// E[x] = Σ wₖ μₖ.
    public var mean: [Double] {
        (0..<dimension).map { j -> Double in
            var total = 0.0
            for k in weights.indices { total += weights[k] * means[k][j] }
            return total
        }
    }

    /// Per-coordinate variance Var[x_j] = Σ wₖ (sₖ² + μₖⱼ²) − (E x_j)², after adding σ².
    public func variance(addedVariance: Double = 0) -> [Double] {
        let m = mean
        return (0..<dimension).map { j -> Double in
            var second = 0.0
            for k in weights.indices {
                let s = standardDeviations[k], mu = means[k][j]
                second += weights[k] * (s * s + mu * mu)
            }
            return second - m[j] * m[j] + addedVariance
        }
    }

    /// `count` samples [count, d] of p_σ (σ² = `addedVariance`).
    public func sample(count: Int, addedVariance: Double = 0, dtype: DType = .float32,
                       using rng: inout SeededGenerator) -> Tensor {
        var values = [Double](repeating: 0, count: count * dimension)
        for i in 0..<count {
            var u = rng.nextUniform()
            var k = 0
            while k < weights.count - 1 && u >= weights[k] { u -= weights[k]; k += 1 }
            let s = (standardDeviations[k] * standardDeviations[k] + addedVariance).squareRoot()
            for j in 0..<dimension { values[i * dimension + j] = means[k][j] + s * rng.nextNormal() }
        }
        return Tensor(values, shape: [count, dimension], dtype: dtype)
    }

    /// Per-component terms log wₖ + log N(x; μₖ, vₖ I) [B, K] with vₖ = sₖ² + σ².
    private func componentLogTerms(_ x: Tensor, addedVariance: Double) -> (Tensor, Tensor, Tensor) {
        let d = Double(dimension)
        let mu = Tensor(means.flatMap { $0 }, shape: [weights.count, dimension], dtype: x.dtype)   // [K, d]
        let v = standardDeviations.map { $0 * $0 + addedVariance }
        let variances = Tensor(v, shape: [1, weights.count], dtype: x.dtype)                         // [1, K]
        let logNormaliser = Tensor(zip(weights, v).map { w, vk in Foundation.log(w) - 0.5 * d * Foundation.log(2 * Double.pi * vk) },
                                   shape: [1, weights.count], dtype: x.dtype)
        let diff = x.unsqueezed(axis: 1) - mu.unsqueezed(axis: 0)                                   // [B, K, d]
        let squared = diff.squared().sum(axis: 2)                                                   // [B, K]
        return (logNormaliser - squared / (variances * 2), diff, variances)
    }

    /// log p_σ(x) [B] for x [B, d] (differentiable in x).
    public func logDensity(_ x: Tensor, addedVariance: Double = 0) -> Tensor {
        componentLogTerms(x, addedVariance: addedVariance).0.logSumExp(axis: 1)
    }

    /// ∇ₓ log p_σ(x) [B, d] in closed form (differentiable in x).
    public func score(_ x: Tensor, addedVariance: Double = 0) -> Tensor {
        let (terms, diff, variances) = componentLogTerms(x, addedVariance: addedVariance)
        let r = terms.softmax(axis: 1)                                                               // [B, K]
        return -((r / variances).unsqueezed(axis: 2) * diff).sum(axis: 1)                           // [B, d]
    }
}
