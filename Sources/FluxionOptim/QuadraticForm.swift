import Foundation
import FluxionCore

/// What a quadratic form's matrix says about its minimum (SPEC §11).
public enum QuadraticClassification: String, Sendable, CustomStringConvertible {
    /// A ≻ 0: a unique global minimiser x* = −A⁻¹b.
    case positiveDefinite = "positive definite"
    /// A ⪰ 0 singular and b ∈ range(A): an affine set of minimisers; A⁺ gives the minimum-norm one.
    case positiveSemidefiniteWithMinimum = "positive semi-definite, b in range(A): minimum attained"
    /// A ⪰ 0 singular and b ∉ range(A): f decreases linearly along a null direction, unbounded below.
    case positiveSemidefiniteWithoutMinimum = "positive semi-definite, b not in range(A): unbounded below"
    /// A has eigenvalues of both signs: unbounded below along a negative-curvature direction.
    case indefinite = "indefinite: unbounded below"
    /// A ≺ 0: unbounded below.
    case negativeDefinite = "negative definite: unbounded below"
    /// A ⪯ 0, A ≠ 0, singular: unbounded below.
    case negativeSemidefinite = "negative semi-definite: unbounded below"

    /// Whether f attains a minimum (and is bounded below).
    public var hasMinimum: Bool { self == .positiveDefinite || self == .positiveSemidefiniteWithMinimum }

    public var description: String { rawValue }
}

/// Why a minimiser refused to run or stopped; the description names the problem.
public enum MinimizationError: Error, CustomStringConvertible, Equatable {
    /// The quadratic has no minimum; `direction` is a unit vector along which f → −∞.
    case unboundedBelow(QuadraticClassification, direction: [Double])
    /// The fixed step η is outside (0, 2/λmax), where gradient descent diverges.
    case unstableStep(step: Double, bound: Double)
    /// An argument was malformed (shapes, non-finite values, a non-positive tolerance).
    case invalidArgument(String)
    /// The line search found no step with sufficient decrease (the direction is not a descent direction
    /// or the function is not finite near the point).
    case lineSearchFailed(iteration: Int)

    public var description: String {
        switch self {
        case let .unboundedBelow(kind, direction):
            let d = direction.map { String(format: "%.4g", $0) }.joined(separator: ", ")
            return "the quadratic has no minimum: A is \(kind); f → −∞ along (\(d))"
        case let .unstableStep(step, bound):
            return "step \(step) is unstable: fixed-step gradient descent converges only for 0 < η < 2/λmax = \(bound)"
        case let .invalidArgument(message):
            return message
        case let .lineSearchFailed(iteration):
            return "the backtracking line search found no decrease at iteration \(iteration)"
        }
    }
}

/// The path of a minimiser: x₀, x₁, … with f(x_k) and ‖∇f(x_k)‖ at each iterate.
public struct MinimizationTrace {
    /// The iterates x₀ (the start), x₁, …, in Float64.
    public var iterates: [Tensor] = []
    /// f(x_k) for each iterate.
    public var values: [Double] = []
    /// ‖∇f(x_k)‖₂ for each iterate.
    public var gradientNorms: [Double] = []
    /// Whether the last iterate met the gradient-norm tolerance.
    public var converged = false
    /// The method that produced the trace, for printing.
    public var method = ""

    /// An empty trace for the method named `method`.
    public init(method: String) { self.method = method }

    /// The number of steps taken (iterates minus the start).
    public var iterationCount: Int { max(iterates.count - 1, 0) }
    /// The last iterate.
    public var solution: Tensor { iterates[iterates.count - 1] }

    mutating func record(_ x: Tensor, value: Double, gradientNorm: Double) {
        iterates.append(x); values.append(value); gradientNorms.append(gradientNorm)
    }
}

