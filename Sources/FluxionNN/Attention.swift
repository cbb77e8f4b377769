/// Multi-head attention (Vaswani et al. 2017, "Attention Is All You Need", §3.2.2), batch-first,
/// with PyTorch's `nn.MultiheadAttention` parameter names and layout:
///
///     [Q K V] = [x_q·W_qᵀ + b_q, x_k·W_kᵀ + b_k, x_v·W_vᵀ + b_v],  W_in = [W_q; W_k; W_v] (`in_proj_weight`)
///     head_i  = softmax(Q_i·K_iᵀ/√d + M)·V_i      (d = width / headCount)
///     y       = concat(head_1 … head_h)·W_oᵀ + b_o  (`out_proj.weight`, `out_proj.bias`)
///
/// Options: QK-RMSNorm (Esser et al. 2024, SD3 §5.3.2: RMSNorm with a learnable scale over each
/// head's queries and keys, ε = 1e-6; names `q_norm.weight`, `k_norm.weight`) and rotary position
/// embeddings (`rotary`, applied to queries and keys after the norm).
///
/// Shapes: query [B, T, E], key and value [B, S, E] → [B, T, E]. Masks: `causal` (query i sees keys
/// j ≤ i, offset by S − T when the keys are longer, as with a KV cache), `keyPadding` [B, S] with 1
/// where a key takes part and 0 where it is padding (the opposite of PyTorch's boolean
/// `key_padding_mask`), and an additive `mask` [T, S] (−∞ forbids; PyTorch's float `attn_mask`).
/// Attention itself is the fused memory-efficient `Tensor.attention` (one head's scores at a time).
///
/// Initialisation (PyTorch): `in_proj_weight` Xavier-uniform, U(±√(6/(E + 3E))); `in_proj_bias` and
/// `out_proj.bias` 0; `out_proj.weight` U(±1/√E).
/// As a `Layer`, `mha(x)` is unmasked self-attention (PyTorch's `mha(x, x, x)`).
public struct MultiheadAttention: Layer {
    public var inProjectionWeight: Tensor
    public var inProjectionBias: Tensor?
    public var outProjection: Linear
    public var queryNorm: RMSNorm?
    public var keyNorm: RMSNorm?
    public var rotary: RotaryEmbedding?
    public let headCount: Int

    public init(width: Int, headCount: Int, bias: Bool = true, qkNorm: Bool = false, rotary: Bool = false,
                dtype: DType = .float32, using rng: inout SeededGenerator) {
        precondition(width > 0 && headCount > 0 && width % headCount == 0,
                     "MultiheadAttention: width \(width) must split into \(headCount) heads")
        self.headCount = headCount
        let bound = (6.0 / Double(width + 3 * width)).squareRoot()
        inProjectionWeight = uniformInit([3 * width, width], bound: bound, dtype: dtype, using: &rng)
        inProjectionBias = bias ? Tensor.zeros(shape: [3 * width], dtype: dtype) : nil
        outProjection = Linear(inputSize: width, outputSize: width, bias: bias, dtype: dtype, using: &rng)
        if bias { outProjection.bias = Tensor.zeros(shape: [width], dtype: dtype) }
        let headSize = width / headCount
        if qkNorm {
            queryNorm = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
            keyNorm = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
        }
        self.rotary = rotary ? RotaryEmbedding(headSize: headSize) : nil
    }

    public var width: Int { inProjectionWeight.shape[1] }
    public var headSize: Int { width / headCount }

    /// Unmasked self-attention: query = key = value = x.
    public func callAsFunction(_ x: Tensor) -> Tensor { callAsFunction(x, causal: false) }

    /// Self-attention (query = key = value = x) with the masks described above.
    public func callAsFunction(_ x: Tensor, causal: Bool, keyPadding: Tensor? = nil, mask: Tensor? = nil) -> Tensor {
        var cache: AttentionCache? = nil
        return attend(query: x, keyValue: nil, causal: causal, keyPadding: keyPadding, mask: mask, cache: &cache)
    }

    /// Attention of `query` over `key`/`value` (cross-attention when they differ).
    public func callAsFunction(query: Tensor, key: Tensor, value: Tensor, causal: Bool = false,
                               keyPadding: Tensor? = nil, mask: Tensor? = nil) -> Tensor {
        var cache: AttentionCache? = nil
        return attend(query: query, keyValue: (key, value), causal: causal, keyPadding: keyPadding, mask: mask, cache: &cache)
    }

