import XCTest
import Foundation
import FluxionNN
import _FluxionTestSupport

/// The selective scan, the Mamba mixer and a 2-layer Mamba LM against our transcriptions of
/// mamba_ssm's `selective_scan_ref`, `mamba_simple.Mamba` (slow path and `step`) and
/// `MambaLMHeadModel` (Tools/make_ssm_fixtures.py): values, last state and every gradient.
final class MambaTests: XCTestCase {
    func testSelectiveScanMatchesSelectiveScanRef() throws {
        for (name, full) in [("selective_scan", true), ("selective_scan_plain", false)] {
            let f = try Fixture.load(name)
            let names = ["u", "delta", "A", "B", "C"] + (full ? ["D", "z", "delta_bias"] : [])
            let xs = names.map { f.tensor("input." + $0) }
            let cy = f.tensor("cotangent.y"), cl = f.tensor("cotangent.last_state")
            func scan(_ xs: [Tensor]) -> (y: Tensor, lastState: Tensor) {
                Tensor.selectiveScan(xs[0], delta: xs[1], A: xs[2], B: xs[3], C: xs[4], D: full ? xs[5] : nil, z: full ? xs[6] : nil,
                                     deltaBias: full ? xs[7] : nil, softplus: full)
            }
            let r = scan(xs)
            assertClose(r.y, f.tensor("y"), relativeTolerance: 1e-5, absoluteTolerance: 1e-5, "\(name) y")
            assertClose(r.lastState, f.tensor("last_state"), relativeTolerance: 1e-5, absoluteTolerance: 1e-5, "\(name) last state")
            let g = gradient(at: xs) { xs in let r = scan(xs); return (r.y * cy).sum() + (r.lastState * cl).sum() }
            for (k, n) in names.enumerated() {
                assertClose(g[k], f.tensor("grad." + n), relativeTolerance: 1e-4, absoluteTolerance: 1e-4, "\(name) gradient of \(n)")
            }
        }
    }

