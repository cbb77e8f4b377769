import Foundation
import FluxionCore

/// A minimiser for a general smooth f: Rⁿ → R given as a Tensor function (gradients by autodiff).
public enum SmoothMethod: String, Sendable, CaseIterable, CustomStringConvertible {
    /// x ← x − α∇f with a backtracking (Armijo) line search.
    case gradientDescent = "gradient descent"
    /// Nonlinear conjugate gradient, Polak–Ribière+ with restarts, backtracking line search.
    case conjugateGradient = "nonlinear conjugate gradient (PR+)"
    /// Truncated Newton: the Newton system H·p = −g solved by CG with Hessian-vector products.
    case newtonCG = "Newton-CG"

    public var description: String { rawValue }
}

/// Settings of `minimize(_:from:method:options:)`.
public struct SmoothMinimizationOptions: Sendable {
    /// Stop when ‖∇f(x)‖₂ ≤ tolerance.
    public var tolerance: Double = 1e-9
    /// Stop after this many outer iterations.
    public var maxIterations: Int = 10_000
    /// Armijo constant c₁ in f(x + αp) ≤ f(x) + c₁α∇fᵀp.
    public var sufficientDecrease: Double = 1e-4
    /// Backtracking factor: α ← ρα after a rejected step.
    public var backtrackingFactor: Double = 0.5
    /// The defaults above.
    public init() {}
}

/// Minimises a smooth scalar function f of a Float64 tensor from `start`, returning the trace
/// (iterates, f, ‖∇f‖). Gradients come from reverse mode, Hessian-vector products (Newton-CG)
/// from forward-over-reverse `hessianVectorProduct`.
///
/// - Gradient descent: p = −∇f, step by backtracking: the largest α = α₀ρʲ with
///   f(x + αp) ≤ f(x) + c₁α∇fᵀp (Armijo). α₀ is twice the last accepted step, so the search adapts
///   to the local curvature instead of restarting from 1.
/// - Nonlinear CG: p_{k+1} = −g_{k+1} + β p_k, β = max(0, g_{k+1}ᵀ(g_{k+1} − g_k)/g_kᵀg_k)
///   (Polak–Ribière+), restarting with −g every n steps or whenever p is not a descent direction.
///   Initial step α₀ = α_{k−1}·g_{k−1}ᵀp_{k−1}/g_kᵀp_k (Nocedal & Wright §3.5).
/// - Newton-CG: inner CG on H·p = −g, stopped at relative residual min(½, √‖g‖) (superlinear
///   convergence) or at the first direction of non-positive curvature dᵀHd ≤ 0 (then the current
///   p, or −g on the first inner step, is used); Armijo backtracking from α = 1.
/// Reference: Nocedal & Wright, Numerical Optimization (2nd ed.), §3.1, §5.2, §7.1.
/// - Throws: `MinimizationError.invalidArgument` for a non-Float64 or non-finite start,
///   `.lineSearchFailed` when no step decreases f.
public func minimize(_ f: (Tensor) -> Tensor, from start: Tensor, method: SmoothMethod,
                     options: SmoothMinimizationOptions = SmoothMinimizationOptions()) throws -> MinimizationTrace {
    guard start.dtype == .float64 else {
        throw MinimizationError.invalidArgument("minimize: the start must be a float64 tensor, got \(start.dtype)")
    }
    guard start.scalars.allSatisfy(\.isFinite), start.count > 0 else {
        throw MinimizationError.invalidArgument("minimize: the start must be non-empty and finite")
    }
    let n = start.count
    var trace = MinimizationTrace(method: method.description)
    var x = start
    var (fx, g) = valueAndGradient(f, x)
    trace.record(x, value: fx, gradientNorm: tensorNorm(g))
    var p = g * -1.0
    var previousStep = 1.0
    var previousValue = fx
    var previousSlope = -1.0
    var sinceRestart = 0
    var k = 0
    while tensorNorm(g) > options.tolerance && k < options.maxIterations {
        var slope = (g * p).sum().item
        let initialStep: Double
        switch method {
        case .gradientDescent:
            p = g * -1.0
            slope = (g * p).sum().item
            initialStep = k == 0 ? 1 / max(1, tensorNorm(g)) : interpolatedStep(previousValue - fx, slope, fallback: previousStep * previousSlope / slope,
                                                                                                  noise: 1e-10 * Swift.abs(fx))
        case .conjugateGradient:
            if slope >= 0 || sinceRestart >= n {  // restart with steepest descent
                p = g * -1.0
                slope = (g * p).sum().item
                sinceRestart = 0
            }
            initialStep = k == 0 ? 1 / max(1, tensorNorm(g)) : interpolatedStep(previousValue - fx, slope, fallback: previousStep * previousSlope / slope,
                                                                                                  noise: 1e-10 * Swift.abs(fx))
        case .newtonCG:
            p = truncatedNewtonDirection(f, at: x, gradient: g)
            slope = (g * p).sum().item
            initialStep = 1
        }
        let step: (alpha: Double, x: Tensor, f: Double, g: Tensor?)
        if method == .conjugateGradient {
            step = try strongWolfeLineSearch(f, x: x, value: fx, direction: p, slope: slope,
                                             initialStep: initialStep, c1: options.sufficientDecrease, iteration: k)
        } else {
            step = try backtrackingLineSearch(f, x: x, value: fx, direction: p, slope: slope, initialStep: initialStep,
                                              c1: options.sufficientDecrease, rho: options.backtrackingFactor, iteration: k)
        }
        let alpha = step.alpha
        let gPrevious = g
        previousValue = fx
        previousSlope = slope
        x = step.x
        if let known = step.g { (fx, g) = (step.f, known) } else { (fx, g) = valueAndGradient(f, x) }
        trace.record(x, value: fx, gradientNorm: tensorNorm(g))
        previousStep = alpha
        if method == .conjugateGradient {
            let beta = max(0, (g * (g - gPrevious)).sum().item / (gPrevious * gPrevious).sum().item)
            p = g * -1.0 + beta * p
            sinceRestart += 1
        }
        k += 1
    }
    trace.converged = tensorNorm(g) <= options.tolerance
    return trace
}

