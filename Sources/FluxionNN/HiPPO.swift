import FluxionCore
import Foundation

// NOTE(1) of HiPPO.swift: HiPPO (Gu, Dao, Ermon, Rudra, Ré 2020, "HiPPO: Recurrent Memory with
// Optimal Polynomial Projections"; Su's derivation, kexue.fm 10114 and 10137), in the convention
// of the state-spaces code's `transition(measure, N)`, with R_n = √(2n + 1):
//
//   LegS  A_{nk} = −R_n R_k (n > k),  −(n + 1) (n = k),  0 (n < k);   B_n = R_n
//         (already negated: the ODE is x' = A x / t + B u / t; Su writes A_{nn} = −(n + 1) the same
//         way and B_n = √2·R_n before rescaling the state by 1/√2).
//   LegT  A_{nk} = −½ R_n R_k (n ≥ k),  −½ (−1)^{n−k} R_n R_k (n < k);   B_n = ½ R_n
//         (the window-θ LegT at θ = 2: Su's A = −(1/θ)R_n R_k{1, (−1)^{n−k}}, B_n = (1/θ)√2·R_n with
//         the state rescaled by 1/√2; state-spaces "halves again for timescale correctness").
//
// LegS is lower triangular with eigenvalues −1 … −N, and A + ½vvᵀ + ½I is skew-symmetric for
// v = R (the normal-plus-low-rank form S4 diagonalises). Its matrix-vector product and the solve
// of (I − λA)z = v take O(N) through the running sum S_n = Σ_{k≤n} R_k v_k.

/// HiPPO matrices, their discretisations and LegS's O(N) operations (NOTE(1) of HiPPO.swift).
public enum HiPPO {
    /// The measure of the online projection: LegS (scaled Legendre, the whole history) or LegT
    /// (translated Legendre, a sliding window).
    public enum Measure: String, Sendable, CaseIterable { case legS = "legs", legT = "legt" }

    /// How a continuous x' = Ax + Bu becomes x_{k+1} = Ā x_k + B̄ u_k at step ε (input held on each step).
    public enum Discretization: String, Sendable, CaseIterable {
        /// Ā = I + εA, B̄ = εB.
        case forwardEuler
        /// Ā = (I − εA)⁻¹, B̄ = ε(I − εA)⁻¹B.
        case backwardEuler
        /// Ā = (I − εA/2)⁻¹(I + εA/2), B̄ = ε(I − εA/2)⁻¹B (Tustin; S4's choice).
        case bilinear
        /// Ā = e^{εA}, B̄ = A⁻¹(e^{εA} − I)B (exact for an input constant on each step).
        case zeroOrderHold
    }

    /// (A [N, N], B [N]) of `measure` in the state-spaces convention (Float64).
    public static func transition(_ measure: Measure, size n: Int) -> (A: Tensor, B: Tensor) {
        precondition(n >= 1, "HiPPO.transition: size must be at least 1, got \(n)")
        let r = (0..<n).map { (2 * Double($0) + 1).squareRoot() }
        var a = [Double](repeating: 0, count: n * n)
        var b = r
        for i in 0..<n {
            for k in 0..<n {
                switch measure {
                case .legS: a[i * n + k] = i > k ? -r[i] * r[k] : (i == k ? -Double(i + 1) : 0)
                case .legT: a[i * n + k] = -0.5 * r[i] * r[k] * (i >= k || (k - i) % 2 == 0 ? 1 : -1)
                }
            }
        }
        if measure == .legT { b = b.map { $0 / 2 } }
        return (Tensor(a, shape: [n, n], dtype: .float64), Tensor(b, shape: [n], dtype: .float64))
    }

    /// The rank-one correction v of LegS: A + ½vvᵀ + ½I is skew-symmetric for v_n = √(2n + 1)
    /// (state-spaces' `rank_correction('legs')` is v/√2).
    public static func legSCorrection(size n: Int) -> Tensor {
        Tensor((0..<n).map { (2 * Double($0) + 1).squareRoot() }, dtype: .float64)
    }

    /// (Ā, B̄) of x' = Ax + Bu at step ε. Shapes: A [N, N], B [N] → [N, N], [N] (Float64).
    public static func discretize(A: Tensor, B: Tensor, step: Double, method: Discretization) -> (A: Tensor, B: Tensor) {
        let n = B.count
        precondition(A.shape == [n, n] && B.shape == [n], "HiPPO.discretize: A \(A.shape) and B \(B.shape) must be [N, N] and [N]")
        let a = A.scalars, b = B.scalars
        let identity = (0..<(n * n)).map { $0 / n == $0 % n ? 1.0 : 0.0 }
        func affine(_ s: Double) -> [Double] { zip(identity, a).map { $0 + s * $1 } }   // I + sA
        let (ad, bd): ([Double], [Double])
        switch method {
        case .forwardEuler:
            (ad, bd) = (affine(step), b.map { step * $0 })
        case .backwardEuler:
            let m = affine(-step)
            (ad, bd) = (DenseMatrix.solve(m, identity, n: n, columns: n), DenseMatrix.solve(m, b.map { step * $0 }, n: n, columns: 1))
        case .bilinear:
            let m = affine(-step / 2)
            (ad, bd) = (DenseMatrix.solve(m, affine(step / 2), n: n, columns: n), DenseMatrix.solve(m, b.map { step * $0 }, n: n, columns: 1))
        case .zeroOrderHold:
            let e = DenseMatrix.exponential(a.map { step * $0 }, n: n)
            // B̄ = A⁻¹(e^{εA} − I)B = ε·φ₁(εA)B, computed from the exponential of the augmented
            // matrix [[εA, εB], [0, 0]] (no inverse of A, which LegT's may make ill-conditioned).
            var augmented = [Double](repeating: 0, count: (n + 1) * (n + 1))
            for i in 0..<n {
                for k in 0..<n { augmented[i * (n + 1) + k] = step * a[i * n + k] }
                augmented[i * (n + 1) + n] = step * b[i]
            }
            let full = DenseMatrix.exponential(augmented, n: n + 1)
            (ad, bd) = (e, (0..<n).map { full[$0 * (n + 1) + n] })
        }
        return (Tensor(ad, shape: [n, n], dtype: .float64), Tensor(bd, shape: [n], dtype: .float64))
    }

