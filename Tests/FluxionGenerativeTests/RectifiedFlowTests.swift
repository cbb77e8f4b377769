import XCTest
import Foundation
import FluxionGenerative
import FluxionOptim

final class RectifiedFlowTests: XCTestCase {
    func testConventionsOfTheSourcesConvertToOurs() {
        var rng = SeededGenerator(seed: 0)
        let data = Tensor.randomNormal(shape: [4, 2], dtype: .float64, using: &rng)
        let noise = Tensor.randomNormal(shape: [4, 2], dtype: .float64, using: &rng)
        for sigmaMin in [0.0, 0.01] {
            for tau in [0.0, 0.3, 1.0] {
                // Lipman et al.: x₀ noise, x₁ data, ψ_τ = (1 − (1 − σ_min)τ)x₀ + τx₁, target x₁ − (1 − σ_min)x₀.
                let lipmanPath = noise * (1 - (1 - sigmaMin) * tau) + data * tau
                let lipmanTarget = data - noise * (1 - sigmaMin)
                let ours = flowMatchingPath(data: data, noise: noise, time: Tensor(1 - tau, dtype: .float64), sigmaMin: sigmaMin)
                XCTAssertLessThan((ours - lipmanPath).abs().max().item, 1e-12, "path at τ = \(tau)")
                XCTAssertLessThan((flowMatchingTarget(data: data, noise: noise, sigmaMin: sigmaMin) + lipmanTarget).abs().max().item, 1e-12,
                                  "our velocity is minus Lipman's (time runs the other way)")
            }
        }
        // SD3 / Su: z_t = (1 − t)x₀ + tε, target ε − x₀ — ours with σ_min = 0, no conversion.
        let t = Tensor(0.25, dtype: .float64)
        XCTAssertLessThan((flowMatchingPath(data: data, noise: noise, time: t) - (data * 0.75 + noise * 0.25)).abs().max().item, 1e-15)
        XCTAssertLessThan((flowMatchingTarget(data: data, noise: noise) - (noise - data)).abs().max().item, 1e-15)
    }

    func testExactGaussianFlowSamplesAndStraightness() throws {
        // The optimal velocity for data N(0, s²I) (see CNFTests) carries N(0, I) to N(0, s²I).
        let s = 0.5
        let field = ClosureField { x, t in
            let tt = t[0].item
            return x * ((tt - (1 - tt) * s * s) / ((1 - tt) * (1 - tt) * s * s + tt * tt))
        }
        var rng = SeededGenerator(seed: 1)
        let noise = Tensor.randomNormal(shape: [10_000, 2], dtype: .float64, using: &rng)
        let noiseVariance = columnMoments(noise).variance
        let solution = try sampleFlow(field, noise: noise, solver: ODESolver(method: .rk4, steps: 50))
        XCTAssertEqual(solution.evaluationCount, 200)
        for j in 0..<2 { XCTAssertEqual(columnMoments(solution.state[0]).variance[j], s * s * noiseVariance[j], accuracy: 1e-4) }
        // Its paths are rays x_t = c(t)ε travelled at varying speed, so the straightness is positive.
        XCTAssertGreaterThan(straightness(field, noise: noise, steps: 200).value, 0.01)
        // A constant field is exactly straight; one Euler step is exact.
        let constant = ClosureField { x, _ in Tensor.ones(like: x) }
        XCTAssertEqual(straightness(constant, noise: noise, steps: 10).value, 0, accuracy: 1e-12)
        let one = try sampleFlow(constant, noise: noise, solver: ODESolver(method: .euler, steps: 1)).state[0]
        XCTAssertLessThan((one - (noise - 1)).abs().max().item, 1e-12)
        // A shifted grid still starts at t = 1 and ends at t = 0.
        let shifted = try sampleFlow(constant, noise: noise, solver: ODESolver(method: .euler, steps: 4), shift: 3).state[0]
        XCTAssertLessThan((shifted - (noise - 1)).abs().max().item, 1e-12)
    }

    private func twoModes(_ n: Int, using rng: inout SeededGenerator) -> Tensor {
        GaussianMixture(weights: [1, 1], means: [[-2, 0], [2, 0]], standardDeviations: [0.25, 0.25]).sample(count: n, using: &rng)
    }

    private func train<M: TimeConditionedModel>(_ model: inout M, steps: Int, learningRate: Double = 3e-3,
                                                using rng: inout SeededGenerator, batch: (inout SeededGenerator) -> (Tensor, Tensor?)) {
        var optimizer = Adam(learningRate: learningRate)
        for _ in 0..<steps {
            let (x0, noise) = batch(&rng)
            var r = rng.split()
            let g = gradient(at: model) { m in rectifiedFlowLoss(m, data: x0, noise: noise, using: &r) }
            optimizer.update(&model, along: g)
        }
    }

    func testRectifiedFlowLearnsAndReflowStraightensIt() throws {
        var rng = SeededGenerator(seed: 2)
        var flow = TimeConditionedMLP(dimension: 2, hiddenSizes: [64, 64], using: &rng)
        train(&flow, steps: 300, learningRate: 5e-3, using: &rng) { r in (self.twoModes(256, using: &r), nil) }
        let heldOut = twoModes(1000, using: &rng)
        let noise = Tensor.randomNormal(shape: [1000, 2], using: &rng)
        let prior = energyDistance(noise, heldOut)
        let many = try sampleFlow(flow, noise: noise, solver: ODESolver(method: .euler, steps: 50)).state[0]
        let oneStep1 = try sampleFlow(flow, noise: noise, solver: ODESolver(method: .euler, steps: 1)).state[0]
        let quality50 = energyDistance(many, heldOut), quality1 = energyDistance(oneStep1, heldOut)
        XCTAssertLessThan(quality50, 0.05 * prior, "1-RF must learn: energy distance \(quality50), prior \(prior)")

        // Reflow: pairs (x₀ = ODE(ε), ε) from the 1-RF, then retrain on their straight lines.
        let (pairData, pairNoise) = try reflowPairs(flow, count: 2048, dimension: 2, solver: ODESolver(method: .euler, steps: 30), using: &rng)
        var reflowed = flow
        var index = 0
        train(&reflowed, steps: 250, learningRate: 2e-3, using: &rng) { _ in
            let start = (index % 8) * 256
            index += 1
            return (pairData[start..<start + 256], pairNoise[start..<start + 256])
        }
        let oneStep2 = try sampleFlow(reflowed, noise: noise, solver: ODESolver(method: .euler, steps: 1)).state[0]
        let quality2 = energyDistance(oneStep2, heldOut)
        let s1 = straightness(flow, noise: noise, steps: 50).value, s2 = straightness(reflowed, noise: noise, steps: 50).value
        XCTAssertLessThan(s2, 0.5 * s1, "straightness must drop after reflow: \(s1) → \(s2)")
        XCTAssertLessThan(quality2, 0.5 * quality1, "one-step 2-RF must beat one-step 1-RF: \(quality1) → \(quality2)")
    }
}
