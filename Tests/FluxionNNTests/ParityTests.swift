import XCTest
import Foundation
import FluxionNN
import FluxionOptim
import _FluxionTestSupport

/// Layers and losses against PyTorch (fixtures from Tools/make_nn_fixtures.py): forward values,
/// input gradients and parameter gradients, float32, to ~1e-5 relative.
final class ParityTests: XCTestCase {
    /// Loads parameters from the fixture, runs forward and backward with the fixture's cotangent.
    func checkLayer<L: Layer>(_ name: String, _ make: (SafeTensors.File) -> L, intInput: Bool = false,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let f = try Fixture.load(name)
        var layer = make(f)
        try layer.load(from: f.entries(withPrefix: "param."))
        let x = f.tensor("input"), u = f.tensor("cotangent")
        assertClose(layer(x), f.tensor("output"), "\(name) output", file: file, line: line)
        let (gLayer, gInput): (L, Tensor)
        if intInput {
            gLayer = gradient(at: layer) { l in (l(x) * u).sum() }
            gInput = Tensor.zeros(shape: [0])
        } else {
            (gLayer, gInput) = gradient(at: layer, x) { l, x in (l(x) * u).sum() }
            assertClose(gInput, f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) input gradient", file: file, line: line)
        }
        for (pname, g) in gLayer.namedParameters {
            assertClose(g, f.tensor("grad.param." + pname), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) gradient of \(pname)", file: file, line: line)
        }
    }

    func pair(_ s: String?) -> (Int, Int) {
        let v = (s ?? "1,1").split(separator: ",").map { Int($0)! }
        return (v[0], v[1])
    }

    func testLinear() throws {
        var rng = SeededGenerator(seed: 0)
        try checkLayer("linear") { _ in Linear(inputSize: 5, outputSize: 4, using: &rng) }
        try checkLayer("linear_nobias") { _ in Linear(inputSize: 5, outputSize: 4, bias: false, using: &rng) }
    }

    func testConv2d() throws {
        var rng = SeededGenerator(seed: 0)
        for i in 0..<3 {
            try checkLayer("conv2d_\(i)") { f in
                let w = f.tensor("param.weight")
                let g = Int(f.metadata["groups"]!)!
                return Conv2d(inputChannels: w.shape[1] * g, outputChannels: w.shape[0], kernelSize: pair(f.metadata["kernel"]),
                              stride: pair(f.metadata["stride"]), padding: pair(f.metadata["padding"]),
                              dilation: pair(f.metadata["dilation"]), groupCount: g, using: &rng)
            }
        }
    }

    func testNormalizations() throws {
        try checkLayer("layernorm") { _ in LayerNorm(normalizedShape: [6]) }
        try checkLayer("layernorm_2d") { _ in LayerNorm(normalizedShape: [3, 6]) }
        try checkLayer("rmsnorm") { _ in RMSNorm(normalizedShape: [6]) }
        try checkLayer("groupnorm") { _ in GroupNorm(groupCount: 2, channelCount: 6) }
    }

    func testEmbedding() throws {
        var rng = SeededGenerator(seed: 0)
        try checkLayer("embedding", { _ in Embedding(embeddingCount: 10, embeddingSize: 4, using: &rng) }, intInput: true)
    }

    func testLosses() throws {
        let f = try Fixture.load("losses")
        let logits = f.tensor("logits"), labels = f.tensor("labels"), ignored = f.tensor("labels_ignored")
        let cases: [(String, (Tensor) -> Tensor)] = [
            ("ce", { crossEntropy(logits: $0, labels: labels) }),
            ("ce_sum", { crossEntropy(logits: $0, labels: labels, reduction: .sum) }),
            ("ce_ignore", { crossEntropy(logits: $0, labels: ignored) }),
            ("ce_smooth", { crossEntropy(logits: $0, labels: labels, labelSmoothing: 0.1) }),
            ("ce_ignore_smooth", { crossEntropy(logits: $0, labels: ignored, labelSmoothing: 0.2) }),
            ("nll", { negativeLogLikelihood($0.logSoftmax(axis: 1), labels: labels) }),
        ]
        for (name, loss) in cases {
            let (v, g) = valueWithGradient(at: logits, of: loss)
            assertClose(v, f.tensor(name + ".value"), name)
            assertClose(g, f.tensor(name + ".grad"), name + " gradient")
        }
        let target = f.tensor("mse.target")
        let (mv, mg) = valueWithGradient(at: f.tensor("mse.pred")) { meanSquaredError($0, target) }
        assertClose(mv, f.tensor("mse.value"), "mse")
        assertClose(mg, f.tensor("mse.grad"), "mse gradient")
        let y = f.tensor("bce.targets")
        let (bv, bg) = valueWithGradient(at: f.tensor("bce.logits")) { binaryCrossEntropy(logits: $0, targets: y) }
        assertClose(bv, f.tensor("bce.value"), "bce")
        assertClose(bg, f.tensor("bce.grad"), "bce gradient")
        let x = f.tensor("density.x"), mu = f.tensor("density.mean"), s = f.tensor("density.log_scale")
        assertClose(gaussianLogDensity(x, mean: mu, logStandardDeviation: s), f.tensor("gaussian.logp"), "gaussian log-density")
        assertClose(logisticLogDensity(x, location: mu, logScale: s), f.tensor("logistic.logp"), "logistic log-density")
    }

