import Foundation

/// The shape of a `GPT` model.
public struct GPTConfiguration: Codable, Equatable, Sendable {
    /// How token positions enter the model.
    public enum Positions: String, Codable, Sendable {
        /// Learned absolute embeddings added to the tokens (GPT-2).
        case learned
        /// Fixed sinusoidal encodings added to the tokens (Vaswani et al.).
        case sinusoidal
        /// Rotary embeddings on each head's queries and keys (RoFormer); nothing added to the tokens.
        case rotary
    }
    public var vocabularySize: Int
    public var contextLength: Int
    public var width: Int
    /// Number of `GPTBlock`s (nanoGPT's `n_layer`).
    public var layerCount: Int
    public var headCount: Int
    public var mlpRatio: Int
    public var positions: Positions
    /// QK-RMSNorm in every block (RMSNorm over each head's queries and keys, ε = 1e-6).
    public var qkNorm: Bool

    /// Sizes must be positive and `width` must split into `headCount` heads.
    public init(vocabularySize: Int, contextLength: Int, width: Int, layerCount: Int, headCount: Int, mlpRatio: Int = 4,
                positions: Positions = .learned, qkNorm: Bool = false) {
        precondition(vocabularySize > 0 && contextLength > 0 && layerCount > 0 && mlpRatio > 0,
                     "GPTConfiguration: sizes must be positive")
        precondition(width > 0 && headCount > 0 && width % headCount == 0,
                     "GPTConfiguration: width \(width) must split into \(headCount) heads")
        self.vocabularySize = vocabularySize
        self.contextLength = contextLength
        self.width = width
        self.layerCount = layerCount
        self.headCount = headCount
        self.mlpRatio = mlpRatio
        self.positions = positions
        self.qkNorm = qkNorm
    }
}

/// A pre-LayerNorm Transformer block with causal self-attention (GPT-2; Radford et al. 2019),
/// named as `Block` in shared/bench/reference_torch.py (`ln1`, `qkv`, `proj`, `ln2`, `mlp.0`, `mlp.2`):
///
///     [q k v] = qkv(LN₁(x)) split in heads;  x ← x + proj(concatₕ softmax(q_h·k_hᵀ/√d + causal)·v_h)
///     x ← x + W₂·GELU(W₁·LN₂(x) + b₁) + b₂       (GELU exact, with erf; W₁ [rE, E], W₂ [E, rE])
///
/// Shapes: x [B, T, E] → [B, T, E]. Initialisation: PyTorch's (Linear U(±1/√fan_in), LayerNorm 1/0).
public struct GPTBlock: Layer {
    public var ln1: LayerNorm
    public var qkv: Linear
    public var proj: Linear
    public var ln2: LayerNorm
    public var fc1: Linear
    public var fc2: Linear
    public var queryNorm: RMSNorm?
    public var keyNorm: RMSNorm?
    public var rotary: RotaryEmbedding?
    public let headCount: Int

    public init(width: Int, headCount: Int, mlpRatio: Int = 4, qkNorm: Bool = false, rotary: Bool = false,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(width % headCount == 0, "GPTBlock: width \(width) must split into \(headCount) heads")
        self.headCount = headCount
        ln1 = LayerNorm(normalizedShape: [width], dtype: dtype)
        qkv = Linear(inputSize: width, outputSize: 3 * width, dtype: dtype, using: &rng)
        proj = Linear(inputSize: width, outputSize: width, dtype: dtype, using: &rng)
        ln2 = LayerNorm(normalizedShape: [width], dtype: dtype)
        fc1 = Linear(inputSize: width, outputSize: mlpRatio * width, dtype: dtype, using: &rng)
        fc2 = Linear(inputSize: mlpRatio * width, outputSize: width, dtype: dtype, using: &rng)
        let headSize = width / headCount
        if qkNorm {
            queryNorm = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
            keyNorm = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
        }
        self.rotary = rotary ? RotaryEmbedding(headSize: headSize) : nil
    }

