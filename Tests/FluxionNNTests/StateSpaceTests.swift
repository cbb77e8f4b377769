import XCTest
import Foundation
import FluxionNN
import _FluxionTestSupport

/// S4D against our transcription of state-spaces' models/s4/s4d.py (Tools/make_ssm_fixtures.py):
/// output, input gradient and every parameter gradient, Float32.
final class StateSpaceTests: XCTestCase {
    func testS4DMatchesPyTorch() throws {
        for (name, h, n) in [("s4d", 6, 8), ("s4d_long", 4, 4)] {
            let f = try Fixture.load(name)
            var rng = SeededGenerator(seed: 0)
            var layer = S4DLayer(modelSize: h, stateSize: n, using: &rng)
            try layer.load(from: f.entries(withPrefix: "param."))
            let x = f.tensor("input"), u = f.tensor("cotangent")
            assertClose(layer(x), f.tensor("output"), relativeTolerance: 1e-4, absoluteTolerance: 1e-5, "\(name) output")
            let (g, gx) = gradient(at: layer, x) { l, x in (l(x) * u).sum() }
            assertClose(gx, f.tensor("grad.input"), relativeTolerance: 1e-4, absoluteTolerance: 1e-4, "\(name) input gradient")
            for (p, t) in g.namedParameters {
                assertClose(t, f.tensor("grad.param." + p), relativeTolerance: 2e-4, absoluteTolerance: 2e-4, "\(name) gradient of \(p)")
            }
        }
    }

    func testS4DInitialisationAndNames() {
        var rng = SeededGenerator(seed: 1)
        let layer = S4DLayer(modelSize: 3, stateSize: 8, using: &rng)
        XCTAssertEqual(layer.namedParameters.map(\.name), ["D", "kernel.C", "kernel.log_dt", "kernel.log_A_real", "kernel.A_imag",
                                                           "output_linear.0.weight", "output_linear.0.bias"])
        for (k, a) in layer.AImag.scalars.prefix(8).enumerated() { XCTAssertEqual(a, Double.pi * Double(k % 4), accuracy: 1e-6, "A_imag = πn") }
        XCTAssertTrue(layer.logAReal.scalars.allSatisfy { Swift.abs($0 - Foundation.log(0.5)) < 1e-6 }, "Re A = −½")
        XCTAssertTrue(layer.logDt.scalars.allSatisfy { $0 >= Foundation.log(1e-3) - 1e-6 && $0 <= Foundation.log(1e-1) + 1e-6 })
    }

    func testS4DStepsEqualTheConvolution() {
        var rng = SeededGenerator(seed: 2)
        var layer = S4DLayer(modelSize: 3, stateSize: 8, dtype: .float64, using: &rng)
        layer.logDt = Tensor([-0.5, -1.5, -3.0], dtype: .float64)
        let u = Tensor.randomNormal(shape: [2, 20, 3], dtype: .float64, using: &rng)
        let full = layer(u)
        var state = layer.initialState(batch: 2)
        for t in 0..<20 {
            let (y, next) = layer.step(u.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), state: state)
            assertClose(y, full.sliced(axis: 1, t..<(t + 1)).squeezed(axis: 1), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "step \(t)")
            state = next
        }
    }

    func testS4DFloat64GradientCheck() {
        var rng = SeededGenerator(seed: 3)
        let layer = S4DLayer(modelSize: 2, stateSize: 4, dtype: .float64, using: &rng)
        let u = Tensor.randomNormal(shape: [1, 6, 2], dtype: .float64, using: &rng)
        let failures = GradientCheck.check({ xs in
            var l = layer
            (l.C, l.logDt, l.logAReal, l.AImag, l.D) = (xs[1], xs[2], xs[3], xs[4], xs[5])
            return l(xs[0]).squared().sum()
        }, at: [u, layer.C, layer.logDt, layer.logAReal, layer.AImag, layer.D], label: "S4DLayer")
        XCTAssertEqual(failures, [])
    }
}
