import Foundation
import FluxionNN

// The one interface shared by diffusion, rectified flow and CNFs: a time-dependent network or
// field f(x, t). Time convention of the whole module: data at t = 0, noise at t = 1 (SD3).

/// A time-dependent vector field or network f(x, t).
///
/// Shapes: x [B, d], t [B, 1] → [B, d]. A model is a value whose parameters are a
/// `ParameterTree`, so `valueWithGradient(at: model)` gives gradients of the same type.
public protocol TimeConditionedModel: ParameterTree {
    /// f(x, t): x [B, d], t [B, 1] → [B, d].
    func callAsFunction(_ x: Tensor, time t: Tensor) -> Tensor
}

extension TimeConditionedModel {
    /// Evaluates the field at one scalar time for a whole batch: f(x, t·1).
    public func callAsFunction(_ x: Tensor, time t: Double) -> Tensor {
        self(x, time: Tensor.full(t, shape: [x.shape[0], 1], dtype: x.dtype))
    }
}

/// A parameter-free field given by a closure (an exact score, a linear field in a test).
public struct ClosureField: TimeConditionedModel {
    /// The field (x, t) ↦ f(x, t).
    public let body: (Tensor, Tensor) -> Tensor
    /// The field given by `body(x, t)`.
    public init(_ body: @escaping (_ x: Tensor, _ t: Tensor) -> Tensor) { self.body = body }
    /// `body(x, t)`.
    public func callAsFunction(_ x: Tensor, time t: Tensor) -> Tensor { body(x, t) }
    /// Visits nothing (no parameters).
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}

/// An MLP on the concatenation [x, t, sin(2πk·t), cos(2πk·t) for k = 1…K]:
///
///     f(x, t) = MLP([x, φ(t)]),   φ(t) = [t, sin 2πt, cos 2πt, …, sin 2πKt, cos 2πKt]
///
/// Shapes: x [B, d], t [B, 1] → [B, d]; the MLP has sizes [d + 1 + 2K, hidden…, d]. With K = 0 the
/// input is [x, t], as the rectflow2d benchmark. Initialisation: PyTorch's Linear default.
/// Parameter names `net.layers.i.weight` / `.bias`.
public struct TimeConditionedMLP: TimeConditionedModel {
    /// The MLP d + 1 + 2K → hidden… → d.
    public var net: MLP
    /// d, the dimension of x.
    public let dimension: Int
    /// K, the number of sin/cos time frequencies (0: the input is [x, t]).
    public let timeFrequencies: Int

    /// An MLP with `hiddenSizes` (activation SiLU unless given) on x of `dimension` and K =
    /// `timeFrequencies` (0) time frequencies, PyTorch's Linear initialisation.
    public init(dimension: Int, hiddenSizes: [Int], activation: Activation.Kind = .silu, timeFrequencies: Int = 0,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(dimension > 0 && timeFrequencies >= 0, "TimeConditionedMLP: dimension \(dimension), frequencies \(timeFrequencies)")
        self.dimension = dimension
        self.timeFrequencies = timeFrequencies
        net = MLP(sizes: [dimension + 1 + 2 * timeFrequencies] + hiddenSizes + [dimension],
                  activation: activation, dtype: dtype, using: &rng)
    }

    /// The time features φ(t) [B, 1 + 2K].
    public func timeFeatures(_ t: Tensor) -> Tensor {
        guard timeFrequencies > 0 else { return t }
        var parts = [t]
        for k in 1...timeFrequencies {
            let angle = t * (2 * Double.pi * Double(k))
            parts.append(angle.sin())
            parts.append(angle.cos())
        }
        return Tensor.concatenate(parts, axis: 1)
    }

    /// MLP([x, φ(t)]): x [B, d], t [B, 1] (or a scalar, broadcast to the batch) → [B, d].
    public func callAsFunction(_ x: Tensor, time t: Tensor) -> Tensor {
        precondition(x.rank == 2 && x.shape[1] == dimension, "TimeConditionedMLP: x must be [B, \(dimension)], got \(x.shape)")
        let tt = t.rank == 0 ? Tensor.full(t.item, shape: [x.shape[0], 1], dtype: x.dtype) : t
        return net(Tensor.concatenate([x, timeFeatures(tt)], axis: 1))
    }

    /// Visits the MLP's parameters under `net.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        net.visitParameters(prefix: Self.join(prefix, "net"), body)
    }
}
