import XCTest
import FluxionCore
import FluxionKernels
import _FluxionTestSupport

final class CheckpointTests: XCTestCase {
    struct Block: ParameterTree {
        var weight: Tensor
        var bias: Tensor
        mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
            body(Self.join(prefix, "weight"), &weight)
            body(Self.join(prefix, "bias"), &bias)
        }
        func callAsFunction(_ x: Tensor) -> Tensor { (x.matmul(weight) + bias).tanh() }
    }

    func blocks(_ n: Int, width: Int, dtype: DType = .float64) -> [Block] {
        var rng = SeededGenerator(seed: 3)
        return (0..<n).map { _ in
            Block(weight: Tensor.randomNormal(shape: [width, width], standardDeviation: 1 / Double(width).squareRoot(), dtype: dtype, using: &rng),
                  bias: Tensor.randomNormal(shape: [width], standardDeviation: 0.1, dtype: dtype, using: &rng))
        }
    }

    func testGradientsEqualPlainBackpropagation() {
        let bs = blocks(9, width: 6)
        let x = Tensor.testInput([4, 6], seed: 1)
        let plain = gradient(at: bs, x) { bs, x in bs.reduce(x) { $1($0) }.squared().sum() }
        let checkpointed = gradient(at: bs, x) { bs, x in checkpointedSequence(bs, x) { $0($1) }.squared().sum() }
        XCTAssertEqual(checkpointed.1.scalars, plain.1.scalars)
        for (a, b) in zip(checkpointed.0.namedParameters, plain.0.namedParameters) { XCTAssertEqual(a.value.scalars, b.value.scalars, a.name) }
    }

    func testComposesWithNestedGradientsAndJVP() {
        let b = blocks(1, width: 3)[0]
        let x = Tensor.testInput([3], seed: 2), v = Tensor.testInput([3], seed: 3)
        let f: (Tensor) -> Tensor = { x in b(b(x)).sum() }
        let fc: (Tensor) -> Tensor = { x in checkpoint(b, x) { b, x in b(b(x)) }.sum() }
        // second derivative (Hessian-vector product, reverse over reverse and forward over reverse)
        let hvPlain = gradient(at: x) { x in (gradient(at: x, of: f) * v).sum() }
        let hvCheck = gradient(at: x) { x in (gradient(at: x, of: fc) * v).sum() }
        for (a, e) in zip(hvCheck.scalars, hvPlain.scalars) { XCTAssertEqual(a, e, accuracy: 1e-12) }
        let fwd = jvp(at: x, along: v) { gradient(at: $0, of: fc) }.differential
        for (a, e) in zip(fwd.scalars, hvPlain.scalars) { XCTAssertEqual(a, e, accuracy: 1e-12) }
        XCTAssertEqual(jvp(at: x, along: v) { x in gradient(at: b) { b in checkpoint(b, x) { $0($1) }.sum() }.weight.sum() }.differential.item,
                       jvp(at: x, along: v) { x in gradient(at: b) { b in b(x).sum() }.weight.sum() }.differential.item, accuracy: 1e-12)
        // first-order finite-difference check through a checkpoint
        for failure in GradientCheck.check({ xs in checkpoint(b, xs[0]) { b, x in b(x).exp() } }, at: [x], label: "checkpoint") {
            XCTFail(failure)
        }
    }

    func testDropoutInsideCheckpointReplaysTheRandomState() {
        let b = blocks(1, width: 5)[0]
        let x = Tensor.testInput([8, 5], seed: 4)
        func dropout(_ h: Tensor, _ rng: inout SeededGenerator) -> Tensor {
            h * (Tensor.randomUniform(shape: h.shape, dtype: h.dtype, using: &rng) .>= 0.3) * (1 / 0.7)
        }
        var r1 = SeededGenerator(seed: 9), r2 = SeededGenerator(seed: 9)
        let plain = gradient(at: b) { b in dropout(b(x), &r1).sum() }
        let checked = gradient(at: b) { b in checkpoint(b, x, using: &r2) { b, x, rng in dropout(b(x), &rng) }.sum() }
        XCTAssertEqual(checked.weight.scalars, plain.weight.scalars)
        XCTAssertEqual(r1, r2, "the caller's generator advances as without checkpointing")
    }

    /// SPEC §4: 100 blocks of width 512, batch 256 — identical gradients, at most 2n block
    /// evaluations, peak activation memory ≤ 25% of plain backpropagation.
    func testChainOf100BlocksUsesSublinearMemory() {
        let n = 100
        let bs = blocks(n, width: 512, dtype: .float32)
        var rng = SeededGenerator(seed: 5)
        let x = Tensor.randomNormal(shape: [256, 512], using: &rng)
        var evaluations = 0
        let apply: (Block, Tensor) -> Tensor = { b, h in evaluations += 1; return b(h) }
        // Activation memory: the peak above what was live before, less the parameter gradients
        // (which both runs must produce). Subtracting all of them is conservative for the ratio.
        let gradientBytes = bs.parameterCount * 4
        func peak(_ run: () -> [Block]) -> (Int, [Block]) {
            let base = MemoryAccounting.liveBytes
            MemoryAccounting.resetPeak()
            let g = run()
            return (MemoryAccounting.peakBytes - base - gradientBytes, g)
        }
        let (plainPeak, plain) = peak { gradient(at: bs) { bs in bs.reduce(x) { apply($1, $0) }.sum() } }
        evaluations = 0
        let (checkPeak, checked) = peak { gradient(at: bs) { bs in checkpointedSequence(bs, x, apply).sum() } }
        XCTAssertLessThanOrEqual(evaluations, 2 * n)
        for (a, b) in zip(checked, plain) {
            let d = (a.weight - b.weight).abs().max().item, s = b.weight.abs().max().item
            XCTAssertLessThanOrEqual(d, 1e-6 * s)
        }
        XCTAssertLessThanOrEqual(Double(checkPeak), 0.25 * Double(plainPeak), "peak \(checkPeak) vs plain \(plainPeak)")
    }
}
