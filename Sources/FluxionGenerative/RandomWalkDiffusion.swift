import Foundation
import FluxionCore

/// A histogram of scaled random walks against the Gaussian of the diffusion limit.
public struct DiffusionLimitHistogram: Sendable {
    /// Bin edges, `binCount + 1` values.
    public let edges: [Double]
    /// The empirical density in each bin (count / (walkers · width)).
    public let density: [Double]
    /// The limit density N(0, 2Dt·4pq) averaged over each bin (exact integral via erf).
    public let limitDensity: [Double]
    /// The simulated positions X = Δx·S_n.
    public let positions: [Double]
    /// The limit variance 2Dt·4pq (2Dt for the symmetric walk).
    public let limitVariance: Double
    /// The sample variance of `positions`.
    public let sampleVariance: Double

    /// max over bins of |empirical − limit| bin probability.
    public var maximumProbabilityError: Double {
        zip(zip(density, limitDensity), zip(edges, edges.dropFirst())).map { pair, edge in
            Swift.abs(pair.0 - pair.1) * (edge.1 - edge.0)
        }.max() ?? 0
    }

    /// The N(0, 2Dt) density at x: exp(−x²/(4Dt))/√(4πDt).
    public func limitDensity(at x: Double) -> Double {
        Foundation.exp(-x * x / (2 * limitVariance)) / (2 * Double.pi * limitVariance).squareRoot()
    }
}

extension RandomWalk {
    /// The diffusion limit of the symmetric walk (SPEC §8, and §3's heat equation): with n steps of
    /// time Δt = t/n and length Δx = √(2DΔt) (Δx²/Δt = 2D fixed), the position X = Δx·S_n tends to
    /// N(0, 2Dt), whose density p(x, t) solves ∂_t p = D ∂_x² p.
    ///
    /// Simulates `walkers` walks, centred by n(p − q)Δx so that a biased walk shows its fluctuation
    /// around the drift; that fluctuation tends to N(0, 2D't) with D' = 4pq·D (= D when p = ½). It
    /// bins them into at most `binCount` bins of about 8σ/binCount each (σ² the limit variance),
    /// a whole number of lattice points per bin. Requires 0 < p < 1.
    public func diffusionLimit(steps n: Int, walkers: Int, time t: Double = 1, diffusionCoefficient d: Double = 0.5,
                               binCount: Int = 40, using rng: inout SeededGenerator) -> DiffusionLimitHistogram {
        precondition(n > 0 && walkers > 0 && binCount > 0 && t > 0 && d > 0,
                     "diffusionLimit: steps, walkers, bins, time and D must be positive")
        precondition(upProbability > 0 && upProbability < 1, "diffusionLimit: needs 0 < p < 1, got \(upProbability)")
        let dx = (2 * d * t / Double(n)).squareRoot()
        let drift = mean(steps: n)
        let positions = simulateEndpoints(steps: n, walkers: walkers, using: &rng).map { (Double($0) - drift) * dx }
        // Var(Δx·S_n) = Δx²·4npq = 2Dt·4pq: a biased walk diffuses with the effective D' = 4pq·D.
        let variance = 2 * d * t * 4 * upProbability * downProbability
        // The positions lie on a lattice of spacing 2Δx (shifted by the parity of n and the drift).
        // Bins hold a whole number of lattice points and their edges fall half-way between points,
        // so no bin catches an extra point and the histogram is not jagged.
        let spacing = 2 * dx
        let perBin = max(1, Int((8 * variance.squareRoot() / Double(binCount) / spacing).rounded()))
        let width = Double(perBin) * spacing
        // With few steps the lattice is coarser than the requested bins: keep the range near ±4σ.
        let binCount = min(binCount, max(1, Int((8 * variance.squareRoot() / width).rounded())))
        let offset = (Double(n % 2) - drift) * dx
        let firstPoint = offset - spacing * (offset / spacing).rounded()  // the lattice point nearest 0
        let lowest = firstPoint - spacing / 2 - width * Double(binCount / 2)
        let edges = (0...binCount).map { lowest + Double($0) * width }
        let origin = edges[0]
        var counts = [Double](repeating: 0, count: binCount)
        for x in positions {
            let b = Int(((x - origin) / width).rounded(.down))
            if b >= 0 && b < binCount { counts[b] += 1 }
        }
        let sigma = variance.squareRoot()
        func cdf(_ x: Double) -> Double { 0.5 * (1 + Foundation.erf(x / (sigma * 2.0.squareRoot()))) }
        let limit = (0..<binCount).map { (cdf(edges[$0 + 1]) - cdf(edges[$0])) / width }
        let mean = positions.reduce(0, +) / Double(walkers)
        let sampleVariance = positions.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(walkers - 1, 1))
        return DiffusionLimitHistogram(edges: edges, density: counts.map { $0 / (Double(walkers) * width) },
                                       limitDensity: limit, positions: positions, limitVariance: variance,
                                       sampleVariance: sampleVariance)
    }
}
