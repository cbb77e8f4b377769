import FluxionCore

/// Finite-difference derivative checks in Float64, in a random direction (as JAX's `check_grads`).
///
/// For f: inputs → output, a random input direction v and a random output cotangent u:
/// - finite differences: ⟨(f(x + εv) − f(x − εv)) / 2ε, u⟩
/// - reverse mode:        ⟨v, Jᵀu⟩ from `vjp`
/// - forward mode:        ⟨J·v, u⟩ from `jvp`
/// All three must agree. At second order the same check is applied to the derivative functions
/// x ↦ Jᵀ(x)u (reverse rules differentiated by reverse and forward mode) and x ↦ J(x)v
/// (forward rules differentiated in turn).
public enum GradientCheck {
    public struct Options {
        public var order = 2
        public var epsilon = 1e-6
        public var relativeTolerance = 1e-6
        public var absoluteTolerance = 1e-8
        public var seed: UInt64 = 7
        public init(order: Int = 2, epsilon: Double = 1e-6, relativeTolerance: Double = 1e-6,
                    absoluteTolerance: Double = 1e-8, seed: UInt64 = 7) {
            self.order = order
            self.epsilon = epsilon
            self.relativeTolerance = relativeTolerance
            self.absoluteTolerance = absoluteTolerance
            self.seed = seed
        }
    }

    static func dot(_ a: [Tensor], _ b: [Tensor]) -> Double {
        zip(a, b).reduce(0) { acc, p in acc + zip(p.0.scalars, p.1.scalars).reduce(0) { $0 + $1.0 * $1.1 } }
    }

    static func close(_ a: Double, _ b: Double, _ o: Options) -> Bool {
        Swift.abs(a - b) <= o.absoluteTolerance + o.relativeTolerance * Swift.max(Swift.abs(a), Swift.abs(b))
    }

    /// Checks first-order derivatives of `f` at `xs`; returns a description of each disagreement.
    public static func firstOrder(_ f: @escaping ([Tensor]) -> Tensor, at xs: [Tensor], options o: Options = Options(),
                                  label: String = "") -> [String] {
        for x in xs { precondition(x.dtype == .float64, "GradientCheck: inputs must be float64, got \(x.dtype) \(x.shape)") }
        var rng = SeededGenerator(seed: o.seed)
        let vs = xs.map { Tensor.randomNormal(shape: $0.shape, dtype: .float64, using: &rng) }
        let y = f(xs)
        let u = Tensor.randomNormal(shape: y.shape, dtype: .float64, using: &rng)
        let plus = f(zip(xs, vs).map { $0 + $1 * o.epsilon })
        let minus = f(zip(xs, vs).map { $0 - $1 * o.epsilon })
        let numeric = dot([(plus - minus) / (2 * o.epsilon)], [u])
        let reverse = dot(vs, vjp(at: xs, along: u, of: f).cotangent)
        let forward = dot([jvp(at: xs, along: vs) { [f($0)] }.differential[0]], [u])
        var failures: [String] = []
        if !close(numeric, reverse, o) {
            failures.append("\(label): reverse mode ⟨v, Jᵀu⟩ = \(reverse) but finite differences give \(numeric)")
        }
        if !close(numeric, forward, o) {
            failures.append("\(label): forward mode ⟨Jv, u⟩ = \(forward) but finite differences give \(numeric)")
        }
        if !close(forward, reverse, o) {
            failures.append("\(label): JVP \(forward) and VJP \(reverse) disagree")
        }
        return failures
    }

    /// First-order check, and (when `options.order >= 2`) the same check on the derivative functions.
    public static func check(_ f: @escaping ([Tensor]) -> Tensor, at xs: [Tensor], options o: Options = Options(),
                             label: String = "") -> [String] {
        var failures = firstOrder(f, at: xs, options: o, label: label + " [order 1]")
        guard o.order >= 2 else { return failures }
        var rng = SeededGenerator(seed: o.seed &+ 1)
        let y = f(xs)
        let u = Tensor.randomNormal(shape: y.shape, dtype: .float64, using: &rng)
        let w = xs.map { Tensor.randomNormal(shape: $0.shape, dtype: .float64, using: &rng) }
        // x ↦ Jᵀ(x)·u, flattened and joined: the reverse rules, differentiated.
        let reverseDerivative: ([Tensor]) -> Tensor = { xs in
            Tensor.concatenate(vjp(at: xs, along: u, of: f).cotangent.map { $0.flattened() }, axis: 0)
        }
        // x ↦ J(x)·w: the forward rules, differentiated.
        let forwardDerivative: ([Tensor]) -> Tensor = { xs in jvp(at: xs, along: w) { [f($0)] }.differential[0] }
        var second = o
        second.relativeTolerance = Swift.max(o.relativeTolerance, 1e-5)
        second.absoluteTolerance = Swift.max(o.absoluteTolerance, 1e-7)
        failures += firstOrder(reverseDerivative, at: xs, options: second, label: label + " [order 2, of VJP]")
        failures += firstOrder(forwardDerivative, at: xs, options: second, label: label + " [order 2, of JVP]")
        return failures
    }
}

extension Tensor {
    /// Random float64 tensor for tests: normal, or uniform in `range` when given.
    public static func testInput(_ shape: [Int], seed: UInt64, range: ClosedRange<Double>? = nil) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        if let range {
            return Tensor.randomUniform(shape: shape, low: range.lowerBound, high: range.upperBound, dtype: .float64, using: &rng)
        }
        return Tensor.randomNormal(shape: shape, dtype: .float64, using: &rng)
    }
}

/// Every `Tensor` stored in `value` (through structs, enums, optionals, arrays and existentials),
/// with the path of property labels that leads to it: for tests that check a parameter listing
/// against what a layer actually stores (reflection in tests only; the library never reflects).
public func storedTensors(_ value: Any, path: String = "", depth: Int = 0) -> [(path: String, tensor: Tensor)] {
    if let t = value as? Tensor { return [(path, t)] }
    guard depth < 64 else { return [] }
    let mirror = Mirror(reflecting: value)
    if mirror.displayStyle == .class { return [] }   // storage and caches, not parameters
    var out: [(path: String, tensor: Tensor)] = []
    for (i, child) in mirror.children.enumerated() {
        let label = child.label ?? String(i)
        out += storedTensors(child.value, path: path.isEmpty ? label : path + "." + label, depth: depth + 1)
    }
    return out
}
