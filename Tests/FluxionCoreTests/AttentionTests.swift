import XCTest
import FluxionCore
import _FluxionTestSupport

/// The fused attention primitive against its reference, with every mask, in value and gradients.
final class AttentionTests: XCTestCase {
    func qkv(_ dtype: DType, b: Int = 2, h: Int = 3, t: Int = 5, s: Int = 5, d: Int = 4) -> [Tensor] {
        var rng = SeededGenerator(seed: 1)
        return [Tensor.randomNormal(shape: [b, h, t, d], dtype: dtype, using: &rng),
                Tensor.randomNormal(shape: [b, h, s, d], dtype: dtype, using: &rng),
                Tensor.randomNormal(shape: [b, h, s, 3], dtype: dtype, using: &rng)]
    }

    func testFusedMatchesReference() {
        let padding = Tensor([1, 1, 1, 0, 0, 1, 1, 1, 1, 1], shape: [2, 5], dtype: .float64)
        var maskValues = [Double](repeating: 0, count: 25)
        maskValues[7] = -.infinity; maskValues[13] = -2
        let mask = Tensor(maskValues, shape: [5, 5], dtype: .float64)
        let cases: [(String, Bool, Tensor?, Tensor?, Int, Int)] = [
            ("plain", false, nil, nil, 5, 5), ("causal", true, nil, nil, 5, 5), ("causal, longer keys", true, nil, nil, 3, 6),
            ("padding", false, padding, nil, 5, 5), ("causal + padding + mask", true, padding, mask, 5, 5),
        ]
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 3e-5)] {
            for (name, causal, pad, m, t, s) in cases {
                let x = qkv(dtype, t: t, s: s)
                let p = pad.map { $0.cast(to: dtype) }
                let mm = m.map { $0.cast(to: dtype) }
                let fused: ([Tensor]) -> Tensor = { Tensor.attention(query: $0[0], key: $0[1], value: $0[2], causal: causal, keyPadding: p, mask: mm) }
                let reference: ([Tensor]) -> Tensor = { Tensor.attentionReference(query: $0[0], key: $0[1], value: $0[2], causal: causal, keyPadding: p, mask: mm) }
                assertClose(fused(x), reference(x), relativeTolerance: tol, absoluteTolerance: tol, "\(dtype) \(name) value")
                var rng = SeededGenerator(seed: 3)
                let u = Tensor.randomNormal(shape: fused(x).shape, dtype: dtype, using: &rng)
                let ga = gradient(at: x) { (fused($0) * u).sum() }, gb = gradient(at: x) { (reference($0) * u).sum() }
                for i in 0..<3 { assertClose(ga[i], gb[i], relativeTolerance: tol * 10, absoluteTolerance: tol * 10, "\(dtype) \(name) gradient \(i)") }
            }
        }
    }

    func testFullyMaskedRowGivesZeros() {
        let x = qkv(.float64, b: 1, h: 1, t: 2, s: 2)
        let pad = Tensor([0.0, 0.0], shape: [1, 2], dtype: .float64)
        let y = Tensor.attention(query: x[0], key: x[1], value: x[2], keyPadding: pad)
        XCTAssertEqual(y.scalars, [Double](repeating: 0, count: y.count))
    }

    func testGradientCheckAndCausality() {
        let x = qkv(.float64, b: 1, h: 2, t: 3, s: 3, d: 2)
        for failure in GradientCheck.check({ Tensor.attention(query: $0[0], key: $0[1], value: $0[2], causal: true) }, at: x, label: "attention") {
            XCTFail(failure)
        }
        // causality: output t does not depend on keys/values after t (gradient exactly zero)
        for t in 0..<3 {
            let g = gradient(at: x) { Tensor.attention(query: $0[0], key: $0[1], value: $0[2], causal: true).sliced(axis: 2, t..<(t + 1)).sum() }
            for later in (t + 1)..<3 {
                XCTAssertEqual(g[1].sliced(axis: 2, later..<(later + 1)).abs().max().item, 0, "key \(later) influences output \(t)")
                XCTAssertEqual(g[2].sliced(axis: 2, later..<(later + 1)).abs().max().item, 0, "value \(later) influences output \(t)")
            }
        }
    }
}
