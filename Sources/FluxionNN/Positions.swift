import Foundation

/// Fixed sinusoidal position encodings (Vaswani et al. 2017, §3.5), added to the input:
///
///     PE(pos, 2i) = sin(pos / 10000^{2i/D}),  PE(pos, 2i + 1) = cos(pos / 10000^{2i/D})
///
/// Shapes: x [B, T, D] (or [T, D]) → same; positions start at `offset` (for cached decoding).
/// No parameters.
public struct SinusoidalPositionalEncoding: Layer {
    public let width: Int
    public init(width: Int) {
        precondition(width > 0, "SinusoidalPositionalEncoding: width must be positive, got \(width)")
        self.width = width
    }

    /// The table PE [length, width] for positions offset..<offset + length.
    public static func table(length: Int, width: Int, offset: Int = 0, dtype: DType = .float32) -> Tensor {
        var v = [Double](repeating: 0, count: length * width)
        for p in 0..<length {
            for c in 0..<width {
                let i = c / 2
                let angle = Double(p + offset) / Foundation.pow(10_000, Double(2 * i) / Double(width))
                v[p * width + c] = c % 2 == 0 ? Foundation.sin(angle) : Foundation.cos(angle)
            }
        }
        return Tensor(v, shape: [length, width], dtype: dtype)
    }

    /// x + PE[0..<T].
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, offset: 0) }

    /// x + PE[offset..<offset + T].
    public func callAsFunction(_ x: Tensor, offset: Int) -> Tensor {
        precondition(x.rank >= 2 && x.shape[x.rank - 1] == width,
                     "SinusoidalPositionalEncoding: input \(x.shape) must be [..., T, \(width)]")
        return x + Self.table(length: x.shape[x.rank - 2], width: width, offset: offset, dtype: x.dtype)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}

/// Learned absolute position embeddings (GPT-2), added to the input: y[b, t] = x[b, t] + P[offset + t].
///
/// Shapes: x [B, T, D] → same, T + offset ≤ maxLength; P (`weight`) [maxLength, D].
/// Initialisation: N(0, 1), as PyTorch's `nn.Embedding`.
public struct LearnedPositionalEmbedding: Layer {
    public var weight: Tensor

    public init(maxLength: Int, width: Int, dtype: DType = .float32, using rng: inout SeededGenerator) {
        weight = Tensor.randomNormal(shape: [maxLength, width], dtype: dtype, using: &rng)
    }

    public var maxLength: Int { weight.shape[0] }

    /// x + P[0..<T].
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, offset: 0) }

    /// x + P[offset..<offset + T].
    public func callAsFunction(_ x: Tensor, offset: Int) -> Tensor {
        let t = x.shape[x.rank - 2]
        precondition(offset + t <= maxLength, "LearnedPositionalEmbedding: positions up to \(offset + t) exceed the maximum length \(maxLength)")
        return x + weight.sliced(axis: 0, offset..<(offset + t))
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "weight"), &weight)
    }
}

/// Rotary position embeddings (Su et al. 2021, RoFormer, arXiv:2104.09864), in the "rotate half"
/// layout of GPT-NeoX and Llama: with x = [x₁, x₂] split into halves of d/2,
///
///     RoPE(x, p) = x ⊙ cos(pθ) + [−x₂, x₁] ⊙ sin(pθ),   θ_i = base^{−2i/d} (repeated for both halves)
///
/// so that ⟨RoPE(q, m), RoPE(k, n)⟩ depends on m − n only. Applied to queries and keys per head.
/// Shapes: x [..., T, d] (d even) → same; positions start at `offset`. No parameters.
public struct RotaryEmbedding: Layer, Sendable {
    public let headSize: Int
    public let base: Double

    public init(headSize: Int, base: Double = 10_000) {
        precondition(headSize > 0 && headSize % 2 == 0, "RotaryEmbedding: head size must be even, got \(headSize)")
        self.headSize = headSize
        self.base = base
    }

    /// cos and sin tables [length, d] for positions offset..<offset + length.
    public func tables(length: Int, offset: Int = 0, dtype: DType = .float32) -> (cos: Tensor, sin: Tensor) {
        let half = headSize / 2
        var c = [Double](repeating: 0, count: length * headSize), s = c
        for p in 0..<length {
            for i in 0..<half {
                let angle = Double(p + offset) * Foundation.pow(base, -Double(2 * i) / Double(headSize))
                c[p * headSize + i] = Foundation.cos(angle); c[p * headSize + i + half] = Foundation.cos(angle)
                s[p * headSize + i] = Foundation.sin(angle); s[p * headSize + i + half] = Foundation.sin(angle)
            }
        }
        return (Tensor(c, shape: [length, headSize], dtype: dtype), Tensor(s, shape: [length, headSize], dtype: dtype))
    }

    /// RoPE of x [..., T, d] for positions 0..<T.
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, offset: 0) }

    /// RoPE of x [..., T, d] for positions offset..<offset + T.
    public func callAsFunction(_ x: Tensor, offset: Int) -> Tensor {
        precondition(x.rank >= 2 && x.shape[x.rank - 1] == headSize, "RotaryEmbedding: input \(x.shape) must be [..., T, \(headSize)]")
        let (cos, sin) = tables(length: x.shape[x.rank - 2], offset: offset, dtype: x.dtype)
        let halves = x.split(count: 2, axis: -1)
        let rotated = Tensor.concatenate([-halves[1], halves[0]], axis: x.rank - 1)
        return x * cos + rotated * sin
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {}
}
