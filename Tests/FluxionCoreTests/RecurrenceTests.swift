import XCTest
import FluxionCore
import _FluxionTestSupport

/// The fused LSTM recurrence against its reference built from primitives.
final class RecurrenceTests: XCTestCase {
    func inputs(_ dtype: DType, batch: Int = 3, steps: Int = 5, hidden: Int = 11) -> [Tensor] {
        var rng = SeededGenerator(seed: 2)
        return [Tensor.randomNormal(shape: [batch, steps, 4 * hidden], dtype: dtype, using: &rng),
                Tensor.randomNormal(shape: [4 * hidden, hidden], standardDeviation: 0.3, dtype: dtype, using: &rng),
                Tensor.randomNormal(shape: [batch, hidden], dtype: dtype, using: &rng),
                Tensor.randomNormal(shape: [batch, hidden], dtype: dtype, using: &rng)]
    }

    func fused(_ x: [Tensor]) -> [Tensor] {
        let r = Tensor.lstmRecurrence(x[0], recurrentWeight: x[1], hidden: x[2], cell: x[3])
        return [r.outputs, r.hidden, r.cell]
    }
    func reference(_ x: [Tensor]) -> [Tensor] {
        let r = Tensor.lstmRecurrenceReference(x[0], recurrentWeight: x[1], hidden: x[2], cell: x[3])
        return [r.outputs, r.hidden, r.cell]
    }

    func testFusedMatchesReference() {
        let saved = Runtime.threadCount
        defer { Runtime.threadCount = saved }
        // One thread and two (two blocks of sequences, split unevenly at batch 19).
        for (threads, batch) in [(1, 3), (2, 3), (2, 19)] {
        Runtime.threadCount = threads
        for (dtype, tol) in [(DType.float64, 1e-12), (.float32, 2e-5)] {
            for hidden in [11, 16] {  // a SIMD tail and whole vectors
                let x = inputs(dtype, batch: batch, hidden: hidden)
                let (a, b) = (fused(x), reference(x))
                for i in 0..<3 { assertClose(a[i], b[i], relativeTolerance: tol, absoluteTolerance: tol, "\(dtype) H=\(hidden) output \(i)") }
                var rng = SeededGenerator(seed: 5)
                let u = a.map { Tensor.randomNormal(shape: $0.shape, dtype: dtype, using: &rng) }
                func loss(_ outs: [Tensor]) -> Tensor {
                    zip(outs, u).map { ($0 * $1).sum() }.reduce(Tensor.zeros(shape: [], dtype: dtype), +)
                }
                let ga = gradient(at: x) { loss(self.fused($0)) }, gb = gradient(at: x) { loss(self.reference($0)) }
                for i in 0..<4 { assertClose(ga[i], gb[i], relativeTolerance: tol * 10, absoluteTolerance: tol * 10, "\(dtype) H=\(hidden) gradient \(i)") }
                // only the final state receives a cotangent
                let gc = gradient(at: x) { self.fused($0)[2].sum() }, gd = gradient(at: x) { self.reference($0)[2].sum() }
                for i in 0..<4 { assertClose(gc[i], gd[i], relativeTolerance: tol * 10, absoluteTolerance: tol * 10, "\(dtype) final-cell gradient \(i)") }
            }
        }
        }
    }

