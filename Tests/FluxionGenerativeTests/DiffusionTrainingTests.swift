import XCTest
import Foundation
import FluxionGenerative
import FluxionOptim

final class DiffusionTrainingTests: XCTestCase {
    func testDDPMLearnsATwoModeMixture() {
        let mixture = GaussianMixture(weights: [1, 1], means: [[-2, 0], [2, 0]], standardDeviations: [0.25, 0.25])
        let schedule = NoiseSchedule(kind: .linear, stepCount: 1000)
        var rng = SeededGenerator(seed: 3)
        var model = TimeConditionedMLP(dimension: 2, hiddenSizes: [64, 64], timeFrequencies: 2, using: &rng)
        var optimizer = Adam(learningRate: 3e-3)
        for _ in 0..<800 {
            let x0 = mixture.sample(count: 256, using: &rng)
            var r = rng.split()
            let g = gradient(at: model) { m in diffusionLoss(m, data: x0, schedule: schedule, using: &r) }
            optimizer.update(&model, along: g)
        }
        let heldOut = mixture.sample(count: 1000, using: &rng)
        let noise = Tensor.randomNormal(shape: [1000, 2], using: &rng)
        let samples = ddimSample(model, noise: noise, schedule: schedule, timesteps: schedule.timesteps(count: 50), using: &rng)
        let prior = energyDistance(noise, heldOut), quality = energyDistance(samples, heldOut)
        XCTAssertLessThan(quality, 0.05 * prior, "DDPM must learn: energy distance \(quality), prior \(prior)")
        // Both modes are populated.
        let left = samples.sliced(axis: 1, 0..<1).scalars.filter { $0 < 0 }.count
        XCTAssertEqual(Double(left) / 1000, 0.5, accuracy: 0.1)
    }
}
