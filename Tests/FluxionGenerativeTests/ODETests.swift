import XCTest
import Foundation
import FluxionGenerative

final class ODETests: XCTestCase {
    // dx/dt = Ax with a damped rotation; exact solution e^{At}x₀ from the Taylor series (Float64).
    let a: [[Double]] = [[-0.5, 1.0], [-1.0, -0.3]]
    let x0: [Double] = [1.0, 0.5]

    private func exact(_ t: Double) -> [Double] {
        var term = x0, sum = x0
        for k in 1..<60 {
            term = [(a[0][0] * term[0] + a[0][1] * term[1]) * t / Double(k), (a[1][0] * term[0] + a[1][1] * term[1]) * t / Double(k)]
            sum = [sum[0] + term[0], sum[1] + term[1]]
        }
        return sum
    }

    private var field: (Double, [Tensor]) -> [Tensor] {
        let matrix = Tensor(a.flatMap { $0 }, shape: [2, 2], dtype: .float64)
        return { _, xs in [Tensor.matmul(xs[0], matrix, transposeB: true)] }
    }

    private func error(_ method: ODEMethod, steps: Int, from t0: Double = 0, to t1: Double = 1) throws -> Double {
        let start = t0 == 0 ? x0 : exact(t0)
        let x = Tensor(start, shape: [1, 2], dtype: .float64)
        let solution = try ODESolver(method: method, steps: steps).solve(field, initial: [x], from: t0, to: t1)
        XCTAssertEqual(solution.evaluationCount, steps * method.evaluationsPerStep, "\(method) NFE")
        let expected = exact(t1), got = solution.state[0].scalars
        return ((got[0] - expected[0]) * (got[0] - expected[0]) + (got[1] - expected[1]) * (got[1] - expected[1])).squareRoot()
    }

    func testMeasuredOrderOfConvergenceMatchesTheory() throws {
        for method in [ODEMethod.euler, .midpoint, .heun, .rk4] {
            let steps = [10, 20, 40, 80]
            let errors = try steps.map { try error(method, steps: $0) }
            for i in 1..<errors.count {
                let order = Foundation.log2(errors[i - 1] / errors[i])
                XCTAssertEqual(order, Double(method.order), accuracy: 0.15, "\(method): N \(steps[i - 1])→\(steps[i]) errors \(errors)")
            }
        }
    }

    func testBackwardIntegrationRetracesTheForwardSolution() throws {
        // From the exact x(1) back to t = 0 must return x₀ (RK4, 50 steps).
        let e = try error(.rk4, steps: 50, from: 1, to: 0)
        XCTAssertLessThan(e, 1e-8)
        let eulerOrder = Foundation.log2(try error(.euler, steps: 20, from: 1, to: 0) / error(.euler, steps: 40, from: 1, to: 0))
        XCTAssertEqual(eulerOrder, 1, accuracy: 0.15)
    }

    func testDopri5MeetsItsToleranceAndAdaptsItsWork() throws {
        var previousEvaluations = 0
        for tolerance in [1e-3, 1e-6, 1e-9] {
            let solver = ODESolver(method: .dopri5, relativeTolerance: tolerance, absoluteTolerance: tolerance)
            let solution = try solver.solve(field, initial: [Tensor(x0, shape: [1, 2], dtype: .float64)], from: 0, to: 2)
            let expected = exact(2), got = solution.state[0].scalars
            let e = Swift.max(Swift.abs(got[0] - expected[0]), Swift.abs(got[1] - expected[1]))
            XCTAssertLessThan(e, tolerance, "tolerance \(tolerance): error \(e), \(solution.stepCount) steps")
            XCTAssertGreaterThan(solution.evaluationCount, previousEvaluations, "tighter tolerance, more work")
            XCTAssertEqual(solution.evaluationCount, 1 + 6 * (solution.stepCount + solution.rejectedStepCount))
            previousEvaluations = solution.evaluationCount
        }
    }

    func testDopri5OnAStateTupleBackwardInTime() throws {
        // [x, ℓ] with dx/dt = Ax, dℓ/dt = tr A: ℓ changes by (t₁ − t₀)·tr A exactly.
        let matrix = Tensor(a.flatMap { $0 }, shape: [2, 2], dtype: .float64)
        let solution = try ODESolver(method: .dopri5, relativeTolerance: 1e-8, absoluteTolerance: 1e-8, recordTrajectory: true)
            .solve({ _, s in [Tensor.matmul(s[0], matrix, transposeB: true), Tensor.full(-0.8, shape: [1, 1], dtype: .float64)] },
                   initial: [Tensor(exact(1), shape: [1, 2], dtype: .float64), Tensor.zeros(shape: [1, 1], dtype: .float64)],
                   from: 1, to: 0)
        XCTAssertEqual(solution.state[1].item, 0.8, accuracy: 1e-10)
        XCTAssertEqual(solution.state[0].scalars[0], x0[0], accuracy: 1e-7)
        XCTAssertEqual(solution.times.first, 1)
        XCTAssertEqual(solution.times.last, 0)
        XCTAssertEqual(solution.trajectory.count, solution.stepCount + 1)
    }

    func testMinimumStepRaisesAClearErrorInsteadOfHanging() {
        // dx/dt = x² from x(0) = 1 blows up at t = 1: the step must shrink below the minimum.
        let solver = ODESolver(method: .dopri5, relativeTolerance: 1e-6, absoluteTolerance: 1e-6, minimumStep: 1e-8)
        XCTAssertThrowsError(try solver.solve({ _, s in [s[0] * s[0]] }, initial: [Tensor([1.0], shape: [1, 1], dtype: .float64)],
                                              from: 0, to: 2)) { error in
            guard case let ODEError.stepSizeTooSmall(time, step, minimum)? = error as? ODEError else {
                return XCTFail("expected stepSizeTooSmall, got \(error)")
            }
            XCTAssertEqual(time, 1, accuracy: 1e-3, "stops at the blow-up")
            XCTAssertLessThan(step, minimum)
            XCTAssertTrue("\(error)".contains("minimum"), "\(error)")
        }
        let capped = ODESolver(method: .dopri5, minimumStep: 0, maximumSteps: 50)
        XCTAssertThrowsError(try capped.solve({ _, s in [s[0] * s[0]] }, initial: [Tensor([1.0], shape: [1, 1], dtype: .float64)],
                                              from: 0, to: 2)) { error in
            guard case ODEError.tooManySteps? = error as? ODEError else { return XCTFail("expected tooManySteps, got \(error)") }
        }
    }

    func testInvalidArgumentsAreNamed() {
        XCTAssertThrowsError(try ODESolver(method: .euler, steps: 0).solve({ _, s in s }, initial: [Tensor([1.0], dtype: .float64)], from: 0, to: 1))
        XCTAssertThrowsError(try ODESolver(method: .euler).solve({ _, s in s }, initial: [Tensor([1.0], dtype: .float64)], times: [0, 0.5, 0.4]))
    }

    func testGradientFlowsThroughAFixedStepSolve() throws {
        // d/dk of x(1) for dx/dt = −k x, x(0) = 1: x(1) = e^{−k} ⇒ −e^{−k} (RK4 is differentiated exactly).
        let k = Tensor(0.7, dtype: .float64)
        let g = gradient(at: k) { k in
            try! ODESolver(method: .rk4, steps: 40).solve({ _, s in [-(k * s[0])] }, initial: [Tensor(1.0, dtype: .float64)], from: 0, to: 1).state[0]
        }
        XCTAssertEqual(g.item, -Foundation.exp(-0.7), accuracy: 1e-8)
    }
}
