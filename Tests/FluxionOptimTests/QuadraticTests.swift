import XCTest
import Foundation
import FluxionOptim

final class QuadraticTests: XCTestCase {
    /// A random symmetric positive-definite matrix QᵀDQ-like: MᵀM + shift·I.
    private func randomSPD(_ n: Int, shift: Double, using rng: inout SeededGenerator) -> [Double] {
        let m = (0..<(n * n)).map { _ in rng.nextNormal() }
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n {
            var s = 0.0
            for k in 0..<n { s += m[k * n + i] * m[k * n + j] }
            a[i * n + j] = s / Double(n) + (i == j ? shift : 0)
        } }
        return a
    }

    func testCholeskySolve() {
        var rng = SeededGenerator(seed: 9)
        let n = 6
        let a = randomSPD(n, shift: 0.5, using: &rng)
        let b = (0..<n).map { _ in rng.nextNormal() }
        let l = choleskyFactor(a, dimension: n)!
        let x = choleskySolve(factor: l, dimension: n, b)
        for i in 0..<n {
            XCTAssertEqual((0..<n).reduce(0.0) { $0 + a[i * n + $1] * x[$1] }, b[i], accuracy: 1e-12)
        }
        XCTAssertNil(choleskyFactor([1, 2, 2, 1], dimension: 2), "indefinite matrix has no Cholesky factor")
    }

    func testClassificationOfEveryCase() throws {
        let cases: [(String, [Double], [Double], QuadraticClassification)] = [
            ("positive definite", [2, 0, 0, 1], [1, 1], .positiveDefinite),
            ("PSD, b in range", [1, 1, 1, 1], [1, 1], .positiveSemidefiniteWithMinimum),
            ("PSD, b not in range", [1, 1, 1, 1], [1, -1], .positiveSemidefiniteWithoutMinimum),
            ("zero matrix, b = 0", [0, 0, 0, 0], [0, 0], .positiveSemidefiniteWithMinimum),
            ("zero matrix, b ≠ 0", [0, 0, 0, 0], [1, 0], .positiveSemidefiniteWithoutMinimum),
            ("indefinite", [1, 0, 0, -1], [0, 0], .indefinite),
            ("indefinite saddle xy", [0, 1, 1, 0], [0, 0], .indefinite),
            ("negative definite", [-2, 0, 0, -1], [1, 1], .negativeDefinite),
            ("negative semidefinite", [-1, 0, 0, 0], [0, 0], .negativeSemidefinite),
        ]
        for (name, a, b, expected) in cases {
            let q = try QuadraticForm(matrix: a, vector: b, dimension: 2)
            XCTAssertEqual(q.classification, expected, name)
            XCTAssertEqual(q.classification.hasMinimum, expected == .positiveDefinite || expected == .positiveSemidefiniteWithMinimum, name)
            if !expected.hasMinimum {
                // The reported direction really sends f to −∞.
                let d = Tensor(q.descentDirection, shape: [2], dtype: .float64)
                let far = q.value(at: 1e6 * d).item, near = q.value(at: 1e3 * d).item
                XCTAssertLessThan(far, near, name)
                XCTAssertLessThan(far, -1e5, name)
            }
        }
    }

    func testNonSymmetricMatrixIsSymmetrised() throws {
        // a = [[1, 4], [0, 3]] and its symmetric part [[1, 2], [2, 3]] give the same xᵀAx.
        let q = try QuadraticForm(matrix: [1, 4, 0, 3], vector: [0, 0], dimension: 2)
        XCTAssertTrue(q.wasSymmetrized)
        XCTAssertEqual(q.matrixValues, [1, 2, 2, 3])
        XCTAssertFalse(try QuadraticForm(matrix: [1, 2, 2, 3], vector: [0, 0], dimension: 2).wasSymmetrized)
        let x = Tensor([0.7, -1.1], dtype: .float64)
        let raw = 0.5 * (1 * 0.49 + 4 * 0.7 * -1.1 + 3 * 1.21)
        XCTAssertEqual(q.value(at: x).item, raw, accuracy: 1e-14)
        // ∇f = Ax + b agrees with autodiff of f.
        let g = gradient(at: x) { q.value(at: $0) }
        XCTAssertEqual(g.scalars[0], q.gradient(at: x).scalars[0], accuracy: 1e-14)
        XCTAssertEqual(g.scalars[1], q.gradient(at: x).scalars[1], accuracy: 1e-14)
    }

    func testBadShapesThrowClearErrors() {
        XCTAssertThrowsError(try QuadraticForm(matrix: [1, 2, 3], vector: [1, 1], dimension: 2)) { error in
            XCTAssertTrue("\(error)".contains("2×2"), "\(error)")
        }
        XCTAssertThrowsError(try QuadraticForm(matrix: [1, 0, 0, 1], vector: [1], dimension: 2)) { error in
            XCTAssertTrue("\(error)".contains("b has 1"), "\(error)")
        }
    }

    func testEveryMethodReachesTheMinimumOfRandomSPD() throws {
        var rng = SeededGenerator(seed: 42)
        for trial in 0..<4 {
            let n = 3 + 2 * trial
            let q = try QuadraticForm(matrix: randomSPD(n, shift: 0.3, using: &rng),
                                      vector: (0..<n).map { _ in rng.nextNormal() }, dimension: n)
            XCTAssertEqual(q.classification, .positiveDefinite)
            let exact = try q.minimizer().scalars
            let start = Tensor((0..<n).map { _ in rng.nextNormal() }, shape: [n], dtype: .float64)
            let methods: [QuadraticMethod] = [.closedForm, .gradientDescent(step: nil), .gradientDescent(step: 0.9 * q.stabilityBound),
                                              .steepestDescent, .conjugateGradient, .newton]
            for method in methods {
                let trace = try q.minimize(using: method, from: start, tolerance: 1e-9, maxIterations: 20_000)
                XCTAssertTrue(trace.converged, "n=\(n) \(method): ‖∇f‖ = \(trace.gradientNorms.last!)")
                XCTAssertLessThan(trace.gradientNorms.last!, 1e-8, "n=\(n) \(method)")
                for (a, b) in zip(trace.solution.scalars, exact) { XCTAssertEqual(a, b, accuracy: 1e-7, "n=\(n) \(method)") }
                XCTAssertEqual(trace.iterates.count, trace.values.count)
                XCTAssertEqual(trace.iterates.count, trace.gradientNorms.count)
                switch method {
                case .newton, .closedForm: XCTAssertEqual(trace.iterationCount, 1, "\(method) takes one step")
                case .conjugateGradient: XCTAssertLessThanOrEqual(trace.iterationCount, n, "CG in ≤ n iterations")
                default: break
                }
            }
        }
    }

    func testOptimalStepBeatsOtherFixedSteps() throws {
        let q = try QuadraticForm(matrix: [10, 0, 0, 1], vector: [1, 1], dimension: 2)
        XCTAssertEqual(q.stabilityBound, 0.2, accuracy: 1e-15)
        XCTAssertEqual(q.optimalStep!, 2.0 / 11, accuracy: 1e-15)
        XCTAssertEqual(q.conditionNumber!, 10, accuracy: 1e-12)
        let start = Tensor([1.0, 1.0], dtype: .float64)
        let best = try q.minimize(using: .gradientDescent(step: nil), from: start).iterationCount
        for step in [0.05, 0.1, 0.15, 0.19] {
            XCTAssertLessThanOrEqual(best, try q.minimize(using: .gradientDescent(step: step), from: start).iterationCount, "η = \(step)")
        }
        // Rate (κ − 1)/(κ + 1) = 9/11 per step on the slowest component.
        let g0 = q.gradient(at: start).scalars.map { $0 * $0 }.reduce(0, +).squareRoot()
        XCTAssertLessThan(best, Int((log(1e-10 / g0) / log(9.0 / 11)).rounded(.up)) + 2)
    }

    func testGradientDescentAboveTheStabilityBound() throws {
        let q = try QuadraticForm(matrix: [4, 1, 1, 3], vector: [1, -2], dimension: 2)
        let bound = q.stabilityBound
        XCTAssertThrowsError(try q.minimize(using: .gradientDescent(step: 1.05 * bound))) { error in
            guard case MinimizationError.unstableStep = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("2/λmax"), "\(error)")
        }
        XCTAssertThrowsError(try q.minimize(using: .gradientDescent(step: -0.1)))
        // Forced to run, it diverges: ‖∇f‖ grows geometrically.
        let trace = try q.minimize(using: .gradientDescent(step: 1.05 * bound), from: Tensor([1.0, 1.0], dtype: .float64),
                                   maxIterations: 200, allowUnstableStep: true)
        XCTAssertFalse(trace.converged)
        XCTAssertGreaterThan(trace.gradientNorms.last!, 1e3 * trace.gradientNorms[0])
        // Just below the bound it converges (slowly).
        let slow = try q.minimize(using: .gradientDescent(step: 0.98 * bound), from: Tensor([1.0, 1.0], dtype: .float64), tolerance: 1e-9)
        XCTAssertTrue(slow.converged)
    }

    func testUnboundedFormsAreRefusedByEveryMethod() throws {
        let forms = [
            try QuadraticForm(matrix: [1, 0, 0, -1], vector: [0, 0], dimension: 2),
            try QuadraticForm(matrix: [-1, 0, 0, -2], vector: [0, 0], dimension: 2),
            try QuadraticForm(matrix: [1, 1, 1, 1], vector: [1, -1], dimension: 2),
        ]
        for q in forms {
            for method in [QuadraticMethod.closedForm, .gradientDescent(step: nil), .gradientDescent(step: 0.01),
                           .steepestDescent, .conjugateGradient, .newton] {
                XCTAssertThrowsError(try q.minimize(using: method), "\(q.classification) \(method)") { error in
                    guard case MinimizationError.unboundedBelow = error else { return XCTFail("\(error)") }
                    XCTAssertTrue("\(error)".contains("no minimum"), "\(error)")
                }
            }
            XCTAssertThrowsError(try q.minimizer())
        }
    }

    func testSingularPSDGivesTheMinimumNormSolution() throws {
        // A = [[1, 1], [1, 1]], b = (−2, −2): minimisers are x + y = 2; the least-norm one is (1, 1).
        let q = try QuadraticForm(matrix: [1, 1, 1, 1], vector: [-2, -2], dimension: 2, constant: 3)
        XCTAssertEqual(q.classification, .positiveSemidefiniteWithMinimum)
        let x = try q.minimizer().scalars
        XCTAssertEqual(x[0], 1, accuracy: 1e-12)
        XCTAssertEqual(x[1], 1, accuracy: 1e-12)
        XCTAssertEqual(try q.minimumValue(), 3 - 0.5 * 4, accuracy: 1e-12)  // f* = c − ½bᵀA⁺b = 3 − 2
        // Every method reaches ‖∇f‖ < 1e-8; from the origin the iterates stay in range(A), so they
        // find the minimum-norm minimiser too.
        for method in [QuadraticMethod.closedForm, .gradientDescent(step: nil), .steepestDescent, .conjugateGradient, .newton] {
            let trace = try q.minimize(using: method)
            XCTAssertLessThan(trace.gradientNorms.last!, 1e-8, "\(method)")
            XCTAssertEqual(trace.solution.scalars[0], 1, accuracy: 1e-8, "\(method)")
            XCTAssertEqual(trace.solution.scalars[1], 1, accuracy: 1e-8, "\(method)")
        }
    }
}
