import FluxionKernels

// The real FFT along the last axis (FluxionKernels/FFT.swift) as differentiable primitives, for
// lengths n = 2^k. Both transforms are linear; their rules (DerivativeRules.swift) are each
// other's transforms with bin weights, so derivatives of every order are exact.

/// A complex tensor as two real tensors of the same shape and dtype.
public struct ComplexTensor {
    /// The real parts.
    public var real: Tensor
    /// The imaginary parts (same shape and dtype as `real`).
    public var imaginary: Tensor

    /// real + i·imaginary; both parts must share one float dtype and shape.
    public init(real: Tensor, imaginary: Tensor) {
        precondition(real.shape == imaginary.shape && real.dtype == imaginary.dtype && real.dtype.isFloatingPoint,
                     "ComplexTensor: real \(real.dtype) \(real.shape) and imaginary \(imaginary.dtype) \(imaginary.shape) must share a float dtype and shape")
        self.real = real
        self.imaginary = imaginary
    }

    /// The shape of both parts.
    public var shape: [Int] { real.shape }
}

extension Tensor {
    /// The real DFT along the last axis, X_k = Σ_j x_j e^{−2πi jk/n} for k = 0 … n/2 (NumPy's
    /// `np.fft.rfft`, `torch.fft.rfft`). Shapes: [..., n] → [..., n/2 + 1], n a power of two.
    public func rfft() -> ComplexTensor {
        precondition(rank >= 1 && dtype.isFloatingPoint && FFT.isPowerOfTwo(shape[rank - 1]),
                     "rfft: needs a float tensor whose last axis is a power of two, got \(dtype) \(shape)")
        let n = shape[rank - 1], bins = n / 2 + 1, rows = count / n
        var re = Tensor(uninitializedShape: Array(shape.dropLast()) + [bins], dtype: dtype)
        var im = Tensor(uninitializedShape: re.shape, dtype: dtype)
        func run<T: TensorFloat & FFTScalar>(_ type: T.Type) {
            withUnsafeBufferPointer(as: T.self) { px in re.withUnsafeMutableBufferPointer(as: T.self) { pr in
                im.withUnsafeMutableBufferPointer(as: T.self) { pi in
                    let (x, r, i) = (px.baseAddress!, pr.baseAddress!, pi.baseAddress!)
                    let plan = FFTPlan<T>(count: n)
                    parallelRanges(rows, grain: Swift.max(1, parallelGrain / Swift.max(8 * n, 1))) { s, e in
                        for row in s..<e { FFT.real(x + row * n, plan: plan, re: r + row * bins, im: i + row * bins) }
                    }
                } } }
        }
        if dtype == .float32 { run(Float.self) } else { run(Double.self) }
        let outs = Rules.rfft(self, re, im)
        return ComplexTensor(real: outs[0], imaginary: outs[1])
    }

    /// The inverse real DFT along the last axis, x_j = (1/n) Σ_k X_k e^{2πi jk/n} over the full
    /// Hermitian spectrum (NumPy's `np.fft.irfft(X, n)`): [..., n/2 + 1] → [..., n], n a power of
    /// two. The imaginary parts of X_0 and X_{n/2} do not enter.
    public static func irfft(_ x: ComplexTensor, count n: Int) -> Tensor {
        let bins = x.shape.last ?? 0
        precondition(FFT.isPowerOfTwo(n) && bins == n / 2 + 1,
                     "irfft: \(bins) bins do not hold a length-\(n) spectrum (need n a power of two and n/2 + 1 bins)")
        let rows = x.real.count / bins
        var y = Tensor(uninitializedShape: Array(x.shape.dropLast()) + [n], dtype: x.real.dtype)
        func run<T: TensorFloat & FFTScalar>(_ type: T.Type) {
            x.real.withUnsafeBufferPointer(as: T.self) { pr in x.imaginary.withUnsafeBufferPointer(as: T.self) { pi in
                y.withUnsafeMutableBufferPointer(as: T.self) { py in
                    let (r, i, o) = (pr.baseAddress!, pi.baseAddress!, py.baseAddress!)
                    let plan = FFTPlan<T>(count: n)
                    parallelRanges(rows, grain: Swift.max(1, parallelGrain / Swift.max(8 * n, 1))) { s, e in
                        for row in s..<e { FFT.inverseReal(re: r + row * bins, im: i + row * bins, plan: plan, o + row * n) }
                    }
                } } }
        }
        if y.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        return Rules.irfft(x.real, x.imaginary, y, count: n)
    }

    /// Weights of the n/2 + 1 real-FFT bins: `ends` for X_0 and X_{n/2}, `middle` for the others.
    static func fftBinWeights(_ n: Int, ends: Double = 1, middle: Double, dtype: DType) -> Tensor {
        let bins = n / 2 + 1
        return Tensor((0..<bins).map { $0 == 0 || $0 == bins - 1 ? ends : middle }, dtype: dtype)
    }
}
