import Foundation
import FluxionCore

/// A minimiser of a `QuadraticForm` (SPEC §11, the ½ form f = ½xᵀAx + bᵀx + c, ∇f = Ax + b).
public enum QuadraticMethod: Sendable, Equatable, CustomStringConvertible {
    /// x* = −A⁻¹b by Cholesky (A ≻ 0) or −A⁺b, the minimum-norm minimiser (A ⪰ 0 singular).
    case closedForm
    /// x ← x − η(Ax + b) with a fixed step η; nil picks the optimal 2/(λmin + λmax).
    /// Refuses η ∉ (0, 2/λmax) with `MinimizationError.unstableStep`.
    case gradientDescent(step: Double?)
    /// Steepest descent with exact line search: η_k = gᵀg / gᵀAg.
    case steepestDescent
    /// Linear conjugate gradient: exact in ≤ n steps in exact arithmetic.
    case conjugateGradient
    /// Newton's method: x₁ = x₀ − A⁻¹(Ax₀ + b), one step.
    case newton

    public var description: String {
        switch self {
        case .closedForm: return "closed form"
        case .gradientDescent(let step): return step.map { "gradient descent (η = \($0))" } ?? "gradient descent (optimal η)"
        case .steepestDescent: return "steepest descent (exact line search)"
        case .conjugateGradient: return "conjugate gradient"
        case .newton: return "Newton"
        }
    }
}

extension QuadraticForm {
    /// Minimises f with `method` from `start` (default 0) until ‖∇f‖ ≤ `tolerance` or
    /// `maxIterations` steps, and returns the trace (iterates, f, ‖∇f‖).
    ///
    /// - Throws: `MinimizationError.unboundedBelow` when f has no minimum (every method checks the
    ///   classification first), `.unstableStep` for a fixed step outside (0, 2/λmax) unless
    ///   `allowUnstableStep` (then the trace shows the divergence, stopping once ‖∇f‖ is not finite),
    ///   `.invalidArgument` for a start of the wrong size.
    public func minimize(using method: QuadraticMethod, from start: Tensor? = nil, tolerance: Double = 1e-10,
                         maxIterations: Int = 10_000, allowUnstableStep: Bool = false) throws -> MinimizationTrace {
        let x0 = start?.scalars ?? [Double](repeating: 0, count: dimension)
        guard x0.count == dimension else {
            throw MinimizationError.invalidArgument("the start has \(x0.count) entries but the quadratic has \(dimension) variables")
        }
        guard tolerance > 0, maxIterations >= 0 else {
            throw MinimizationError.invalidArgument("tolerance must be positive and maxIterations non-negative")
        }
        if !allowUnstableStep { try requireMinimum() }
        var trace = MinimizationTrace(method: method.description)
        var x = x0
        var g = gradientOf(x)
        record(&trace, x, g)
        func done() -> Bool { norm(g) <= tolerance }

        switch method {
        case .closedForm:
            x = try minimizer().scalars
            g = gradientOf(x)
            record(&trace, x, g)

        case .newton:
            try requireMinimum()
            // Newton step p = −A⁻¹g (−A⁺g in the singular case: the step of least norm).
            let p: [Double]
            if classification == .positiveDefinite, let l = choleskyFactor(matrixValues, dimension: dimension) {
                p = choleskySolve(factor: l, dimension: dimension, g)
            } else {
                p = eigen.pseudoInverseTimes(g)
            }
            x = zip(x, p).map { $0 - $1 }
            g = gradientOf(x)
            record(&trace, x, g)

        case .gradientDescent(let requested):
            let bound = stabilityBound
            let step: Double
            if let requested {
                step = requested
            } else if let best = optimalStep {
                step = best
            } else {
                throw MinimizationError.invalidArgument("A = 0: gradient descent has no optimal step; give one")
            }
            if !allowUnstableStep && !(step > 0 && step < bound) {
                throw MinimizationError.unstableStep(step: step, bound: bound)
            }
            var k = 0
            while !done() && k < maxIterations && norm(g).isFinite {
                for i in x.indices { x[i] -= step * g[i] }
                g = gradientOf(x)
                record(&trace, x, g)
                k += 1
            }

        case .steepestDescent:
            var k = 0
            while !done() && k < maxIterations {
                let ag = apply(g)
                let curvature = dot(g, ag)
                guard curvature > 0 else { break }  // g in null(A): only possible when g = 0 for consistent b
                let step = dot(g, g) / curvature
                for i in x.indices { x[i] -= step * g[i] }
                g = gradientOf(x)
                record(&trace, x, g)
                k += 1
            }

        case .conjugateGradient:
            // Solves Ax = −b; the residual r = −(Ax + b) = −g. Directions are A-conjugate, so in exact
            // arithmetic the k-th iterate minimises f over x₀ + span{r₀, Ar₀, …, A^{k−1}r₀}.
            var r = g.map { -$0 }
            var d = r
            var rr = dot(r, r)
            var k = 0
            while !done() && k < maxIterations {
                let ad = apply(d)
                let curvature = dot(d, ad)
                guard curvature > 0 else { break }
                let alpha = rr / curvature
                for i in x.indices { x[i] += alpha * d[i]; r[i] -= alpha * ad[i] }
                // Recompute the gradient exactly (not from the recurrence) so the trace is honest.
                g = gradientOf(x)
                record(&trace, x, g)
                let rrNew = dot(r, r)
                let beta = rrNew / rr
                for i in d.indices { d[i] = r[i] + beta * d[i] }
                rr = rrNew
                k += 1
            }
        }
        trace.converged = norm(g) <= tolerance
        return trace
    }

    func gradientOf(_ x: [Double]) -> [Double] { zip(apply(x), vectorValues).map { $0 + $1 } }

    private func record(_ trace: inout MinimizationTrace, _ x: [Double], _ g: [Double]) {
        trace.record(Tensor(x, shape: [dimension], dtype: .float64), value: valueOf(x), gradientNorm: norm(g))
    }
}

@inline(__always) func norm(_ v: [Double]) -> Double { dot(v, v).squareRoot() }