    /// 20 steps of each optimiser on a small MLP: losses along the way and final parameters.
    func testOptimiserTrajectories() throws {
        let f = try Fixture.load("optimisers")
        let x = f.tensor("x"), y = f.tensor("y")
        var rng = SeededGenerator(seed: 0)
        var initial = MLP(sizes: [3, 8, 2], activation: .tanh, using: &rng)
        try initial.load(from: f.entries(withPrefix: "init."))
        let optimisers: [(String, any Optimizer)] = [
            ("sgd", SGD(learningRate: 0.1)),
            ("sgd_momentum", SGD(learningRate: 0.05, momentum: 0.9, dampening: 0.1, weightDecay: 0.01)),
            ("sgd_nesterov", SGD(learningRate: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01)),
            ("adam", Adam(learningRate: 0.01)),
            ("adam_l2", Adam(learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1)),
            ("adamw", Adam(learningRate: 0.01, weightDecay: 0.01, decoupledWeightDecay: true)),
            ("adamw_decay", Adam(learningRate: 0.01, weightDecay: 0.5, decoupledWeightDecay: true)),
            ("rmsprop", RMSprop(learningRate: 0.01)),
            ("rmsprop_momentum_centered", RMSprop(learningRate: 0.01, weightDecay: 0.01, momentum: 0.5, centered: true)),
        ]
        for (name, opt) in optimisers {
            var optimizer = opt
            var model = initial
            for step in 0..<20 {
                let (loss, g) = valueWithGradient(at: model) { m in meanSquaredError(m(x), y) }
                assertClose(loss, f.tensor("\(name).loss.\(step)"), relativeTolerance: 1e-5, absoluteTolerance: 1e-6, "\(name) loss at step \(step)")
                optimizer.update(&model, along: g)
            }
            for (pname, p) in model.namedParameters {
                assertClose(p, f.tensor("\(name).final.\(pname)"), relativeTolerance: 1e-5, absoluteTolerance: 1e-6, "\(name) final \(pname)")
            }
        }
    }

    /// A PyTorch state dict saved as safetensors loads into the equivalent Fluxion model.
    func testPyTorchStateDictLoads() throws {
        var rng = SeededGenerator(seed: 0)
        var model = MLP(sizes: [4, 16, 16, 3], activation: .tanh, using: &rng)
        try model.load(from: Fixture.path("torch_mlp.safetensors"))
        let io = try Fixture.load("torch_mlp_io")
        assertClose(model(io.tensor("input")), io.tensor("output"), "PyTorch MLP output")
    }

    /// Regenerates the Fluxion-written fixtures when FLUXION_WRITE_FIXTURES=1 (then run
    /// Tools/check_roundtrip.py to load them in PyTorch).
    func testWriteFluxionModelFile() throws {
        guard ProcessInfo.processInfo.environment["FLUXION_WRITE_FIXTURES"] == "1" else { return }
        var rng = SeededGenerator(seed: 3)
        let model = MLP(sizes: [4, 16, 16, 3], activation: .tanh, using: &rng)
        try model.save(to: Fixture.path("fluxion_mlp.safetensors"), metadata: ["format": "pt"])
        let x = Tensor.randomNormal(shape: [5, 4], using: &rng)
        try SafeTensors.write([("input", x), ("output", model(x))], to: Fixture.path("fluxion_mlp_io.safetensors"))
    }

    /// The committed Fluxion-written model file (read by Tools/check_roundtrip.py in PyTorch) is
    /// what Fluxion writes today: same names, shapes and bytes.
    func testFluxionModelFileIsStable() throws {
        var rng = SeededGenerator(seed: 3)
        let model = MLP(sizes: [4, 16, 16, 3], activation: .tanh, using: &rng)
        let committed = try SafeTensors.read(Fixture.path("fluxion_mlp.safetensors"))
        XCTAssertEqual(committed.names.sorted(), model.namedParameters.map(\.name).sorted())
        for (name, p) in model.namedParameters { assertClose(p, committed.tensor(name), relativeTolerance: 0, absoluteTolerance: 0, name) }
        let io = try Fixture.load("fluxion_mlp_io")
        assertClose(model(io.tensor("input")), io.tensor("output"), relativeTolerance: 0, absoluteTolerance: 1e-7, "Fluxion MLP output")
    }
}
