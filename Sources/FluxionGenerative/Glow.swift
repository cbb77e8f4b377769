import Foundation
import FluxionNN

// Glow's layers (Kingma & Dhariwal 2018, arXiv:1807.03039): ActNorm and the invertible 1×1
// convolution in P·L·U form. The model builder is `Glow.digits` in FlowModels.swift.

/// Activation normalisation: a per-channel affine map y = (x + b) ⊙ exp(log s),
///
///     log|det| = (spatial size) · Σ_c log s_c
///
/// Data-dependent initialisation (Glow §3.1): on the first batch, b = −mean and
/// log s = −log(std + ε) per channel, so the output has zero mean and unit variance per channel.
/// Shapes: x [N, C] or [N, C, H, W]; b, log s [C] (PyTorch names `bias`, `logs`).
public struct ActNorm: FlowLayer {
    /// b [C] (PyTorch name `bias`); 0 until the data-dependent initialisation.
    public var bias: Tensor
    /// log s [C] (PyTorch name `logs`); 0 until the data-dependent initialisation.
    public var logScale: Tensor

    /// The identity map on `channelCount` channels (b = 0, log s = 0) until `initialize(with:)`.
    public init(channelCount: Int, dtype: DType = .float32) {
        bias = Tensor.zeros(shape: [channelCount], dtype: dtype)
        logScale = Tensor.zeros(shape: [channelCount], dtype: dtype)
    }

    func broadcastShape(_ x: Tensor) -> [Int] { [1, x.shape[1]] + [Int](repeating: 1, count: x.rank - 2) }
    func spatialSize(_ x: Tensor) -> Int { x.count / (x.shape[0] * x.shape[1]) }

    /// y = (x + b) ⊙ exp(log s), same shape, and log|det| = (spatial size)·Σ log s [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let shape = broadcastShape(x)
        let y = (x + bias.reshaped(to: shape)) * logScale.exp().reshaped(to: shape)
        return (y, (logScale.sum() * Double(spatialSize(x))).expanded(to: [x.shape[0]]))
    }

    /// x = y ⊙ exp(−log s) − b.
    public func inverse(_ y: Tensor) -> Tensor {
        let shape = broadcastShape(y)
        return y * (-logScale).exp().reshaped(to: shape) - bias.reshaped(to: shape)
    }

    /// Sets b = −mean and log s = −log(std + 1e-6) per channel from the batch `x`, and returns the output.
    public mutating func initialize(with x: Tensor) -> Tensor {
        let axes = [0] + Array(2..<x.rank)
        let mean = x.mean(axes: axes)
        let std = x.variance(axes: axes).sqrt()
        bias = -mean.detached
        logScale = -(std + 1e-6).log().detached
        return forward(x).output
    }

    /// Visits b and log s under `bias` and `logs`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "bias"), &bias)
        body(Self.join(prefix, "logs"), &logScale)
    }
}

/// Glow's invertible 1×1 convolution, y[n, :, h, w] = W · x[n, :, h, w], in the LU form
///
///     W = P · (L + I) · (U + diag(sign ⊙ exp(log s))),     log|det| = H·W · Σ log s
///
/// P (a permutation) and sign are fixed; L (strictly lower), U (strictly upper) and log s are
/// learned. Initialised from a random rotation (QR of a Gaussian matrix) decomposed with partial
/// pivoting. The determinant costs O(C) instead of O(C³). The inverse applies W⁻¹ = U⁻¹L⁻¹Pᵀ (`inverseWeight`).
/// Shapes: x [N, C, H, W], or [N, C] (an invertible linear map of vectors). Reference: Kingma & Dhariwal 2018 §3.2.
public struct InvertibleConv1x1: FlowLayer {
    /// L [C, C], the strictly lower part (the rest is masked out).
    public var lower: Tensor
    /// U [C, C], the strictly upper part (the rest is masked out).
    public var upper: Tensor
    /// log s [C], the log-magnitudes of U's diagonal.
    public var logScale: Tensor
    /// The fixed permutation matrix P [C, C] and the signs of U's diagonal [C].
    public let permutation: Tensor
    /// The signs of U's diagonal [C], fixed.
    public let sign: Tensor
    let lowerMask: Tensor
    let identity: Tensor

    /// A random rotation on `c` channels, drawn from `rng` and decomposed into P, L, U, sign and log s.
    public init(channelCount c: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        let q = Self.randomRotation(c, using: &rng)
        let (p, l, u) = Self.luDecomposition(q, c)
        var lowerValues = l, upperValues = u, logs = [Double](repeating: 0, count: c), signs = logs
        for i in 0..<c {
            lowerValues[i * c + i] = 0
            signs[i] = u[i * c + i] < 0 ? -1 : 1
            logs[i] = Foundation.log(Swift.abs(u[i * c + i]))
            upperValues[i * c + i] = 0
        }
        self.init(permutation: Tensor(p, shape: [c, c], dtype: dtype), lower: Tensor(lowerValues, shape: [c, c], dtype: dtype),
                  upper: Tensor(upperValues, shape: [c, c], dtype: dtype), logScale: Tensor(logs, shape: [c], dtype: dtype),
                  sign: Tensor(signs, shape: [c], dtype: dtype))
    }

