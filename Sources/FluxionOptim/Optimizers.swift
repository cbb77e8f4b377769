import Foundation
import FluxionKernels

/// Stochastic gradient descent with optional momentum, PyTorch's `torch.optim.SGD` formulation
/// (Nesterov momentum as Sutskever et al. 2013):
///
///     g ← g + λp;  b ← μb + (1 − τ)g (b = g on the first step);  g ← g + μb (Nesterov) or g ← b;  p ← p − ηg
///
/// with η = `learningRate`, μ = `momentum`, τ = `dampening`, λ = `weightDecay` (μ, τ, λ default to 0).
/// State: `momentum_buffer` per parameter, kept only when μ ≠ 0.
public struct SGD: Optimizer {
    public static let slotNames: Set<String> = ["momentum_buffer"]
    public var learningRate: Double
    public var momentum: Double
    public var dampening: Double
    public var nesterov: Bool
    public var weightDecay: Double
    public var stepCount = 0
    public var state: [String: Tensor] = [:]
    public var frozen: Set<String> = []

    public init(learningRate: Double, momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false, weightDecay: Double = 0) {
        precondition(!nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum needs momentum > 0 and zero dampening")
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
    }

    /// One SGD update of the parameter `name` (see the type).
    public mutating func step(_ name: String, _ p: inout Tensor, _ g: Tensor) {
        checkFloat(p, g, name)
        let first = state["momentum_buffer/" + name] == nil
        var buffer = slot("momentum_buffer", name, like: p)
        var unused = Tensor.zeros(shape: [1], dtype: p.dtype)
        func run<T: TensorFloat>(_ t: T.Type) {
            let (lr, mu, damp, wd) = (T(learningRate), T(momentum), T(1 - dampening), T(weightDecay))
            let useMomentum = momentum != 0, nest = nesterov
            withBuffers(T.self, &p, g, &buffer, &unused) { p, g, b, _, n in
                for i in 0..<n {
                    var d = g[i]
                    if wd != 0 { d += wd * p[i] }
                    if useMomentum {
                        b[i] = first ? d : mu * b[i] + damp * d
                        d = nest ? d + mu * b[i] : b[i]
                    }
                    p[i] -= lr * d
                }
            }
        }
        if p.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        if momentum != 0 { state["momentum_buffer/" + name] = buffer }
    }
}

/// Adam (Kingma & Ba 2015, arXiv:1412.6980), PyTorch's `torch.optim.Adam`, and AdamW
/// (Loshchilov & Hutter 2019, arXiv:1711.05101) with `decoupledWeightDecay: true`:
///
///     Adam:   g ← g + λp                  (L2 penalty in the gradient)
///     AdamW:  p ← (1 − ηλ)p               (decoupled: the moments never see the decay)
///     m ← β₁m + (1 − β₁)g,  v ← β₂v + (1 − β₂)g²
///     p ← p − (η/(1 − β₁ᵗ)) · m / (√v/√(1 − β₂ᵗ) + ε)
///
/// Defaults are PyTorch's (η = 1e-3, β = (0.9, 0.999), ε = 1e-8, λ = 0). PyTorch's `AdamW` is
/// this optimiser with `decoupled_weight_decay=True` and λ = 1e-2, so `torch.optim.AdamW(p, lr)`
/// is `Adam(learningRate: lr, weightDecay: 1e-2, decoupledWeightDecay: true)`; one type means one
/// update loop and one state format (slots `exp_avg`, `exp_avg_sq`) for both.
///
/// `groups` are PyTorch's parameter groups: a parameter named in a group takes that group's
/// learning rate and weight decay instead of the optimiser's (the first group naming it wins;
/// a learning-rate schedule that sets `learningRate` does not change a group's rate).
public struct Adam: Optimizer {
    /// Parameters (by full name) with their own learning rate and weight decay.
    public struct Group: Equatable, Sendable {
        public var names: Set<String>
        public var learningRate: Double
        public var weightDecay: Double
        public init(names: Set<String>, learningRate: Double, weightDecay: Double = 0) {
            self.names = names
            self.learningRate = learningRate
            self.weightDecay = weightDecay
        }
    }
    public static let slotNames: Set<String> = ["exp_avg", "exp_avg_sq"]
    public var learningRate: Double
    public var beta1: Double
    public var beta2: Double
    public var epsilon: Double
    public var weightDecay: Double
    public var decoupledWeightDecay: Bool
    public var stepCount = 0
    public var state: [String: Tensor] = [:]
    public var frozen: Set<String> = []
    /// Parameter groups with their own rate and decay (see the type).
    public var groups: [Group] = []

    public init(learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, epsilon: Double = 1e-8,
                weightDecay: Double = 0, decoupledWeightDecay: Bool = false) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decoupledWeightDecay = decoupledWeightDecay
    }

