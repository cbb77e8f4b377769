import XCTest
import FluxionCore
import FluxionKernels
import _FluxionTestSupport

final class TransformTests: XCTestCase {
    func assertClose(_ a: [Double], _ b: [Double], tolerance: Double = 1e-9, _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(message): counts differ", file: file, line: line)
        for (x, y) in zip(a, b) where Swift.abs(x - y) > tolerance * Swift.max(1, Swift.abs(y)) {
            XCTFail("\(message): \(a) vs expected \(b)", file: file, line: line)
            return
        }
    }

    func testGradientOfKnownFunction() {
        // f(x, y) = x²y + sin(y): ∇f = (2xy, x² + cos y)
        let p = Tensor([1.5, -0.5], dtype: .float64)
        let g = gradient(at: p) { q in q[0] * q[0] * q[1] + q[1].sin() }
        assertClose(g.scalars, [2 * 1.5 * -0.5, 1.5 * 1.5 + Foundation.cos(-0.5)])
    }

    func testSeedDirectionalDerivativeExample() {
        // SPEC §12: f = x² + y² at (1, 2): along (3, 4)/5 the derivative is 4.4; along (1, 0) it is 2.
        let p = Tensor([1.0, 2.0], dtype: .float64)
        let f: (Tensor) -> Tensor = { q in (q * q).sum() }
        XCTAssertEqual(jvp(at: p, along: Tensor([0.6, 0.8], dtype: .float64), of: f).differential.item, 4.4, accuracy: 1e-12)
        XCTAssertEqual(jvp(at: p, along: Tensor([1.0, 0.0], dtype: .float64), of: f).differential.item, 2.0, accuracy: 1e-12)
        let g = gradient(at: p, of: f)
        let norm = (g * g).sum().sqrt()
        XCTAssertEqual(jvp(at: p, along: g / norm, of: f).differential.item, 2 * 5.0.squareRoot(), accuracy: 1e-12)
    }

    func testGradientOfGradient() {
        // f(x) = x⁴: f'' = 12x²
        let x = Tensor([0.7, -1.3], dtype: .float64)
        let second = gradient(at: x) { x in gradient(at: x) { ($0 * $0 * $0 * $0).sum() }.sum() }
        assertClose(second.scalars, [12 * 0.49, 12 * 1.69])
        // third order: f''' = 24x
        let third = gradient(at: x) { x in gradient(at: x) { x in gradient(at: x) { ($0 * $0 * $0 * $0).sum() }.sum() }.sum() }
        assertClose(third.scalars, [24 * 0.7, -24 * 1.3])
    }

    func testHessianVectorProductsAgree() {
        // f(x) = Σ exp(x_i x_{i+1}) + x·x: forward-over-reverse, reverse-over-reverse and dense Hessian.
        let x = Tensor.testInput([5], seed: 3), v = Tensor.testInput([5], seed: 4)
        let f: (Tensor) -> Tensor = { x in (x[0..<4] * x[1..<5]).exp().sum() + (x * x).sum() }
        let forwardOverReverse = jvp(at: x, along: v) { gradient(at: $0, of: f) }.differential
        let reverseOverReverse = gradient(at: x) { x in (gradient(at: x, of: f) * v).sum() }
        let reverseOverForward = gradient(at: x) { x in jvp(at: x, along: v, of: f).differential }
        assertClose(forwardOverReverse.scalars, reverseOverReverse.scalars, "fwd-over-rev vs rev-over-rev")
        assertClose(reverseOverForward.scalars, reverseOverReverse.scalars, "rev-over-fwd vs rev-over-rev")
        // forward over forward along v, v: vᵀHv
        let vHv = jvp(at: x, along: v) { x in jvp(at: x, along: v, of: f).differential }.differential.item
        XCTAssertEqual(vHv, (forwardOverReverse * v).sum().item, accuracy: 1e-9)
    }

    func testNoPerturbationConfusion() {
        // d/dx [x · d/dy (x + y)] at y = 1 is 1 (a confused implementation gives 2).
        let x = Tensor([1.0], dtype: .float64)
        let d = jvp(at: x, along: Tensor([1.0], dtype: .float64)) { x in
            x * jvp(at: Tensor([1.0], dtype: .float64), along: Tensor([1.0], dtype: .float64)) { y in x + y }.differential
        }.differential
        XCTAssertEqual(d.item, 1, accuracy: 1e-12)
        let r = gradient(at: x) { x in (x * gradient(at: Tensor([1.0], dtype: .float64)) { y in (x + y).sum() }).sum() }
        XCTAssertEqual(r.item, 1, accuracy: 1e-12)
    }

    func testGradientOverSeveralInputsAndTrees() {
        let a = Tensor([1.0, 2.0], dtype: .float64), b = Tensor([3.0, -1.0], dtype: .float64)
        let (value, (ga, gb)) = valueWithGradient(at: a, b) { a, b in (a * b).sum() }
        XCTAssertEqual(value.item, 1)
        assertClose(ga.scalars, b.scalars)
        assertClose(gb.scalars, a.scalars)
        let tree = [a, b, Tensor([0.5], dtype: .float64)]
        let g = gradient(at: tree) { t in (t[0] * t[1]).sum() * t[2].sum() }
        assertClose(g[2].scalars, [1])
        assertClose(g[0].scalars, [1.5, -0.5])
        XCTAssertEqual(tree.namedParameters.map(\.name), ["0", "1", "2"])
        XCTAssertEqual(tree.parameterCount, 5)
        // An input the function ignores gets a zero gradient of its own shape.
        let unused = gradient(at: a, b) { a, _ in a.sum() }.1
        XCTAssertEqual(unused.shape, [2])
        assertClose(unused.scalars, [0, 0])
    }

