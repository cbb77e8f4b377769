import XCTest
import Foundation
import FluxionGenerative

final class RandomWalkTests: XCTestCase {
    private func binomial(_ n: Int, _ k: Int) -> Double {
        var c = 1.0
        for i in 0..<k { c = c * Double(n - i) / Double(i + 1) }
        return c
    }

    func testExactDistributionIsTheBinomialCoefficient() {
        let walk = RandomWalk()
        for n in [0, 1, 2, 7, 10] {
            let d = walk.exactDistribution(steps: n)
            XCTAssertEqual(d.count, 2 * n + 1)
            for k in -n...n {
                let expected = (n + k) % 2 == 0 ? binomial(n, (n + k) / 2) / pow(2, Double(n)) : 0
                XCTAssertEqual(d[k + n], expected, accuracy: 1e-15, "n=\(n) k=\(k)")
                XCTAssertEqual(walk.probability(of: k, steps: n), expected, accuracy: 1e-13, "log space n=\(n) k=\(k)")
            }
            XCTAssertEqual(d.reduce(0, +), 1, accuracy: 1e-14)
        }
    }

    func testMomentsSymmetricAndBiased() {
        for (p, n) in [(0.5, 10), (0.5, 101), (0.7, 50), (0.2, 300)] {
            let walk = RandomWalk(upProbability: p)
            let d = walk.exactDistribution(steps: n)
            let mean = d.enumerated().reduce(0.0) { $0 + Double($1.offset - n) * $1.element }
            let second = d.enumerated().reduce(0.0) { $0 + pow(Double($1.offset - n), 2) * $1.element }
            XCTAssertEqual(mean, Double(n) * (2 * p - 1), accuracy: 1e-9, "p=\(p) n=\(n)")
            XCTAssertEqual(second - mean * mean, 4 * Double(n) * p * (1 - p), accuracy: 1e-8 * Double(n), "p=\(p) n=\(n)")
            if p == 0.5 { XCTAssertEqual(second - mean * mean, Double(n), accuracy: 1e-9, "Var X_n = n") }
        }
    }

    func testGeneratingFunctionExpansionIsExactForHundredsOfSteps() {
        let walk = RandomWalk(upProbability: 0.3)
        let n = 400
        let d = walk.exactDistribution(steps: n)
        for k in stride(from: -n, through: n, by: 2) {
            let p = walk.probability(of: k, steps: n)
            if p > 1e-250 { XCTAssertEqual(d[k + n], p, accuracy: 1e-10 * p, "k=\(k)") }
        }
        XCTAssertEqual(d.reduce(0, +), 1, accuracy: 1e-12)
    }

    func testReturnAndFirstReturnProbabilities() {
        let walk = RandomWalk()
        let u = walk.returnProbabilities(count: 200)
        XCTAssertEqual(u[0], 1)
        XCTAssertEqual(u[10], 0.176197, accuracy: 5e-7, "u₂₀")
        XCTAssertEqual(u[10], binomial(20, 10) / pow(4, 10), accuracy: 1e-15)
        for m in [10, 50, 100] {  // u_{2m} ≈ 1/√(πm), to relative order 1/(8m)
            XCTAssertEqual(u[m] * (Double.pi * Double(m)).squareRoot(), 1 - 1 / (8 * Double(m)), accuracy: 1 / Double(m * m),
                           "u_{2m}·√(πm) at m = \(m)")
        }
        let f = walk.firstReturnProbabilities(count: 200)
        XCTAssertEqual(f[1], 0.5, accuracy: 1e-15, "f₂")
        XCTAssertEqual(f[2], 0.125, accuracy: 1e-15, "f₄")
        // Renewal equation U = 1 + UF: u_{2m} = Σ_{k=1}^{m} f_{2k} u_{2m−2k}.
        for m in 1..<60 {
            let sum = (1...m).reduce(0.0) { $0 + f[$1] * u[m - $1] }
            XCTAssertEqual(sum, u[m], accuracy: 1e-14, "m=\(m)")
        }
        // Recurrence: Σ_{k ≤ M} f_{2k} = 1 − u_{2M} → 1.
        let cumulative = walk.cumulativeReturnProbabilities(count: 200)
        for m in [1, 10, 199] { XCTAssertEqual(cumulative[m], 1 - u[m], accuracy: 1e-13) }
        let far = RandomWalk().cumulativeReturnProbabilities(count: 200_000).last!
        XCTAssertGreaterThan(far, 0.998)
        XCTAssertEqual(walk.totalReturnProbability, 1)
    }

    func testBiasedWalkReturnsWithProbabilityOneMinusAbsPMinusQ() {
        for p in [0.7, 0.55, 0.1] {
            let walk = RandomWalk(upProbability: p)
            XCTAssertEqual(walk.totalReturnProbability, 1 - Swift.abs(2 * p - 1), accuracy: 1e-15)
            let total = walk.cumulativeReturnProbabilities(count: 5000).last!
            XCTAssertEqual(total, walk.totalReturnProbability, accuracy: 1e-9, "p=\(p)")
        }
    }

