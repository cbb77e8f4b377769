import FluxionKernels

// Elementwise operations. Each primitive computes its value with a raw kernel and hands the result
// to its entry in the rules table (`DerivativeRules.swift`); composites are built from primitives.

extension Tensor {
    // MARK: Arithmetic (broadcasting)
    /// a + b, broadcasting (NumPy rules); dtypes combine by NOTE(8).
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "add")
        return Rules.add(a, b, zipRaw(a, b, +, +, "add")).weak(a, b, +)
    }
    /// a − b, broadcasting (NumPy rules); dtypes combine by NOTE(8).
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "subtract")
        return Rules.subtract(a, b, zipRaw(a, b, -, -, "subtract")).weak(a, b, -)
    }
    /// a · b elementwise, broadcasting (NumPy rules); dtypes combine by NOTE(8).
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "multiply")
        return Rules.multiply(a, b, zipRaw(a, b, *, *, "multiply")).weak(a, b, *)
    }
    /// a / b elementwise, broadcasting (NumPy rules); dtypes combine by NOTE(8).
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "divide")
        return Rules.divide(a, b, zipRaw(a, b, /, /, "divide")).weak(a, b, /)
    }
    /// −x, elementwise.
    public static prefix func - (x: Tensor) -> Tensor { Rules.negate(x, x.mapRaw({ -$0 }, { -$0 }, "negate")) }

    /// a + b; the Swift scalar is weak (NOTE(8)).
    public static func + (a: Tensor, b: Double) -> Tensor { a + a.scalarLike(b) }
    /// a + b; the Swift scalar is weak (NOTE(8)).
    public static func + (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) + b }
    /// a − b; the Swift scalar is weak (NOTE(8)).
    public static func - (a: Tensor, b: Double) -> Tensor { a - a.scalarLike(b) }
    /// a − b; the Swift scalar is weak (NOTE(8)).
    public static func - (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) - b }
    /// a · b; the Swift scalar is weak (NOTE(8)).
    public static func * (a: Tensor, b: Double) -> Tensor { a * a.scalarLike(b) }
    /// a · b; the Swift scalar is weak (NOTE(8)).
    public static func * (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) * b }
    /// a / b; the Swift scalar is weak (NOTE(8)).
    public static func / (a: Tensor, b: Double) -> Tensor { a * a.scalarLike(1 / b) }
    /// a / b; the Swift scalar is weak (NOTE(8)).
    public static func / (a: Double, b: Tensor) -> Tensor { b.scalarLike(a) / b }
    /// a + b; the Swift integer is a weak scalar (NOTE(8)).
    public static func + <I: BinaryInteger>(a: Tensor, b: I) -> Tensor { a + a.scalarLike(Double(b)) }
    /// a + b; the Swift integer is a weak scalar (NOTE(8)).
    public static func + <I: BinaryInteger>(a: I, b: Tensor) -> Tensor { b.scalarLike(Double(a)) + b }
    /// a − b; the Swift integer is a weak scalar (NOTE(8)).
    public static func - <I: BinaryInteger>(a: Tensor, b: I) -> Tensor { a - a.scalarLike(Double(b)) }
    /// a − b; the Swift integer is a weak scalar (NOTE(8)).
    public static func - <I: BinaryInteger>(a: I, b: Tensor) -> Tensor { b.scalarLike(Double(a)) - b }
    /// a · b; the Swift integer is a weak scalar (NOTE(8)).
    public static func * <I: BinaryInteger>(a: Tensor, b: I) -> Tensor { a * a.scalarLike(Double(b)) }
    /// a · b; the Swift integer is a weak scalar (NOTE(8)).
    public static func * <I: BinaryInteger>(a: I, b: Tensor) -> Tensor { b.scalarLike(Double(a)) * b }
    /// a / b; the Swift integer is a weak scalar (NOTE(8)).
    public static func / <I: BinaryInteger>(a: Tensor, b: I) -> Tensor { a * a.scalarLike(1 / Double(b)) }
    /// a / b; the Swift integer is a weak scalar (NOTE(8)).
    public static func / <I: BinaryInteger>(a: I, b: Tensor) -> Tensor { b.scalarLike(Double(a)) / b }
    /// a = a + b.
    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    /// a = a − b.
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    /// a = a · b.
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    /// a = a / b.
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }

    /// Elementwise aᵇ (both tensors, broadcasting). Derivative in b uses log a (a > 0).
    public static func pow(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "pow")
        return Rules.pow(a, b, zipRaw(a, b, Float.pow, Double.pow, "pow"))
    }
    /// xᵖ for a constant exponent p.
    public func pow(_ p: Double) -> Tensor {
        if p == 2 { return self * self }
        if p == 1 { return self }
        return Rules.powScalar(self, p, mapRaw({ Float.pow($0, Float(p)) }, { Double.pow($0, p) }, "pow"))
    }
    /// min(a, b) elementwise, broadcasting (PyTorch's `torch.minimum`);
    /// the gradient goes to the smaller, to `a` on ties.
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "minimum")
        return Rules.minimum(a, b, zipRaw(a, b, { Swift.min($0, $1) }, { Swift.min($0, $1) }, "minimum"))
    }
    /// max(a, b) elementwise, broadcasting (PyTorch's `torch.maximum`);
    /// the gradient goes to the larger, to `a` on ties.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "maximum")
        return Rules.maximum(a, b, zipRaw(a, b, { Swift.max($0, $1) }, { Swift.max($0, $1) }, "maximum"))
    }

    // MARK: Unary primitives
    /// eˣ, elementwise.
    public func exp() -> Tensor { Rules.exp(self, mapVectorized(VectorMath.exp, Double.exp, "exp")) }
    /// ln x, elementwise.
    public func log() -> Tensor { Rules.log(self, mapRaw(Float.log, Double.log, "log")) }
    /// ln(1 + x), elementwise, accurate for small x.
    public func log1p() -> Tensor { Rules.log1p(self, mapRaw(Float.log1p, Double.log1p, "log1p")) }
    /// eˣ − 1, elementwise, accurate for small x.
    public func expm1() -> Tensor { Rules.expm1(self, mapRaw(Float.expm1, Double.expm1, "expm1")) }
    /// √x, elementwise.
    public func sqrt() -> Tensor { Rules.sqrt(self, mapRaw({ $0.squareRoot() }, { $0.squareRoot() }, "sqrt")) }
    /// 1/√x, elementwise.
    public func rsqrt() -> Tensor { Rules.rsqrt(self, mapRaw({ 1 / $0.squareRoot() }, { 1 / $0.squareRoot() }, "rsqrt")) }
    /// |x|, elementwise.
    public func abs() -> Tensor { Rules.abs(self, mapRaw({ Swift.abs($0) }, { Swift.abs($0) }, "abs")) }
    /// −1, 0 or 1 (derivative zero).
    public func sign() -> Tensor { Rules.constant(mapRaw({ $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) }, "sign")) }
    /// sin x, elementwise.
    public func sin() -> Tensor { Rules.sin(self, mapVectorized(VectorMath.sin, Double.sin, "sin")) }
    /// cos x, elementwise.
    public func cos() -> Tensor { Rules.cos(self, mapVectorized(VectorMath.cos, Double.cos, "cos")) }
    /// tanh x, elementwise.
    public func tanh() -> Tensor { Rules.tanh(self, mapVectorized(VectorMath.tanh, Double.tanh, "tanh")) }
    /// 1 / (1 + e⁻ˣ), evaluated without overflow for large |x|.
    public func sigmoid() -> Tensor {
        Rules.sigmoid(self, mapVectorized(VectorMath.sigmoid, { $0 >= 0 ? 1 / (1 + Double.exp(-$0)) : Double.exp($0) / (1 + Double.exp($0)) }, "sigmoid"))
    }
    /// silu'(x) = σ(x)(1 + x(1 − σ(x))), fused (the SiLU backward pass in one sweep).
    public func siluDerivative() -> Tensor {
        Rules.siluDerivative(self, mapVectorized(VectorMath.siluDerivative, { x in
            let s = x >= 0 ? 1 / (1 + Double.exp(-x)) : Double.exp(x) / (1 + Double.exp(x))
            return s * (1 + x * (1 - s))
        }, "siluDerivative"))
    }
    /// log(1 + eˣ) = max(x, 0) + log1p(e^−|x|): stable for large |x|.
    public func softplus() -> Tensor {
        Rules.softplus(self, mapVectorized(VectorMath.softplus, { Swift.max($0, 0) + Double.log1p(Double.exp(-Swift.abs($0))) }, "softplus"))
    }
    /// max(x, 0), elementwise.
    public func relu() -> Tensor { Rules.relu(self, mapRaw({ Swift.max($0, 0) }, { Swift.max($0, 0) }, "relu")) }
    /// x for x > 0, slope·x otherwise.
    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor {
        let s32 = Float(negativeSlope)
        return Rules.leakyRelu(self, negativeSlope, mapRaw({ $0 > 0 ? $0 : s32 * $0 }, { $0 > 0 ? $0 : negativeSlope * $0 }, "leakyRelu"))
    }
    /// The error function erf x = (2/√π) ∫₀ˣ e^(−t²) dt, elementwise.
    public func erf() -> Tensor { Rules.erf(self, mapRaw(Float.erf, Double.erf, "erf")) }

    // MARK: Composites
    /// x·σ(x) (SiLU / swish). In Float32 first-order training a fused primitive (Tensor+SiLU.swift).
    public func silu() -> Tensor {
        fusedPrimitive([self], kernelSupports: dtype == .float32, reference: { xs in [xs[0].siluPrimitive()] }) {
            siluKernel()
        }[0]
    }
    /// SiLU as a plain primitive (rule `Rules.silu`): the fused SiLU's reference.
    func siluPrimitive() -> Tensor {
        Rules.silu(self, mapVectorized(VectorMath.silu, { $0 >= 0 ? $0 / (1 + Double.exp(-$0)) : $0 * Double.exp($0) / (1 + Double.exp($0)) }, "silu"))
    }
    /// GELU, exact form x·Φ(x) = ½x(1 + erf(x/√2)) (a fused primitive with a vectorised erf), or the tanh approximation
    /// ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    public func gelu(approximate: Bool = false) -> Tensor {
        if approximate {
            let inner = (self + self * self * self * 0.044715) * (2.0 / Double.pi).squareRoot()
            return self * 0.5 * (inner.tanh() + 1)
        }
        return Rules.gelu(self, mapVectorized(VectorMath.gelu, { 0.5 * $0 * (1 + Double.erf($0 * 0.5.squareRoot())) }, "gelu"))
    }
    /// GELU′(x) = Φ(x) + x·φ(x), fused (the exact GELU's backward pass in one sweep).
    public func geluDerivative() -> Tensor {
        Rules.geluDerivative(self, mapVectorized(VectorMath.geluDerivative, { x in
            0.5 * (1 + Double.erf(x * 0.5.squareRoot())) + x * Double.exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
        }, "geluDerivative"))
    }
    /// Elementwise clamp to [low, high] (gradient 1 inside, 0 outside).
    public func clamped(min low: Double? = nil, max high: Double? = nil) -> Tensor {
        var y = self
        if let low { y = Tensor.maximum(y, scalarLike(low)) }
        if let high { y = Tensor.minimum(y, scalarLike(high)) }
        return y
    }
    /// x², elementwise.
    public func squared() -> Tensor { self * self }

    // MARK: Comparisons and selection (masks are constants: 1 where true, 0 where false)
    /// 1 where a < b, else 0, broadcasting; a constant mask (Float32 for int32 `a`).
    public static func .< (a: Tensor, b: Tensor) -> Tensor { compare(a, b, "less") { $0 < $1 } }
    /// 1 where a ≤ b, else 0, broadcasting; a constant mask (Float32 for int32 `a`).
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, "lessEqual") { $0 <= $1 } }
    /// 1 where a > b, else 0, broadcasting; a constant mask (Float32 for int32 `a`).
    public static func .> (a: Tensor, b: Tensor) -> Tensor { compare(a, b, "greater") { $0 > $1 } }
    /// 1 where a ≥ b, else 0, broadcasting; a constant mask (Float32 for int32 `a`).
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, "greaterEqual") { $0 >= $1 } }
    /// 1 where a = b, else 0, broadcasting; a constant mask (Float32 for int32 `a`).
    public static func .== (a: Tensor, b: Tensor) -> Tensor { compare(a, b, "equal") { $0 == $1 } }
    /// 1 where a ≠ b, else 0, broadcasting; a constant mask (Float32 for int32 `a`).
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { compare(a, b, "notEqual") { $0 != $1 } }
    /// 1 where a < b, else 0 (a constant mask); the Swift scalar is weak (NOTE(8)).
    public static func .< (a: Tensor, b: Double) -> Tensor { a .< a.scalarLike(b) }
    /// 1 where a > b, else 0 (a constant mask); the Swift scalar is weak (NOTE(8)).
    public static func .> (a: Tensor, b: Double) -> Tensor { a .> a.scalarLike(b) }
    /// 1 where a ≤ b, else 0 (a constant mask); the Swift scalar is weak (NOTE(8)).
    public static func .<= (a: Tensor, b: Double) -> Tensor { a .<= a.scalarLike(b) }
    /// 1 where a ≥ b, else 0 (a constant mask); the Swift scalar is weak (NOTE(8)).
    public static func .>= (a: Tensor, b: Double) -> Tensor { a .>= a.scalarLike(b) }

    static func compare(_ a: Tensor, _ b: Tensor, _ name: String, _ op: @escaping (Double, Double) -> Bool) -> Tensor {
        let (a, b) = a.dtype == b.dtype || !(a.isWeak || b.isWeak) ? (a, b) : promoted(a, b, name)
        if a.dtype == .int32 || b.dtype == .int32 {
            let x = a.cast(to: .float64), y = b.cast(to: .float64)
            return zipRaw(x, y, { _, _ in 0 }, { op($0, $1) ? 1 : 0 }, name).cast(to: a.dtype == .int32 ? .float32 : a.dtype)
        }
        return zipRaw(a.detached, b.detached, { op(Double($0), Double($1)) ? 1 : 0 }, { op($0, $1) ? 1 : 0 }, name)
    }

    /// Elementwise selection: `a` where `condition` is non-zero, `b` elsewhere (broadcasting).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        let (a, b) = promoted(a, b, "where")
        precondition(condition.dtype == a.dtype || condition.dtype == .int32,
                     "where: condition dtype \(condition.dtype) does not match values' \(a.dtype)")
        let c = condition.dtype == a.dtype ? condition.detached : condition.cast(to: a.dtype)
        guard let s1 = broadcastShapes(c.shape, a.shape), let shape = broadcastShapes(s1, b.shape) else {
            preconditionFailure("where: shapes \(condition.shape), \(a.shape) and \(b.shape) do not broadcast")
        }
        let mask = c.expanded(to: shape).detached
        let av = a.detached.expanded(to: shape), bv = b.detached.expanded(to: shape)
        var value = Tensor(uninitializedShape: shape, dtype: a.dtype)
        func select<T: TensorFloat>(_ type: T.Type) {
            mask.withUnsafeBufferPointer(as: T.self) { m in av.withUnsafeBufferPointer(as: T.self) { x in
                bv.withUnsafeBufferPointer(as: T.self) { y in value.withUnsafeMutableBufferPointer(as: T.self) { o in
                    for i in 0..<o.count { o[i] = m[i] != 0 ? x[i] : y[i] }
                } } } }
        }
        if a.dtype == .float32 { select(Float.self) } else { select(Double.self) }
        return Rules.select(mask, a, b, value)
    }
}
