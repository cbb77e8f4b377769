import XCTest
import Foundation
@testable import FluxionNN
import FluxionCore

/// HiPPO matrices (state-spaces convention), their properties, discretisations and LegS's O(N)
/// operations against dense linear algebra.
final class HiPPOTests: XCTestCase {
    func assertClose(_ a: [Double], _ b: [Double], _ tol: Double, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        let scale = Swift.max(1, b.map(Swift.abs).max() ?? 0)
        for (i, (x, y)) in zip(a, b).enumerated() where Swift.abs(x - y) > tol * scale {
            XCTFail("\(message): entry \(i) is \(x), expected \(y)", file: file, line: line)
            return
        }
    }

    func testLegSAndLegTClosedForms() {
        let (s3, s5, s7) = (3.0.squareRoot(), 5.0.squareRoot(), 7.0.squareRoot())
        let legS = HiPPO.transition(.legS, size: 4)
        assertClose(legS.A.scalars, [-1, 0, 0, 0,
                                     -s3, -2, 0, 0,
                                     -s5, -s3 * s5, -3, 0,
                                     -s7, -s3 * s7, -s5 * s7, -4], 1e-15, "LegS A, N = 4")
        assertClose(legS.B.scalars, [1, s3, s5, s7], 1e-15, "LegS B, N = 4")
        let legT = HiPPO.transition(.legT, size: 3)
        assertClose(legT.A.scalars, [-0.5, 0.5 * s3, -0.5 * s5,
                                     -0.5 * s3, -1.5, 0.5 * s3 * s5,
                                     -0.5 * s5, -0.5 * s3 * s5, -2.5], 1e-15, "LegT A, N = 3")
        assertClose(legT.B.scalars, [0.5, 0.5 * s3, 0.5 * s5], 1e-15, "LegT B, N = 3")
    }

    func testLegSEigenvaluesAndSkewPart() {
        let n = 64
        let a = HiPPO.transition(.legS, size: n).A.scalars
        for i in 0..<n {
            XCTAssertEqual(a[i * n + i], -Double(i + 1), "eigenvalue \(i): A is lower triangular with diagonal −1 … −N")
            for k in (i + 1)..<n { XCTAssertEqual(a[i * n + k], 0, "A[\(i), \(k)] above the diagonal") }
        }
        let v = HiPPO.legSCorrection(size: n).scalars
        for i in 0..<n {
            for k in 0..<n {
                let s = a[i * n + k] + 0.5 * v[i] * v[k] + (i == k ? 0.5 : 0)
                let t = a[k * n + i] + 0.5 * v[k] * v[i] + (i == k ? 0.5 : 0)
                XCTAssertEqual(s, -t, accuracy: 1e-12, "A + ½vvᵀ + ½I must be skew-symmetric at [\(i), \(k)]")
            }
        }
    }

    func testLinearTimeMatvecAndSolveMatchDense() {
        let n = 64
        let a = HiPPO.transition(.legS, size: n).A.scalars
        var rng = SeededGenerator(seed: 1)
        let v = (0..<n).map { _ in rng.nextUniform() * 2 - 1 }
        let dense = (0..<n).map { i in (0..<n).reduce(0) { $0 + a[i * n + $1] * v[$1] } }
        assertClose(HiPPO.legSMatvec(v), dense, 1e-12, "O(N) matvec")
        for lambda in [0.01, 0.5, 3.0] {
            let m = (0..<(n * n)).map { ($0 / n == $0 % n ? 1 : 0) - lambda * a[$0] }
            assertClose(HiPPO.legSSolve(lambda: lambda, v), DenseMatrix.solve(m, v, n: n, columns: 1), 1e-12, "O(N) solve, λ = \(lambda)")
        }
    }

    func testDiscretizations() {
        // A scalar system has closed forms for every method.
        let (a, b, e) = (-2.0, 3.0, 0.1)
        let expected: [HiPPO.Discretization: (Double, Double)] = [
            .forwardEuler: (1 + e * a, e * b),
            .backwardEuler: (1 / (1 - e * a), e * b / (1 - e * a)),
            .bilinear: ((1 + e * a / 2) / (1 - e * a / 2), e * b / (1 - e * a / 2)),
            .zeroOrderHold: (Foundation.exp(e * a), (Foundation.exp(e * a) - 1) / a * b),
        ]
        for method in HiPPO.Discretization.allCases {
            let d = HiPPO.discretize(A: Tensor([a], shape: [1, 1], dtype: .float64), B: Tensor([b], dtype: .float64), step: e, method: method)
            XCTAssertEqual(d.A.item, expected[method]!.0, accuracy: 1e-14, "\(method) Ā")
            XCTAssertEqual(d.B.item, expected[method]!.1, accuracy: 1e-14, "\(method) B̄")
        }
        // On LegT (N = 8), bilinear agrees with the exact ZOH to O(ε³) per step, Euler to O(ε²).
        let (am, bm) = HiPPO.transition(.legT, size: 8)
        let zoh = HiPPO.discretize(A: am, B: bm, step: 1e-3, method: .zeroOrderHold)
        let bil = HiPPO.discretize(A: am, B: bm, step: 1e-3, method: .bilinear)
        let eul = HiPPO.discretize(A: am, B: bm, step: 1e-3, method: .forwardEuler)
        assertClose(bil.A.scalars, zoh.A.scalars, 1e-6, "bilinear ≈ ZOH")
        assertClose(eul.A.scalars, zoh.A.scalars, 1e-4, "Euler ≈ ZOH")
        XCTAssertGreaterThan(zip(eul.A.scalars, zoh.A.scalars).map { Swift.abs($0 - $1) }.max()!, 5e-6, "Euler is first order")
    }