/// The first trial step 1.01·2(f_{k−1} − f_k)/(−∇f_kᵀp_k): the minimiser of the quadratic through
/// the last decrease, assuming the same decrease again (Nocedal & Wright eq. 3.60).
/// When the decrease is at the level of rounding, `fallback` (α_{k−1}φ'_{k−1}(0)/φ'_k(0), eq. 3.59) is used.
private func interpolatedStep(_ decrease: Double, _ slope: Double, fallback: Double, noise: Double) -> Double {
    let alpha = decrease > noise ? 1.01 * 2 * decrease / -slope : fallback
    return alpha.isFinite && alpha > 0 ? alpha : fallback
}

/// Backtracking (Armijo): the first α = α₀, then the safeguarded minimiser of the quadratic through
/// φ(0), φ'(0), φ(α) (kept in [0.1α, ρα]), until f(x + αp) ≤ f(x) + c₁α∇fᵀp.
private func backtrackingLineSearch(_ f: (Tensor) -> Tensor, x: Tensor, value fx: Double, direction p: Tensor,
                                    slope: Double, initialStep: Double, c1: Double, rho: Double,
                                    iteration: Int) throws -> (alpha: Double, x: Tensor, f: Double, g: Tensor?) {
    var alpha = initialStep
    for _ in 0..<60 {
        let trial = x + alpha * p
        let ft = withoutDerivatives { f(trial).item }
        if ft.isFinite && ft <= fx + c1 * alpha * slope { return (alpha, trial, ft, nil) }
        // Near a minimum with f* ≠ 0 the decrease c₁α‖g‖² drops below the rounding of f; then decide
        // on the slope instead: φ'(α) ≤ (2c₁ − 1)φ'(0), the approximate Armijo condition, equivalent
        // for a quadratic φ and computable to full relative accuracy (Hager & Zhang 2005).
        if ft.isFinite && ft - fx <= 1e-12 * Swift.abs(fx) {
            let (value, g) = valueAndGradient(f, trial)
            if (g * p).sum().item <= (2 * c1 - 1) * slope { return (alpha, trial, value, g) }
        }
        var next = rho * alpha
        if ft.isFinite {
            let q = -slope * alpha * alpha / (2 * (ft - fx - slope * alpha))
            if q.isFinite { next = min(max(q, 0.1 * alpha), rho * alpha) }
        }
        alpha = next
    }
    throw MinimizationError.lineSearchFailed(iteration: iteration)
}