    func testVJPWithCotangentAndPullbackReuse() {
        let x = Tensor([1.0, 2.0, 3.0], dtype: .float64)
        let (y, pullback) = valueWithPullback(at: x) { x in x * x }
        assertClose(y.scalars, [1, 4, 9])
        assertClose(pullback(Tensor([1.0, 0, 0], dtype: .float64)).scalars, [2, 0, 0])
        assertClose(pullback(Tensor([0.0, 1, 1], dtype: .float64)).scalars, [0, 4, 6])
    }

    func testWithoutDerivativesIsConstant() {
        let x = Tensor([2.0], dtype: .float64)
        let g = gradient(at: x) { x in x * withoutDerivatives { x * x } }
        XCTAssertEqual(g.item, 4, accuracy: 1e-12)  // d/dx (x · c) with c = x² held constant
        let h = gradient(at: x) { x in x * (x * x).detached }
        XCTAssertEqual(h.item, 4, accuracy: 1e-12)
    }

    func testRecordingExistsOnlyInsideTransforms() {
        let x = Tensor([1.0, 2.0], dtype: .float64)
        XCTAssertFalse((x * x).isTracked)
        var inside = false
        let (v, g) = valueWithGradient(at: x) { x in
            inside = (x * x).isTracked
            return (x * x).sum()
        }
        XCTAssertTrue(inside)
        XCTAssertFalse(v.isTracked)
        XCTAssertFalse(g.isTracked)
        let (jv, jt) = jvp(at: x, along: x) { $0.exp() }
        XCTAssertFalse(jv.isTracked)
        XCTAssertFalse(jt.isTracked)
    }

    func testLongChainDoesNotOverflowTheStack() {
        // 100,000 primitives in one chain: the backward walk is iterative.
        var x = Tensor([1.0], dtype: .float64)
        let n = 100_000
        let g = gradient(at: x) { x in
            var y = x
            for _ in 0..<n { y = y * 1.00001 }
            return y.sum()
        }
        XCTAssertEqual(g.item, Foundation.pow(1.00001, Double(n)), accuracy: 1e-6)
        x = Tensor([0.5], dtype: .float64)
        let d = jvp(at: x, along: Tensor([1.0], dtype: .float64)) { x in
            var y = x
            for _ in 0..<n { y = y + x * 1e-5 }
            return y
        }.differential
        XCTAssertEqual(d.item, 1 + Double(n) * 1e-5, accuracy: 1e-9)
    }

    func testGradientMemoryIsReleased() {
        let before = MemoryAccounting.liveBytes
        do {
            let x = Tensor.zeros(shape: [1000])
            _ = gradient(at: x) { x in (x.exp() * x).sum() }
        }
        XCTAssertEqual(MemoryAccounting.liveBytes, before, "the graph must be freed when the transform ends")
    }

    func testNestedTransformsReleaseTheirGraphs() {
        // Reverse over forward used to leak: a node kept its outputs' tangents, whose own graph
        // led back to the node. Every nesting order must leave nothing behind.
        var rng = SeededGenerator(seed: 0)
        let w = Tensor.randomNormal(shape: [16, 16], using: &rng), x = Tensor.randomNormal(shape: [8, 16], using: &rng)
        let f: (Tensor, Tensor) -> Tensor = { x, w in Tensor.matmul(x, w).tanh().squared().sum() }
        let before = MemoryAccounting.liveBytes
        for _ in 0..<3 {
            _ = gradient(at: w) { w in jvp(at: x, along: x) { f($0, w) }.differential }                 // reverse over forward
            _ = jvp(at: w, along: w) { w in gradient(at: x) { f($0, w) } }                               // forward over reverse
            _ = gradient(at: w) { w in (gradient(at: x) { f($0, w) } * x).sum() }                        // reverse over reverse
            _ = jvp(at: w, along: w) { w in jvp(at: x, along: x) { f($0, w) }.differential }           // forward over forward
        }
        XCTAssertEqual(MemoryAccounting.liveBytes, before, "every nested transform must free its graph")
    }

    func testMemoryAccountingCountsStorage() {
        MemoryAccounting.resetPeak()
        let base = MemoryAccounting.liveBytes
        do {
            let t = Tensor.zeros(shape: [1024], dtype: .float64)
            XCTAssertEqual(MemoryAccounting.liveBytes - base, 8192)
            _ = t
        }
        XCTAssertEqual(MemoryAccounting.liveBytes, base)
        XCTAssertGreaterThanOrEqual(MemoryAccounting.peakBytes - base, 8192)
    }

    func testFloat32Gradients() {
        let x = Tensor([Float(0.5), -1.5])
        let g = gradient(at: x) { ($0 * $0).sum() }
        XCTAssertEqual(g.dtype, .float32)
        XCTAssertEqual(g.floats, [1.0, -3.0])
    }
}

import Foundation