    /// The layer from its factors as given (e.g. loaded, or to test): P, L, U [C, C]; log s, sign [C].
    public init(permutation: Tensor, lower: Tensor, upper: Tensor, logScale: Tensor, sign: Tensor) {
        let c = logScale.count
        self.permutation = permutation
        self.lower = lower
        self.upper = upper
        self.logScale = logScale
        self.sign = sign
        lowerMask = Tensor.lowerTriangularMask(rows: c, columns: c, diagonal: -1, dtype: logScale.dtype)
        identity = Tensor.eye(c, dtype: logScale.dtype)
    }

    /// W = P (L ⊙ mask + I)(U ⊙ maskᵀ + diag(sign · exp(log s))).
    public var weight: Tensor {
        let l = lower * lowerMask + identity
        let u = upper * lowerMask.transposed() + identity * (sign * logScale.exp())
        return permutation.matmul(l.matmul(u))
    }

    func applyMatrix(_ w: Tensor, _ x: Tensor) -> Tensor {
        if x.rank == 2 { return Tensor.linear(x, weight: w, bias: nil) }
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        return Tensor.matmul(w, x.reshaped(to: [n, c, h * wd])).reshaped(to: [n, c, h, wd])
    }

    /// y = W·x over the channels (axis 1), same shape, and log|det| = H·W·Σ log s [N].
    public func forward(_ x: Tensor) -> (output: Tensor, logDeterminant: Tensor) {
        let hw = Double(x.count / (x.shape[0] * x.shape[1]))
        return (applyMatrix(weight, x), (logScale.sum() * hw).expanded(to: [x.shape[0]]))
    }

    /// W⁻¹ = U⁻¹ L⁻¹ Pᵀ, differentiable in L, U and log s to every order (so the inverse pass can be
    /// trained through, e.g. for a reverse-KL objective). A unit triangular factor I + N has N
    /// nilpotent (Nᶜ = 0), so its inverse is the finite Neumann sum Σ_{k<C} (−N)ᵏ, evaluated in
    /// Horner form with C − 1 small products; U = D(I + D⁻¹M) with D = diag(sign · exp(log s)).
    public var inverseWeight: Tensor {
        let c = logScale.count
        func unitTriangularInverse(_ n: Tensor) -> Tensor {
            var s = identity
            for _ in 1..<Swift.max(c, 1) { s = identity - n.matmul(s) }
            return s
        }
        let d = sign * logScale.exp()
        let lowerInverse = unitTriangularInverse(lower * lowerMask)
        let upperInverse = unitTriangularInverse(upper * lowerMask.transposed() / d.unsqueezed(axis: 1)) / d.unsqueezed(axis: 0)
        return upperInverse.matmul(lowerInverse).matmul(permutation.transposed())
    }

    /// x = W⁻¹·y over the channels (`inverseWeight`).
    public func inverse(_ y: Tensor) -> Tensor { applyMatrix(inverseWeight, y) }

    /// Visits L, U and log s under `lower`, `upper` and `logs`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "lower"), &lower)
        body(Self.join(prefix, "upper"), &upper)
        body(Self.join(prefix, "logs"), &logScale)
    }

    // MARK: Small dense linear algebra in Float64 (C is a few dozen at most)

    /// A random rotation: Gram–Schmidt on a Gaussian matrix (row-major c×c).
    static func randomRotation(_ c: Int, using rng: inout SeededGenerator) -> [Double] {
        var a = (0..<(c * c)).map { _ in rng.nextNormal() }
        for j in 0..<c {
            for k in 0..<j {
                var dot = 0.0
                for i in 0..<c { dot += a[i * c + j] * a[i * c + k] }
                for i in 0..<c { a[i * c + j] -= dot * a[i * c + k] }
            }
            var norm = 0.0
            for i in 0..<c { norm += a[i * c + j] * a[i * c + j] }
            norm = norm.squareRoot()
            for i in 0..<c { a[i * c + j] /= norm }
        }
        return a
    }

    /// A = P·L·U with partial pivoting (L unit lower, U upper); returns (P, L, U) row-major.
    static func luDecomposition(_ a: [Double], _ c: Int) -> ([Double], [Double], [Double]) {
        var u = a
        var l = [Double](repeating: 0, count: c * c)
        var perm = Array(0..<c)   // row i of P·… : PA' — we track rows of U swapped
        for k in 0..<c {
            var pivot = k
            for i in k..<c where Swift.abs(u[i * c + k]) > Swift.abs(u[pivot * c + k]) { pivot = i }
            if pivot != k {
                for j in 0..<c { u.swapAt(k * c + j, pivot * c + j) }
                for j in 0..<k { l.swapAt(k * c + j, pivot * c + j) }
                perm.swapAt(k, pivot)
            }
            for i in (k + 1)..<max(c, k + 1) {
                let f = u[i * c + k] / u[k * c + k]
                l[i * c + k] = f
                for j in k..<c { u[i * c + j] -= f * u[k * c + j] }
            }
        }
        for i in 0..<c { l[i * c + i] = 1 }
        // perm: row k of (L·U) is row perm[k] of A, i.e. L·U = Pᵀ·A with P[perm[k], k] = 1.
        var p = [Double](repeating: 0, count: c * c)
        for k in 0..<c { p[perm[k] * c + k] = 1 }
        return (p, l, u)
    }
}
