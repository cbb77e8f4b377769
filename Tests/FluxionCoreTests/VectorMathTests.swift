import XCTest
import FluxionCore
import Foundation

/// The vectorised Float kernels against libm in Double.
final class VectorMathTests: XCTestCase {
    func check(_ name: String, _ f: (Tensor) -> Tensor, _ reference: (Double) -> Double, range: ClosedRange<Double>,
               tolerance: Double = 4e-7, absolute: Double = 1e-37) {
        var rng = SeededGenerator(seed: 9)
        let x64 = Tensor.randomUniform(shape: [4099], low: range.lowerBound, high: range.upperBound, dtype: .float64, using: &rng)
        let x = x64.cast(to: .float32)
        let got = f(x).scalars
        for (xi, gi) in zip(x.scalars, got) {
            let want = reference(xi)
            if Swift.abs(gi - want) > tolerance * Swift.abs(want) + absolute {
                XCTFail("\(name)(\(xi)) = \(gi), expected \(want)")
                return
            }
        }
    }

    func testExp() { check("exp", { $0.exp() }, Foundation.exp, range: -80...80) }
    func testSigmoid() { check("sigmoid", { $0.sigmoid() }, { 1 / (1 + Foundation.exp(-$0)) }, range: -30...30, tolerance: 6e-7) }
    func testTanh() {
        check("tanh", { $0.tanh() }, Foundation.tanh, range: -8...8, tolerance: 6e-7)
        check("tanh near 0", { $0.tanh() }, Foundation.tanh, range: -1e-3...1e-3, tolerance: 4e-7)
    }
    func testSoftplus() {
        check("softplus", { $0.softplus() }, { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }, range: -90...90, tolerance: 6e-7)
        check("softplus near 0", { $0.softplus() }, { Swift.max($0, 0) + Foundation.log1p(Foundation.exp(-Swift.abs($0))) }, range: -1...1, tolerance: 6e-7)
        check("softplus far left", { $0.softplus() }, { Foundation.log1p(Foundation.exp($0)) }, range: -87...(-15), tolerance: 6e-7)
    }
    func testSiLU() { check("silu", { $0.silu() }, { $0 / (1 + Foundation.exp(-$0)) }, range: -20...20, tolerance: 6e-7) }

    func testSiLUDerivative() {
        check("siluDerivative", { $0.siluDerivative() }, { x in let s = 1 / (1 + Foundation.exp(-x)); return s * (1 + x * (1 - s)) },
              range: -20...20, tolerance: 1e-6, absolute: 1e-7)  // absolute near its zero at x ≈ −1.28
    }

    /// sin and cos: relative error near their zeros would be meaningless, so an absolute bound
    /// (a few ulp of 1) on [−π, π], the S4D kernels' phases (to 1e4) and the fast path's limit;
    /// beyond 65,536 each lane goes through libm; NaN and ±∞ give NaN.
    func testSinCos() {
        for (range, absolute) in [(-Double.pi...Double.pi, 3e-7), (-1e4...1e4, 1e-6), (60_000.0...70_000.0, 1e-6), (-1e6...(-1e5), 1e-6)] {
            check("sin on \(range)", { $0.sin() }, Foundation.sin, range: range, tolerance: 0, absolute: absolute)
            check("cos on \(range)", { $0.cos() }, Foundation.cos, range: range, tolerance: 0, absolute: absolute)
        }
        let special = Tensor([Float(0), -0, .pi / 2, -.pi, .nan, .infinity, -.infinity, 3], shape: [8])
        let (s, c) = (special.sin().scalars, special.cos().scalars)
        XCTAssertEqual(s[0], 0); XCTAssertEqual(c[0], 1); XCTAssertEqual(s[2], 1, accuracy: 1e-7); XCTAssertEqual(c[3], -1, accuracy: 1e-7)
        for i in 4...6 { XCTAssertTrue(s[i].isNaN && c[i].isNaN, "sin/cos(\(special.scalars[i]))") }
        XCTAssertEqual(s[7], Foundation.sin(3), accuracy: 3e-7)
    }

    func testSpecialValues() {
        let x = Tensor([Float(100), -100, .infinity, -.infinity, 0])
        XCTAssertEqual(x.exp().floats, [.infinity, 0, .infinity, 0, 1])
        XCTAssertEqual(x.sigmoid().floats, [1, 0, 1, 0, 0.5])
        XCTAssertEqual(x.tanh().floats, [1, -1, 1, -1, 0])
        XCTAssertTrue(Tensor([Float.nan]).exp().floats[0].isNaN)
    }
}

extension VectorMathTests {
    func testErfAndGELU() {
        // Eigen's rational erf: absolute error ≲ 2 ulp of 1, so ½x(1 + erf) is off by up to ~|x|·4e-8
        // where 1 + erf cancels (x ≲ −3), about 1e-6 at worst; the scale of activations is ~1.
        check("gelu", { x in x.gelu() }, { 0.5 * $0 * (1 + Foundation.erf($0 / 2.0.squareRoot())) }, range: -9...9,
              tolerance: 1e-6, absolute: 1e-6)
        check("geluDerivative", { $0.geluDerivative() },
              { 0.5 * (1 + Foundation.erf($0 / 2.0.squareRoot())) + $0 * Foundation.exp(-0.5 * $0 * $0) / (2 * Double.pi).squareRoot() },
              range: -9...9, tolerance: 1e-6, absolute: 3e-7)
        XCTAssertEqual(Tensor([Float(0), 20]).gelu().floats, [0, 20])
    }
}

/// The fused Float32 SiLU (saved sigmoid) against its reference x·σ(x): values, gradients, second order.
final class SiLUFusedTests: XCTestCase {
    func testMatchesReference() {
        var rng = SeededGenerator(seed: 3)
        let x = Tensor.randomNormal(shape: [300, 7], standardDeviation: 3, using: &rng)
        let u = Tensor.randomNormal(shape: [300, 7], using: &rng)
        let (a, b) = (x.silu(), x * x.sigmoid())
        for (p, q) in zip(a.floats, b.floats) { XCTAssertEqual(p, q, accuracy: 2e-6 * Swift.max(1, Swift.abs(q))) }
        let ga = gradient(at: x) { ($0.silu() * u).sum() }, gb = gradient(at: x) { ($0 * $0.sigmoid() * u).sum() }
        for (p, q) in zip(ga.floats, gb.floats) { XCTAssertEqual(p, q, accuracy: 2e-5 * Swift.max(1, Swift.abs(q))) }
        // second order goes through the reference
        let h = gradient(at: x) { x in (gradient(at: x) { ($0.silu() * u).sum() } * u).sum() }
        let hr = gradient(at: x) { x in (gradient(at: x) { ($0 * $0.sigmoid() * u).sum() } * u).sum() }
        for (p, q) in zip(h.floats, hr.floats) { XCTAssertEqual(p, q, accuracy: 1e-4 * Swift.max(1, Swift.abs(q))) }
    }
}
