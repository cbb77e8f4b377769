import XCTest
import FluxionCore

final class TensorTests: XCTestCase {
    func t(_ v: [Double], _ shape: [Int]) -> Tensor { Tensor(v, shape: shape, dtype: .float64) }

    func testCreation() {
        XCTAssertEqual(Tensor.zeros(shape: [2, 3]).scalars, [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Tensor.ones(shape: [2], dtype: .float64).dtype, .float64)
        XCTAssertEqual(Tensor.full(3, shape: [2], dtype: .int32).int32s, [3, 3])
        XCTAssertEqual(Tensor.arange(0, 5).scalars, [0, 1, 2, 3, 4])
        XCTAssertEqual(Tensor.arange(1, 2, step: 0.25, dtype: .float64).scalars, [1, 1.25, 1.5, 1.75])
        XCTAssertEqual(Tensor.linspace(0, 1, count: 5, dtype: .float64).scalars, [0, 0.25, 0.5, 0.75, 1])
        XCTAssertEqual(Tensor.eye(2).scalars, [1, 0, 0, 1])
        XCTAssertEqual(Tensor.lowerTriangularMask(rows: 2, columns: 3).scalars, [1, 0, 0, 1, 1, 0])
        XCTAssertEqual(Tensor.upperTriangularMask(rows: 2, columns: 2, diagonal: 1).scalars, [0, 1, 0, 0])
        XCTAssertEqual(Tensor.causalMask(2).scalars, [0, -.infinity, 0, 0])
        XCTAssertEqual(Tensor.oneHot(Tensor([2, 0] as [Int32]), classCount: 3).scalars, [0, 0, 1, 1, 0, 0])
        XCTAssertEqual(Tensor(2.5).shape, [])
        XCTAssertEqual(Tensor(2.5).item, 2.5)
    }

    func testSeededRandomIsReproducibleAndWellShaped() {
        var a = SeededGenerator(seed: 42), b = SeededGenerator(seed: 42)
        let x = Tensor.randomNormal(shape: [10_000], dtype: .float64, using: &a)
        XCTAssertEqual(x.scalars, Tensor.randomNormal(shape: [10_000], dtype: .float64, using: &b).scalars)
        XCTAssertEqual(x.mean().item, 0, accuracy: 0.03)
        XCTAssertEqual(x.variance().item, 1, accuracy: 0.05)
        let u = Tensor.randomUniform(shape: [10_000], low: 2, high: 4, dtype: .float64, using: &a)
        XCTAssertGreaterThanOrEqual(u.min().item, 2)
        XCTAssertLessThan(u.max().item, 4)
        XCTAssertEqual(u.mean().item, 3, accuracy: 0.03)
        var c = SeededGenerator(seed: 43)
        XCTAssertNotEqual(Tensor.randomNormal(shape: [4], using: &c).scalars, Tensor.randomNormal(shape: [4], using: &b).scalars)
    }

    func testCopyOnWrite() {
        let a = t([1, 2, 3], [3])
        var b = a
        b.withUnsafeMutableBufferPointer(as: Double.self) { $0[0] = 9 }
        XCTAssertEqual(a.scalars, [1, 2, 3])
        XCTAssertEqual(b.scalars, [9, 2, 3])
        let r = a.reshaped(to: [1, 3])   // shares storage until written
        var r2 = r
        r2.withUnsafeMutableBufferPointer(as: Double.self) { $0[2] = 0 }
        XCTAssertEqual(a.scalars, [1, 2, 3])
        XCTAssertEqual(r2.scalars, [1, 2, 0])
    }

    func testBroadcastingArithmetic() {
        let a = t([1, 2, 3, 4, 5, 6], [2, 3])
        XCTAssertEqual((a + t([10, 20, 30], [3])).scalars, [11, 22, 33, 14, 25, 36])
        XCTAssertEqual((a * t([2, 3], [2, 1])).scalars, [2, 4, 6, 12, 15, 18])
        XCTAssertEqual((t([1, 2], [2, 1]) - t([1, 2, 3], [1, 3])).scalars, [0, -1, -2, 1, 0, -1])
        XCTAssertEqual((1 / t([2, 4], [2])).scalars, [0.5, 0.25])
        XCTAssertEqual(Tensor.pow(t([2, 3], [2]), t([3], [1])).scalars, [8, 27])
        XCTAssertEqual(Tensor.minimum(a, t([3], [])).scalars, [1, 2, 3, 3, 3, 3])
        XCTAssertEqual(Tensor.maximum(a, t([3], [])).scalars, [3, 3, 3, 4, 5, 6])
        XCTAssertEqual((a .> t([2], [])).scalars, [0, 0, 1, 1, 1, 1])
        XCTAssertEqual(Tensor.where(a .<= 2, a, -a).scalars, [1, 2, -3, -4, -5, -6])
        XCTAssertEqual(broadcastShapes([2, 1, 4], [3, 1]), [2, 3, 4])
        XCTAssertNil(broadcastShapes([2, 3], [4]))
        // large enough to take the threaded path, with a broadcast row
        let big = Tensor.ones(shape: [300, 400], dtype: .float64) + Tensor.arange(0, 400, dtype: .float64)
        XCTAssertEqual(big.sum().item, 300 * (400 + 399 * 400 / 2))
    }

    func testUnaryValues() {
        let x = t([-2, -0.5, 0, 0.5, 2], [5])
        XCTAssertEqual(x.relu().scalars, [0, 0, 0, 0.5, 2])
        XCTAssertEqual(x.leakyRelu(negativeSlope: 0.1).scalars, [-0.2, -0.05, 0, 0.5, 2])
        XCTAssertEqual(x.abs().scalars, [2, 0.5, 0, 0.5, 2])
        XCTAssertEqual(x.sign().scalars, [-1, -1, 0, 1, 1])
        XCTAssertEqual(x.clamped(min: -1, max: 1).scalars, [-1, -0.5, 0, 0.5, 1])
        XCTAssertEqual(t([1000, -1000], [2]).sigmoid().scalars, [1, 0])
        XCTAssertEqual(t([1000, -1000], [2]).softplus().scalars, [1000, 0])
        XCTAssertEqual(t([0], [1]).gelu().scalars, [0])
        XCTAssertEqual(t([1], [1]).gelu().item, 0.8413447460685429, accuracy: 1e-12)
        XCTAssertEqual(t([1], [1]).gelu(approximate: true).item, 0.8411919906082768, accuracy: 1e-12)
        XCTAssertEqual(t([1], [1]).silu().item, 1 / (1 + Foundation.exp(-1.0)), accuracy: 1e-15)
        XCTAssertEqual(t([4], [1]).rsqrt().item, 0.5)
    }

    func testShapeOperations() {
        let a = t(Array(0..<24).map(Double.init), [2, 3, 4])
        XCTAssertEqual(a.permuted([2, 0, 1]).shape, [4, 2, 3])
        XCTAssertEqual(a.permuted([2, 0, 1]).scalar(at: [3, 1, 2]), a.scalar(at: [1, 2, 3]))
        XCTAssertEqual(a.transposed(0, 2).scalar(at: [1, 2, 0]), a.scalar(at: [0, 2, 1]))
        XCTAssertEqual(a.reshaped(to: [6, -1]).shape, [6, 4])
        XCTAssertEqual(a.sliced(lower: [1, 1, 2], upper: [2, 3, 4]).scalars, [18, 19, 22, 23])
        XCTAssertEqual(a[1][2].scalars, [20, 21, 22, 23])
        XCTAssertEqual(a.flipped(axes: [2])[0][0].scalars, [3, 2, 1, 0])
        XCTAssertEqual(t([1, 2], [2]).padded(before: [1], after: [2], value: 7).scalars, [7, 1, 2, 7, 7])
        XCTAssertEqual(t([1, 2], [2, 1]).expanded(to: [2, 3]).scalars, [1, 1, 1, 2, 2, 2])
        let c = Tensor.concatenate([t([1, 2], [1, 2]), t([3, 4, 5, 6], [2, 2])], axis: 0)
        XCTAssertEqual(c.shape, [3, 2])
        XCTAssertEqual(c.scalars, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(Tensor.stack([t([1, 2], [2]), t([3, 4], [2])], axis: 1).scalars, [1, 3, 2, 4])
        let parts = t([1, 2, 3, 4, 5], [5]).split(sizes: [2, 3], axis: 0)
        XCTAssertEqual(parts.map(\.scalars), [[1, 2], [3, 4, 5]])
        XCTAssertEqual(a.squeezed().shape, [2, 3, 4])
        XCTAssertEqual(a.unsqueezed(axis: -1).shape, [2, 3, 4, 1])
        XCTAssertEqual(a.sum(axis: 1, keepDims: true).summed(toShape: [1, 1, 4]).scalars, a.sum(axes: [0, 1]).scalars)
    }

    func testReductionValues() {
        let a = t([1, 5, 2, 8, 3, 0], [2, 3])
        XCTAssertEqual(a.sum(axis: 0).scalars, [9, 8, 2])
        XCTAssertEqual(a.sum(axis: 1, keepDims: true).shape, [2, 1])
        XCTAssertEqual(a.mean().item, 19.0 / 6, accuracy: 1e-15)
        XCTAssertEqual(a.max(axis: 1).scalars, [5, 8])
        XCTAssertEqual(a.min(axis: 0).scalars, [1, 3, 0])
        XCTAssertEqual(a.argmax(axis: 1).int32s, [1, 0])
        XCTAssertEqual(a.argmax(axis: 0).int32s, [1, 0, 0])
        XCTAssertEqual(a.cumulativeSum(axis: 1).scalars, [1, 6, 8, 8, 11, 11])
        XCTAssertEqual(a.cumulativeSum(axis: 1, reverse: true).scalars, [8, 7, 2, 11, 3, 0])
        XCTAssertEqual(t([1, 2, 3, 4], [4]).variance(unbiased: true).item, 5.0 / 3, accuracy: 1e-15)
        // logSumExp is stable for large values and handles all −∞ rows.
        XCTAssertEqual(t([1000, 1000], [2]).logSumExp().item, 1000 + Foundation.log(2.0), accuracy: 1e-9)
        XCTAssertEqual(t([-.infinity, -.infinity], [2]).logSumExp().item, -.infinity)
        let s = t([1, 2, 3, 1, 1, 1], [2, 3]).softmax()
        XCTAssertEqual(s.sum(axis: 1).scalars[0], 1, accuracy: 1e-15)
        XCTAssertEqual(s.scalars[3], 1.0 / 3, accuracy: 1e-15)
        // the 8-lane sum of a long row
        XCTAssertEqual(Tensor.ones(shape: [1, 1003], dtype: .float64).sum(axis: 1).item, 1003)
    }

    func testGatherScatterAndIndexSelect() {
        let x = t([1, 2, 3, 4, 5, 6], [2, 3])
        let idx = Tensor([2, 0, 1, 1] as [Int32], shape: [2, 2])
        XCTAssertEqual(x.gather(axis: 1, indices: idx).scalars, [3, 1, 5, 5])
        XCTAssertEqual(Tensor.zeros(shape: [2, 3], dtype: .float64).scatterAdding(axis: 1, indices: idx, source: t([1, 1, 1, 1], [2, 2])).scalars,
                       [1, 0, 1, 0, 2, 0])
        XCTAssertEqual(x.indexSelect(axis: 0, indices: Tensor([1, 1, 0] as [Int32])).scalars, [4, 5, 6, 4, 5, 6, 1, 2, 3])
        XCTAssertEqual(Tensor.zeros(shape: [2, 2], dtype: .float64).indexAdding(axis: 0, indices: Tensor([1, 1] as [Int32]), source: t([1, 2, 3, 4], [2, 2])).scalars,
                       [0, 0, 4, 6])
    }

    func testMatmulValues() {
        let a = t([1, 2, 3, 4, 5, 6], [2, 3]), b = t([1, 0, 0, 1, 1, 1], [3, 2])
        XCTAssertEqual(a.matmul(b).scalars, [4, 5, 10, 11])
        XCTAssertEqual(Tensor.matmul(a, a, transposeA: false, transposeB: true).scalars, [14, 32, 32, 77])
        XCTAssertEqual(Tensor.matmul(a, a, transposeA: true, transposeB: false).shape, [3, 3])
        // batch broadcasting: [2, 1, 2, 3] · [3, 3, 2] → [2, 3, 2, 2]
        let batched = Tensor.matmul(a.expanded(to: [2, 1, 2, 3]), b.expanded(to: [3, 3, 2]))
        XCTAssertEqual(batched.shape, [2, 3, 2, 2])
        XCTAssertEqual(batched[1][2].scalars, [4, 5, 10, 11])
        // float32 against a float64 reference, larger than one GEMM tile
        var rng = SeededGenerator(seed: 1)
        let p = Tensor.randomNormal(shape: [70, 50], dtype: .float64, using: &rng)
        let q = Tensor.randomNormal(shape: [50, 90], dtype: .float64, using: &rng)
        let exact = p.matmul(q).scalars
        let single = p.cast(to: .float32).matmul(q.cast(to: .float32)).scalars
        for (e, s) in zip(exact, single) { XCTAssertEqual(e, s, accuracy: 1e-4) }
        var naive = [Double](repeating: 0, count: 70 * 90)
        let ps = p.scalars, qs = q.scalars
        for i in 0..<70 { for j in 0..<90 { for k in 0..<50 { naive[i * 90 + j] += ps[i * 50 + k] * qs[k * 90 + j] } } }
        for (e, n) in zip(exact, naive) { XCTAssertEqual(e, n, accuracy: 1e-10) }
    }

    func testCastAndDescription() {
        let x = t([1.5, -2.25], [2])
        XCTAssertEqual(x.cast(to: .float32).floats, [1.5, -2.25])
        XCTAssertEqual(x.cast(to: .int32).int32s, [1, -2])
        XCTAssertEqual(Tensor([1, 2] as [Int32]).cast(to: .float64).scalars, [1, 2])
        XCTAssertEqual(t([1, 2], [1, 2]).description, "Tensor(float64, shape: [1, 2], [[1.0, 2.0]])")
    }
}

import Foundation
