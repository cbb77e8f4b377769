import Foundation
import FluxionCore

/// The simple random walk on the integers (the drunkard's walk, SPEC §8): X₀ = 0 and
/// X_n = X_{n−1} ± 1, a step of +1 with probability p and −1 with probability q = 1 − p.
///
/// One step has probability generating function G(x) = px + q/x, so X_n has G(x)ⁿ = (px + q/x)ⁿ
/// and P(X_n = k) is the coefficient of x^k. Mean E X_n = n(p − q), variance Var X_n = 4npq
/// (= n when p = ½). Return probabilities u_{2n} = P(X_{2n} = 0) = C(2n, n)(pq)ⁿ, first-return
/// probabilities f_{2n} = u_{2n}/(2n − 1) from F(s) = 1 − 1/U(s) = 1 − √(1 − 4pqs²), total return
/// probability F(1) = 1 − |p − q| (recurrent iff p = ½).
/// Reference: Feller, An Introduction to Probability Theory and Its Applications I, ch. III and XI.
public struct RandomWalk: Sendable {
    /// The probability p of a +1 step.
    public let upProbability: Double
    /// q = 1 − p.
    public var downProbability: Double { 1 - upProbability }

    /// A walk with P(step = +1) = p; p = ½ (the default) is the symmetric walk.
    public init(upProbability p: Double = 0.5) {
        precondition(p >= 0 && p <= 1, "RandomWalk: the step probability must lie in [0, 1], got \(p)")
        upProbability = p
    }

    /// E X_n = n(p − q).
    public func mean(steps n: Int) -> Double { Double(n) * (upProbability - downProbability) }
    /// Var X_n = 4npq.
    public func variance(steps n: Int) -> Double { 4 * Double(n) * upProbability * downProbability }

    /// The exact distribution of X_n from the generating function: the coefficients of
    /// (px + q/x)ⁿ, expanded by n repeated multiplications by (px + q/x).
    ///
    /// Returns 2n + 1 probabilities for k = −n…n (index k + n); entries with n + k odd are 0.
    /// Each multiplication only adds non-negative terms, so there is no cancellation and the
    /// relative error stays at rounding level (terms below ~1e−308 underflow to 0).
    public func exactDistribution(steps n: Int) -> [Double] {
        precondition(n >= 0, "exactDistribution: steps must be non-negative, got \(n)")
        // coefficients[j] is the coefficient of x^(2j − m) after m multiplications: j up-steps of m.
        var coefficients = [1.0]
        let (p, q) = (upProbability, downProbability)
        for _ in 0..<n {
            var next = [Double](repeating: 0, count: coefficients.count + 1)
            for (j, c) in coefficients.enumerated() {
                next[j] += q * c
                next[j + 1] += p * c
            }
            coefficients = next
        }
        var distribution = [Double](repeating: 0, count: 2 * n + 1)
        for (j, c) in coefficients.enumerated() { distribution[2 * j] = c }  // k = 2j − n ↦ index 2j
        return distribution
    }

    /// P(X_n = k) = C(n, (n + k)/2) p^{(n+k)/2} q^{(n−k)/2} for n + k even, evaluated in log space
    /// with lgamma (valid for any n, no overflow of the binomial coefficient).
    public func probability(of k: Int, steps n: Int) -> Double {
        guard Swift.abs(k) <= n, (n + k) % 2 == 0 else { return 0 }
        let up = (n + k) / 2, down = n - up
        let (p, q) = (upProbability, downProbability)
        if (p == 0 && up > 0) || (q == 0 && down > 0) { return 0 }
        var logP = lgamma(Double(n + 1)) - lgamma(Double(up + 1)) - lgamma(Double(down + 1))
        if up > 0 { logP += Double(up) * Foundation.log(p) }
        if down > 0 { logP += Double(down) * Foundation.log(q) }
        return Foundation.exp(logP)
    }

    /// u_{2m} = P(X_{2m} = 0) = C(2m, m)(pq)^m for m = 0…count−1, by the exact recurrence
    /// u_{2m} = u_{2m−2}·(2m − 1)/(2m)·4pq (u₀ = 1). For p = ½, u_{2m} ≈ 1/√(πm); u₂₀ = 0.176197.
    public func returnProbabilities(count: Int) -> [Double] {
        var u = [Double](repeating: 0, count: max(count, 0))
        guard count > 0 else { return u }
        u[0] = 1
        let fourPQ = 4 * upProbability * downProbability
        for m in stride(from: 1, to: count, by: 1) {
            u[m] = u[m - 1] * Double(2 * m - 1) / Double(2 * m) * fourPQ
        }
        return u
    }

