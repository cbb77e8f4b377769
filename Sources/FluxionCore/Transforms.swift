/// A value whose differentiable parameters can be visited in a fixed order with PyTorch-style
/// names. Models implement it by listing their parameters and sub-models explicitly (no
/// reflection); gradients then come back as a value of the same type.
public protocol ParameterTree {
    /// Calls `body` once for every parameter, in a fixed order, with its dotted name
    /// (`prefix` + name, e.g. `"layers.0.weight"`); `body` may replace the parameter.
    mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void)
}

extension ParameterTree {
    /// Joins a prefix and a name with a dot (PyTorch's `state_dict` convention).
    public static func join(_ prefix: String, _ name: String) -> String {
        prefix.isEmpty ? name : prefix + "." + name
    }

    /// The parameters with their names, in visiting order.
    public var namedParameters: [(name: String, value: Tensor)] {
        var copy = self
        var out: [(String, Tensor)] = []
        copy.visitParameters(prefix: "") { name, t in out.append((name, t)) }
        return out
    }

    /// Replaces every parameter by `transform(name, parameter)`.
    public func mapParameters(_ transform: (String, Tensor) -> Tensor) -> Self {
        var copy = self
        copy.visitParameters(prefix: "") { name, t in t = transform(name, t) }
        return copy
    }

    /// Total number of scalar parameters.
    public var parameterCount: Int { namedParameters.reduce(0) { $0 + $1.value.count } }
}

extension Tensor: ParameterTree {
    /// Visits the tensor itself under `prefix`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(prefix, &self)
    }
}

extension Array: ParameterTree where Element: ParameterTree {
    /// Visits each element under `prefix.i`, i = 0, 1, ….
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        for i in indices { self[i].visitParameters(prefix: Self.join(prefix, String(i)), body) }
    }
}

// MARK: - Reverse mode

/// The value of `f` at `x` and its gradient: a tree shaped like `x` holding ∂f/∂parameter.
/// `f` must return a scalar (one element). Nests with every other transform.
public func valueWithGradient<P: ParameterTree>(at x: P, of f: (P) -> Tensor) -> (value: Tensor, gradient: P) {
    let (value, pullback) = valueWithPullback(at: x, of: f)
    precondition(value.count == 1, "valueWithGradient: the function must return one element, got shape \(value.shape)")
    return (value, pullback(Tensor.ones(like: value)))
}

/// ∇f(x) for a scalar-valued `f`.
public func gradient<P: ParameterTree>(at x: P, of f: (P) -> Tensor) -> P {
    valueWithGradient(at: x, of: f).gradient
}

/// Value and gradients of a scalar function of two inputs.
public func valueWithGradient<A: ParameterTree, B: ParameterTree>(
    at a: A, _ b: B, of f: (A, B) -> Tensor
) -> (value: Tensor, gradient: (A, B)) {
    let (v, g) = valueWithGradient(at: Pair(a, b)) { p in f(p.first, p.second) }
    return (v, (g.first, g.second))
}

/// Gradients of a scalar function of two inputs.
public func gradient<A: ParameterTree, B: ParameterTree>(at a: A, _ b: B, of f: (A, B) -> Tensor) -> (A, B) {
    valueWithGradient(at: a, b, of: f).gradient
}

/// Value and gradients of a scalar function of three inputs.
public func valueWithGradient<A: ParameterTree, B: ParameterTree, C: ParameterTree>(
    at a: A, _ b: B, _ c: C, of f: (A, B, C) -> Tensor
) -> (value: Tensor, gradient: (A, B, C)) {
    let (v, g) = valueWithGradient(at: Pair(Pair(a, b), c)) { p in f(p.first.first, p.first.second, p.second) }
    return (v, (g.first.first, g.first.second, g.second))
}

/// Two parameter trees as one (names `0.*` and `1.*`).
public struct Pair<A: ParameterTree, B: ParameterTree>: ParameterTree {
    /// The first tree (names `0.*`).
    public var first: A
    /// The second tree (names `1.*`).
    public var second: B
    /// The two trees as one.
    public init(_ first: A, _ second: B) { self.first = first; self.second = second }
    /// Visits `first` (names `0.*`), then `second` (names `1.*`).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        first.visitParameters(prefix: Self.join(prefix, "0"), body)
        second.visitParameters(prefix: Self.join(prefix, "1"), body)
    }
}

