extension Tensor {
    /// A tensor of `shape` filled with `value`.
    public static func full(_ value: Double, shape: [Int], dtype: DType = .float32) -> Tensor {
        var t = Tensor(uninitializedShape: shape, dtype: dtype)
        switch dtype {
        case .float32: t.withUnsafeMutableBufferPointer(as: Float.self) { $0.initialize(repeating: Float(value)) }
        case .float64: t.withUnsafeMutableBufferPointer(as: Double.self) { $0.initialize(repeating: value) }
        case .int32: t.withUnsafeMutableBufferPointer(as: Int32.self) { $0.initialize(repeating: Int32(value)) }
        }
        return t
    }

    /// A tensor of `shape` filled with 0 (PyTorch's `torch.zeros`).
    public static func zeros(shape: [Int], dtype: DType = .float32) -> Tensor { full(0, shape: shape, dtype: dtype) }
    /// A tensor of `shape` filled with 1 (PyTorch's `torch.ones`).
    public static func ones(shape: [Int], dtype: DType = .float32) -> Tensor { full(1, shape: shape, dtype: dtype) }
    /// Zeros with the shape and dtype of `x` (a constant: no autodiff state).
    public static func zeros(like x: Tensor) -> Tensor { full(0, shape: x.shape, dtype: x.dtype) }
    /// Ones with the shape and dtype of `x` (a constant: no autodiff state).
    public static func ones(like x: Tensor) -> Tensor { full(1, shape: x.shape, dtype: x.dtype) }

    /// A Swift scalar as a weak tensor (NOTE(8)) of this tensor's dtype (Float32 for an int32 one).
    @inlinable
    func scalarLike(_ value: Double) -> Tensor {
        var t = Tensor.full(value, shape: [], dtype: dtype.isFloatingPoint ? dtype : .float32)
        t.weakValue = value
        return t
    }

    /// [start, start + step, ...) below `end`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        precondition(step != 0, "arange: step must be non-zero")
        let n = Swift.max(0, Int(((end - start) / step).rounded(.up)))
        return Tensor((0..<n).map { start + Double($0) * step }, shape: [n], dtype: dtype)
    }

    /// `count` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Double, _ end: Double, count: Int, dtype: DType = .float32) -> Tensor {
        precondition(count >= 0, "linspace: negative count \(count)")
        if count == 1 { return Tensor([start], shape: [1], dtype: dtype) }
        let step = (end - start) / Double(Swift.max(count - 1, 1))
        return Tensor((0..<count).map { i in i == count - 1 ? end : start + Double(i) * step }, shape: [count], dtype: dtype)
    }

    /// The n×n identity matrix.
    public static func eye(_ n: Int, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: n * n)
        for i in 0..<n { v[i * n + i] = 1 }
        return Tensor(v, shape: [n, n], dtype: dtype)
    }

    /// Standard normal samples (mean 0, standard deviation 1) from `generator`.
    public static func randomNormal(shape: [Int], mean: Double = 0, standardDeviation: Double = 1,
                                    dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        precondition(dtype.isFloatingPoint, "randomNormal: dtype must be float, got \(dtype)")
        let n = shape.reduce(1, *)
        var v = [Double](repeating: 0, count: n)
        var i = 0
        while i < n {
            // Box–Muller, both values used.
            var u1 = generator.nextUniform()
            while u1 <= 0 { u1 = generator.nextUniform() }
            let u2 = generator.nextUniform()
            let r = (-2 * Double.log(u1)).squareRoot()
            v[i] = mean + standardDeviation * r * Double.cos(2 * .pi * u2)
            if i + 1 < n { v[i + 1] = mean + standardDeviation * r * Double.sin(2 * .pi * u2) }
            i += 2
        }
        return Tensor(v, shape: shape, dtype: dtype)
    }

    /// Uniform samples in [low, high) from `generator`.
    public static func randomUniform(shape: [Int], low: Double = 0, high: Double = 1,
                                     dtype: DType = .float32, using generator: inout SeededGenerator) -> Tensor {
        precondition(dtype.isFloatingPoint, "randomUniform: dtype must be float, got \(dtype)")
        let n = shape.reduce(1, *)
        let v = (0..<n).map { _ in low + (high - low) * generator.nextUniform() }
        return Tensor(v, shape: shape, dtype: dtype)
    }

    /// Lower-triangular mask: ones where column ≤ row + diagonal, zeros above (rows × columns).
    public static func lowerTriangularMask(rows: Int, columns: Int, diagonal: Int = 0, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: rows * columns)
        for i in 0..<rows { for j in 0..<columns where j <= i + diagonal { v[i * columns + j] = 1 } }
        return Tensor(v, shape: [rows, columns], dtype: dtype)
    }

    /// Upper-triangular mask: ones where column ≥ row + diagonal.
    public static func upperTriangularMask(rows: Int, columns: Int, diagonal: Int = 0, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: rows * columns)
        for i in 0..<rows { for j in 0..<columns where j >= i + diagonal { v[i * columns + j] = 1 } }
        return Tensor(v, shape: [rows, columns], dtype: dtype)
    }

    /// Additive causal mask for attention: 0 where key ≤ query, −∞ above the diagonal.
    public static func causalMask(_ size: Int, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: size * size)
        for i in 0..<size { for j in (i + 1)..<Swift.max(size, i + 1) { v[i * size + j] = -.infinity } }
        return Tensor(v, shape: [size, size], dtype: dtype)
    }

    /// One-hot encoding of int32 class indices: shape `indices.shape + [classCount]`.
    public static func oneHot(_ indices: Tensor, classCount: Int, dtype: DType = .float32) -> Tensor {
        precondition(indices.dtype == .int32, "oneHot: indices must be int32, got \(indices.dtype) of shape \(indices.shape)")
        let idx = indices.int32s
        var v = [Double](repeating: 0, count: idx.count * classCount)
        for (i, c) in idx.enumerated() {
            precondition(c >= 0 && Int(c) < classCount, "oneHot: index \(c) out of range 0..<\(classCount)")
            v[i * classCount + Int(c)] = 1
        }
        return Tensor(v, shape: indices.shape + [classCount], dtype: dtype)
    }

    /// Converts to another dtype (float ↔ float is differentiable; int32 conversions are not).
    public func cast(to target: DType) -> Tensor {
        if target == dtype { return self }
        var y = Tensor(uninitializedShape: shape, dtype: target)
        switch (dtype, target) {
        case (.float32, .float64):
            withUnsafeBufferPointer(as: Float.self) { x in y.withUnsafeMutableBufferPointer(as: Double.self) { o in for i in 0..<count { o[i] = Double(x[i]) } } }
        case (.float64, .float32):
            withUnsafeBufferPointer(as: Double.self) { x in y.withUnsafeMutableBufferPointer(as: Float.self) { o in for i in 0..<count { o[i] = Float(x[i]) } } }
        default:
            y = Tensor(scalars, shape: shape, dtype: target)
            if target == .int32 { return y }
        }
        return Rules.cast(self, y)
    }
}