    func testLegSBilinearRecursionIsStepSizeIndependent() {
        let n = 16
        let (am, bm) = HiPPO.transition(.legS, size: n)
        let a = am.scalars, b = bm.scalars
        let inputs = (0..<40).map { Foundation.sin(0.3 * Double($0)) + 0.1 * Double($0 % 3) }
        // The generic bilinear step of x' = A x / t + B u / t at t_k = kε, for two step sizes.
        func run(_ e: Double) -> [Double] {
            var x = [Double](repeating: 0, count: n)
            for (i, u) in inputs.enumerated() {
                let k = Double(i + 1), (t0, t1) = (k * e, (k + 1) * e)
                let lhs = (0..<(n * n)).map { ($0 / n == $0 % n ? 1 : 0) - e / (2 * t1) * a[$0] }
                let rhs = (0..<n).map { r in x[r] + e / (2 * t0) * (0..<n).reduce(0) { $0 + a[r * n + $1] * x[$1] } + e * b[r] * u / t0 }
                x = DenseMatrix.solve(lhs, rhs, n: n, columns: 1)
            }
            return x
        }
        var recursion = [Double](repeating: 0, count: n)
        for (i, u) in inputs.enumerated() { recursion = HiPPO.legSBilinearStep(recursion, input: u, step: i + 1) }
        assertClose(run(0.1), run(0.0037), 1e-12, "ε = 0.1 and ε = 0.0037 give the same memory")
        assertClose(recursion, run(0.1), 1e-12, "the ε-free recursion")
    }

    /// The NPLR form of LegS (state-spaces' `nplr('legs', N)`): V unitary, Re Λ = −½, V Λ V* = S on
    /// the kept half, and the factors rebuild A to 1e-10 at N = 64.
    func testNPLRRebuildsLegS() {
        for n in [4, 64] {
            let f = HiPPO.nplr(size: n), half = n / 2
            let a = HiPPO.transition(.legS, size: n).A.scalars
            let rebuilt = f.reconstructedA()
            let error = zip(rebuilt, a).map { Swift.abs($0 - $1) }.max()!
            XCTAssertLessThan(error, 1e-10, "N = \(n): max |A − V(Λ − P̃P̃*)V*| = \(error)")
            XCTAssertTrue(f.lambdaReal.allSatisfy { $0 == -0.5 })
            XCTAssertTrue(f.lambdaImaginary.allSatisfy { $0 < 0 } && f.lambdaImaginary == f.lambdaImaginary.sorted(), "Im Λ < 0, ascending")
            // V*V = I (N/2 × N/2) and V* V̄ = 0: the full basis [V, V̄] is unitary.
            for j in 0..<half {
                for k in 0..<half {
                    var (re, im, cr, ci) = (0.0, 0.0, 0.0, 0.0)
                    for i in 0..<n {
                        let (xr, xi, yr, yi) = (f.vReal[i * half + j], f.vImaginary[i * half + j], f.vReal[i * half + k], f.vImaginary[i * half + k])
                        re += xr * yr + xi * yi; im += xr * yi - xi * yr       // conj(x)·y
                        cr += xr * yr - xi * yi; ci += -xr * yi - xi * yr      // conj(x)·conj(y)
                    }
                    XCTAssertEqual(re, j == k ? 1 : 0, accuracy: 1e-12, "N = \(n): (V*V)_{\(j)\(k)}")
                    XCTAssertEqual(im, 0, accuracy: 1e-12)
                    XCTAssertEqual(cr, 0, accuracy: 1e-12, "N = \(n): (V*V̄)_{\(j)\(k)}")
                    XCTAssertEqual(ci, 0, accuracy: 1e-12)
                }
            }
        }
    }

    /// Online memories of a smooth signal on [0, 1] (four sines, as `fluxion hippo`) rebuild it
    /// from the coefficients at t = 1: LegS (N = 64, 2,000 samples) measured RMSE 0.012, LegT 0.038,
    /// against a signal RMS of 0.72.
    func testOnlineMemoryReconstructsTheSignal() {
        let m = 2000
        let times = (0..<m).map { (Double($0) + 0.5) / Double(m) }
        let u = times.map { s in 1.2 * Foundation.sin(2 * Double.pi * 1.7 * s + 0.3) - 0.8 * Foundation.sin(2 * Double.pi * 3.9 * s) + 0.5 * Foundation.cos(2 * Double.pi * 2.4 * s) }
        let rms = { (v: [Double]) in (v.reduce(0) { $0 + $1 * $1 } / Double(v.count)).squareRoot() }
        for (measure, tolerance) in [(HiPPO.Measure.legS, 0.03), (.legT, 0.1)] {
            let rebuilt = HiPPO.reconstruct(HiPPO.onlineMemory(u, measure: measure, size: 64), at: times)
            let error = rms(zip(rebuilt, u).map { $0 - $1 })
            XCTAssertLessThan(error, tolerance * rms(u), "\(measure): RMSE \(error), signal RMS \(rms(u))")
        }
        // A constant is not a fixed point of the recursion (its input term is B u_k / k, not the
        // trapezoid's B u_k (1/k + 1/(k + 1))/2), so it is remembered up to a small bias: measured
        // x_0 = 2.0126 and |u(½) − 2| = 0.0013 after 500 samples.
        let x = HiPPO.onlineMemory([Double](repeating: 2, count: 500), measure: .legS, size: 8)
        XCTAssertEqual(x[0], 2, accuracy: 0.02)
        XCTAssertEqual(HiPPO.reconstruct(x, at: [0.5])[0], 2, accuracy: 0.005)
    }
}