/// The quadratic f(x) = ½xᵀAx + bᵀx + c, with ∇f = Ax + b and Hessian A (SPEC §11).
///
/// Convention: the ½ form. A quadratic written as xᵀMx + bᵀx + c is `QuadraticForm(matrix: 2M, ...)`.
/// A non-symmetric matrix is replaced by its symmetric part (A + Aᵀ)/2, which leaves xᵀAx unchanged;
/// `wasSymmetrized` records that it happened. Everything is stored and computed in Float64.
/// Classification uses the eigenvalues (symmetric Jacobi); an eigenvalue counts as zero when
/// |λ| ≤ n·1e-12·max|λ|, and b ∈ range(A) when its null-space component is ≤ 1e-9·max(1, ‖b‖).
public struct QuadraticForm: Sendable {
    /// n, the number of variables.
    public let dimension: Int
    /// The symmetric matrix A, row-major (n·n values).
    public let matrixValues: [Double]
    /// The linear term b (n values).
    public let vectorValues: [Double]
    /// The constant c.
    public let constant: Double
    /// Whether the given matrix was not symmetric and was replaced by (A + Aᵀ)/2.
    public let wasSymmetrized: Bool
    /// A = V·diag(λ)·Vᵀ, eigenvalues ascending.
    public let eigen: SymmetricEigendecomposition
    /// What A and b say about the minimum.
    public let classification: QuadraticClassification
    /// A unit vector along which f → −∞ when there is no minimum (empty otherwise).
    public let descentDirection: [Double]

    /// Builds f(x) = ½xᵀAx + bᵀx + c from A (n×n, row-major or any Tensor of shape [n, n]) and b [n].
    /// - Throws: `MinimizationError.invalidArgument` for mismatched shapes or non-finite entries.
    public init(matrix: Tensor, vector: Tensor, constant: Double = 0) throws {
        guard matrix.rank == 2, matrix.shape[0] == matrix.shape[1], matrix.shape[0] > 0 else {
            throw MinimizationError.invalidArgument("the matrix A must be square and non-empty, got shape \(matrix.shape)")
        }
        try self.init(matrix: matrix.scalars, vector: vector.scalars, dimension: matrix.shape[0], constant: constant)
    }

    /// Builds the form from row-major values of A (n·n), b (n) and c.
    public init(matrix a: [Double], vector b: [Double], dimension n: Int, constant c: Double = 0) throws {
        guard n > 0, a.count == n * n else {
            throw MinimizationError.invalidArgument("A has \(a.count) entries; a \(n)×\(n) matrix needs \(n * n)")
        }
        guard b.count == n else {
            throw MinimizationError.invalidArgument("b has \(b.count) entries but A is \(n)×\(n)")
        }
        guard (a + b + [c]).allSatisfy(\.isFinite) else {
            throw MinimizationError.invalidArgument("A, b and c must be finite")
        }
        var sym = a
        var changed = false
        for i in 0..<n { for j in 0..<n where a[i * n + j] != a[j * n + i] {
            changed = true
            sym[i * n + j] = (a[i * n + j] + a[j * n + i]) / 2
        } }
        dimension = n; matrixValues = sym; vectorValues = b; constant = c; wasSymmetrized = changed
        eigen = SymmetricEigendecomposition(symmetric: sym, dimension: n)
        let tol = eigen.zeroTolerance
        let lambdas = eigen.eigenvalues
        let positive = lambdas.filter { $0 > tol }.count, negative = lambdas.filter { $0 < -tol }.count
        let zero = n - positive - negative
        if negative > 0 {
            classification = positive > 0 ? .indefinite : (zero > 0 ? .negativeSemidefinite : .negativeDefinite)
            descentDirection = eigen.eigenvectors[0]  // the most negative curvature
        } else if zero == 0 {
            classification = .positiveDefinite
            descentDirection = []
        } else {
            // Null-space component of b: r = Σ_{λ_k ≈ 0} v_k(v_kᵀb); f(−t·r) = −t‖r‖² + c → −∞.
            var r = [Double](repeating: 0, count: n)
            for (lambda, v) in zip(lambdas, eigen.eigenvectors) where Swift.abs(lambda) <= tol {
                let coefficient = dot(v, b)
                for i in 0..<n { r[i] += coefficient * v[i] }
            }
            let norm = dot(r, r).squareRoot()
            if norm <= 1e-9 * max(1, dot(b, b).squareRoot()) {
                classification = .positiveSemidefiniteWithMinimum
                descentDirection = []
            } else {
                classification = .positiveSemidefiniteWithoutMinimum
                descentDirection = r.map { -$0 / norm }
            }
        }
    }

