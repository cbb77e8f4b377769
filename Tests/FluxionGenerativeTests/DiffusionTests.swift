import XCTest
import Foundation
import FluxionGenerative

/// Exact ε̂ for Gaussian data N(μ, s² I): E[ε | x_n] = √(1 − ᾱ)(x − √ᾱ μ)/(ᾱ s² + 1 − ᾱ).
func gaussianNoisePredictor(mean: [Double], standardDeviation s: Double, schedule: NoiseSchedule) -> ClosureField {
    ClosureField { x, t in
        let bar = schedule.alphaBar(at: t[0].item)
        let mu = Tensor(mean, shape: [1, mean.count], dtype: x.dtype)
        return (x - mu * bar.squareRoot()) * ((1 - bar).squareRoot() / (bar * s * s + 1 - bar))
    }
}

/// Mean and (population) variance of each column of x [n, d].
func columnMoments(_ x: Tensor) -> (mean: [Double], variance: [Double]) {
    let v = x.cast(to: .float64)
    return (v.mean(axis: 0).scalars, v.variance(axes: [0]).scalars)
}

final class DiffusionTests: XCTestCase {
    func testSchedulesMatchTheirDefinitions() {
        let linear = NoiseSchedule(kind: .linear, stepCount: 1000)
        XCTAssertEqual(linear.betas.first!, 1e-4, accuracy: 1e-15)
        XCTAssertEqual(linear.betas.last!, 0.02, accuracy: 1e-15)
        XCTAssertEqual(linear.alphaBars[0], 1)
        XCTAssertEqual(linear.alphaBars[1000], 4.04e-5, accuracy: 1e-6, "ᾱ_T of DDPM's schedule")
        let cosine = NoiseSchedule(kind: .cosine, stepCount: 1000)
        let f = { (t: Double) -> Double in let c = Foundation.cos((t + 0.008) / 1.008 * Double.pi / 2); return c * c }
        for n in [1, 250, 500, 900] {
            XCTAssertEqual(cosine.alphaBars[n], f(Double(n) / 1000) / f(0), accuracy: 1e-9, "cosine ᾱ_\(n)")
        }
        for schedule in [linear, cosine] {
            for n in [0, 1, 37, 999, 1000] {
                XCTAssertEqual(schedule.alphaBar(at: Double(n) / 1000), schedule.alphaBars[n], accuracy: 1e-12 * (1 + schedule.alphaBars[n]))
            }
            XCTAssertTrue(zip(schedule.alphaBars, schedule.alphaBars.dropFirst()).allSatisfy { $0 > $1 }, "ᾱ decreases")
            // d log ᾱ/dt integrates back to log ᾱ.
            let h = 1e-6, t = 0.4321
            let numeric = (Foundation.log(schedule.alphaBar(at: t + h)) - Foundation.log(schedule.alphaBar(at: t - h))) / (2 * h)
            XCTAssertEqual(schedule.logAlphaBarDerivative(at: t), numeric, accuracy: 1e-6 * Swift.abs(numeric))
        }
        XCTAssertEqual(linear.timesteps(count: 4), [1000, 750, 500, 250])
        XCTAssertEqual(linear.timesteps(count: 1000).count, 1000)
        XCTAssertEqual(linear.timesteps(count: 5, spacing: .quadratic), [1000, 640, 360, 160, 40])
    }

    func testPredictionParameterisationsRoundTrip() {
        var rng = SeededGenerator(seed: 1)
        let x0 = Tensor.randomNormal(shape: [5, 2], dtype: .float64, using: &rng)
        let eps = Tensor.randomNormal(shape: [5, 2], dtype: .float64, using: &rng)
        let bar = 0.37, a = bar.squareRoot(), s = (1 - bar).squareRoot()
        let x = x0 * a + eps * s
        for p in DiffusionPrediction.allCases {
            let target = p.target(data: x0, noise: eps, a: Tensor(a, dtype: .float64), s: Tensor(s, dtype: .float64))
            let (d, n) = p.dataAndNoise(output: target, at: x, a: a, s: s)
            XCTAssertLessThan((d - x0).abs().max().item, 1e-12, "\(p) recovers x₀")
            XCTAssertLessThan((n - eps).abs().max().item, 1e-12, "\(p) recovers ε")
        }
    }