    func testSimulationWithinThreeStandardErrorsOfExact() {
        for (p, seed) in [(0.5, UInt64(1)), (0.65, UInt64(2))] {
            let walk = RandomWalk(upProbability: p)
            var rng = SeededGenerator(seed: seed)
            let n = 20, walkers = 20_000
            let exact = walk.exactDistribution(steps: n)
            let simulated = walk.simulatedDistribution(steps: n, walkers: walkers, using: &rng)
            for (i, (e, s)) in zip(exact, simulated).enumerated() where e > 0 {
                let standardError = (e * (1 - e) / Double(walkers)).squareRoot()
                XCTAssertLessThanOrEqual(Swift.abs(s - e), 3 * standardError, "p=\(p) k=\(i - n): \(s) vs \(e)")
            }
            // The sample variance matches 4npq within 3 standard errors (SE ≈ √(2/N)·Var).
            var rng2 = SeededGenerator(seed: seed + 10)
            let ends = walk.simulateEndpoints(steps: n, walkers: walkers, using: &rng2).map(Double.init)
            let mean = ends.reduce(0, +) / Double(walkers)
            let variance = ends.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(walkers - 1)
            let target = walk.variance(steps: n)
            XCTAssertLessThanOrEqual(Swift.abs(variance - target), 3 * (2.0 / Double(walkers)).squareRoot() * target, "p=\(p)")
            XCTAssertLessThanOrEqual(Swift.abs(mean - walk.mean(steps: n)), 3 * (target / Double(walkers)).squareRoot())
        }
    }

    func testSimulatedPathsAreSeededAndTakeUnitSteps() {
        var a = SeededGenerator(seed: 7), b = SeededGenerator(seed: 7)
        let path = RandomWalk().simulatePath(steps: 50, using: &a)
        XCTAssertEqual(path, RandomWalk().simulatePath(steps: 50, using: &b))
        XCTAssertEqual(path.count, 51)
        for i in 1..<path.count { XCTAssertEqual(Swift.abs(path[i] - path[i - 1]), 1) }
        let lattice = LatticeRandomWalk(dimension: 3).simulatePath(steps: 40, using: &a)
        XCTAssertEqual(lattice.count, 41)
        for i in 1..<lattice.count {
            XCTAssertEqual(zip(lattice[i], lattice[i - 1]).reduce(0) { $0 + Swift.abs($1.0 - $1.1) }, 1)
        }
    }

    func testLatticeReturnFractions() {
        // d = 1: returning within 20 steps has probability Σ_{m ≤ 10} f_{2m} = 1 − u₂₀.
        var rng = SeededGenerator(seed: 3)
        let walkers = 10_000
        let exact = 1 - RandomWalk().returnProbabilities(count: 11)[10]
        let fraction = LatticeRandomWalk(dimension: 1).returnFraction(steps: 20, walkers: walkers, using: &rng)
        XCTAssertLessThanOrEqual(Swift.abs(fraction - exact), 3 * (exact * (1 - exact) / Double(walkers)).squareRoot())
        // d = 2: u₂ = (1/2)² = 1/4 exactly, and returns are less likely than in d = 1; d = 3 less again.
        XCTAssertEqual(LatticeRandomWalk.planarReturnProbabilities(count: 3)[1], 0.25)
        let planar = LatticeRandomWalk(dimension: 2).returnFraction(steps: 20, walkers: walkers, using: &rng)
        let spatial = LatticeRandomWalk(dimension: 3).returnFraction(steps: 20, walkers: walkers, using: &rng)
        XCTAssertLessThan(planar, fraction)
        XCTAssertLessThan(spatial, planar)
        XCTAssertLessThan(spatial, 0.3405, "d = 3 returns with probability ≈ 0.3405 even given forever")
    }

    func testDiffusionLimitMatchesGaussian() {
        var rng = SeededGenerator(seed: 12)
        let walkers = 20_000
        let h = RandomWalk().diffusionLimit(steps: 100, walkers: walkers, time: 2, diffusionCoefficient: 0.25,
                                            binCount: 25, using: &rng)
        XCTAssertEqual(h.limitVariance, 1, accuracy: 1e-15, "2Dt = 2·0.25·2")
        XCTAssertLessThanOrEqual(Swift.abs(h.sampleVariance - 1), 3 * (2.0 / Double(walkers)).squareRoot())
        // Each bin's probability within 3 standard errors plus the O(1/n) lattice (CLT) error.
        for b in 0..<h.density.count {
            let width = h.edges[b + 1] - h.edges[b]
            let (pHat, p) = (h.density[b] * width, h.limitDensity[b] * width)
            XCTAssertLessThanOrEqual(Swift.abs(pHat - p), 3 * (p * (1 - p) / Double(walkers)).squareRoot() + 0.004, "bin \(b)")
        }
        XCTAssertEqual(h.limitDensity(at: 0), 1 / (2 * Double.pi).squareRoot(), accuracy: 1e-15)
        // A biased walk, centred on its drift, diffuses with D' = 4pq·D and its bins straddle 0.
        let biased = RandomWalk(upProbability: 0.7).diffusionLimit(steps: 101, walkers: walkers, using: &rng)
        XCTAssertEqual(biased.limitVariance, 4 * 0.7 * 0.3, accuracy: 1e-15)
        XCTAssertLessThanOrEqual(Swift.abs(biased.sampleVariance - biased.limitVariance), 3 * (2.0 / Double(walkers)).squareRoot() * biased.limitVariance)
        XCTAssertEqual((biased.edges.first! + biased.edges.last!) / 2, 0, accuracy: biased.edges[1] - biased.edges[0], "centred within a bin")
    }
}