    /// f_{2m} = P(first return to 0 at step 2m) = u_{2m}/(2m − 1) for m = 0…count−1 (f₀ = 0):
    /// the coefficients of F(s) = 1 − 1/U(s) = 1 − √(1 − 4pqs²). For p = ½: f₂ = ½, f₄ = ⅛.
    public func firstReturnProbabilities(count: Int) -> [Double] {
        let u = returnProbabilities(count: count)
        return u.indices.map { m in m == 0 ? 0 : u[m] / Double(2 * m - 1) }
    }

    /// Σ_{m ≤ M} f_{2m} for M = 0…count−1: the probability of returning to 0 within 2M steps.
    /// It tends to F(1) = 1 − |p − q|, slowly (as 1 − u_{2M} ≈ 1 − 1/√(πM)) when p = ½.
    public func cumulativeReturnProbabilities(count: Int) -> [Double] {
        var total = 0.0
        return firstReturnProbabilities(count: count).map { total += $0; return total }
    }

    /// F(1) = 1 − |p − q|, the probability of ever returning to the origin (1: recurrent).
    public var totalReturnProbability: Double { 1 - Swift.abs(upProbability - downProbability) }

    /// One path X₀ = 0, X₁, …, X_n.
    public func simulatePath(steps n: Int, using rng: inout SeededGenerator) -> [Int] {
        var path = [0]
        path.reserveCapacity(n + 1)
        var x = 0
        for _ in 0..<n {
            x += rng.nextUniform() < upProbability ? 1 : -1
            path.append(x)
        }
        return path
    }

    /// The end points X_n of `walkers` independent walks of `n` steps.
    public func simulateEndpoints(steps n: Int, walkers: Int, using rng: inout SeededGenerator) -> [Int] {
        (0..<walkers).map { _ in
            var x = 0
            for _ in 0..<n { x += rng.nextUniform() < upProbability ? 1 : -1 }
            return x
        }
    }

    /// The empirical distribution of X_n from `walkers` simulated walks, indexed like
    /// `exactDistribution` (k + n).
    public func simulatedDistribution(steps n: Int, walkers: Int, using rng: inout SeededGenerator) -> [Double] {
        var counts = [Double](repeating: 0, count: 2 * n + 1)
        for x in simulateEndpoints(steps: n, walkers: walkers, using: &rng) { counts[x + n] += 1 }
        return counts.map { $0 / Double(walkers) }
    }
}

/// The simple symmetric random walk on the d-dimensional lattice ℤ^d: each step moves ±1 along
/// one axis chosen uniformly (probability 1/(2d) for each of the 2d neighbours).
/// Pólya: it returns to the origin with probability 1 in d = 1, 2 and about 0.3405 in d = 3.
public struct LatticeRandomWalk: Sendable {
    /// d, the dimension of the lattice.
    public let dimension: Int

    /// The walk on ℤ^d, d = `dimension` ≥ 1.
    public init(dimension: Int) {
        precondition(dimension >= 1, "LatticeRandomWalk: the dimension must be at least 1, got \(dimension)")
        self.dimension = dimension
    }

    /// One path of n steps: n + 1 lattice points, starting at the origin.
    public func simulatePath(steps n: Int, using rng: inout SeededGenerator) -> [[Int]] {
        var x = [Int](repeating: 0, count: dimension)
        var path = [x]
        for _ in 0..<n {
            let move = Int(rng.next() % UInt64(2 * dimension))
            x[move / 2] += move % 2 == 0 ? 1 : -1
            path.append(x)
        }
        return path
    }

    /// The fraction of `walkers` walks that revisit the origin within `n` steps, an estimate of
    /// the return probability Σ_{m ≤ n/2} f_{2m} (→ 1 in d ≤ 2, → ≈ 0.3405 in d = 3).
    public func returnFraction(steps n: Int, walkers: Int, using rng: inout SeededGenerator) -> Double {
        var returned = 0
        for _ in 0..<walkers {
            var x = [Int](repeating: 0, count: dimension)
            var nonzero = 0  // number of non-zero coordinates
            for _ in 0..<n {
                let move = Int(rng.next() % UInt64(2 * dimension))
                let axis = move / 2
                let before = x[axis]
                x[axis] += move % 2 == 0 ? 1 : -1
                if before == 0 { nonzero += 1 } else if x[axis] == 0 { nonzero -= 1 }
                if nonzero == 0 { returned += 1; break }
            }
        }
        return Double(returned) / Double(walkers)
    }

    /// u_{2m} = P(at the origin after 2m steps) in d = 2, exactly: (C(2m, m)/4^m)², by the
    /// rotation (x, y) ↦ (x + y, x − y) that turns the 2-D walk into two independent 1-D walks.
    public static func planarReturnProbabilities(count: Int) -> [Double] {
        RandomWalk().returnProbabilities(count: count).map { $0 * $0 }
    }
}