    /// The block on x [B, T, E] without a cache.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        var cache: AttentionCache? = nil
        return callAsFunction(x, cache: &cache)
    }

    /// The block on new positions x [B, T, E]; with a cache, their keys and values are appended and
    /// the queries attend to every cached position as well.
    public func callAsFunction(_ x: Tensor, cache: inout AttentionCache?) -> Tensor {
        let h = x + attention(ln1(x), cache: &cache)
        return h + fc2(fc1(ln2(h)).gelu())
    }

    func attention(_ x: Tensor, cache: inout AttentionCache?) -> Tensor {
        let packed = qkv(x)                                          // [B, T, 3E]
        if cache == nil && queryNorm == nil && keyNorm == nil && rotary == nil {
            // Heads read straight from the packed projection, output in [B, T, E].
            return proj(Tensor.packedAttention(packed, headCount: headCount, causal: true))
        }
        let parts = packed.split(count: 3, axis: 2)
        var q = splitHeads(parts[0], headCount)                      // [B, H, T, d]
        var k = splitHeads(parts[1], headCount)
        var v = splitHeads(parts[2], headCount)
        prepareHeads(&q, &k, &v, queryNorm: queryNorm, keyNorm: keyNorm, rotary: rotary, cache: &cache)  // k, v [B, H, S, d]
        return proj(mergeHeads(Tensor.attention(query: q, key: k, value: v, causal: true)))  // [B, T, E]
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        ln1.visitParameters(prefix: Self.join(prefix, "ln1"), body)
        ln2.visitParameters(prefix: Self.join(prefix, "ln2"), body)
        qkv.visitParameters(prefix: Self.join(prefix, "qkv"), body)
        proj.visitParameters(prefix: Self.join(prefix, "proj"), body)
        fc1.visitParameters(prefix: Self.join(prefix, "mlp.0"), body)
        fc2.visitParameters(prefix: Self.join(prefix, "mlp.2"), body)
        queryNorm?.visitParameters(prefix: Self.join(prefix, "q_norm"), body)
        keyNorm?.visitParameters(prefix: Self.join(prefix, "k_norm"), body)
    }
}

/// A GPT-style causal language model (Radford et al. 2018/2019; nanoGPT's layout): token embedding
/// plus positions, pre-LN `GPTBlock`s, a final LayerNorm and a linear head to the vocabulary.
/// Names as `w_gpt` in shared/bench/reference_torch.py: `tok.weight`, `pos.weight`, `blocks.N.*`,
/// `lnf.*`, `head.*`.
///
///     h₀ = E[tokens] + P[0..<T],  h_l = Block_l(h_{l−1}),  logits = head(LN_f(h_L))
///
/// Shapes: int32 tokens [B, T] (T ≤ contextLength) → logits [B, T, vocabularySize].
/// Initialisation: PyTorch's defaults (embeddings N(0, 1), Linear U(±1/√fan_in)).
/// Generation uses a KV cache per block: each new token costs one position's work.
public struct GPT: Layer {
    public var tokenEmbedding: Embedding
    public var positionEmbedding: LearnedPositionalEmbedding?
    public var blocks: [GPTBlock]
    public var finalNorm: LayerNorm
    public var head: Linear
    public let configuration: GPTConfiguration

    public init(_ c: GPTConfiguration, dtype: DType = .float32, using rng: inout SeededGenerator) {
        configuration = c
        tokenEmbedding = Embedding(embeddingCount: c.vocabularySize, embeddingSize: c.width, dtype: dtype, using: &rng)
        positionEmbedding = c.positions == .learned
            ? LearnedPositionalEmbedding(maxLength: c.contextLength, width: c.width, dtype: dtype, using: &rng) : nil
        blocks = (0..<c.layerCount).map { _ in
            GPTBlock(width: c.width, headCount: c.headCount, mlpRatio: c.mlpRatio, qkNorm: c.qkNorm,
                     rotary: c.positions == .rotary, dtype: dtype, using: &rng)
        }
        finalNorm = LayerNorm(normalizedShape: [c.width], dtype: dtype)
        head = Linear(inputSize: c.width, outputSize: c.vocabularySize, dtype: dtype, using: &rng)
    }

    /// Logits [B, T, V] for tokens [B, T].
    public func callAsFunction(_ tokens: Tensor) -> Tensor {
        var caches: [AttentionCache]? = nil
        return logits(tokens, caches: &caches)
    }

    /// Logits of new tokens [B, T] that follow the cached positions (one cache per block; pass
    /// `[AttentionCache](repeating: AttentionCache(), count: configuration.layerCount)` to start).
    public func callAsFunction(_ tokens: Tensor, caches: inout [AttentionCache]) -> Tensor {
        var c: [AttentionCache]? = caches
        let y = logits(tokens, caches: &c)
        caches = c!
        return y
    }

