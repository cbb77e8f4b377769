// Causal convolutions over time for the state-space layers: the long per-channel convolution of
// S4/S4D by FFT, and Mamba's short depthwise convolution.

extension Tensor {
    /// Causal convolution along time by FFT, one kernel per channel (S4/S4D's long convolution):
    ///
    ///     y[b, t, h] = Σ_{s ≤ t} K[h, s] · u[b, t − s, h]
    ///
    /// Shapes: u [B, L, H], kernel [H, L] → [B, L, H]. Both are zero-padded to the power of two
    /// n ≥ 2L (so the circular convolution of the FFT is the linear one on the first L outputs),
    /// multiplied bin by bin and transformed back. Composed of differentiable primitives.
    public static func causalConvolution(_ u: Tensor, kernel k: Tensor) -> Tensor {
        precondition(u.rank == 3 && k.rank == 2 && k.shape == [u.shape[2], u.shape[1]] && u.dtype == k.dtype,
                     "causalConvolution: input \(u.dtype) \(u.shape) and kernel \(k.dtype) \(k.shape) must be [B, L, H] and [H, L] of one dtype")
        let l = u.shape[1]
        var n = 1
        while n < 2 * l { n *= 2 }
        let uf = u.permuted([0, 2, 1]).padded(before: [0, 0, 0], after: [0, 0, n - l]).rfft()   // [B, H, n/2 + 1]
        let kf = k.padded(before: [0, 0], after: [0, n - l]).rfft()                               // [H, n/2 + 1]
        let product = ComplexTensor(real: uf.real * kf.real - uf.imaginary * kf.imaginary,
                                    imaginary: uf.real * kf.imaginary + uf.imaginary * kf.real)
        return Tensor.irfft(product, count: n).sliced(axis: 2, 0..<l).permuted([0, 2, 1])
    }
}

extension Tensor {
    /// Depthwise causal 1-D convolution over time (Mamba's `conv1d`: PyTorch's
    /// `nn.Conv1d(D, D, K, groups=D, padding=K−1)` on x transposed to [B, D, L], first L outputs):
    ///
    ///     y[b, t, d] = bias[d] + Σ_{j<K} W[d, 0, j] · x[b, t − (K − 1) + j, d]   (x = 0 before t = 0)
    ///
    /// Shapes: x [B, L, D], weight [D, 1, K] (PyTorch's layout), bias [D] or nil → [B, L, D].
    /// Composed of differentiable primitives (K shifted products).
    public static func depthwiseCausalConv1d(_ x: Tensor, weight w: Tensor, bias: Tensor?) -> Tensor {
        precondition(x.rank == 3 && w.rank == 3 && w.shape[0] == x.shape[2] && w.shape[1] == 1 && w.shape[2] >= 1 && w.dtype == x.dtype,
                     "depthwiseCausalConv1d: input \(x.dtype) \(x.shape) and weight \(w.dtype) \(w.shape) must be [B, L, D] and [D, 1, K] of one dtype")
        if let bias { precondition(bias.shape == [x.shape[2]] && bias.dtype == x.dtype, "depthwiseCausalConv1d: bias \(bias.dtype) \(bias.shape) must be [\(x.shape[2])]") }
        let (l, k) = (x.shape[1], w.shape[2])
        let padded = x.padded(before: [0, k - 1, 0], after: [0, 0, 0])
        let taps = w.reshaped(to: [w.shape[0], k])
        var y = padded.sliced(axis: 1, 0..<l) * taps.sliced(axis: 1, 0..<1).reshaped(to: [w.shape[0]])
        for j in 1..<Swift.max(k, 1) {
            y = y + padded.sliced(axis: 1, j..<(j + l)) * taps.sliced(axis: 1, j..<(j + 1)).reshaped(to: [w.shape[0]])
        }
        return bias.map { y + $0 } ?? y
    }
}
