import XCTest
import FluxionCore
import _FluxionTestSupport

/// Fused kernels (layer norm, GELU, softmax cross-entropy, packed and row-blocked attention) against
/// their reference compositions: values and first-order gradients in Float32 and Float64, and the
/// Float64 finite-difference check at order 2 (where the reference rules take over).
final class FusedPrimitiveTests: XCTestCase {
    /// Compares f (fused) and g (reference) at xs in value and in the gradient of ⟨output, u⟩.
    func compare(_ name: String, _ f: ([Tensor]) -> Tensor, _ g: ([Tensor]) -> Tensor, at xs: [Tensor], tolerance: Double,
                 file: StaticString = #filePath, line: UInt = #line) {
        let (a, b) = (f(xs), g(xs))
        assertClose(a, b, relativeTolerance: tolerance, absoluteTolerance: tolerance, "\(name) value", file: file, line: line)
        var rng = SeededGenerator(seed: 3)
        let u = Tensor.randomNormal(shape: a.shape, dtype: a.dtype, using: &rng)
        let ga = gradient(at: xs) { (f($0) * u).sum() }, gb = gradient(at: xs) { (g($0) * u).sum() }
        for i in xs.indices {
            assertClose(ga[i], gb[i], relativeTolerance: tolerance * 10, absoluteTolerance: tolerance * 10, "\(name) gradient \(i)", file: file, line: line)
        }
    }

    func inputs(_ shapes: [[Int]], _ dtype: DType, seed: UInt64 = 1) -> [Tensor] {
        var rng = SeededGenerator(seed: seed)
        return shapes.map { Tensor.randomNormal(shape: $0, mean: 0.3, dtype: dtype, using: &rng) }
    }

