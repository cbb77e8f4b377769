import XCTest
import Foundation
import FluxionNN
import FluxionOptim
import _FluxionTestSupport

final class OptimizerTests: XCTestCase {
    func data() -> (Tensor, Tensor) {
        var rng = SeededGenerator(seed: 4)
        let x = Tensor.randomNormal(shape: [64, 2], using: &rng)
        let y = ((x[0..<64].sliced(axis: 1, 0..<1) * 2).sin() + x.sliced(axis: 1, 1..<2) * 0.5)
        return (x, y)
    }

    func testSavedStateResumesExactly() throws {
        let (x, y) = data()
        var rng = SeededGenerator(seed: 1)
        var model = MLP(sizes: [2, 16, 1], activation: .tanh, using: &rng)
        var opt = Adam(learningRate: 0.01, weightDecay: 0.01, decoupledWeightDecay: true)
        func train(_ m: inout MLP, _ o: inout Adam, steps: Int) {
            for _ in 0..<steps {
                let g = gradient(at: m) { meanSquaredError($0(x), y) }
                o.update(&m, along: g)
            }
        }
        train(&model, &opt, steps: 5)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fluxion-opt-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try model.save(to: dir.appendingPathComponent("model.safetensors").path)
        try opt.saveState(to: dir.appendingPathComponent("optimizer.safetensors").path)
        var continued = model, continuedOpt = opt
        train(&continued, &continuedOpt, steps: 5)

        var resumed = MLP(sizes: [2, 16, 1], activation: .tanh, using: &rng)
        try resumed.load(from: dir.appendingPathComponent("model.safetensors").path)
        var resumedOpt = Adam(learningRate: 0.5, weightDecay: 0.01, decoupledWeightDecay: true)
        try resumedOpt.loadState(from: dir.appendingPathComponent("optimizer.safetensors").path, for: resumed)
        XCTAssertEqual(resumedOpt.stepCount, 5)
        train(&resumed, &resumedOpt, steps: 5)
        for (a, b) in zip(continued.namedParameters, resumed.namedParameters) {
            XCTAssertEqual(a.value.scalars, b.value.scalars, "resumed \(a.name) differs")
        }
    }

    func testFrozenParametersDoNotMove() {
        let (x, y) = data()
        var rng = SeededGenerator(seed: 1)
        var model = MLP(sizes: [2, 8, 1], using: &rng)
        let before = model.namedParameters
        var opt = SGD(learningRate: 0.1)
        opt.frozen = ["layers.0"]
        let g = gradient(at: model) { meanSquaredError($0(x), y) }
        opt.update(&model, along: g)
        let after = model.namedParameters
        XCTAssertEqual(after[0].value.scalars, before[0].value.scalars)
        XCTAssertEqual(after[1].value.scalars, before[1].value.scalars)
        XCTAssertNotEqual(after[2].value.scalars, before[2].value.scalars)
    }

    /// A parameter group's rate and decay replace the optimiser's for its parameters only: the
    /// first Adam step moves each weight by the rate (times sign of the gradient), and decoupled
    /// decay shrinks only the parameters whose group has it.
    func testParameterGroups() {
        let (x, y) = data()
        var rng = SeededGenerator(seed: 2)
        var model = MLP(sizes: [2, 8, 1], using: &rng)
        let before = model.namedParameters
        var opt = Adam(learningRate: 1e-2, weightDecay: 0.5, decoupledWeightDecay: true)
        opt.groups = [Adam.Group(names: ["layers.0.weight", "layers.1.bias"], learningRate: 1e-3, weightDecay: 0)]
        let g = gradient(at: model) { meanSquaredError($0(x), y) }
        opt.update(&model, along: g)
        for (k, (name, after)) in model.namedParameters.enumerated() {
            let grouped = ["layers.0.weight", "layers.1.bias"].contains(name)
            let (rate, decay) = grouped ? (1e-3, 0.0) : (1e-2, 0.5)
            for ((p0, p1), gi) in zip(zip(before[k].value.scalars, after.scalars), g.namedParameters[k].value.scalars) where Swift.abs(gi) > 1e-4 {
                let expected = p0 * (1 - rate * decay) - rate * (gi > 0 ? 1 : -1)
                XCTAssertEqual(p1, expected, accuracy: 1e-5 * rate + 1e-7, "\(name)")
            }
        }
    }

