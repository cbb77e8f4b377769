import XCTest
import Foundation
import FluxionGenerative

final class TimestepSamplerTests: XCTestCase {
    /// ∫ density over [a, b] by Simpson's rule (200 panels).
    private func mass(_ sampler: TimestepSampler, _ a: Double, _ b: Double) -> Double {
        let n = 200, h = (b - a) / Double(n)
        var s = 0.0
        for i in 0...n {
            let w: Double = (i == 0 || i == n) ? 1 : (i % 2 == 1 ? 4 : 2)
            s += w * sampler.density(Swift.min(Swift.max(a + Double(i) * h, 1e-12), 1 - 1e-12))
        }
        return s * h / 3
    }

    func testHistogramsMatchTheirDensities() {
        let samplers: [TimestepSampler] = [.uniform, .logitNormal(mean: 0, standardDeviation: 1),
                                           .logitNormal(mean: 0.5, standardDeviation: 0.6), .mode(scale: 1.29),
                                           .mode(scale: -0.5), .cosMap]
        let count = 100_000, bins = 20
        for sampler in samplers {
            var rng = SeededGenerator(seed: 7)
            let t = sampler.sample(count: count, dtype: .float64, using: &rng).scalars
            XCTAssertTrue(t.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(sampler) stays in [0, 1]")
            var histogram = [Double](repeating: 0, count: bins)
            for v in t { histogram[Swift.min(bins - 1, Int(v * Double(bins)))] += 1 }
            XCTAssertEqual(mass(sampler, 0, 1), 1, accuracy: 2e-3, "\(sampler) density integrates to 1")
            for b in 0..<bins {
                let expected = mass(sampler, Double(b) / Double(bins), Double(b + 1) / Double(bins)) * Double(count)
                // 5 standard deviations of a binomial count, plus the quadrature's own error.
                let tolerance = 5 * expected.squareRoot() + 1e-3 * Double(count) / Double(bins)
                XCTAssertEqual(histogram[b], expected, accuracy: tolerance, "\(sampler) bin \(b)")
            }
        }
    }

    func testLogitNormalIsTheSigmoidOfANormal() {
        // π_ln(t; m, s) at the median sigmoid(m): 1/(s√(2π)) / (t(1 − t)).
        let sampler = TimestepSampler.logitNormal(mean: 0.3, standardDeviation: 0.8)
        let t = 1 / (1 + Foundation.exp(-0.3))
        XCTAssertEqual(sampler.density(t), 1 / (0.8 * (2 * Double.pi).squareRoot()) / (t * (1 - t)), accuracy: 1e-12)
    }

    func testModeMapIsMonotoneExactlyOnItsValidRange() {
        func monotone(_ s: Double) -> Bool {
            var previous = TimestepSampler.modeMap(0, scale: s)
            for i in 1...2000 {
                let v = TimestepSampler.modeMap(Double(i) / 2000, scale: s)
                if v > previous + 1e-15 { return false }
                previous = v
            }
            return true
        }
        for s in [-1.0, -0.5, 0, 0.81, 1.29, 1.75, TimestepSampler.maximumModeScale] {
            XCTAssertTrue(monotone(s), "mode(\(s)) must be monotone")
        }
        XCTAssertEqual(TimestepSampler.maximumModeScale, 1.752, accuracy: 1e-3)
        XCTAssertFalse(monotone(-1.2), "s < −1 folds the map")
        XCTAssertFalse(monotone(1.9), "s > 2/(π − 2) folds the map")
        // s = 0 is the uniform map t = 1 − u.
        XCTAssertEqual(TimestepSampler.modeMap(0.3, scale: 0), 0.7, accuracy: 1e-15)
    }

    func testCosMapDensityFormula() {
        for t in [0.1, 0.5, 0.9] {
            XCTAssertEqual(TimestepSampler.cosMap.density(t), 2 / (Double.pi - 2 * Double.pi * t + 2 * Double.pi * t * t), accuracy: 1e-12)
        }
    }

    func testShiftMapsHalfToThreeQuartersAndKeepsTheEnds() {
        XCTAssertEqual(shiftTimestep(0.5, shift: 3), 0.75, accuracy: 1e-15)
        XCTAssertEqual(shiftTimestep(0, shift: 3), 0)
        XCTAssertEqual(shiftTimestep(1, shift: 3), 1)
        XCTAssertEqual(shiftTimestep(0.37, shift: 1), 0.37, accuracy: 1e-15)
        // The log-SNR of z_t = (1 − t)x₀ + tε, λ = 2 log((1 − t)/t), moves by −2 log α.
        for t in [0.1, 0.5, 0.8] {
            let lambda = { (t: Double) in 2 * Foundation.log((1 - t) / t) }
            XCTAssertEqual(lambda(shiftTimestep(t, shift: 3)), lambda(t) - 2 * Foundation.log(3), accuracy: 1e-12)
        }
        let shifted = shiftTimesteps(Tensor([0.0, 0.5, 1.0], shape: [3, 1], dtype: .float64), shift: 3).scalars
        XCTAssertEqual(shifted, [0, 0.75, 1])
    }

    func testParsing() {
        XCTAssertEqual(TimestepSampler(parsing: "uniform"), .uniform)
        XCTAssertEqual(TimestepSampler(parsing: "logit-normal"), .logitNormal(mean: 0, standardDeviation: 1))
        XCTAssertEqual(TimestepSampler(parsing: "logit-normal:0.5,0.6"), .logitNormal(mean: 0.5, standardDeviation: 0.6))
        XCTAssertEqual(TimestepSampler(parsing: "mode:1.29"), .mode(scale: 1.29))
        XCTAssertEqual(TimestepSampler(parsing: "cosmap"), .cosMap)
        XCTAssertNil(TimestepSampler(parsing: "beta"))
    }
}
