import Foundation
import XCTest
import FluxionNN
import _FluxionTestSupport

/// MMDiT against diffusers' own SD3Transformer2DModel (Tools/make_mmdit_fixtures.py): state dicts
/// load strictly; output and every gradient match in Float32 and (to 1e-9) in Float64.
final class MMDiTTests: XCTestCase {
    static let fixtureConfiguration = MMDiTConfiguration(
        sampleSize: 8, patchSize: 2, inputChannels: 4, layerCount: 2, headSize: 8, headCount: 2, jointAttentionSize: 16,
        captionProjectionSize: 16, pooledProjectionSize: 16, outputChannels: 4, positionEmbeddingMaxSize: 16, qkNorm: "rms_norm")

    func check(_ name: String, qkNorm: String?, dtype: DType) throws {
        let f = try Fixture.load(name)
        var c = Self.fixtureConfiguration
        c.qkNorm = qkNorm
        var rng = SeededGenerator(seed: 0)
        var model = MMDiT(c, dtype: dtype, using: &rng)
        assertClose(model.positionTable, f.tensor("param.pos_embed.pos_embed"), relativeTolerance: 0,
                    absoluteTolerance: dtype == .float64 ? 1e-12 : 1e-7, "\(name) position table")
        try model.load(from: f.entries(withPrefix: "param."), strict: true)
        XCTAssertEqual(model.parameterCount - model.positionTable.count, Int(f.metadata["parameter_count"] ?? ""), "\(name) parameter count")
        let inputs = [f.tensor("hidden_states"), f.tensor("encoder_hidden_states"), f.tensor("pooled_projections"), f.tensor("timestep")]
        let (outTol, gradRel, gradAbs) = dtype == .float64 ? (1e-9, 1e-9, 1e-12) : (1e-5, 1e-4, 1e-5)
        let y = model(inputs[0], context: inputs[1], pooled: inputs[2], timestep: inputs[3])
        assertClose(y, f.tensor("output"), relativeTolerance: outTol, absoluteTolerance: dtype == .float64 ? 1e-12 : outTol, "\(name) output")
        let u = f.tensor("cotangent")
        let (gModel, gInputs) = gradient(at: model, inputs) { m, xs in (m(xs[0], context: xs[1], pooled: xs[2], timestep: xs[3]) * u).sum() }
        for (i, key) in ["hidden_states", "encoder_hidden_states", "pooled_projections", "timestep"].enumerated() {
            assertClose(gInputs[i], f.tensor("grad." + key), relativeTolerance: gradRel, absoluteTolerance: gradAbs, "\(name) gradient of \(key)")
        }
        for (pname, g) in gModel.namedParameters {
            if pname == "pos_embed.pos_embed" {
                XCTAssertEqual(g.scalars.map(Swift.abs).max(), 0, "\(name): the position table is frozen")
                continue
            }
            assertClose(g, f.tensor("grad.param." + pname), relativeTolerance: gradRel, absoluteTolerance: gradAbs, "\(name) gradient of \(pname)")
        }
    }

    func testRMSNormFloat32() throws { try check("mmdit_rms", qkNorm: "rms_norm", dtype: .float32) }
    func testRMSNormFloat64() throws { try check("mmdit_rms_f64", qkNorm: "rms_norm", dtype: .float64) }
    func testPlainCroppedFloat32() throws { try check("mmdit_plain", qkNorm: nil, dtype: .float32) }
    func testPlainCroppedFloat64() throws { try check("mmdit_plain_f64", qkNorm: nil, dtype: .float64) }

    /// The joint block's attention is one attention over the concatenated tokens with per-stream
    /// weights (SPEC §9): the same for [x; c] and [c; x] (the key order does not matter).
    func testJointAttentionIsOrderFree() {
        var rng = SeededGenerator(seed: 3)
        let block = JointTransformerBlock(width: 8, headCount: 2, dtype: .float64, using: &rng)
        let x = Tensor.randomNormal(shape: [2, 4, 8], dtype: .float64, using: &rng)
        let c = Tensor.randomNormal(shape: [2, 3, 8], dtype: .float64, using: &rng)
        let y = Tensor.randomNormal(shape: [2, 8], dtype: .float64, using: &rng)
        let r = block(x, context: c, conditioning: y)
        // The streams swapped (image weights on c, context weights on x) give the swapped outputs.
        var swapped = block
        (swapped.norm1, swapped.norm1Context) = (block.norm1Context, block.norm1)
        (swapped.toQ, swapped.addQ, swapped.toK, swapped.addK, swapped.toV, swapped.addV) = (block.addQ, block.toQ, block.addK, block.toK, block.addV, block.toV)
        (swapped.normQ, swapped.normAddedQ, swapped.normK, swapped.normAddedK) = (block.normAddedQ, block.normQ, block.normAddedK, block.normK)
        swapped.toOut = block.toAddOut!
        swapped.toAddOut = block.toOut
        swapped.ff1 = block.ffContext1!
        swapped.ffContext1 = block.ff1
        swapped.ff2 = block.ffContext2!
        swapped.ffContext2 = block.ff2
        let s = swapped(c, context: x, conditioning: y)
        assertClose(s.x, r.context!, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "context stream")
        assertClose(s.context!, r.x, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "image stream")
    }

