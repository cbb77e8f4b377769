// NOTE(8): the dtype rule (JAX's weak types, PyTorch's scalar rule).
//
//  1. Every initialiser makes Float32 unless given `dtype:` — arrays of Swift `Double` or `Float`
//     (`Tensor([1.0, 2.0])`), scalars, `zeros`/`ones`/`full`/`arange`/`linspace`/`eye`, random
//     tensors. Arrays of Swift integers (`Tensor([0, 2, 1])`) make int32 (indices, labels).
//  2. A Swift scalar in an operation (`x * 2`, `0.5 + x`, `x / n` for an `Int` n), and a tensor
//     made from one without a dtype (`Tensor(2.0)`), is *weak*: it takes the dtype of the tensor it
//     meets, with its exact value (`Tensor(0.1)` meets Float64 as 0.1, not as Float32's 0.1).
//     Two weak scalars give a weak scalar (Float64 if either is); weakness survives +, −, ×, ÷
//     between weak scalars, and every other operation makes an ordinary tensor.
//  3. An int32 tensor meeting a float one converts to the float's dtype (to Float32 when the float
//     is weak): `Tensor([1, 2]) + 0.5` is the Float32 [1.5, 2.5].
//  4. Two float tensors of different dtypes, neither weak, do not mix: the operation stops with a
//     message saying how to convert (`cast(to:)`, or `dtype:` where the tensor is made).

extension Tensor {
    /// The operands of a binary elementwise operation brought to one dtype by NOTE(8).
    @inline(__always)
    static func promoted(_ a: Tensor, _ b: Tensor, _ name: String) -> (Tensor, Tensor) {
        if a.dtype == b.dtype { return (a, b) }
        return promotedMixed(a, b, name)
    }

    @inline(never)
    static func promotedMixed(_ a: Tensor, _ b: Tensor, _ name: String) -> (Tensor, Tensor) {
        switch (a.isWeak, b.isWeak) {
        case (true, false):
            let target = b.dtype.isFloatingPoint ? b.dtype : .float32
            return (a.weakConverted(to: target), b.cast(to: target))
        case (false, true):
            let target = a.dtype.isFloatingPoint ? a.dtype : .float32
            return (a.cast(to: target), b.weakConverted(to: target))
        case (true, true):
            let target: DType = a.dtype == .float64 || b.dtype == .float64 ? .float64 : .float32
            return (a.weakConverted(to: target), b.weakConverted(to: target))
        case (false, false):
            if a.dtype == .int32 { return (a.cast(to: b.dtype), b) }
            if b.dtype == .int32 { return (a, b.cast(to: a.dtype)) }
            preconditionFailure(dtypeMismatchMessage(name, a, b))
        }
    }

    /// A weak scalar as `target`, from its exact value (differentiable if tracked).
    func weakConverted(to target: DType) -> Tensor {
        guard let value = weakValue, dtype != target else { return self }
        var y = Tensor.full(value, shape: [], dtype: target)
        if ad != nil { y = Rules.cast(self, y) }
        y.weakValue = value
        return y
    }

    /// This result, weak with value `op(a, b)` when both operands are weak (NOTE(8)).
    @inline(__always)
    func weak(_ a: Tensor, _ b: Tensor, _ op: (Double, Double) -> Double) -> Tensor {
        guard let x = a.weakValue, let y = b.weakValue else { return self }
        var r = self
        r.weakValue = op(x, y)
        return r
    }
}

/// The message for two float tensors of different dtypes that meet in `op` (NOTE(8)).
func dtypeMismatchMessage(_ op: String, _ a: Tensor, _ b: Tensor) -> String {
    "\(op): dtypes differ: \(a.dtype) \(a.shape) and \(b.dtype) \(b.shape). Float32 and Float64 tensors do not mix "
        + "implicitly: convert one with .cast(to: .\(a.dtype)) or .cast(to: .\(b.dtype)), or make it with dtype: .\(a.dtype)"
}