    func testSchedules() {
        XCTAssertEqual(LearningRateSchedule.constant(0.1).rate(at: 100), 0.1)
        XCTAssertEqual(LearningRateSchedule.step(initial: 1, stepSize: 10, gamma: 0.5).rate(at: 25), 0.25)
        let cos = LearningRateSchedule.cosine(initial: 1, total: 100, minimum: 0.1)
        XCTAssertEqual(cos.rate(at: 0), 1, accuracy: 1e-12)
        XCTAssertEqual(cos.rate(at: 50), 0.55, accuracy: 1e-12)
        XCTAssertEqual(cos.rate(at: 100), 0.1, accuracy: 1e-12)
        XCTAssertEqual(cos.rate(at: 500), 0.1, accuracy: 1e-12)
        let warm = LearningRateSchedule.warmupCosine(peak: 1, warmup: 10, total: 110)
        XCTAssertEqual(warm.rate(at: 0), 0.1, accuracy: 1e-12)
        XCTAssertEqual(warm.rate(at: 9), 1, accuracy: 1e-12)
        XCTAssertEqual(warm.rate(at: 60), 0.5, accuracy: 1e-12)
        XCTAssertEqual(warm.rate(at: 110), 0, accuracy: 1e-12)
    }

    func testGradientClipping() {
        var g = [Tensor([3.0, 0], dtype: .float64), Tensor([0.0, 4], dtype: .float64)]
        let norm = clipGradientNorm(&g, maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-12)
        XCTAssertEqual(g[0].scalars[0], 0.6, accuracy: 1e-6)
        XCTAssertEqual(g[1].scalars[1], 0.8, accuracy: 1e-6)
        var small = [Tensor([0.3], dtype: .float64)]
        clipGradientNorm(&small, maxNorm: 1)
        XCTAssertEqual(small[0].scalars, [0.3])
    }

    func testExponentialMovingAverage() {
        var ema = ExponentialMovingAverage([Tensor([0.0], dtype: .float64)], decay: 0.9)
        ema.update(with: [Tensor([1.0], dtype: .float64)])
        ema.update(with: [Tensor([1.0], dtype: .float64)])
        XCTAssertEqual(ema.average[0].item, 0.19, accuracy: 1e-12)
    }

    /// Fails if the layers and optimisers do not learn: a small classifier on two interleaved
    /// spirals must reach high training accuracy.
    func testClassifierLearns() {
        var rng = SeededGenerator(seed: 5)
        var points: [Double] = [], labels: [Int32] = []
        for i in 0..<200 {
            let c = Int32(i % 2)
            let t = Double(i / 2) / 100 * 3 * Double.pi + 0.5
            let r = t / (3 * Double.pi)
            let s = c == 0 ? 1.0 : -1.0
            points += [s * r * Foundation.cos(t) + 0.02 * rng.nextNormal(), s * r * Foundation.sin(t) + 0.02 * rng.nextNormal()]
            labels.append(c)
        }
        let x = Tensor(points, shape: [200, 2], dtype: .float32), y = Tensor(labels)
        var model = Sequential([Linear(inputSize: 2, outputSize: 64, using: &rng), Activation(.silu),
                                Linear(inputSize: 64, outputSize: 64, using: &rng), Activation(.silu),
                                Linear(inputSize: 64, outputSize: 2, using: &rng)])
        var opt = Adam(learningRate: 0.01)
        var first = 0.0, last = 0.0
        for step in 0..<400 {
            let (loss, g) = valueWithGradient(at: model) { crossEntropy(logits: $0(x), labels: y) }
            if step == 0 { first = loss.item }
            last = loss.item
            opt.update(&model, along: g)
        }
        let predicted = model(x).argmax(axis: 1).int32s
        let accuracy = Double(zip(predicted, labels).filter { $0 == $1 }.count) / 200
        XCTAssertLessThan(last, first * 0.2, "loss did not fall enough: \(first) → \(last)")
        XCTAssertGreaterThan(accuracy, 0.95, "training accuracy \(accuracy)")
    }
}