/// The value of `f` at `x` and its pullback: a function from an output cotangent (shaped like the
/// value) to the cotangent of `x` (Jᵀ·u). The pullback may be called several times.
public func valueWithPullback<P: ParameterTree>(at x: P, of f: (P) -> Tensor) -> (value: Tensor, pullback: (Tensor) -> P) {
    let ctx = ADContext.current
    precondition(ctx.paused == 0, "valueWithPullback: called inside withoutDerivatives { }")
    ctx.reverseDepth += 1
    var lifted = x
    var leaves: [Node] = []
    lifted.visitParameters(prefix: "") { _, t in
        t = Autodiff.makeLeaf(t, ctx)
        leaves.append(t.ad!.node!)
    }
    let insideCheckpoint = !ctx.checkpointInputs.isEmpty
    if insideCheckpoint { ctx.checkpointInputs.append(nil) }
    let y = f(lifted)
    if insideCheckpoint { ctx.checkpointInputs.removeLast() }
    let pullback: (Tensor) -> P = { seed in
        precondition(seed.shape == y.shape, "pullback: cotangent shape \(seed.shape) does not match the value's shape \(y.shape)")
        let ctx = ADContext.current
        ctx.reverseDepth += 1
        let grads = Autodiff.backward(from: y, seed: seed, to: leaves, ctx)
        ctx.reverseDepth -= 1
        var out = x
        var i = 0
        out.visitParameters(prefix: "") { _, t in
            t = Autodiff.clean(grads[i] ?? Tensor.zeros(like: t), ctx)
            i += 1
        }
        return out
    }
    ctx.reverseDepth -= 1
    return (Autodiff.clean(y, ctx), pullback)
}

/// Vector-Jacobian product: (f(x), Jᵀ·u).
public func vjp<P: ParameterTree>(at x: P, along u: Tensor, of f: (P) -> Tensor) -> (value: Tensor, cotangent: P) {
    let (v, pb) = valueWithPullback(at: x, of: f)
    return (v, pb(u))
}

// MARK: - Forward mode

/// Jacobian-vector product: (f(x), J·v), the directional derivative of `f` at `x` along `v`
/// (not normalised). Forward mode: one evaluation, never forms J. Nests with every transform.
public func jvp(at x: Tensor, along v: Tensor, of f: (Tensor) -> Tensor) -> (value: Tensor, differential: Tensor) {
    let (value, d) = jvp(at: [x], along: [v]) { xs in [f(xs[0])] }
    return (value[0], d[0])
}

/// Jacobian-vector product over several inputs and outputs.
public func jvp(at xs: [Tensor], along vs: [Tensor], of f: ([Tensor]) -> [Tensor]) -> (value: [Tensor], differential: [Tensor]) {
    precondition(xs.count == vs.count, "jvp: \(xs.count) inputs but \(vs.count) tangents")
    let ctx = ADContext.current
    precondition(ctx.paused == 0, "jvp: called inside withoutDerivatives { }")
    let level = ctx.nextLevel
    ctx.nextLevel += 1
    ctx.forwardLevels.append(level)
    let duals = zip(xs, vs).map { x, v -> Tensor in
        precondition(x.shape == v.shape, "jvp: tangent shape \(v.shape) does not match input shape \(x.shape)")
        precondition(x.dtype == v.dtype, "jvp: tangent dtype \(v.dtype) does not match input dtype \(x.dtype)")
        var d = x
        d.ad = ADState(node: x.ad?.node, outputIndex: x.ad?.outputIndex ?? 0, tangents: (x.ad?.tangents ?? []) + [(level, v)])
        return d
    }
    let ys = f(duals)
    ctx.forwardLevels.removeAll { $0 == level }
    for node in ctx.levelNodes.removeValue(forKey: level) ?? [] { node.dropTangents(atLevel: level) }
    let values = ys.map { Autodiff.clean($0, ctx) }
    let tangents = ys.map { y in Autodiff.clean(y.tangent(atLevel: level) ?? Tensor.zeros(like: y), ctx) }
    return (values, tangents)
}

// MARK: - Constants

/// Runs `body` with differentiation switched off: nothing inside is recorded, and what it returns
/// is a constant for every transform.
public func withoutDerivatives<R>(_ body: () throws -> R) rethrows -> R {
    let ctx = ADContext.current
    ctx.paused += 1
    defer { ctx.paused -= 1 }
    return try body()
}
