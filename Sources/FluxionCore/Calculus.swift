// Derivatives of user functions built from the transforms in Transforms.swift (SPEC §12):
// directional derivatives, dense Jacobians and Hessians for small inputs, and Hessian-vector
// products that never form the Hessian.
//
// NOTE(1): every function here is composed from `jvp` and `valueWithPullback`, so the results are
// themselves differentiable: a `hessianVectorProduct` inside a `gradient` is a third derivative.
// The dense builders stack their columns with `Tensor.stack` (a recorded primitive) for the same
// reason.

/// An error raised by the calculus helpers; its description names the problem.
public enum CalculusError: Error, CustomStringConvertible, Equatable {
    /// The direction of a directional derivative was the zero vector (it has no unit vector).
    case zeroDirection
    /// A tensor's shape did not match what the function needs.
    case shapeMismatch(String)

    /// A one-line message naming the problem.
    public var description: String {
        switch self {
        case .zeroDirection:
            return "directionalDerivative: the direction is the zero vector, which has no unit vector v/‖v‖"
        case .shapeMismatch(let message):
            return message
        }
    }
}

/// The directional derivative of `f` at `x` along the *unit* vector v/‖v‖:
///
///     D_v f(x) = J_f(x) · v / ‖v‖      (= ∇f(x) · v/‖v‖ for a scalar f)
///
/// Forward mode (one `jvp`, never forms J). Shapes: `x` and `direction` alike (any shape, ‖·‖ is
/// the Euclidean norm over all elements); the result has the shape of f(x). For f = x² + y² at
/// (1, 2) it gives 4.4 along (3, 4), 2 along (1, 0) and the maximum ‖∇f‖ = 2√5 along ∇f.
/// Reference: any calculus text; the worked example is SPEC §12.
/// - Throws: `CalculusError.zeroDirection` when v = 0, `.shapeMismatch` when the shapes differ.
public func directionalDerivative(of f: (Tensor) -> Tensor, at x: Tensor, along direction: Tensor) throws -> Tensor {
    guard direction.shape == x.shape else {
        throw CalculusError.shapeMismatch("directionalDerivative: direction shape \(direction.shape) does not match point shape \(x.shape)")
    }
    let squaredNorm = (direction * direction).sum()
    guard squaredNorm.item > 0 else { throw CalculusError.zeroDirection }
    let unit = direction / squaredNorm.sqrt()
    return jvp(at: x, along: unit, of: f).differential
}

/// How `jacobian(of:at:mode:)` builds the matrix.
public enum JacobianMode: Sendable {
    /// Forward mode when the input has at most as many elements as the output, reverse otherwise.
    case automatic
    /// One `jvp` per input element (one column per pass).
    case forward
    /// One pullback per output element (one row per pass).
    case reverse
}

/// The Jacobian J_ij = ∂f_i/∂x_j of `f` at `x`.
///
/// Shapes: x [in...], f(x) [out...] → J [out..., in...]. With n input and m output elements,
/// forward mode costs n `jvp` passes (column J·e_j each) and reverse mode one forward pass plus m
/// pullbacks (row e_iᵀ·J each); `.automatic` picks forward when n ≤ m, the cheaper of the two.
/// Dense: meant for small n or m.
public func jacobian(of f: (Tensor) -> Tensor, at x: Tensor, mode: JacobianMode = .automatic) -> Tensor {
    let n = x.count
    switch mode {
    case .forward:
        return forwardJacobian(f, x)
    case .reverse:
        return reverseJacobian(f, x)
    case .automatic:
        // The output size is only known after one evaluation; that evaluation is not recorded.
        let m = withoutDerivatives { f(x) }.count
        return n <= m ? forwardJacobian(f, x) : reverseJacobian(f, x)
    }
}

/// The standard basis vector e_i shaped like `x`.
func basisVector(_ i: Int, like x: Tensor) -> Tensor {
    var values = [Double](repeating: 0, count: x.count)
    values[i] = 1
    return Tensor(values, shape: x.shape, dtype: x.dtype)
}

private func forwardJacobian(_ f: (Tensor) -> Tensor, _ x: Tensor) -> Tensor {
    precondition(x.count > 0, "jacobian: the input has no elements")
    var columns: [Tensor] = []
    var outShape: [Int] = []
    for j in 0..<x.count {
        let d = jvp(at: x, along: basisVector(j, like: x), of: f).differential
        outShape = d.shape
        columns.append(d.flattened())
    }
    // columns: n × [m] → [m, n] → [out..., in...]
    return Tensor.stack(columns, axis: 1).reshaped(to: outShape + x.shape)
}

private func reverseJacobian(_ f: (Tensor) -> Tensor, _ x: Tensor) -> Tensor {
    let (value, pullback) = valueWithPullback(at: x, of: f)
    precondition(value.count > 0, "jacobian: the output has no elements")
    var rows: [Tensor] = []
    for i in 0..<value.count {
        rows.append(pullback(basisVector(i, like: value)).flattened())
    }
    // rows: m × [n] → [m, n] → [out..., in...]
    return Tensor.stack(rows, axis: 0).reshaped(to: value.shape + x.shape)
}

/// The Hessian-vector product H(x)·v of a scalar-valued `f`, without forming H:
///
///     H(x)·v = d/dε ∇f(x + εv) |_{ε=0}
///
/// Forward-over-reverse: one `jvp` of the reverse-mode gradient, about the cost of two gradient
/// evaluations. Shapes: x, v alike → result shaped like x. `v` is not normalised.
/// Reference: Pearlmutter, "Fast exact multiplication by the Hessian" (1994).
public func hessianVectorProduct(of f: (Tensor) -> Tensor, at x: Tensor, along v: Tensor) -> Tensor {
    precondition(v.shape == x.shape, "hessianVectorProduct: vector shape \(v.shape) does not match point shape \(x.shape)")
    return jvp(at: x, along: v) { p in gradient(at: p, of: f) }.differential
}

/// The dense Hessian H_ij = ∂²f/∂x_i∂x_j of a scalar-valued `f` at `x`.
///
/// Built column by column as H·e_j with `hessianVectorProduct` (n forward-over-reverse passes).
/// Shapes: x [in...] → H [in..., in...]. Dense: meant for small inputs (n up to a few hundred).
/// The result is symmetric up to rounding for twice continuously differentiable f.
public func hessian(of f: (Tensor) -> Tensor, at x: Tensor) -> Tensor {
    precondition(x.count > 0, "hessian: the input has no elements")
    var columns: [Tensor] = []
    for j in 0..<x.count {
        columns.append(hessianVectorProduct(of: f, at: x, along: basisVector(j, like: x)).flattened())
    }
    return Tensor.stack(columns, axis: 1).reshaped(to: x.shape + x.shape)
}
