import XCTest
import FluxionNN
import _FluxionTestSupport

/// Attention and Transformer layers against PyTorch (fixtures from Tools/make_nn_fixtures.py,
/// `attention_fixtures`): forward values, input and parameter gradients, float32, to ~1e-5.
final class TransformerParityTests: XCTestCase {
    func checkGradients<P: ParameterTree>(_ name: String, _ g: P, _ f: SafeTensors.File, file: StaticString = #filePath, line: UInt = #line) {
        let grads = g.namedParameters
        XCTAssertFalse(grads.isEmpty)
        for (pname, value) in grads {
            assertClose(value, f.tensor("grad.param." + pname), relativeTolerance: 1e-4, absoluteTolerance: 1e-5,
                        "\(name) gradient of \(pname)", file: file, line: line)
        }
    }

    func testScaledDotProductAttention() throws {
        for name in ["sdpa_causal", "sdpa_bool_mask", "sdpa_float_mask"] {
            let f = try Fixture.load(name)
            let causal = f.metadata["causal"] == "True"
            let mask = f.tensors["mask"]
            let xs = [f.tensor("q"), f.tensor("k"), f.tensor("v")]
            let attend: ([Tensor]) -> Tensor = { Tensor.attention(query: $0[0], key: $0[1], value: $0[2], causal: causal, mask: mask) }
            assertClose(attend(xs), f.tensor("output"), relativeTolerance: 1e-5, absoluteTolerance: 1e-6, "\(name) output")
            let u = f.tensor("cotangent")
            let g = gradient(at: xs) { (attend($0) * u).sum() }
            for (i, n) in ["q", "k", "v"].enumerated() {
                assertClose(g[i], f.tensor("grad." + n), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) gradient of \(n)")
            }
        }
    }

    func testMultiheadAttention() throws {
        let f = try Fixture.load("mha")
        var rng = SeededGenerator(seed: 0)
        var mha = MultiheadAttention(width: 8, headCount: 2, using: &rng)
        try mha.load(from: f.entries(withPrefix: "param."))
        let x = f.tensor("input"), memory = f.tensor("memory"), pad = f.tensor("key_padding")
        let (u1, u2) = (f.tensor("cotangent.self"), f.tensor("cotangent.cross"))
        assertClose(mha(x, causal: false, keyPadding: pad), f.tensor("output.self"), "self-attention output")
        assertClose(mha(query: x, key: memory, value: memory), f.tensor("output.cross"), "cross-attention output")
        let (gm, gx, gmem) = valueWithGradient(at: mha, x, memory) { m, x, mem in
            (m(x, causal: false, keyPadding: pad) * u1).sum() + (m(query: x, key: mem, value: mem) * u2).sum()
        }.gradient
        assertClose(gx, f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "input gradient")
        assertClose(gmem, f.tensor("grad.memory"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "memory gradient")
        checkGradients("mha", gm, f)
    }

    func testEncoderLayers() throws {
        for (name, normFirst) in [("encoder_post", false), ("encoder_pre", true)] {
            let f = try Fixture.load(name)
            let causal = f.metadata["causal"] == "True"
            let activation: Activation.Kind = f.metadata["activation"] == "gelu" ? .gelu : .relu
            var rng = SeededGenerator(seed: 0)
            var layer = TransformerEncoderLayer(width: 8, headCount: 2, feedForwardSize: 16, activation: activation,
                                                normFirst: normFirst, using: &rng)
            try layer.load(from: f.entries(withPrefix: "param."))
            let x = f.tensor("input"), u = f.tensor("cotangent")
            assertClose(layer(x, causal: causal), f.tensor("output"), "\(name) output")
            let (gl, gx) = gradient(at: layer, x) { l, x in (l(x, causal: causal) * u).sum() }
            assertClose(gx, f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) input gradient")
            checkGradients(name, gl, f)
        }
    }

    func testDecoderLayer() throws {
        let f = try Fixture.load("decoder_post")
        var rng = SeededGenerator(seed: 0)
        var layer = TransformerDecoderLayer(width: 8, headCount: 2, feedForwardSize: 16, using: &rng)
        try layer.load(from: f.entries(withPrefix: "param."))
        let x = f.tensor("input"), memory = f.tensor("memory"), pad = f.tensor("memory_key_padding"), u = f.tensor("cotangent")
        assertClose(layer(x, memory: memory, memoryKeyPadding: pad), f.tensor("output"), "decoder output")
        let (gl, gx, gm) = valueWithGradient(at: layer, x, memory) { l, x, m in (l(x, memory: m, memoryKeyPadding: pad) * u).sum() }.gradient
        assertClose(gx, f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "decoder input gradient")
        assertClose(gm, f.tensor("grad.memory"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "decoder memory gradient")
        checkGradients("decoder", gl, f)
    }

    /// The benchmark's model (shared/bench/reference_torch.py `w_gpt`) at small sizes: logits, the
    /// mean next-token cross-entropy and every parameter's gradient.
    func testGPTMatchesReferenceModel() throws {
        let f = try Fixture.load("gpt_small")
        let m = { Int(f.metadata[$0]!)! }
        var rng = SeededGenerator(seed: 0)
        var model = GPT(GPTConfiguration(vocabularySize: m("vocab"), contextLength: m("context"), width: m("width"),
                                         layerCount: m("depth"), headCount: m("heads")), using: &rng)
        try model.load(from: f.entries(withPrefix: "param."))
        let tokens = f.tensor("tokens"), t = m("context")
        let inputs = tokens.sliced(axis: 1, 0..<t), targets = tokens.sliced(axis: 1, 1..<(t + 1))
        assertClose(model(inputs), f.tensor("logits"), relativeTolerance: 1e-5, absoluteTolerance: 1e-5, "logits")
        let (loss, g) = valueWithGradient(at: model) { crossEntropy(logits: $0(inputs), labels: targets) }
        XCTAssertEqual(loss.item, f.tensor("loss").item, accuracy: 1e-5)
        checkGradients("gpt", g, f)
    }
}
