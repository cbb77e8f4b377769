import XCTest
import FluxionCore
import _FluxionTestSupport

/// Every primitive (and the main composites) through the Float64 finite-difference check, at first
/// and second order; JVP against VJP. Each case is named so a failure says which one.
final class GradientCheckTests: XCTestCase {
    struct Case {
        let name: String
        let shapes: [[Int]]
        var range: ClosedRange<Double>? = nil
        var order = 2
        let f: ([Tensor]) -> Tensor
    }

    func run(_ cases: [Case], file: StaticString = #filePath, line: UInt = #line) {
        for (i, c) in cases.enumerated() {
            let xs = c.shapes.enumerated().map { Tensor.testInput($0.element, seed: UInt64(100 * i + $0.offset), range: c.range) }
            let failures = GradientCheck.check(c.f, at: xs, options: .init(order: c.order), label: c.name)
            for f in failures { XCTFail(f, file: file, line: line) }
        }
    }

    func testUnaryPrimitives() {
        let s = [[3, 4]]
        run([
            Case(name: "negate", shapes: s) { -$0[0] },
            Case(name: "exp", shapes: s) { $0[0].exp() },
            Case(name: "log", shapes: s, range: 0.5...3) { $0[0].log() },
            Case(name: "log1p", shapes: s, range: -0.5...3) { $0[0].log1p() },
            Case(name: "expm1", shapes: s) { $0[0].expm1() },
            Case(name: "sqrt", shapes: s, range: 0.5...3) { $0[0].sqrt() },
            Case(name: "rsqrt", shapes: s, range: 0.5...3) { $0[0].rsqrt() },
            Case(name: "abs", shapes: s, range: 0.2...2) { ($0[0] * Tensor([1.0, -1, 1, -1], shape: [4], dtype: .float64)).abs() },
            Case(name: "sin", shapes: s) { $0[0].sin() },
            Case(name: "cos", shapes: s) { $0[0].cos() },
            Case(name: "tanh", shapes: s) { $0[0].tanh() },
            Case(name: "sigmoid", shapes: s) { $0[0].sigmoid() },
            Case(name: "softplus", shapes: s) { $0[0].softplus() },
            Case(name: "relu", shapes: s, range: 0.1...1, order: 1) { ($0[0] * Tensor([1.0, -1, 1, -1], shape: [4], dtype: .float64)).relu() },
            Case(name: "leakyRelu", shapes: s, range: 0.1...1, order: 1) { ($0[0] * Tensor([1.0, -1, 1, -1], shape: [4], dtype: .float64)).leakyRelu(negativeSlope: 0.2) },
            Case(name: "erf", shapes: s) { $0[0].erf() },
            Case(name: "pow scalar 3.5", shapes: s, range: 0.5...2) { $0[0].pow(3.5) },
            Case(name: "pow scalar -1.5", shapes: s, range: 0.5...2) { $0[0].pow(-1.5) },
            Case(name: "square", shapes: s) { $0[0].squared() },
            Case(name: "silu", shapes: s) { $0[0].silu() },
            Case(name: "siluDerivative", shapes: s) { $0[0].siluDerivative() },
            Case(name: "gelu erf", shapes: s) { $0[0].gelu() },
            Case(name: "gelu tanh", shapes: s) { $0[0].gelu(approximate: true) },
            Case(name: "clamp", shapes: s, order: 1) { $0[0].clamped(min: -0.5, max: 0.5) },
            Case(name: "scalar unary on rank 0", shapes: [[]]) { ($0[0] * 2).exp() },
            Case(name: "empty tensor", shapes: [[0, 3]]) { $0[0].exp() },
        ])
    }

