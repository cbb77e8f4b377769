import Foundation

// Small dense symmetric eigen-decomposition in Float64 (row-major [Double] of n·n elements, n up
// to a few hundred; clarity wins over blocking). Shared by FluxionOptim's quadratic minimisers
// (rank decisions, pseudo-inverse) and FluxionNN's HiPPO DPLR form (eigenvectors of the skew part
// of LegS through its symmetric 2N embedding).

/// The eigen-decomposition A = V·diag(λ)·Vᵀ of a symmetric matrix.
public struct SymmetricEigendecomposition: Sendable {
    /// The eigenvalues in ascending order.
    public let eigenvalues: [Double]
    /// The orthonormal eigenvectors: `eigenvectors[k]` belongs to `eigenvalues[k]`.
    public let eigenvectors: [[Double]]

    /// Diagonalises the symmetric n×n matrix `matrix` (row-major, n·n values) with the cyclic
    /// Jacobi method: repeated plane rotations J(p, q, θ), tan 2θ = 2a_pq/(a_qq − a_pp), each of
    /// which zeroes a_pq, until the off-diagonal Frobenius norm is below 1e-15·‖A‖_F.
    /// Jacobi converges quadratically and computes small eigenvalues to high *relative* accuracy,
    /// which is what the rank decisions of `QuadraticForm` need. Cost O(n³) per sweep, ≤ 50 sweeps.
    /// Reference: Golub & Van Loan, Matrix Computations, §8.5.
    public init(symmetric matrix: [Double], dimension n: Int) {
        precondition(matrix.count == n * n, "SymmetricEigendecomposition: \(matrix.count) values for a \(n)×\(n) matrix")
        var a = matrix
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        let scale = a.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for _ in 0..<50 {
            var off = 0.0
            for p in 0..<n { for q in (p + 1)..<max(p + 1, n) { off += 2 * a[p * n + q] * a[p * n + q] } }
            if off.squareRoot() <= 1e-15 * scale || scale == 0 { break }
            for p in 0..<n {
                for q in (p + 1)..<max(p + 1, n) where a[p * n + q] != 0 {
                    let apq = a[p * n + q]
                    // The smaller root of t² + 2τt − 1 = 0 (|θ| ≤ π/4): stable form from Golub & Van Loan.
                    let tau = (a[q * n + q] - a[p * n + p]) / (2 * apq)
                    let t = (tau >= 0 ? 1.0 : -1.0) / (Swift.abs(tau) + (1 + tau * tau).squareRoot())
                    let c = 1 / (1 + t * t).squareRoot(), s = t * c
                    for k in 0..<n {  // A ← A·J
                        let akp = a[k * n + p], akq = a[k * n + q]
                        a[k * n + p] = c * akp - s * akq
                        a[k * n + q] = s * akp + c * akq
                    }
                    for k in 0..<n {  // A ← Jᵀ·A
                        let apk = a[p * n + k], aqk = a[q * n + k]
                        a[p * n + k] = c * apk - s * aqk
                        a[q * n + k] = s * apk + c * aqk
                    }
                    a[p * n + q] = 0; a[q * n + p] = 0
                    for k in 0..<n {  // V ← V·J
                        let vkp = v[k * n + p], vkq = v[k * n + q]
                        v[k * n + p] = c * vkp - s * vkq
                        v[k * n + q] = s * vkp + c * vkq
                    }
                }
            }
        }
        let order = (0..<n).sorted { a[$0 * n + $0] < a[$1 * n + $1] }
        eigenvalues = order.map { a[$0 * n + $0] }
        eigenvectors = order.map { k in (0..<n).map { v[$0 * n + k] } }
    }

    /// The largest |λ|, the scale used for rank decisions.
    public var spectralNorm: Double { eigenvalues.map { Swift.abs($0) }.max() ?? 0 }

    /// The tolerance below which an eigenvalue counts as zero: n·1e-12·max|λ|.
    public var zeroTolerance: Double { Double(max(eigenvalues.count, 1)) * 1e-12 * spectralNorm }

    /// The Moore–Penrose pseudo-inverse applied to `b`: A⁺b = Σ_{|λ_k| > tol} v_k (v_kᵀb)/λ_k.
    /// For a singular consistent system Ax = b this is the solution of minimum norm.
    public func pseudoInverseTimes(_ b: [Double]) -> [Double] {
        var x = [Double](repeating: 0, count: b.count)
        let tol = zeroTolerance
        for (lambda, vector) in zip(eigenvalues, eigenvectors) where Swift.abs(lambda) > tol {
            let coefficient = zip(vector, b).reduce(0.0) { $0 + $1.0 * $1.1 } / lambda
            for i in x.indices { x[i] += coefficient * vector[i] }
        }
        return x
    }
}
