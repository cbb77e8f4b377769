import Foundation

// Sample-quality distances between two point clouds (generated vs held-out data), used by
// `fluxion eval` and the quality study. Both are computed in Float64, in row blocks, from the
// pairwise squared distances ‖x‖² + ‖y‖² − 2 x·y (clamped at 0 against rounding).

/// Mean over all pairs of k(‖xᵢ − yⱼ‖²) for x [n, d], y [m, d], in row blocks of 512.
private func pairwiseMean(_ x: Tensor, _ y: Tensor, _ kernel: (Tensor) -> Tensor) -> Double {
    let a = x.cast(to: .float64), b = y.cast(to: .float64)
    let bNorms = b.squared().sum(axis: 1).unsqueezed(axis: 0)                     // [1, m]
    var total = 0.0
    var start = 0
    while start < a.shape[0] {
        let end = Swift.min(start + 512, a.shape[0])
        let block = a[start..<end]
        let aNorms = block.squared().sum(axis: 1, keepDims: true)                   // [k, 1]
        let squared = (aNorms + bNorms - Tensor.matmul(block, b, transposeB: true) * 2).clamped(min: 0)
        total += kernel(squared).sum().item
        start = end
    }
    return total / Double(a.shape[0] * b.shape[0])
}

/// The energy distance between the distributions of x [n, d] and y [m, d] (Székely & Rizzo 2013):
///
///     E(X, Y) = 2 E‖X − Y‖ − E‖X − X′‖ − E‖Y − Y′‖   (V-statistic; ≥ 0, = 0 iff the laws agree)
///
/// Same units as the data. Cost O((n + m)² d).
public func energyDistance(_ x: Tensor, _ y: Tensor) -> Double {
    precondition(x.rank == 2 && y.rank == 2 && x.shape[1] == y.shape[1], "energyDistance: shapes \(x.shape) and \(y.shape)")
    return withoutDerivatives {
        let distance: (Tensor) -> Tensor = { $0.sqrt() }
        return 2 * pairwiseMean(x, y, distance) - pairwiseMean(x, x, distance) - pairwiseMean(y, y, distance)
    }
}

/// The squared maximum mean discrepancy with a Gaussian kernel k(a, b) = exp(−‖a − b‖²/(2h²))
/// (Gretton et al. 2012; biased V-statistic):
///
///     MMD² = E k(X, X′) + E k(Y, Y′) − 2 E k(X, Y)
public func maximumMeanDiscrepancy(_ x: Tensor, _ y: Tensor, bandwidth h: Double = 0.5) -> Double {
    precondition(x.rank == 2 && y.rank == 2 && x.shape[1] == y.shape[1], "maximumMeanDiscrepancy: shapes \(x.shape) and \(y.shape)")
    return withoutDerivatives {
        let kernel: (Tensor) -> Tensor = { ($0 * (-1 / (2 * h * h))).exp() }
        return pairwiseMean(x, x, kernel) + pairwiseMean(y, y, kernel) - 2 * pairwiseMean(x, y, kernel)
    }
}