    func testLayerNorm() {
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 2e-5)] {
            for n in [5, 16, 19] {  // a tail, whole vectors, both
                let xs = inputs([[3, 4, n], [n], [n]], dtype)
                let cases: [(String, ([Tensor]) -> Tensor, ([Tensor]) -> Tensor)] = [
                    ("affine", { Tensor.layerNorm($0[0], normalizedShape: [n], weight: $0[1], bias: $0[2], epsilon: 1e-5) },
                     { Tensor.layerNormReference($0[0], normalizedShape: [n], weight: $0[1], bias: $0[2], epsilon: 1e-5) }),
                    ("weight only", { Tensor.layerNorm($0[0], normalizedShape: [n], weight: $0[1], bias: nil, epsilon: 1e-5) + $0[2] * 0 },
                     { Tensor.layerNormReference($0[0], normalizedShape: [n], weight: $0[1], bias: nil, epsilon: 1e-5) + $0[2] * 0 }),
                    ("plain", { Tensor.layerNorm($0[0], normalizedShape: [n], weight: nil, bias: nil, epsilon: 1e-5) + ($0[1] + $0[2]) * 0 },
                     { Tensor.layerNormReference($0[0], normalizedShape: [n], weight: nil, bias: nil, epsilon: 1e-5) + ($0[1] + $0[2]) * 0 }),
                ]
                for (name, f, g) in cases { compare("layerNorm \(name) \(dtype) n=\(n)", f, g, at: xs, tolerance: tol) }
            }
            // two normalised axes
            let xs = inputs([[2, 3, 4], [3, 4], [3, 4]], dtype)
            compare("layerNorm 2-D \(dtype)", { Tensor.layerNorm($0[0], normalizedShape: [3, 4], weight: $0[1], bias: $0[2], epsilon: 1e-5) },
                    { Tensor.layerNormReference($0[0], normalizedShape: [3, 4], weight: $0[1], bias: $0[2], epsilon: 1e-5) }, at: xs, tolerance: tol)
        }
        let xs = inputs([[2, 6], [6], [6]], .float64)
        for failure in GradientCheck.check({ Tensor.layerNorm($0[0], normalizedShape: [6], weight: $0[1], bias: $0[2], epsilon: 1e-5) }, at: xs, label: "layerNorm") {
            XCTFail(failure)
        }
    }

    /// The fused MLP (row blocks per thread, GEMMs with bias and activation in one sweep) against
    /// the chain of `linear` and activations: one and two threads, row counts that do not split
    /// evenly, a rank-3 input, an input that is not differentiated, and second order.
    func testFusedMLP() {
        func reference(_ act: MLPActivation, _ layers: Int) -> ([Tensor]) -> Tensor {
            { xs in
                var h = xs[0]
                for l in 0..<layers {
                    h = Tensor.linear(h, weight: xs[1 + 2 * l], bias: xs[2 + 2 * l])
                    if l < layers - 1 { h = act == .relu ? h.relu() : act == .tanh ? h.tanh() : h.silu() }
                }
                return h
            }
        }
        func fused(_ act: MLPActivation, _ layers: Int) -> ([Tensor]) -> Tensor {
            { xs in Tensor.mlp(xs[0], weights: (0..<layers).map { xs[1 + 2 * $0] }, biases: (0..<layers).map { xs[2 + 2 * $0] }, activation: act) }
        }
        func shapes(_ lead: [Int], _ sizes: [Int]) -> [[Int]] {
            [lead + [sizes[0]]] + (0..<(sizes.count - 1)).flatMap { [[sizes[$0 + 1], sizes[$0]], [sizes[$0 + 1]]] }
        }
        let saved = Runtime.threadCount
        defer { Runtime.threadCount = saved }
        for threads in [1, 2] {
            Runtime.threadCount = threads
            for act in [MLPActivation.relu, .tanh, .silu] {
                for (lead, sizes) in [([70], [3, 16, 20, 2]), ([1], [2, 8, 4]), ([2, 35], [5, 33, 7]), ([64], [4, 9])] {
                    for (dtype, tol) in [(DType.float32, 2e-5), (.float64, 1e-12)] {
                        let xs = inputs(shapes(lead, sizes), dtype)
                        let layers = sizes.count - 1
                        compare("mlp \(act) \(lead) \(sizes) \(dtype) threads=\(threads)", fused(act, layers), reference(act, layers), at: xs, tolerance: tol)
                        // The input as a constant: only parameter gradients.
                        let x = xs[0], params = Array(xs.dropFirst())
                        let ga = gradient(at: params) { fused(act, layers)([x] + $0).squared().sum() }
                        let gb = gradient(at: params) { reference(act, layers)([x] + $0).squared().sum() }
                        for i in params.indices { assertClose(ga[i], gb[i], relativeTolerance: tol * 10, absoluteTolerance: tol * 10, "mlp constant input \(act) gradient \(i)") }
                    }
                }
                // Second order (the reference's rules take over) and the Float64 finite-difference check.
                let xs = inputs(shapes([6], [3, 5, 2]), .float32)
                let h1 = gradient(at: xs) { p in gradient(at: p) { fused(act, 2)($0).squared().sum() }[0].squared().sum() }
                let h2 = gradient(at: xs) { p in gradient(at: p) { reference(act, 2)($0).squared().sum() }[0].squared().sum() }
                for i in xs.indices { assertClose(h1[i], h2[i], relativeTolerance: 1e-4, absoluteTolerance: 1e-4, "mlp second order \(act) \(i)") }
                let xs64 = inputs(shapes([4], [3, 5, 2]), .float64)
                for failure in GradientCheck.check(fused(act, 2), at: xs64, label: "mlp \(act)") { XCTFail(failure) }
            }
        }
    }

    func testGELU() {
        let reference: ([Tensor]) -> Tensor = { $0[0] * 0.5 * (($0[0] * (1 / 2.0.squareRoot())).erf() + 1) }
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 1e-6)] {
            compare("gelu \(dtype)", { $0[0].gelu() }, reference, at: inputs([[1000]], dtype).map { $0 * 3 }, tolerance: tol)
        }
        for failure in GradientCheck.check({ $0[0].gelu() }, at: inputs([[7]], .float64), label: "gelu") { XCTFail(failure) }
        for failure in GradientCheck.check({ $0[0].geluDerivative() }, at: inputs([[7]], .float64), label: "geluDerivative") { XCTFail(failure) }
    }

    func testSoftmaxCrossEntropy() {
        let labels = Tensor([2, 0, 6, 3, 6] as [Int32])
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 1e-5)] {
            for c in [7, 16, 65] {
                let l = Tensor(labels.int32s.map { $0 % Int32(c) })
                let ref: ([Tensor]) -> Tensor = { -$0[0].logSoftmax(axis: 1).gather(axis: 1, indices: l.reshaped(to: [5, 1])).reshaped(to: [5]) }
                compare("softmaxCrossEntropy \(dtype) C=\(c)", { Tensor.softmaxCrossEntropy(logits: $0[0], labels: l) }, ref,
                        at: inputs([[5, c]], dtype).map { $0 * 4 }, tolerance: tol)
            }
        }
        for failure in GradientCheck.check({ Tensor.softmaxCrossEntropy(logits: $0[0], labels: labels) }, at: inputs([[5, 7]], .float64),
                                           label: "softmaxCrossEntropy") { XCTFail(failure) }
    }

    func testPackedAttention() {
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 3e-5)] {
            for (t, causal) in [(5, true), (37, true), (70, false), (64, true)] {  // within a row block, across, several
                let xs = inputs([[2, t, 3 * 12]], dtype)
                compare("packedAttention \(dtype) T=\(t) causal=\(causal)", { Tensor.packedAttention($0[0], headCount: 3, causal: causal) },
                        { Tensor.packedAttentionReference($0[0], headCount: 3, causal: causal) }, at: xs, tolerance: tol)
            }
        }
        for failure in GradientCheck.check({ Tensor.packedAttention($0[0], headCount: 2, causal: true) }, at: inputs([[1, 3, 12]], .float64),
                                           label: "packedAttention") { XCTFail(failure) }
    }

    /// The row-blocked path of `attention` (causal or unmasked, no padding): longer sequences than
    /// one block, keys longer (KV cache) and shorter (rows with no visible key) than the queries.
    func testBlockedAttention() {
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 3e-5)] {
            for (t, s, causal) in [(40, 40, true), (33, 70, true), (50, 20, true), (45, 45, false)] {
                let xs = inputs([[1, 2, t, 8], [1, 2, s, 8], [1, 2, s, 5]], dtype)
                compare("attention \(dtype) T=\(t) S=\(s) causal=\(causal)",
                        { Tensor.attention(query: $0[0], key: $0[1], value: $0[2], causal: causal) },
                        { Tensor.attentionReference(query: $0[0], key: $0[1], value: $0[2], causal: causal) }, at: xs, tolerance: tol)
            }
        }
    }
}