    func testMambaBlockMatchesPyTorch() throws {
        let f = try Fixture.load("mamba_block")
        var rng = SeededGenerator(seed: 0)
        var block = MambaBlock(modelSize: 8, stateSize: 4, using: &rng)
        XCTAssertEqual(block.dtRank, 1)
        try block.load(from: f.entries(withPrefix: "param."))
        let x = f.tensor("input"), u = f.tensor("cotangent")
        assertClose(block(x), f.tensor("output"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "output")
        let (g, gx) = gradient(at: block, x) { b, x in (b(x) * u).sum() }
        assertClose(gx, f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "input gradient")
        XCTAssertEqual(g.namedParameters.count, 9)
        for (p, t) in g.namedParameters {
            assertClose(t, f.tensor("grad.param." + p), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "gradient of \(p)")
        }
        // Prefill leaves mamba_simple's conv_state [B, D, K] and ssm_state; its step() gives the same outputs.
        var cache: MambaCache? = block.emptyCache(batch: 2)
        _ = block(x, cache: &cache)
        assertClose(cache!.convolution.permuted([0, 2, 1]), f.tensor("conv_state"), "conv_state after prefill")
        assertClose(cache!.state, f.tensor("ssm_state"), relativeTolerance: 1e-5, absoluteTolerance: 1e-6, "ssm_state after prefill")
        var c = block.emptyCache(batch: 2)
        let steps = (0..<7).map { t in block.step(x.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), cache: &c) }
        assertClose(Tensor.stack(steps, axis: 1), f.tensor("steps"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "step()")
    }

    func testMambaLMMatchesPyTorch() throws {
        let f = try Fixture.load("mamba_lm")
        var rng = SeededGenerator(seed: 0)
        var lm = MambaLM(vocabularySize: 11, modelSize: 16, layerCount: 2, stateSize: 4, using: &rng)
        XCTAssertEqual(lm.vocabularySize, 16, "11 padded to a multiple of 8")
        try lm.load(from: f.entries(withPrefix: "param."))
        let tokens = f.tensor("input"), u = f.tensor("cotangent")
        assertClose(lm(tokens), f.tensor("output"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "logits")
        let g = gradient(at: lm) { lm in (lm(tokens) * u).sum() }
        XCTAssertEqual(g.namedParameters.count, 2 * 10 + 2, "tied head: no lm_head.weight")
        for (p, t) in g.namedParameters {
            assertClose(t, f.tensor("grad.param." + p), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "gradient of \(p)")
        }
    }

    func testInitialisationAndNames() {
        var rng = SeededGenerator(seed: 4)
        let block = MambaBlock(modelSize: 40, stateSize: 16, using: &rng)
        XCTAssertEqual(block.namedParameters.map(\.name), ["in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                                                           "dt_proj.weight", "dt_proj.bias", "A_log", "D", "out_proj.weight"])
        XCTAssertEqual(block.dtRank, 3, "⌈40/16⌉")
        XCTAssertEqual(block.namedParameters.map(\.value.shape), [[160, 40], [80, 1, 4], [80], [35, 80], [80, 3], [80], [80, 16], [80], [40, 80]])
        let aLog = block.ALog.scalars
        for (i, a) in aLog.enumerated() { XCTAssertEqual(Foundation.exp(a), Double(i % 16 + 1), accuracy: 1e-5, "A = −(1…N)") }
        XCTAssertTrue(block.D.scalars.allSatisfy { $0 == 1 })
        let dt = block.dtProjection.bias!.softplus().scalars
        XCTAssertTrue(dt.allSatisfy { $0 >= 1e-3 * (1 - 1e-5) && $0 <= 0.1 * (1 + 1e-5) }, "softplus(dt bias) ∈ [1e-3, 0.1]")
        XCTAssertGreaterThan(dt.max()! / dt.min()!, 10, "log-uniform over two decades")
        let bound = 1 / 3.0.squareRoot(), w = block.dtProjection.weight.scalars
        XCTAssertTrue(w.allSatisfy { Swift.abs($0) <= bound }, "dt_proj U(±dt_rank^−½)")
        XCTAssertGreaterThan(w.map { Swift.abs($0) }.max()!, 0.9 * bound)
        let lm = MambaLM(vocabularySize: 50, modelSize: 32, layerCount: 4, using: &rng)
        XCTAssertEqual(lm.namedParameters.first!.name, "backbone.embedding.weight")
        XCTAssertEqual(lm.namedParameters.last!.name, "backbone.norm_f.weight")
        XCTAssertEqual(lm.finalNorm.epsilon, 1e-5)
        XCTAssertEqual(lm.layers[0].norm.epsilon, 1e-5)
        let e = lm.embedding.weight.scalars, std = (e.map { $0 * $0 }.reduce(0, +) / Double(e.count)).squareRoot()
        XCTAssertEqual(std, 0.02, accuracy: 0.002, "embedding N(0, 0.02²)")
        let out = lm.layers[0].mixer.outProjection.weight.scalars, outBound = 1 / 64.0.squareRoot() / 2
        XCTAssertTrue(out.allSatisfy { Swift.abs($0) <= outBound } && out.map { Swift.abs($0) }.max()! > 0.9 * outBound,
                      "out_proj U(±1/√64)/√4")
        var untied = MambaLM(vocabularySize: 65, modelSize: 16, layerCount: 1, tiedHead: false, vocabularyMultiple: 1, using: &rng)
        XCTAssertEqual(untied.namedParameters.last!.name, "lm_head.weight")
        XCTAssertEqual(untied.vocabularySize, 65)
        untied.head = nil
        XCTAssertEqual(untied.namedParameters.count, 12)
    }

    /// Token-by-token steps and prefill + steps equal the full forward pass (Float64).
    func testCachedStepsEqualTheFullForward() {
        var rng = SeededGenerator(seed: 5)
        let lm = MambaLM(vocabularySize: 12, modelSize: 16, layerCount: 2, stateSize: 5, dtype: .float64, using: &rng)
        let tokens = Tensor((0..<(2 * 23)).map { _ in Int32(rng.nextUniform() * 12) }, shape: [2, 23])
        let full = lm(tokens)
        var caches = lm.emptyCache(batch: 2)
        for t in 0..<23 {
            let y = lm.step(tokens.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), caches: &caches)
            assertClose(y, full.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "step \(t)")
        }
        for prefix in [1, 2, 9] {
            var c: [MambaCache]? = lm.emptyCache(batch: 2)
            let head = lm(tokens.sliced(axis: 1, 0..<prefix), caches: &c)
            assertClose(head, full.sliced(axis: 1, 0..<prefix), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "prefill \(prefix)")
            let rest = lm(tokens.sliced(axis: 1, prefix..<23), caches: &c)
            assertClose(rest, full.sliced(axis: 1, prefix..<23), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "after prefill \(prefix)")
        }
        // Float32 (the fast scan kernel): steps = full to 1e-5.
        var rng32 = SeededGenerator(seed: 6)
        let lm32 = MambaLM(vocabularySize: 12, modelSize: 16, layerCount: 2, using: &rng32)
        let full32 = lm32(tokens)
        var c32 = lm32.emptyCache(batch: 2)
        for t in 0..<23 {
            let y = lm32.step(tokens.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), caches: &c32)
            assertClose(y, full32.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), relativeTolerance: 1e-5, absoluteTolerance: 1e-5, "Float32 step \(t)")
        }
    }

    func testFloat64GradientCheck() {
        var rng = SeededGenerator(seed: 7)
        let block = MambaBlock(modelSize: 3, stateSize: 2, convolutionSize: 3, dtype: .float64, using: &rng)
        let x = Tensor.randomNormal(shape: [1, 5, 3], dtype: .float64, using: &rng)
        let failures = GradientCheck.check({ xs in
            var b = block
            (b.inProjection.weight, b.convolutionWeight, b.convolutionBias, b.xProjection!.weight) = (xs[1], xs[2], xs[3], xs[4])
            (b.dtProjection.weight, b.dtProjection.bias, b.ALog, b.D, b.outProjection.weight) = (xs[5], xs[6], xs[7], xs[8], xs[9])
            return b(xs[0]).squared().sum()
        }, at: [x, block.inProjection.weight, block.convolutionWeight, block.convolutionBias, block.xProjection!.weight,
                block.dtProjection.weight, block.dtProjection.bias!, block.ALog, block.D, block.outProjection.weight], label: "MambaBlock")
        XCTAssertEqual(failures, [])
    }
}