    func testDDIMWithEtaOneAndAllStepsIsDDPMAncestralSampling() {
        let schedule = NoiseSchedule(kind: .linear, stepCount: 1000)
        let model = gaussianNoisePredictor(mean: [1.5, -0.5], standardDeviation: 0.6, schedule: schedule)
        var rng = SeededGenerator(seed: 3)
        let noise = Tensor.randomNormal(shape: [10_000, 2], dtype: .float64, using: &rng)
        // Same noise, same generator state: the two update rules must agree step by step.
        var r1 = SeededGenerator(seed: 11), r2 = SeededGenerator(seed: 11)
        let ancestral = ddpmSample(model, noise: noise, schedule: schedule, using: &r1)
        let ddim = ddimSample(model, noise: noise, schedule: schedule, timesteps: schedule.timesteps(count: 1000), eta: 1, using: &r2)
        XCTAssertLessThan((ancestral - ddim).abs().max().item, 1e-9)
        // In distribution, with independent noise: both match N((1.5, −0.5), 0.6²).
        var r3 = SeededGenerator(seed: 12)
        let other = ddimSample(model, noise: Tensor.randomNormal(shape: [10_000, 2], dtype: .float64, using: &r3), schedule: schedule,
                               timesteps: schedule.timesteps(count: 1000), eta: 1, using: &r3)
        for sample in [ancestral, other] {
            let (m, v) = columnMoments(sample)
            XCTAssertEqual(m[0], 1.5, accuracy: 0.03)
            XCTAssertEqual(m[1], -0.5, accuracy: 0.03)
            XCTAssertEqual(v[0], 0.36, accuracy: 0.36 * 0.05)
            XCTAssertEqual(v[1], 0.36, accuracy: 0.36 * 0.05)
        }
        XCTAssertLessThan(energyDistance(ancestral, other), 2e-3)
    }

    func testDeterministicSamplersRecoverGaussianData() throws {
        // The PF-ODE (RK4) and DDIM η = 0 with the exact ε̂ map N(0, I) to N((2, −1), 0.5²).
        let schedule = NoiseSchedule(kind: .linear, stepCount: 1000)
        let model = gaussianNoisePredictor(mean: [2, -1], standardDeviation: 0.5, schedule: schedule)
        var rng = SeededGenerator(seed: 5)
        let noise = Tensor.randomNormal(shape: [10_000, 2], dtype: .float64, using: &rng)
        let noiseVariance = columnMoments(noise).variance    // the map is linear: Var x₀ = s²·Var x_T
        let (flow, nfe) = try probabilityFlowSample(model, noise: noise, schedule: schedule, solver: ODESolver(method: .rk4, steps: 50))
        XCTAssertEqual(nfe, 201)
        let (m, v) = columnMoments(flow)
        XCTAssertEqual(m[0], 2, accuracy: 0.02)
        XCTAssertEqual(m[1], -1, accuracy: 0.02)
        for j in 0..<2 { XCTAssertEqual(v[j], 0.25 * noiseVariance[j], accuracy: 0.25 * 0.01, "PF-ODE variance \(j)") }
        // DDIM is the same ODE discretised in σ/√ᾱ: its error shrinks with the number of steps, and
        // quadratic spacing (dense near the data) beats trailing spacing at equal cost.
        func ddimError(_ k: Int, _ spacing: NoiseSchedule.Spacing) -> Double {
            let x = ddimSample(model, noise: noise, schedule: schedule, timesteps: schedule.timesteps(count: k, spacing: spacing), using: &rng)
            return Swift.abs(columnMoments(x).variance[0] / (0.25 * noiseVariance[0]) - 1)
        }
        let errors = [ddimError(50, .trailing), ddimError(50, .quadratic), ddimError(200, .quadratic), ddimError(1000, .trailing)]
        XCTAssertLessThan(errors[1], errors[0])
        XCTAssertLessThan(errors[2], errors[1])
        XCTAssertLessThan(errors[2], 0.03)
        XCTAssertLessThan(errors[3], 0.01)
    }

    func testEnergyDistanceSeparatesDistributions() {
        var rng = SeededGenerator(seed: 9)
        let a = Tensor.randomNormal(shape: [2000, 2], dtype: .float64, using: &rng)
        let b = Tensor.randomNormal(shape: [2000, 2], dtype: .float64, using: &rng)
        let shifted = b + 0.5
        XCTAssertLessThan(energyDistance(a, b), 5e-3)
        XCTAssertGreaterThan(energyDistance(a, shifted), 0.1)
        XCTAssertLessThan(maximumMeanDiscrepancy(a, b), 2e-3)
        XCTAssertGreaterThan(maximumMeanDiscrepancy(a, shifted), 0.02)
        XCTAssertEqual(energyDistance(a, a), 0, accuracy: 1e-12)
    }
}
