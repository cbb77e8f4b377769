import XCTest
import FluxionCore

/// The Jacobi eigen-decomposition (moved here from FluxionOptim with the type).
final class SymmetricEigendecompositionTests: XCTestCase {
    func testJacobiEigenvaluesOfKnownMatrix() {
        // [[2, 1], [1, 2]] has eigenvalues 1 and 3 with eigenvectors (1, −1)/√2 and (1, 1)/√2.
        let e = SymmetricEigendecomposition(symmetric: [2, 1, 1, 2], dimension: 2)
        XCTAssertEqual(e.eigenvalues[0], 1, accuracy: 1e-14)
        XCTAssertEqual(e.eigenvalues[1], 3, accuracy: 1e-14)
        XCTAssertEqual(Swift.abs(e.eigenvectors[1][0]), 0.5.squareRoot(), accuracy: 1e-14)
        // Reconstruction V·diag(λ)·Vᵀ = A for a random symmetric matrix.
        var rng = SeededGenerator(seed: 5)
        let n = 7
        var a = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in i..<n { let v = rng.nextNormal(); a[i * n + j] = v; a[j * n + i] = v } }
        let d = SymmetricEigendecomposition(symmetric: a, dimension: n)
        for i in 0..<n { for j in 0..<n {
            var s = 0.0
            for k in 0..<n { s += d.eigenvectors[k][i] * d.eigenvalues[k] * d.eigenvectors[k][j] }
            XCTAssertEqual(s, a[i * n + j], accuracy: 1e-12)
        } }
        XCTAssertEqual(d.eigenvalues, d.eigenvalues.sorted())
    }
}