    func logits(_ tokens: Tensor, caches: inout [AttentionCache]?) -> Tensor {
        precondition(tokens.rank == 2, "GPT: tokens \(tokens.shape) must be [B, T]")
        let offset = caches?.first?.length ?? 0
        precondition(offset + tokens.shape[1] <= configuration.contextLength || configuration.positions != .learned,
                     "GPT: \(offset + tokens.shape[1]) positions exceed the context length \(configuration.contextLength)")
        var h = tokenEmbedding(tokens)                                // [B, T, E]
        switch configuration.positions {
        case .learned: h = positionEmbedding!(h, offset: offset)
        case .sinusoidal: h = h + SinusoidalPositionalEncoding.table(length: tokens.shape[1], width: configuration.width, offset: offset, dtype: h.dtype)
        case .rotary: break
        }
        for i in blocks.indices {
            if caches == nil {
                var none: AttentionCache? = nil
                h = blocks[i](h, cache: &none)
            } else {
                var c: AttentionCache? = caches![i]
                h = blocks[i](h, cache: &c)
                caches![i] = c!
            }
        }
        return head(finalNorm(h))                                     // [B, T, V]
    }

    /// Appends `count` sampled tokens to each row of `prompt` [B, T₀] (int32) → [B, T₀ + count].
    /// The prompt is processed once, then each new token with the KV cache. When the context is full
    /// the window slides: the cache is rebuilt from the last contextLength − 1 tokens.
    public func generate(prompt: Tensor, count: Int, temperature: Double = 1, topK: Int? = nil,
                         using rng: inout SeededGenerator) -> Tensor {
        precondition(prompt.rank == 2 && prompt.dtype == .int32 && prompt.shape[1] > 0, "GPT.generate: prompt \(prompt.shape) must be int32 [B, T] with T > 0")
        let (b, context) = (prompt.shape[0], configuration.contextLength)
        var rows = (0..<b).map { r in Array(prompt.int32s[(r * prompt.shape[1])..<((r + 1) * prompt.shape[1])]) }
        var caches = [AttentionCache](repeating: AttentionCache(), count: blocks.count)
        var next = Tensor(rows.flatMap { $0.suffix(context) }, shape: [b, Swift.min(rows[0].count, context)])
        for _ in 0..<count {
            if caches[0].length + next.shape[1] > context {
                caches = [AttentionCache](repeating: AttentionCache(), count: blocks.count)
                let keep = context - 1
                next = Tensor(rows.flatMap { $0.suffix(keep) }, shape: [b, Swift.min(rows[0].count, keep)])
            }
            let logits = withoutDerivatives { self(next, caches: &caches) }
            let last = logits.sliced(axis: 1, (logits.shape[1] - 1)..<logits.shape[1]).reshaped(to: [b, configuration.vocabularySize])
            let sampled = sampleTokens(logits: last, temperature: temperature, topK: topK, using: &rng)
            for r in 0..<b { rows[r].append(sampled[r]) }
            next = Tensor(sampled, shape: [b, 1])
        }
        return Tensor(rows.flatMap { $0 }, shape: [b, rows[0].count])
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        tokenEmbedding.visitParameters(prefix: Self.join(prefix, "tok"), body)
        positionEmbedding?.visitParameters(prefix: Self.join(prefix, "pos"), body)
        blocks.visitParameters(prefix: Self.join(prefix, "blocks"), body)
        finalNorm.visitParameters(prefix: Self.join(prefix, "lnf"), body)
        head.visitParameters(prefix: Self.join(prefix, "head"), body)
    }
}

/// One token per row of `logits` [B, V]: softmax(logits / temperature) restricted to the `topK`
/// largest logits (all when nil), sampled with `rng`; temperature 0 takes the argmax.
public func sampleTokens(logits: Tensor, temperature: Double = 1, topK: Int? = nil, using rng: inout SeededGenerator) -> [Int32] {
    precondition(logits.rank == 2, "sampleTokens: logits \(logits.shape) must be [B, V]")
    precondition(temperature >= 0, "sampleTokens: temperature must be ≥ 0, got \(temperature)")
    if let topK { precondition(topK > 0, "sampleTokens: topK must be positive, got \(topK)") }
    let (b, v) = (logits.shape[0], logits.shape[1])
    let values = logits.scalars
    var out: [Int32] = []
    for r in 0..<b {
        let row = Array(values[(r * v)..<((r + 1) * v)])
        let best = row.indices.max { row[$0] < row[$1] }!
        if temperature == 0 { out.append(Int32(best)); continue }
        var threshold = -Double.infinity
        if let topK, topK < v { threshold = row.sorted(by: >)[topK - 1] }
        let m = row[best]
        var weights = row.map { $0 >= threshold ? Foundation.exp(($0 - m) / temperature) : 0 }
        let total = weights.reduce(0, +)
        for i in weights.indices { weights[i] /= total }
        let u = Double(rng.next() >> 11) * 0x1p-53
        var acc = 0.0, pick = best
        for i in weights.indices where weights[i] > 0 {
            acc += weights[i]
            pick = i
            if u < acc { break }
        }
        out.append(Int32(pick))
    }
    return out
}