    func testGradientCheckFirstAndSecondOrder() {
        let x = inputs(.float64, batch: 2, steps: 3, hidden: 3)
        let f: ([Tensor]) -> Tensor = { xs in let r = Tensor.lstmRecurrence(xs[0], recurrentWeight: xs[1], hidden: xs[2], cell: xs[3]); return r.outputs * 2 + r.cell.unsqueezed(axis: 1) }
        for failure in GradientCheck.check(f, at: x, label: "lstmRecurrence") { XCTFail(failure) }
    }
    /// `lstmSequence` (input projection fused in) against `linear` + the reference recurrence:
    /// values and gradients of every input, one and two threads, with and without a bias, and with
    /// an input that is not differentiated; second order and the Float64 check through the
    /// reference path.
    func testFusedSequenceMatchesLinearPlusRecurrence() {
        func sequenceInputs(_ dtype: DType, batch: Int, hidden: Int, inputs: Int = 7, steps: Int = 5) -> [Tensor] {
            var rng = SeededGenerator(seed: 4)
            return [Tensor.randomNormal(shape: [batch, steps, inputs], dtype: dtype, using: &rng),
                    Tensor.randomNormal(shape: [4 * hidden, inputs], standardDeviation: 0.4, dtype: dtype, using: &rng),
                    Tensor.randomNormal(shape: [4 * hidden], standardDeviation: 0.3, dtype: dtype, using: &rng),
                    Tensor.randomNormal(shape: [4 * hidden, hidden], standardDeviation: 0.3, dtype: dtype, using: &rng),
                    Tensor.randomNormal(shape: [batch, hidden], dtype: dtype, using: &rng),
                    Tensor.randomNormal(shape: [batch, hidden], dtype: dtype, using: &rng)]
        }
        func fusedSequence(_ x: [Tensor], bias: Bool) -> [Tensor] {
            let r = Tensor.lstmSequence(x[0], inputWeight: x[1], bias: bias ? x[2] : nil, recurrentWeight: x[3], hidden: x[4], cell: x[5])
            return [r.outputs, r.hidden, r.cell]
        }
        func referenceSequence(_ x: [Tensor], bias: Bool) -> [Tensor] {
            let r = Tensor.lstmRecurrenceReference(Tensor.linear(x[0], weight: x[1], bias: bias ? x[2] : nil), recurrentWeight: x[3],
                                                   hidden: x[4], cell: x[5])
            return [r.outputs, r.hidden, r.cell]
        }
        let saved = Runtime.threadCount
        defer { Runtime.threadCount = saved }
        for (threads, batch) in [(1, 3), (2, 3), (2, 19)] {
            Runtime.threadCount = threads
            for hidden in [11, 16] {
                for bias in [true, false] {
                    let x = sequenceInputs(.float32, batch: batch, hidden: hidden)
                    let label = "threads=\(threads) B=\(batch) H=\(hidden) bias=\(bias)"
                    let (a, b) = (fusedSequence(x, bias: bias), referenceSequence(x, bias: bias))
                    for i in 0..<3 { assertClose(a[i], b[i], relativeTolerance: 2e-5, absoluteTolerance: 2e-5, "\(label) output \(i)") }
                    var rng = SeededGenerator(seed: 6)
                    let u = a.map { Tensor.randomNormal(shape: $0.shape, using: &rng) }
                    func loss(_ outs: [Tensor]) -> Tensor { zip(outs, u).map { ($0 * $1).sum() }.reduce(Tensor.zeros(shape: []), +) }
                    let ga = gradient(at: x) { loss(fusedSequence($0, bias: bias)) }, gb = gradient(at: x) { loss(referenceSequence($0, bias: bias)) }
                    for i in x.indices where bias || i != 2 {
                        assertClose(ga[i], gb[i], relativeTolerance: 2e-4, absoluteTolerance: 2e-4, "\(label) gradient \(i)")
                    }
                    // The input as a constant (data fed to a first layer): parameter gradients only.
                    let params = Array(x.dropFirst())
                    let gc = gradient(at: params) { loss(fusedSequence([x[0]] + $0, bias: bias)) }
                    let gd = gradient(at: params) { loss(referenceSequence([x[0]] + $0, bias: bias)) }
                    for i in params.indices where bias || i != 1 {
                        assertClose(gc[i], gd[i], relativeTolerance: 2e-4, absoluteTolerance: 2e-4, "\(label) constant-input gradient \(i)")
                    }
                }
            }
        }
        // Second order goes through the reference; Float64 finite differences.
        let x = sequenceInputs(.float32, batch: 2, hidden: 3, inputs: 2, steps: 3)
        let h1 = gradient(at: x) { p in gradient(at: p) { fusedSequence($0, bias: true)[0].squared().sum() }[1].squared().sum() }
        let h2 = gradient(at: x) { p in gradient(at: p) { referenceSequence($0, bias: true)[0].squared().sum() }[1].squared().sum() }
        for i in x.indices { assertClose(h1[i], h2[i], relativeTolerance: 1e-3, absoluteTolerance: 1e-4, "second order \(i)") }
        let x64 = sequenceInputs(.float64, batch: 2, hidden: 3, inputs: 2, steps: 3)
        for failure in GradientCheck.check({ fusedSequence($0, bias: true)[0] }, at: x64, label: "lstmSequence") { XCTFail(failure) }
    }
}