    func testBinaryPrimitivesWithBroadcasting() {
        let pairs: [[[Int]]] = [[[3, 4], [3, 4]], [[3, 4], [4]], [[3, 1], [1, 4]], [[2, 1, 4], [3, 1]], [[], [2, 3]], [[2, 3], [1]]]
        var cases: [Case] = []
        for p in pairs {
            cases += [
                Case(name: "add \(p)", shapes: p) { $0[0] + $0[1] },
                Case(name: "subtract \(p)", shapes: p) { $0[0] - $0[1] },
                Case(name: "multiply \(p)", shapes: p) { $0[0] * $0[1] },
                Case(name: "divide \(p)", shapes: p, range: 0.5...2) { $0[0] / $0[1] },
                Case(name: "pow \(p)", shapes: p, range: 0.5...2) { Tensor.pow($0[0], $0[1]) },
                Case(name: "minimum \(p)", shapes: p, order: 1) { Tensor.minimum($0[0], $0[1]) },
                Case(name: "maximum \(p)", shapes: p, order: 1) { Tensor.maximum($0[0], $0[1]) },
                Case(name: "where \(p)", shapes: p) { x in
                    Tensor.where(x[0] .> x[1].detached, x[0] * x[1], x[1].sin())
                },
            ]
        }
        cases.append(Case(name: "scalar literal mix", shapes: [[2, 3]]) { 2 - 3 / ($0[0] * $0[0] + 1) + 0.5 * $0[0] })
        run(cases)
    }

    func testReductions() {
        var cases: [Case] = []
        for (shape, axes) in [([3, 4, 5], [1]), ([3, 4, 5], [0, 2]), ([3, 4, 5], nil), ([3, 1, 5], [1]), ([6], [0])] as [([Int], [Int]?)] {
            for keep in [false, true] {
                let tag = "\(shape) axes \(axes.map { "\($0)" } ?? "all") keepDims \(keep)"
                cases += [
                    Case(name: "sum \(tag)", shapes: [shape]) { $0[0].sum(axes: axes, keepDims: keep) * 1.5 },
                    Case(name: "mean \(tag)", shapes: [shape]) { $0[0].mean(axes: axes, keepDims: keep) },
                    Case(name: "variance \(tag)", shapes: [shape]) { $0[0].variance(axes: axes, keepDims: keep) },
                    Case(name: "max \(tag)", shapes: [shape], order: 1) { $0[0].max(axes: axes, keepDims: keep) },
                    Case(name: "min \(tag)", shapes: [shape], order: 1) { $0[0].min(axes: axes, keepDims: keep) },
                    Case(name: "logSumExp \(tag)", shapes: [shape]) { $0[0].logSumExp(axes: axes, keepDims: keep) },
                ]
            }
        }
        cases += [
            Case(name: "unbiased variance", shapes: [[4, 5]]) { $0[0].variance(axes: [1], unbiased: true) },
            Case(name: "softmax last axis", shapes: [[3, 5]]) { $0[0].softmax(axis: -1) },
            Case(name: "softmax axis 0", shapes: [[3, 5]]) { $0[0].softmax(axis: 0) },
            Case(name: "logSoftmax", shapes: [[2, 3, 4]]) { $0[0].logSoftmax(axis: 1) },
            Case(name: "cumulativeSum axis 1", shapes: [[3, 4, 2]]) { $0[0].cumulativeSum(axis: 1) },
            Case(name: "cumulativeSum reverse", shapes: [[5]]) { $0[0].cumulativeSum(axis: 0, reverse: true) },
            Case(name: "sum of squares (second order non-trivial)", shapes: [[4]]) { ($0[0] * $0[0] * $0[0]).sum() },
        ]
        run(cases)
    }

    func testShapePrimitives() {
        run([
            Case(name: "reshape", shapes: [[2, 6]]) { $0[0].reshaped(to: [3, -1]) * $0[0].reshaped(to: [3, 4]) },
            Case(name: "permute", shapes: [[2, 3, 4]]) { $0[0].permuted([2, 0, 1]).sin() },
            Case(name: "transpose", shapes: [[3, 4]]) { $0[0].transposed() * $0[0].transposed() },
            Case(name: "expand", shapes: [[3, 1]]) { $0[0].expanded(to: [2, 3, 4]).cos() },
            Case(name: "squeeze/unsqueeze", shapes: [[3, 1, 2]]) { $0[0].squeezed(axis: 1).unsqueezed(axis: 0).exp() },
            Case(name: "slice", shapes: [[4, 5]]) { $0[0].sliced(lower: [1, 0], upper: [3, 4]).squared() },
            Case(name: "slice axis", shapes: [[4, 5]]) { $0[0].sliced(axis: -1, 2..<5).tanh() },
            Case(name: "subscript", shapes: [[4, 5]]) { $0[0][2] * $0[0][-1] },
            Case(name: "concatenate", shapes: [[2, 3], [2, 2]]) { Tensor.concatenate([$0[0], $0[1].sin()], axis: 1).squared() },
            Case(name: "stack", shapes: [[2, 3], [2, 3]]) { Tensor.stack([$0[0], $0[1] * $0[0]], axis: 1) },
            Case(name: "split", shapes: [[5, 2]]) { x in let p = x[0].split(sizes: [2, 3], axis: 0); return p[0].sum() * p[1].sum(axis: 0) },
            Case(name: "unstacked axis 1", shapes: [[2, 3, 2]]) { x in let p = x[0].unstacked(axis: 1); return p[0] * p[2].exp() },
            Case(name: "unstacked, one slice unused", shapes: [[3, 2]]) { $0[0].unstacked()[1].sin() },
            Case(name: "pad", shapes: [[2, 3]]) { $0[0].padded(before: [1, 0], after: [0, 2], value: 0.5).squared() },
            Case(name: "flip", shapes: [[3, 4]]) { $0[0].flipped(axes: [0, 1]) * $0[0] },
        ])
    }

