import XCTest
import Foundation
import FluxionCore

final class CalculusTests: XCTestCase {
    private func assertClose(_ a: [Double], _ b: [Double], tolerance: Double = 1e-10, _ message: String = "",
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, "\(message): counts differ", file: file, line: line)
        for (x, y) in zip(a, b) where Swift.abs(x - y) > tolerance * Swift.max(1, Swift.abs(y)) {
            XCTFail("\(message): \(a) vs expected \(b)", file: file, line: line)
            return
        }
    }

    private let paraboloid: (Tensor) -> Tensor = { p in (p * p).sum() }

    /// SPEC §12, the seed's worked example, exactly.
    func testWorkedExample() throws {
        let p = Tensor([1.0, 2.0], dtype: .float64)
        XCTAssertEqual(try directionalDerivative(of: paraboloid, at: p, along: Tensor([3.0, 4.0], dtype: .float64)).item, 4.4, accuracy: 1e-14)
        XCTAssertEqual(try directionalDerivative(of: paraboloid, at: p, along: Tensor([1.0, 0.0], dtype: .float64)).item, 2.0, accuracy: 1e-14)
        let g = gradient(at: p, of: paraboloid)
        assertClose(g.scalars, [2, 4])
        let maximum = try directionalDerivative(of: paraboloid, at: p, along: g).item
        XCTAssertEqual(maximum, 2 * 5.0.squareRoot(), accuracy: 1e-14)
        // The maximum over many unit directions is attained along the gradient and equals ‖∇f‖.
        var best = -Double.infinity
        for k in 0..<360 {
            let angle = Double(k) * Double.pi / 180
            best = Swift.max(best, try directionalDerivative(of: paraboloid, at: p, along: Tensor([cos(angle), sin(angle)], dtype: .float64)).item)
        }
        XCTAssertLessThanOrEqual(best, maximum + 1e-12)
        XCTAssertGreaterThan(best, maximum - 1e-3)
        // The direction is normalised: scaling it changes nothing.
        XCTAssertEqual(try directionalDerivative(of: paraboloid, at: p, along: Tensor([30.0, 40.0], dtype: .float64)).item, 4.4, accuracy: 1e-14)
    }

    func testDirectionalDerivativeMatchesFiniteDifference() throws {
        let f: (Tensor) -> Tensor = { p in (p[0] * p[1]).sin() + p[1] * p[1] * p[1] }
        let x = Tensor([0.3, -0.8], dtype: .float64), v = Tensor([2.0, 1.0], dtype: .float64)
        let unit = v / 5.0.squareRoot()
        let h = 1e-6
        let fd = (f(x + h * unit).item - f(x - h * unit).item) / (2 * h)
        XCTAssertEqual(try directionalDerivative(of: f, at: x, along: v).item, fd, accuracy: 1e-8)
    }

    func testZeroDirectionThrows() {
        XCTAssertThrowsError(try directionalDerivative(of: paraboloid, at: Tensor([1.0, 2.0], dtype: .float64), along: Tensor([0.0, 0.0], dtype: .float64))) { error in
            XCTAssertEqual(error as? CalculusError, .zeroDirection)
            XCTAssertTrue("\(error)".contains("zero vector"))
        }
        XCTAssertThrowsError(try directionalDerivative(of: paraboloid, at: Tensor([1.0, 2.0], dtype: .float64), along: Tensor([1.0], dtype: .float64)))
    }

    func testJacobianForwardAndReverseAgree() {
        // f: R³ → R² (reverse is cheaper) and g: R² → R³ (forward is cheaper).
        let f: (Tensor) -> Tensor = { x in Tensor.stack([x[0] * x[1], (x[2]).exp() + x[0]]) }
        let x = Tensor([0.5, -1.5, 0.25], dtype: .float64)
        let expected = [-1.5, 0.5, 0, 1, 0, Foundation.exp(0.25)]
        for mode in [JacobianMode.automatic, .forward, .reverse] {
            let j = jacobian(of: f, at: x, mode: mode)
            XCTAssertEqual(j.shape, [2, 3])
            assertClose(j.scalars, expected, "\(mode)")
        }
        let g: (Tensor) -> Tensor = { x in Tensor.stack([x[0] * x[0], x[0] * x[1], x[1].sin()]) }
        let y = Tensor([2.0, 0.5], dtype: .float64)
        let expectedG = [4.0, 0, 0.5, 2, 0, Foundation.cos(0.5)]
        for mode in [JacobianMode.automatic, .forward, .reverse] {
            let j = jacobian(of: g, at: y, mode: mode)
            XCTAssertEqual(j.shape, [3, 2])
            assertClose(j.scalars, expectedG, "\(mode)")
        }
    }

    func testJacobianOfLinearMapIsTheMatrix() {
        var rng = SeededGenerator(seed: 3)
        let a = Tensor.randomNormal(shape: [4, 3], dtype: .float64, using: &rng)
        let x = Tensor.randomNormal(shape: [3], dtype: .float64, using: &rng)
        let f: (Tensor) -> Tensor = { x in Tensor.matmul(a, x.reshaped(to: [3, 1])).reshaped(to: [4]) }
        assertClose(jacobian(of: f, at: x, mode: .forward).scalars, a.scalars)
        assertClose(jacobian(of: f, at: x, mode: .reverse).scalars, a.scalars)
    }

    private let rosenbrock: (Tensor) -> Tensor = { p in
        let (x, y) = (p[0], p[1])
        return (1 - x).squared() + 100 * (y - x * x).squared()
    }

    func testHessianOfRosenbrock() {
        // H = [[2 − 400(y − 3x²), −400x], [−400x, 200]]
        let p = Tensor([-1.2, 1.0], dtype: .float64)
        let (x, y) = (-1.2, 1.0)
        let h = hessian(of: rosenbrock, at: p)
        XCTAssertEqual(h.shape, [2, 2])
        assertClose(h.scalars, [2 - 400 * (y - 3 * x * x), -400 * x, -400 * x, 200])
    }

    func testHessianVectorProductEqualsDenseHessianTimesVector() {
        var rng = SeededGenerator(seed: 11)
        let w = Tensor.randomNormal(shape: [5, 5], dtype: .float64, using: &rng)
        // A non-quadratic scalar function: Σ tanh(Wx) + ¼Σx⁴ + (Σx)·x₀
        let f: (Tensor) -> Tensor = { x in
            Tensor.matmul(w, x.reshaped(to: [5, 1])).tanh().sum() + 0.25 * (x * x * x * x).sum() + x.sum() * x[0]
        }
        let x = Tensor.randomNormal(shape: [5], dtype: .float64, using: &rng)
        let h = hessian(of: f, at: x)
        let hv = h.scalars
        assertClose(h.scalars, h.transposed().scalars, tolerance: 1e-12, "symmetric")
        for trial in 0..<3 {
            let v = Tensor.randomNormal(shape: [5], dtype: .float64, using: &rng)
            let product = hessianVectorProduct(of: f, at: x, along: v)
            let vs = v.scalars
            let dense = (0..<5).map { i in (0..<5).reduce(0.0) { $0 + hv[i * 5 + $1] * vs[$1] } }
            assertClose(product.scalars, dense, tolerance: 1e-12, "trial \(trial)")
        }
        // Finite difference of the gradient along v.
        let v = Tensor.randomNormal(shape: [5], dtype: .float64, using: &rng)
        let eps = 1e-6
        let fd = (gradient(at: x + eps * v, of: f) - gradient(at: x - eps * v, of: f)) / (2 * eps)
        assertClose(hessianVectorProduct(of: f, at: x, along: v).scalars, fd.scalars, tolerance: 1e-7, "finite difference")
    }

    func testHessianOfQuadraticIsTheSymmetrisedMatrix() {
        let a = Tensor([1.0, 2, 0, 3], shape: [2, 2], dtype: .float64)
        let f: (Tensor) -> Tensor = { x in
            let c = x.reshaped(to: [2, 1])
            return Tensor.matmul(Tensor.matmul(c, a, transposeA: true), c).sum()
        }
        // xᵀAx has Hessian A + Aᵀ.
        assertClose(hessian(of: f, at: Tensor([0.3, -0.2], dtype: .float64)).scalars, [2, 2, 2, 6])
    }

    func testCalculusNestsInsideGradient() {
        // d/dx of (H(x)·v) for f = Σx⁴/12: H = diag(x²), H·v = x²v, derivative 2xv.
        let f: (Tensor) -> Tensor = { x in (x * x * x * x).sum() / 12 }
        let x = Tensor([0.5, -2.0], dtype: .float64), v = Tensor([1.0, 3.0], dtype: .float64)
        let g = gradient(at: x) { x in hessianVectorProduct(of: f, at: x, along: v).sum() }
        assertClose(g.scalars, [2 * 0.5 * 1, 2 * -2.0 * 3])
    }
}