    /// Float64 finite differences (reverse and forward) through a tiny model, and the last block's
    /// query path of the context gets exactly zero gradient.
    func testTinyModelGradientCheck() {
        var rng = SeededGenerator(seed: 4)
        let c = MMDiTConfiguration(sampleSize: 4, patchSize: 2, inputChannels: 1, layerCount: 2, headSize: 2, headCount: 2,
                                   jointAttentionSize: 3, captionProjectionSize: 4, pooledProjectionSize: 2, outputChannels: 1,
                                   positionEmbeddingMaxSize: 3)
        let model = MMDiT(c, dtype: .float64, using: &rng)
        let x = Tensor.randomNormal(shape: [1, 1, 4, 4], dtype: .float64, using: &rng)
        let e = Tensor.randomNormal(shape: [1, 2, 3], dtype: .float64, using: &rng)
        let p = Tensor.randomNormal(shape: [1, 2], dtype: .float64, using: &rng)
        let t = Tensor([0.3], dtype: .float64)
        let names = model.namedParameters.map(\.name).filter { $0 != "pos_embed.pos_embed" }
        let f: ([Tensor]) -> Tensor = { xs in
            var i = 4
            let m = model.mapParameters { name, v in
                if name == "pos_embed.pos_embed" { return v }
                defer { i += 1 }
                return xs[i]
            }
            return m(xs[0], context: xs[1], pooled: xs[2], timestep: xs[3])
        }
        let params = model.namedParameters.filter { names.contains($0.name) }.map(\.value)
        for failure in GradientCheck.check(f, at: [x, e, p, t] + params, label: "MMDiT") { XCTFail(failure) }
        let g = gradient(at: model) { m in m(x, context: e, pooled: p, timestep: t).sum() }
        for (name, v) in g.namedParameters where name.hasPrefix("transformer_blocks.1.attn.add_q_proj") || name.hasPrefix("transformer_blocks.1.attn.norm_added_q") {
            XCTAssertEqual(v.scalars.map(Swift.abs).max(), 0, "\(name) must get zero gradient")
        }
    }

    func testConfigurationKeysAndRejections() throws {
        let json = #"{"sample_size": 8, "patch_size": 2, "in_channels": 4, "num_layers": 2, "attention_head_dim": 8, "num_attention_heads": 2, "joint_attention_dim": 16, "caption_projection_dim": 16, "pooled_projection_dim": 16, "out_channels": 4, "pos_embed_max_size": 16, "qk_norm": "rms_norm", "dual_attention_layers": []}"#
        let c = try JSONDecoder().decode(MMDiTConfiguration.self, from: Data(json.utf8))
        XCTAssertEqual(c, Self.fixtureConfiguration)
        XCTAssertEqual(try JSONDecoder().decode(MMDiTConfiguration.self, from: JSONEncoder().encode(c)), c)
        for (bad, text) in [(json.replacingOccurrences(of: "\"dual_attention_layers\": []", with: "\"dual_attention_layers\": [0]"), "dual_attention_layers"),
                            (json.replacingOccurrences(of: "\"caption_projection_dim\": 16", with: "\"caption_projection_dim\": 12"), "caption_projection_dim")] {
            XCTAssertThrowsError(try JSONDecoder().decode(MMDiTConfiguration.self, from: Data(bad.utf8))) { error in
                XCTAssertTrue("\(error)".contains(text), "\(error)")
            }
        }
        let sd3 = MMDiTConfiguration.sd3(depth: 2, jointAttentionSize: 128, pooledProjectionSize: 128)
        XCTAssertEqual([sd3.width, sd3.headCount, sd3.headSize, sd3.layerCount, sd3.captionProjectionSize], [128, 2, 64, 2, 128])
    }
}