    func testIndexingPrimitives() {
        let idx = Tensor([0, 2, 2, 1, 0, 0] as [Int32], shape: [2, 3])
        let rows = Tensor([3, 0, 3, 1] as [Int32])
        run([
            Case(name: "gather axis 1", shapes: [[2, 4]]) { $0[0].gather(axis: 1, indices: idx).squared() },
            Case(name: "gather axis 0", shapes: [[3, 3]]) { $0[0].gather(axis: 0, indices: idx).exp() },
            Case(name: "scatterAdding", shapes: [[2, 4], [2, 3]]) { x in x[0].scatterAdding(axis: 1, indices: idx, source: x[1] * x[1]) * x[0] },
            Case(name: "indexSelect axis 0", shapes: [[4, 3]]) { $0[0].indexSelect(axis: 0, indices: rows).sin() },
            Case(name: "indexSelect axis 1", shapes: [[2, 4, 2]]) { $0[0].indexSelect(axis: 1, indices: rows).squared() },
            Case(name: "indexAdding", shapes: [[4, 3], [4, 3]]) { x in x[0].indexAdding(axis: 0, indices: rows, source: x[1].tanh()) * x[0] },
        ])
    }

    func testCastAndSign() {
        // float32 round trip: linear, exact only to float precision, so a wide step and loose tolerance.
        let xs = [Tensor.testInput([3, 2], seed: 1)]
        let cast = GradientCheck.check({ $0[0].cast(to: .float32).cast(to: .float64) * $0[0] }, at: xs,
                                       options: .init(epsilon: 1e-2, relativeTolerance: 1e-4, absoluteTolerance: 1e-5), label: "cast")
        for f in cast { XCTFail(f) }
        run([Case(name: "sign", shapes: [[4]], range: 0.2...1) { ($0[0] - 0.6).sign() * $0[0] }])
    }

    func testMatmul() {
        var cases: [Case] = []
        for ta in [false, true] {
            for tb in [false, true] {
                let a = ta ? [4, 3] : [3, 4], b = tb ? [5, 4] : [4, 5]
                cases.append(Case(name: "matmul ta=\(ta) tb=\(tb)", shapes: [a, b]) { Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) })
                cases.append(Case(name: "batched matmul ta=\(ta) tb=\(tb)", shapes: [[2] + a, [2] + b]) { Tensor.matmul($0[0], $0[1], transposeA: ta, transposeB: tb) })
            }
        }
        cases += [
            Case(name: "broadcast batch matmul", shapes: [[2, 1, 3, 4], [3, 4, 2]]) { Tensor.matmul($0[0], $0[1]) },
            Case(name: "matrix · vector", shapes: [[3, 4], [4]]) { $0[0].matmul($0[1]) },
            Case(name: "vector · matrix", shapes: [[3], [3, 4]]) { $0[0].matmul($0[1]) },
            Case(name: "vector · vector", shapes: [[3], [3]]) { $0[0].matmul($0[1]) },
            Case(name: "MLP", shapes: [[5, 3], [3, 4], [4], [4, 2]]) { x in (x[0].matmul(x[1]) + x[2]).tanh().matmul(x[3]) },
        ]
        run(cases)
    }
}