    /// (A v)_n for the LegS A in O(N): n·v_n − R_n Σ_{k≤n} R_k v_k.
    public static func legSMatvec(_ v: [Double]) -> [Double] {
        var sum = 0.0
        return v.indices.map { i in
            let r = (2 * Double(i) + 1).squareRoot()
            sum += r * v[i]
            return Double(i) * v[i] - r * sum
        }
    }

    /// z with (I − λA) z = v for the LegS A, in O(N):
    /// S_n = ((1 − λn) S_{n−1} + R_n v_n) / (1 + λn + λ), z_n = (S_n − S_{n−1}) / R_n.
    public static func legSSolve(lambda: Double, _ v: [Double]) -> [Double] {
        var previous = 0.0
        return v.indices.map { i in
            let n = Double(i), r = (2 * n + 1).squareRoot()
            let s = ((1 - lambda * n) * previous + r * v[i]) / (1 + lambda * n + lambda)
            defer { previous = s }
            return (s - previous) / r
        }
    }

    /// One step of the bilinear LegS recursion at step k ≥ 1 (t = kε; ε cancels, so the memory is
    /// step-size independent): x_{k+1} = (I − A/(2(k+1)))⁻¹ [(I + A/(2k)) x_k + B u_k / k].
    public static func legSBilinearStep(_ x: [Double], input u: Double, step k: Int) -> [Double] {
        precondition(k >= 1, "HiPPO.legSBilinearStep: step index must be at least 1 (t = kε > 0), got \(k)")
        let kk = Double(k)
        let ax = legSMatvec(x)
        let rhs = x.indices.map { i in x[i] + ax[i] / (2 * kk) + (2 * Double(i) + 1).squareRoot() * u / kk }
        return legSSolve(lambda: 1 / (2 * (kk + 1)), rhs)
    }
}

/// Small dense Float64 linear algebra for HiPPO's discretisations (row-major N×N).
enum DenseMatrix {
    /// X with M·X = R (M [n, n], R [n, columns]) by Gaussian elimination with partial pivoting.
    static func solve(_ m: [Double], _ r: [Double], n: Int, columns: Int) -> [Double] {
        var a = m, x = r
        for col in 0..<n {
            let pivot = (col..<n).max { Swift.abs(a[$0 * n + col]) < Swift.abs(a[$1 * n + col]) }!
            precondition(a[pivot * n + col] != 0, "HiPPO.discretize: singular system (I − εA is not invertible at this step)")
            if pivot != col {
                for j in 0..<n { a.swapAt(col * n + j, pivot * n + j) }
                for j in 0..<columns { x.swapAt(col * columns + j, pivot * columns + j) }
            }
            for row in (col + 1)..<Swift.max(n, col + 1) {
                let f = a[row * n + col] / a[col * n + col]
                if f == 0 { continue }
                for j in col..<n { a[row * n + j] -= f * a[col * n + j] }
                for j in 0..<columns { x[row * columns + j] -= f * x[col * columns + j] }
            }
        }
        for col in stride(from: n - 1, through: 0, by: -1) {
            for j in 0..<columns {
                var s = x[col * columns + j]
                for k in (col + 1)..<Swift.max(n, col + 1) { s -= a[col * n + k] * x[k * columns + j] }
                x[col * columns + j] = s / a[col * n + col]
            }
        }
        return x
    }

    static func multiply(_ a: [Double], _ b: [Double], n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for k in 0..<n where a[i * n + k] != 0 { for j in 0..<n { c[i * n + j] += a[i * n + k] * b[k * n + j] } } }
        return c
    }

    /// e^M by scaling and squaring: M/2^s with ‖M/2^s‖₁ ≤ ½, a degree-18 Taylor sum, s squarings.
    static func exponential(_ m: [Double], n: Int) -> [Double] {
        var norm = 0.0
        for j in 0..<n { norm = Swift.max(norm, (0..<n).reduce(0) { $0 + Swift.abs(m[$1 * n + j]) }) }
        let s = norm > 0.5 ? Int(Foundation.log2(norm / 0.5).rounded(.up)) : 0
        let scaled = m.map { $0 / Foundation.pow(2, Double(s)) }
        var result = (0..<(n * n)).map { $0 / n == $0 % n ? 1.0 : 0.0 }
        var term = result
        for order in 1...18 {
            term = multiply(term, scaled, n: n).map { $0 / Double(order) }
            for i in result.indices { result[i] += term[i] }
        }
        for _ in 0..<s { result = multiply(result, result, n: n) }
        return result
    }
}
