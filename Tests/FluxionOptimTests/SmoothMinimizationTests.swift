import XCTest
import Foundation
import FluxionOptim

final class SmoothMinimizationTests: XCTestCase {
    /// f(x, y) = (1 − x)² + 100(y − x²)², minimum 0 at (1, 1).
    private let rosenbrock: (Tensor) -> Tensor = { p in
        let (x, y) = (p[0], p[1])
        return (1 - x).squared() + 100 * (y - x * x).squared()
    }

    func testRosenbrockByCGAndNewtonCG() throws {
        let start = Tensor([-1.2, 1.0], dtype: .float64)
        for method in [SmoothMethod.conjugateGradient, .newtonCG] {
            let trace = try minimize(rosenbrock, from: start, method: method)
            XCTAssertTrue(trace.converged, "\(method): ‖∇f‖ = \(trace.gradientNorms.last!) after \(trace.iterationCount)")
            XCTAssertLessThan(trace.gradientNorms.last!, 1e-8, "\(method)")
            XCTAssertEqual(trace.solution.scalars[0], 1, accuracy: 1e-7, "\(method)")
            XCTAssertEqual(trace.solution.scalars[1], 1, accuracy: 1e-7, "\(method)")
            // The line searches only accept decrease.
            for k in 1..<trace.values.count { XCTAssertLessThanOrEqual(trace.values[k], trace.values[k - 1], "\(method) step \(k)") }
        }
        let newton = try minimize(rosenbrock, from: start, method: .newtonCG)
        XCTAssertLessThan(newton.iterationCount, 100, "Newton-CG")
    }

    func testRosenbrockByGradientDescent() throws {
        // Gradient descent crawls along the curved valley (κ ≈ 2500 at the minimum), so it starts
        // inside the valley and is given many (cheap) iterations.
        var options = SmoothMinimizationOptions()
        options.maxIterations = 50_000
        options.tolerance = 1e-8
        let trace = try minimize(rosenbrock, from: Tensor([0.5, 0.3], dtype: .float64), method: .gradientDescent, options: options)
        XCTAssertTrue(trace.converged, "‖∇f‖ = \(trace.gradientNorms.last!) after \(trace.iterationCount)")
        XCTAssertEqual(trace.solution.scalars[0], 1, accuracy: 1e-6)
        XCTAssertEqual(trace.solution.scalars[1], 1, accuracy: 1e-6)
    }

    func testRandomQuadraticsAgreeWithClosedForm() throws {
        var rng = SeededGenerator(seed: 21)
        let n = 6
        let m = Tensor.randomNormal(shape: [n, n], dtype: .float64, using: &rng)
        let a = Tensor.matmul(m, m, transposeA: true) / Double(n) + Tensor.eye(n, dtype: .float64) * 0.5
        let b = Tensor.randomNormal(shape: [n], dtype: .float64, using: &rng)
        let q = try QuadraticForm(matrix: a, vector: b)
        let exact = try q.minimizer().scalars
        let f: (Tensor) -> Tensor = { q.value(at: $0) }
        for method in SmoothMethod.allCases {
            let trace = try minimize(f, from: Tensor.zeros(shape: [n], dtype: .float64), method: method)
            XCTAssertLessThan(trace.gradientNorms.last!, 1e-8, "\(method)")
            for (u, v) in zip(trace.solution.scalars, exact) { XCTAssertEqual(u, v, accuracy: 1e-7, "\(method)") }
            // The inner CG is truncated at residual min(½, √‖g‖)·‖g‖, so Newton-CG needs a few outer steps.
            if method == .newtonCG { XCTAssertLessThanOrEqual(trace.iterationCount, 10, "Newton-CG on a quadratic") }
        }
    }

    func testRejectsFloat32Start() {
        XCTAssertThrowsError(try minimize(rosenbrock, from: Tensor([Float(0), 0]), method: .newtonCG)) { error in
            XCTAssertTrue("\(error)".contains("float64"), "\(error)")
        }
    }
}
