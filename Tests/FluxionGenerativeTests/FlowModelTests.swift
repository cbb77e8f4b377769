import XCTest
import Foundation
@testable import FluxionGenerative
import FluxionData
import FluxionOptim

final class FlowModelTests: XCTestCase {
    func models(dtype: DType, perturb: Bool = true) throws -> [(String, NormalizingFlow)] {
        var out: [(String, NormalizingFlow)] = []
        for kind in FlowConfiguration.kinds {
            for shape in [[2], [1, 8, 8]] {
                var config = FlowConfiguration.defaults(kind: kind, eventShape: shape)!
                config.hiddenSize = 8
                config.couplingLayers = kind == "nice" ? 4 : 2
                if kind == "nice" { config.hiddenLayers = 2 }
                out.append(("\(kind) \(shape)", try config.makeFlow(dtype: dtype)))
            }
        }
        var su = FlowConfiguration.defaults(kind: "nice", eventShape: [4])!
        su.variant = "su"; su.hiddenSize = 8
        out.append(("nice su [4]", try su.makeFlow(dtype: dtype)))
        return perturb ? out.map { ($0.0, perturbed($0.1, scale: 0.2)) } : out
    }

    func data(_ flow: NormalizingFlow, count: Int, dtype: DType = .float64) -> Tensor {
        var rng = SeededGenerator(seed: 9)
        if flow.eventShape.reduce(1, *) == 64 {
            return Tensor.randomUniform(shape: [count] + flow.eventShape, low: 0.02, high: 0.98, dtype: dtype, using: &rng)
        }
        return Tensor.randomNormal(shape: [count] + flow.eventShape, dtype: dtype, using: &rng)
    }

    func testEveryFlowInvertsExactlyInFloat64() throws {
        for (name, flow) in try models(dtype: .float64) {
            let x = data(flow, count: 3)
            let (latents, logp) = flow.encode(x)
            XCTAssertEqual(logp.shape, [3], name)
            XCTAssertTrue(logp.scalars.allSatisfy(\.isFinite), name)
            let back = flow.decode(latents)
            let error = zip(back.scalars, x.scalars).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(error, 1e-10, "\(name): ‖decode(encode(x)) − x‖∞ = \(error)")
        }
    }

    func testLogProbabilityOfVectorFlowsIsTheChangeOfVariables() throws {
        // log p(x) = log p_Z(f(x)) + log|det ∂f/∂x| with the Jacobian from autodiff.
        for (name, flow) in try models(dtype: .float64) where flow.eventShape.count == 1 {
            let x = data(flow, count: 1)
            let n = x.count
            let j = jacobian(of: { v in flow.forward(v.reshaped(to: [1, n])).flattened() }, at: x.flattened())
            let z = flow.forward(x)
            let expected = flow.prior.logDensity(z).item + logAbsDeterminant(j.scalars, n)
            XCTAssertEqual(flow.logProbability(x).item, expected, accuracy: 1e-9, name)
        }
    }

    func testSamplingShapesTemperatureAndSeeds() throws {
        for (name, flow) in try models(dtype: .float32, perturb: false) {
            var a = SeededGenerator(seed: 1), b = SeededGenerator(seed: 1)
            let s = flow.sample(count: 5, using: &a)
            XCTAssertEqual(s.shape, [5] + flow.eventShape, name)
            XCTAssertEqual(s.floats, flow.sample(count: 5, using: &b).floats, "\(name) is seeded")
            XCTAssertTrue(s.floats.allSatisfy(\.isFinite), name)
        }
        // Temperature 0 gives the flow's image of the prior's mode (every sample alike).
        let (_, flow) = try models(dtype: .float64, perturb: false).first { $0.0.hasPrefix("glow [1") }!
        var rng = SeededGenerator(seed: 2)
        let cold = flow.sample(count: 3, temperature: 0, using: &rng).scalars
        XCTAssertEqual(Array(cold[0..<64]), Array(cold[64..<128]))
    }

    func testTheGlowSplitPriorIsConditional() throws {
        var rng = SeededGenerator(seed: 5)
        let split = perturbed(SplitPrior(channelCount: 4, learned: true, dtype: .float64), scale: 0.3)
        let h = Tensor.randomNormal(shape: [2, 4, 2, 2], dtype: .float64, using: &rng)
        let (z, rest, logp) = split.factorOut(h)
        XCTAssertEqual(z.shape, [2, 2, 2, 2])
        XCTAssertEqual(split.restore(z, rest).scalars, h.scalars)
        // Against the Gaussian with the conv's mean and log σ, elementwise.
        let (mean, logStd) = split.meanAndLogStd(rest)!
        let manual = (-0.5 * ((z - mean) / logStd.exp()).squared() - logStd - 0.5 * log(2 * Double.pi)).sum(axes: [1, 2, 3])
        XCTAssertEqual(logp.scalars[0], manual.scalars[0], accuracy: 1e-10)
        XCTAssertNotEqual(logp.scalars[0], FlowPrior.gaussian.logDensity(z).scalars[0])
    }

    /// Trains `kind` on two moons and returns the held-out NLL (nats) before and after.
    func trainOnMoons(_ kind: String, steps: Int, configure: (inout FlowConfiguration) -> Void = { _ in }) throws -> (Double, Double) {
        var rng = SeededGenerator(seed: 0)
        let train = Toy2D.twoMoons(count: 4096, using: &rng)
        let test = Toy2D.twoMoons(count: 2048, using: &rng)
        var config = FlowConfiguration.defaults(kind: kind, eventShape: [2])!
        configure(&config)
        var flow = try config.makeFlow()
        flow.initialize(with: train[0..<512])
        let before = flow.negativeLogLikelihood(test).item
        var optimizer = Adam(learningRate: 3e-3)
        var batches = ShuffledBatches(count: 4096, batchSize: 128)
        for _ in 0..<steps {
            let x = train.indexSelect(axis: 0, indices: batches.next(using: &rng))
            let g = gradient(at: flow) { $0.negativeLogLikelihood(x) }
            optimizer.update(&flow, along: g)
        }
        let after = flow.negativeLogLikelihood(test).item
        print("\(kind) on moons: held-out NLL \(before) → \(after) nats after \(steps) steps")
        return (before, after)
    }

    // Held-out NLL of two moons: a standard Gaussian fit gives ≈ 2.3 nats; a good 2-D flow ≈ 1.1–1.3
    // (the PyTorch reference RealNVP after 5,000 steps, see the issue note). Short runs must get
    // clearly below the best single Gaussian fit (≈ 1.95): thresholds 1.2 (RealNVP), 1.6 (NICE), 1.5 (Glow).
    func testRealNVPLearnsTwoMoons() throws {
        let (before, after) = try trainOnMoons("realnvp", steps: 200) { $0.hiddenSize = 32; $0.couplingLayers = 6 }
        XCTAssertLessThan(after, 1.2, "RealNVP held-out NLL \(before) → \(after) nats")
    }

    func testNICELearnsTwoMoons() throws {
        let (before, after) = try trainOnMoons("nice", steps: 200) { $0.hiddenSize = 32 }
        XCTAssertLessThan(after, 1.6, "NICE held-out NLL \(before) → \(after) nats")
    }

    func testGlowLearnsTwoMoons() throws {
        let (before, after) = try trainOnMoons("glow", steps: 200) { $0.hiddenSize = 32; $0.couplingLayers = 4 }
        XCTAssertLessThan(after, 1.5, "Glow held-out NLL \(before) → \(after) nats")
    }
}