    /// Causal self-attention of new positions `x` [B, T, E] that follow the cached ones: their keys
    /// and values are appended to `cache`, and the queries see every cached key (KV-cache decoding).
    public func callAsFunction(_ x: Tensor, cache: inout AttentionCache) -> Tensor {
        var c: AttentionCache? = cache
        let y = attend(query: x, keyValue: nil, causal: true, keyPadding: nil, mask: nil, cache: &c)
        cache = c!
        return y
    }

    func attend(query: Tensor, keyValue: (Tensor, Tensor)?, causal: Bool, keyPadding: Tensor?, mask: Tensor?,
                cache: inout AttentionCache?) -> Tensor {
        precondition(query.rank == 3 && query.shape[2] == width,
                     "MultiheadAttention: query \(query.shape) must be [B, T, \(width)]")
        let e = width
        var q: Tensor, k: Tensor, v: Tensor
        if let (key, value) = keyValue {
            precondition(key.rank == 3 && key.shape[2] == e && value.shape == key.shape && key.shape[0] == query.shape[0],
                         "MultiheadAttention: key \(key.shape) and value \(value.shape) must be [\(query.shape[0]), S, \(e)]")
            let w = inProjectionWeight.split(count: 3, axis: 0)
            let b = inProjectionBias?.split(count: 3, axis: 0)
            q = Tensor.linear(query, weight: w[0], bias: b?[0])
            k = Tensor.linear(key, weight: w[1], bias: b?[1])
            v = Tensor.linear(value, weight: w[2], bias: b?[2])
        } else {
            let qkv = Tensor.linear(query, weight: inProjectionWeight, bias: inProjectionBias).split(count: 3, axis: 2)
            (q, k, v) = (qkv[0], qkv[1], qkv[2])
        }
        q = splitHeads(q, headCount)                                 // [B, H, T, d]
        k = splitHeads(k, headCount)                                 // [B, H, S, d]
        v = splitHeads(v, headCount)
        prepareHeads(&q, &k, &v, queryNorm: queryNorm, keyNorm: keyNorm, rotary: rotary, cache: &cache)
        let a = Tensor.attention(query: q, key: k, value: v, causal: causal, keyPadding: keyPadding, mask: mask)  // [B, H, T, d]
        return outProjection(mergeHeads(a))                          // [B, T, E]
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        body(Self.join(prefix, "in_proj_weight"), &inProjectionWeight)
        if inProjectionBias != nil { body(Self.join(prefix, "in_proj_bias"), &inProjectionBias!) }
        outProjection.visitParameters(prefix: Self.join(prefix, "out_proj"), body)
        queryNorm?.visitParameters(prefix: Self.join(prefix, "q_norm"), body)
        keyNorm?.visitParameters(prefix: Self.join(prefix, "k_norm"), body)
    }
}

/// The keys and values of the positions seen so far, per attention layer: [B, H, S, d] each.
public struct AttentionCache {
    public var key: Tensor?
    public var value: Tensor?
    /// An empty cache (no positions seen).
    public init() {}
    /// Number of cached positions S.
    public var length: Int { key?.shape[2] ?? 0 }

    mutating func append(key k: Tensor, value v: Tensor) {
        key = key.map { Tensor.concatenate([$0, k], axis: 2) } ?? k
        value = value.map { Tensor.concatenate([$0, v], axis: 2) } ?? v
    }
}

/// [B, T, H·d] → [B, H, T, d].
func splitHeads(_ x: Tensor, _ heads: Int) -> Tensor {
    let (b, t, e) = (x.shape[0], x.shape[1], x.shape[2])
    return x.reshaped(to: [b, t, heads, e / heads]).permuted([0, 2, 1, 3])
}

/// [B, H, T, d] → [B, T, H·d].
func mergeHeads(_ x: Tensor) -> Tensor {
    let (b, h, t, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    return x.permuted([0, 2, 1, 3]).reshaped(to: [b, t, h * d])
}

/// The steps between splitting heads and attending, shared by `MultiheadAttention` and the GPT's
/// self-attention: QK-RMSNorm, rotary positions from the cache's offset, then the new keys and
/// values appended to the cache (q, k, v [B, H, ·, d]; k, v become the cache's [B, H, S, d]).
func prepareHeads(_ q: inout Tensor, _ k: inout Tensor, _ v: inout Tensor, queryNorm: RMSNorm?, keyNorm: RMSNorm?,
                  rotary: RotaryEmbedding?, cache: inout AttentionCache?) {
    if let queryNorm { q = queryNorm(q) }
    if let keyNorm { k = keyNorm(k) }
    let offset = cache?.length ?? 0
    if let rotary {
        q = rotary(q, offset: offset)
        k = rotary(k, offset: offset)
    }
    if var c = cache {
        c.append(key: k, value: v)
        (k, v) = (c.key!, c.value!)
        cache = c
    }
}
