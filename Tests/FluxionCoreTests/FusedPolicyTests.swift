import XCTest
@testable import FluxionCore

/// NOTE(6): every fused primitive runs its kernel or its reference, never both — the kernel under
/// at most one reverse transform and no forward level, the reference otherwise.
final class FusedPolicyTests: XCTestCase {
    /// (kernel runs, reference runs) of fused primitives during `body`.
    func runs(_ body: () -> Void) -> (kernel: Int, reference: Int) {
        let ctx = ADContext.current
        let (k0, r0) = (ctx.fusedKernelRuns, ctx.fusedReferenceRuns)
        body()
        return (ctx.fusedKernelRuns - k0, ctx.fusedReferenceRuns - r0)
    }

    /// One application of each fused primitive of a scalar function of x [4, 6] (Float32).
    func everyFused(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
        let m = Tensor.mlp(x, weights: [w, w], biases: [b, b], activation: .silu)          // mlp
        let n = Tensor.layerNorm(m, normalizedShape: [6], weight: b, bias: b, epsilon: 1e-5) // layerNorm
        let s = n.silu()                                                                      // silu
        let q = s.reshaped(to: [1, 1, 4, 6])
        let a = Tensor.attention(query: q, key: q, value: q, causal: true)                    // attention
        let p = Tensor.packedAttention(Tensor.concatenate([s, s, s], axis: 1).reshaped(to: [1, 4, 18]), headCount: 2) // packed
        let w4 = Tensor.concatenate([w, w, w, w], axis: 0)                                   // [4H, H], H = 6
        let (h, _, _) = Tensor.lstmSequence(s.reshaped(to: [1, 4, 6]), inputWeight: w4, bias: nil, recurrentWeight: w4,
                                            hidden: Tensor.zeros(shape: [1, 6]), cell: Tensor.zeros(shape: [1, 6]))  // lstmSequence
        let ce = Tensor.softmaxCrossEntropy(logits: s, labels: Tensor([0, 1, 2, 3] as [Int32]))  // cross-entropy
        return a.sum() + p.sum() + h.sum() + ce.sum()
    }

    func testKernelOrReferenceNeverBoth() {
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.randomNormal(shape: [4, 6], using: &rng)
        let w = Tensor.randomNormal(shape: [6, 6], standardDeviation: 0.3, using: &rng)
        let b = Tensor.randomNormal(shape: [6], using: &rng)
        let fused = 7
        // No transform, and plain first-order gradients: kernels only.
        XCTAssertEqual(runs { _ = everyFused(x, w, b) }.reference, 0)
        let first = runs { _ = gradient(at: [x, w, b]) { xs in self.everyFused(xs[0], xs[1], xs[2]) } }
        XCTAssertEqual(first.kernel, fused)
        XCTAssertEqual(first.reference, 0)
        // Forward mode (jvp), reverse over forward, forward over reverse, reverse over reverse: references only.
        let v = Tensor.ones(like: x)
        for (name, body) in [
            ("jvp", { _ = jvp(at: x, along: v) { self.everyFused($0, w, b) } }),
            ("reverse over forward", { _ = gradient(at: w) { w in jvp(at: x, along: v) { self.everyFused($0, w, b) }.differential } }),
            ("forward over reverse", { _ = jvp(at: x, along: v) { x in gradient(at: x) { self.everyFused($0, w, b) } } }),
            ("reverse over reverse", { _ = gradient(at: x) { x in (gradient(at: x) { self.everyFused($0, w, b) } * v).sum() } }),
        ] as [(String, () -> Void)] {
            let r = runs(body)
            XCTAssertEqual(r.kernel, 0, "\(name): a kernel ran")
            XCTAssertGreaterThanOrEqual(r.reference, fused, "\(name): references")
        }
    }
}