    /// One Adam (or AdamW) update of the parameter `name` (see the type).
    public mutating func step(_ name: String, _ p: inout Tensor, _ g: Tensor) {
        checkFloat(p, g, name)
        var m = slot("exp_avg", name, like: p), v = slot("exp_avg_sq", name, like: p)
        let t = Double(stepCount)
        let bc1 = 1 - Foundation.pow(beta1, t), bc2 = 1 - Foundation.pow(beta2, t)
        let group = groups.first { $0.names.contains(name) }
        let learningRate = group?.learningRate ?? self.learningRate, weightDecay = group?.weightDecay ?? self.weightDecay
        func run<T: TensorFloat>(_ type: T.Type) {
            let (b1, b2, eps) = (T(beta1), T(beta2), T(epsilon))
            let stepSize = T(learningRate / bc1), bc2Sqrt = T(bc2.squareRoot())
            let decay = T(1 - learningRate * weightDecay), l2 = T(weightDecay)
            let decoupled = decoupledWeightDecay, hasDecay = weightDecay != 0
            withBuffers(T.self, &p, g, &m, &v) { p, g, m, v, n in
                // Eight lanes at a time with explicit SIMD: the buffers may alias as far as the
                // compiler knows, so a plain loop stays scalar (sqrt and divide per element).
                typealias V = SIMD8<T>
                let mode = !hasDecay ? 0 : decoupled ? 1 : 2
                @inline(__always) func load(_ q: UnsafePointer<T>, _ i: Int) -> V { UnsafeRawPointer(q + i).loadUnaligned(as: V.self) }
                @inline(__always) func store(_ x: V, _ q: UnsafeMutablePointer<T>, _ i: Int) { UnsafeMutableRawPointer(q + i).storeBytes(of: x, as: V.self) }
                func loop(_ range: Range<Int>) {
                    var i = range.lowerBound
                    while i + 8 <= range.upperBound {
                        var pi = load(p, i), gi = load(g, i)
                        if mode == 1 { pi *= decay } else if mode == 2 { gi += l2 * pi }
                        let mi = b1 * load(m, i) + (1 - b1) * gi
                        let vi = b2 * load(v, i) + (1 - b2) * gi * gi
                        store(mi, m, i)
                        store(vi, v, i)
                        store(pi - stepSize * mi / (vi.squareRoot() / bc2Sqrt + eps), p, i)
                        i += 8
                    }
                    for i in i..<range.upperBound {
                        var pi = p[i], gi = g[i]
                        if mode == 1 { pi *= decay } else if mode == 2 { gi += l2 * pi }
                        let mi = b1 * m[i] + (1 - b1) * gi
                        let vi = b2 * v[i] + (1 - b2) * gi * gi
                        m[i] = mi
                        v[i] = vi
                        p[i] = pi - stepSize * mi / (vi.squareRoot() / bc2Sqrt + eps)
                    }
                }
                // Large parameters are split across the thread pool (elementwise, independent).
                let chunks = n >= 1 << 15 ? ThreadPool.shared.threadCount : 1
                let size = (n + chunks - 1) / chunks
                ThreadPool.shared.parallelFor(chunks) { c in
                    let range = (c * size)..<Swift.min(n, (c + 1) * size)
                    loop(range)
                }
            }
        }
        if p.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        state["exp_avg/" + name] = m
        state["exp_avg_sq/" + name] = v
    }
}

/// RMSprop (Tieleman & Hinton 2012, Coursera lecture 6.5), PyTorch's `torch.optim.RMSprop`
/// formulation (η = 1e-2, α = 0.99, ε = 1e-8 outside the square root):
///
///     g ← g + λp;  v ← αv + (1 − α)g²;  d = g/(√v + ε);  with momentum b ← μb + d, p ← p − ηb, else p ← p − ηd
///
/// `centered` (Graves 2013) keeps ḡ ← αḡ + (1 − α)g and uses √(v − ḡ²) instead of √v.
/// State: `square_avg`, and `momentum_buffer` (μ > 0) and `grad_avg` (centered) per parameter.
public struct RMSprop: Optimizer {
    public static let slotNames: Set<String> = ["square_avg", "momentum_buffer", "grad_avg"]
    public var learningRate: Double
    public var alpha: Double
    public var epsilon: Double
    public var weightDecay: Double
    public var momentum: Double
    public var centered: Bool
    public var stepCount = 0
    public var state: [String: Tensor] = [:]
    public var frozen: Set<String> = []

    public init(learningRate: Double = 1e-2, alpha: Double = 0.99, epsilon: Double = 1e-8, weightDecay: Double = 0,
                momentum: Double = 0, centered: Bool = false) {
        self.learningRate = learningRate
        self.alpha = alpha
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.momentum = momentum
        self.centered = centered
    }

    /// One RMSprop update of the parameter `name` (see the type).
    public mutating func step(_ name: String, _ p: inout Tensor, _ g: Tensor) {
        checkFloat(p, g, name)
        var v = slot("square_avg", name, like: p)
        var b = slot("momentum_buffer", name, like: p)
        var mean = slot("grad_avg", name, like: p)
        func run<T: TensorFloat>(_ type: T.Type) {
            let (lr, a, eps, wd, mu) = (T(learningRate), T(alpha), T(epsilon), T(weightDecay), T(momentum))
            let isCentered = centered
            mean.withUnsafeMutableBufferPointer(as: T.self) { gm in
                withBuffers(T.self, &p, g, &v, &b) { p, g, v, b, n in
                    for i in 0..<n {
                        var gi = g[i]
                        if wd != 0 { gi += wd * p[i] }
                        v[i] = a * v[i] + (1 - a) * gi * gi
                        var avg: T
                        if isCentered {
                            gm[i] = a * gm[i] + (1 - a) * gi
                            avg = (v[i] - gm[i] * gm[i]).squareRoot() + eps
                        } else {
                            avg = v[i].squareRoot() + eps
                        }
                        if mu > 0 {
                            b[i] = mu * b[i] + gi / avg
                            p[i] -= lr * b[i]
                        } else {
                            p[i] -= lr * gi / avg
                        }
                    }
                }
            }
        }
        if p.dtype == .float32 { run(Float.self) } else { run(Double.self) }
        state["square_avg/" + name] = v
        if momentum > 0 { state["momentum_buffer/" + name] = b }
        if centered { state["grad_avg/" + name] = mean }
    }
}
