import Foundation

// Small dense linear algebra in Float64 for the quadratic minimisers: Cholesky factorisation and
// solves. (The symmetric Jacobi eigen-decomposition and its pseudo-inverse live in FluxionCore,
// SymmetricEigendecomposition.swift, shared with HiPPO's DPLR form.) Matrices are row-major
// [Double] of n·n elements; n is small (up to a few hundred), so clarity wins over blocking.

/// The Cholesky factor L (lower triangular, row-major) with A = L·Lᵀ, or nil when A is not
/// numerically positive definite (a pivot ≤ 0). Solving with L instead of forming A⁻¹ is the
/// stable way to compute A⁻¹b (SPEC §11).
public func choleskyFactor(_ a: [Double], dimension n: Int) -> [Double]? {
    precondition(a.count == n * n, "choleskyFactor: \(a.count) values for a \(n)×\(n) matrix")
    var l = [Double](repeating: 0, count: n * n)
    for j in 0..<n {
        var d = a[j * n + j]
        for k in 0..<j { d -= l[j * n + k] * l[j * n + k] }
        guard d > 0, d.isFinite else { return nil }
        let ljj = d.squareRoot()
        l[j * n + j] = ljj
        for i in (j + 1)..<max(j + 1, n) {
            var s = a[i * n + j]
            for k in 0..<j { s -= l[i * n + k] * l[j * n + k] }
            l[i * n + j] = s / ljj
        }
    }
    return l
}

/// Solves A·x = b given the Cholesky factor L of A: forward substitution L·y = b, then back
/// substitution Lᵀ·x = y.
public func choleskySolve(factor l: [Double], dimension n: Int, _ b: [Double]) -> [Double] {
    var y = b
    for i in 0..<n {
        for k in 0..<i { y[i] -= l[i * n + k] * y[k] }
        y[i] /= l[i * n + i]
    }
    var x = y
    for i in stride(from: n - 1, through: 0, by: -1) {
        for k in (i + 1)..<max(i + 1, n) { x[i] -= l[k * n + i] * x[k] }
        x[i] /= l[i * n + i]
    }
    return x
}

@inline(__always) func dot(_ a: [Double], _ b: [Double]) -> Double {
    var s = 0.0
    for i in a.indices { s += a[i] * b[i] }
    return s
}