    /// A as a [n, n] Float64 tensor.
    public var matrix: Tensor { Tensor(matrixValues, shape: [dimension, dimension], dtype: .float64) }
    /// b as a [n] Float64 tensor.
    public var vector: Tensor { Tensor(vectorValues, shape: [dimension], dtype: .float64) }

    /// The smallest eigenvalue λmin of A.
    public var smallestEigenvalue: Double { eigen.eigenvalues[0] }
    /// The largest eigenvalue λmax of A.
    public var largestEigenvalue: Double { eigen.eigenvalues[dimension - 1] }
    /// The smallest eigenvalue above the zero tolerance (λmin on range(A)), or nil if none.
    public var smallestPositiveEigenvalue: Double? { eigen.eigenvalues.first { $0 > eigen.zeroTolerance } }

    /// The fixed-step stability bound of gradient descent, 2/λmax: x ← x − η(Ax + b) converges iff
    /// 0 < η < 2/λmax (for A ⪰ 0 with a minimum). Infinite when A = 0.
    public var stabilityBound: Double { largestEigenvalue > 0 ? 2 / largestEigenvalue : .infinity }

    /// The best fixed step 2/(λmin + λmax), contraction factor (κ − 1)/(κ + 1) with κ = λmax/λmin.
    /// For a singular A ⪰ 0, λmin is the smallest *positive* eigenvalue (the iteration lives in range(A)).
    public var optimalStep: Double? {
        guard let low = smallestPositiveEigenvalue else { return nil }
        return 2 / (low + largestEigenvalue)
    }

    /// The condition number κ = λmax/λmin⁺ on range(A).
    public var conditionNumber: Double? { smallestPositiveEigenvalue.map { largestEigenvalue / $0 } }

    /// f(x) = ½xᵀAx + bᵀx + c as a differentiable scalar tensor; x has shape [n] and dtype float64.
    public func value(at x: Tensor) -> Tensor {
        let column = x.reshaped(to: [dimension, 1])
        let quadratic = Tensor.matmul(Tensor.matmul(column, matrix, transposeA: true), column).reshaped(to: [])
        return 0.5 * quadratic + (vector * x).sum() + constant
    }

    /// ∇f(x) = Ax + b, shape [n].
    public func gradient(at x: Tensor) -> Tensor {
        Tensor.matmul(matrix, x.reshaped(to: [dimension, 1])).reshaped(to: [dimension]) + vector
    }

    /// A·v, shape [n].
    func apply(_ v: [Double]) -> [Double] {
        (0..<dimension).map { i in
            var s = 0.0
            for j in 0..<dimension { s += matrixValues[i * dimension + j] * v[j] }
            return s
        }
    }

    /// f(x) from plain values.
    func valueOf(_ x: [Double]) -> Double { 0.5 * dot(x, apply(x)) + dot(vectorValues, x) + constant }

    /// The minimiser of least norm: x* = −A⁻¹b via Cholesky for A ≻ 0, x* = −A⁺b (eigen-decomposition
    /// pseudo-inverse) for A ⪰ 0 singular with b ∈ range(A). The minimum is f* = c − ½bᵀA⁺b.
    /// - Throws: `MinimizationError.unboundedBelow` when there is no minimum.
    public func minimizer() throws -> Tensor {
        try requireMinimum()
        if classification == .positiveDefinite, let l = choleskyFactor(matrixValues, dimension: dimension) {
            return Tensor(choleskySolve(factor: l, dimension: dimension, vectorValues).map { -$0 }, shape: [dimension], dtype: .float64)
        }
        return Tensor(eigen.pseudoInverseTimes(vectorValues).map { -$0 }, shape: [dimension], dtype: .float64)
    }

    /// The minimum value f* = f(x*).
    /// - Throws: `MinimizationError.unboundedBelow` when there is no minimum.
    public func minimumValue() throws -> Double { valueOf(try minimizer().scalars) }

    /// Throws `unboundedBelow` unless a minimum exists.
    public func requireMinimum() throws {
        guard classification.hasMinimum else {
            throw MinimizationError.unboundedBelow(classification, direction: descentDirection)
        }
    }
}