/// A step satisfying the strong Wolfe conditions f(x + αp) ≤ f(x) + c₁α∇fᵀp and
/// |∇f(x + αp)ᵀp| ≤ c₂|∇fᵀp| with c₂ = 0.1, the accuracy nonlinear CG needs to keep its
/// directions descent directions. Bracketing then zoom with safeguarded cubic interpolation
/// (Nocedal & Wright Algorithms 3.5 and 3.6, eq. 3.59).
private func strongWolfeLineSearch(_ f: (Tensor) -> Tensor, x: Tensor, value f0: Double, direction p: Tensor,
                                   slope d0: Double, initialStep: Double, c1: Double,
                                   iteration: Int) throws -> (alpha: Double, x: Tensor, f: Double, g: Tensor?) {
    let c2 = 0.1
    typealias Point = (alpha: Double, x: Tensor, f: Double, g: Tensor, d: Double)
    func evaluate(_ alpha: Double) -> Point {
        let trial = x + alpha * p
        let (v, g) = valueAndGradient(f, trial)
        return (alpha, trial, v, g, (g * p).sum().item)
    }
    func sufficient(_ q: Point) -> Bool { q.f.isFinite && q.f <= f0 + c1 * q.alpha * d0 }
    func cubicMinimizer(_ a: Point, _ b: Point) -> Double {
        let d1 = a.d + b.d - 3 * (a.f - b.f) / (a.alpha - b.alpha)
        let radicand = d1 * d1 - a.d * b.d
        let (lo, hi) = (min(a.alpha, b.alpha), max(a.alpha, b.alpha))
        let mid = (a.alpha + b.alpha) / 2
        guard radicand >= 0, a.f.isFinite, b.f.isFinite else { return mid }
        let d2 = (b.alpha - a.alpha >= 0 ? 1.0 : -1.0) * radicand.squareRoot()
        let t = b.alpha - (b.alpha - a.alpha) * (b.d + d2 - d1) / (b.d - a.d + 2 * d2)
        let margin = 0.1 * (hi - lo)
        return t.isFinite && t > lo + margin && t < hi - margin ? t : mid
    }
    var best: Point? = nil
    func zoom(_ low: Point, _ high: Point) -> Point? {
        var (lo, hi) = (low, high)
        for _ in 0..<30 {
            let q = evaluate(cubicMinimizer(lo, hi))
            if !sufficient(q) || q.f >= lo.f {
                hi = q
            } else {
                if Swift.abs(q.d) <= -c2 * d0 { return q }
                if q.d * (hi.alpha - lo.alpha) >= 0 { hi = lo }
                lo = q
            }
            if Swift.abs(hi.alpha - lo.alpha) < 1e-16 * max(1, lo.alpha) { break }
        }
        return lo.alpha > 0 ? lo : nil  // lo always satisfies the Armijo condition
    }
    var previous: Point = (0, x, f0, Tensor.zeros(like: p), d0)
    var alpha = initialStep
    for i in 0..<30 {
        let q = evaluate(alpha)
        if !sufficient(q) || (i > 0 && q.f >= previous.f) { best = zoom(previous, q); break }
        if Swift.abs(q.d) <= -c2 * d0 { best = q; break }
        if q.d >= 0 { best = zoom(q, previous); break }
        previous = q
        alpha *= 2
    }
    guard let step = best else { throw MinimizationError.lineSearchFailed(iteration: iteration) }
    return (step.alpha, step.x, step.f, step.g)
}

/// (f(x), ∇f(x)) with the value as a Double.
private func valueAndGradient(_ f: (Tensor) -> Tensor, _ x: Tensor) -> (Double, Tensor) {
    let (value, g) = valueWithGradient(at: x, of: f)
    return (value.item, g)
}

private func tensorNorm(_ v: Tensor) -> Double { (v * v).sum().item.squareRoot() }

/// The inexact Newton direction p ≈ −H⁻¹g by conjugate gradient on H·p = −g with
/// Hessian-vector products (Nocedal & Wright Algorithm 7.1).
private func truncatedNewtonDirection(_ f: (Tensor) -> Tensor, at x: Tensor, gradient g: Tensor) -> Tensor {
    let gNorm = tensorNorm(g)
    let forcing = min(0.5, gNorm.squareRoot()) * gNorm
    var z = Tensor.zeros(like: g)
    var r = g           // residual of H z + g
    var d = g * -1.0
    for j in 0..<(2 * g.count + 10) {
        let hd = hessianVectorProduct(of: f, at: x, along: d)
        let curvature = (d * hd).sum().item
        if curvature <= 0 { return j == 0 ? g * -1.0 : z }
        let rr = (r * r).sum().item
        let alpha = rr / curvature
        z = z + alpha * d
        r = r + alpha * hd
        let rrNew = (r * r).sum().item
        if rrNew.squareRoot() <= forcing { return z }
        d = r * -1.0 + (rrNew / rr) * d
    }
    return z
}
