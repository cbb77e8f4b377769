import Foundation

/// The shape of an `MMDiT`, under diffusers' `SD3Transformer2DModel` configuration keys (so a
/// diffusers `config.json` decodes into it). Width D = `headCount · headSize`.
public struct MMDiTConfiguration: Codable, Equatable, Sendable {
    public var sampleSize: Int
    public var patchSize: Int
    public var inputChannels: Int
    public var layerCount: Int
    public var headSize: Int
    public var headCount: Int
    public var jointAttentionSize: Int
    public var captionProjectionSize: Int
    public var pooledProjectionSize: Int
    public var outputChannels: Int
    public var positionEmbeddingMaxSize: Int
    /// QK-RMSNorm (`"rms_norm"`) or none (nil).
    public var qkNorm: String?

    enum CodingKeys: String, CodingKey {
        case sampleSize = "sample_size", patchSize = "patch_size", inputChannels = "in_channels", layerCount = "num_layers"
        case headSize = "attention_head_dim", headCount = "num_attention_heads", jointAttentionSize = "joint_attention_dim"
        case captionProjectionSize = "caption_projection_dim", pooledProjectionSize = "pooled_projection_dim"
        case outputChannels = "out_channels", positionEmbeddingMaxSize = "pos_embed_max_size", qkNorm = "qk_norm"
        case dualAttentionLayers = "dual_attention_layers"
    }

    public var width: Int { headCount * headSize }

    public init(sampleSize: Int, patchSize: Int = 2, inputChannels: Int, layerCount: Int, headSize: Int = 64, headCount: Int,
                jointAttentionSize: Int, captionProjectionSize: Int, pooledProjectionSize: Int, outputChannels: Int,
                positionEmbeddingMaxSize: Int, qkNorm: String? = "rms_norm") {
        (self.sampleSize, self.patchSize, self.inputChannels, self.layerCount) = (sampleSize, patchSize, inputChannels, layerCount)
        (self.headSize, self.headCount, self.jointAttentionSize) = (headSize, headCount, jointAttentionSize)
        (self.captionProjectionSize, self.pooledProjectionSize, self.outputChannels) = (captionProjectionSize, pooledProjectionSize, outputChannels)
        (self.positionEmbeddingMaxSize, self.qkNorm) = (positionEmbeddingMaxSize, qkNorm)
        if let problem = validationProblem { preconditionFailure("MMDiTConfiguration: \(problem)") }
    }

    /// SD3's size parameterisation by depth d (Esser et al. 2024, §5.2): width 64·d, d heads of 64,
    /// d blocks; the caption projection is the width, as the architecture needs.
    public static func sd3(depth d: Int, sampleSize: Int = 8, patchSize: Int = 2, inputChannels: Int = 1, outputChannels: Int = 1,
                           jointAttentionSize: Int, pooledProjectionSize: Int, positionEmbeddingMaxSize: Int? = nil,
                           qkNorm: String? = "rms_norm") -> MMDiTConfiguration {
        MMDiTConfiguration(sampleSize: sampleSize, patchSize: patchSize, inputChannels: inputChannels, layerCount: d, headSize: 64,
                           headCount: d, jointAttentionSize: jointAttentionSize, captionProjectionSize: 64 * d,
                           pooledProjectionSize: pooledProjectionSize, outputChannels: outputChannels,
                           positionEmbeddingMaxSize: positionEmbeddingMaxSize ?? sampleSize / patchSize, qkNorm: qkNorm)
    }

    /// Why the configuration cannot be built, or nil.
    var validationProblem: String? {
        if [sampleSize, patchSize, inputChannels, layerCount, headSize, headCount, jointAttentionSize, pooledProjectionSize,
            outputChannels, positionEmbeddingMaxSize].contains(where: { $0 <= 0 }) { return "sizes must be positive" }
        if captionProjectionSize != width {
            return "caption_projection_dim \(captionProjectionSize) must equal the width num_attention_heads · attention_head_dim = \(width)"
        }
        if width % 4 != 0 { return "the width \(width) must be a multiple of 4 (the 2-D sin-cos position table)" }
        if let q = qkNorm, q != "rms_norm" { return "qk_norm \"\(q)\" is not supported (\"rms_norm\" or null)" }
        return nil
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sampleSize = try c.decode(Int.self, forKey: .sampleSize)
        patchSize = try c.decode(Int.self, forKey: .patchSize)
        inputChannels = try c.decode(Int.self, forKey: .inputChannels)
        layerCount = try c.decode(Int.self, forKey: .layerCount)
        headSize = try c.decode(Int.self, forKey: .headSize)
        headCount = try c.decode(Int.self, forKey: .headCount)
        jointAttentionSize = try c.decode(Int.self, forKey: .jointAttentionSize)
        captionProjectionSize = try c.decode(Int.self, forKey: .captionProjectionSize)
        pooledProjectionSize = try c.decode(Int.self, forKey: .pooledProjectionSize)
        outputChannels = try c.decodeIfPresent(Int.self, forKey: .outputChannels) ?? inputChannels
        positionEmbeddingMaxSize = try c.decode(Int.self, forKey: .positionEmbeddingMaxSize)
        qkNorm = try c.decodeIfPresent(String.self, forKey: .qkNorm)
        if let dual = try c.decodeIfPresent([Int].self, forKey: .dualAttentionLayers), !dual.isEmpty {
            throw DecodingError.dataCorruptedError(forKey: .dualAttentionLayers, in: c,
                debugDescription: "dual_attention_layers \(dual): SD3.5's dual attention is not implemented (only [] is accepted)")
        }
        if let problem = validationProblem {
            throw DecodingError.dataCorruptedError(forKey: .captionProjectionSize, in: c, debugDescription: "MMDiTConfiguration: \(problem)")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sampleSize, forKey: .sampleSize); try c.encode(patchSize, forKey: .patchSize)
        try c.encode(inputChannels, forKey: .inputChannels); try c.encode(layerCount, forKey: .layerCount)
        try c.encode(headSize, forKey: .headSize); try c.encode(headCount, forKey: .headCount)
        try c.encode(jointAttentionSize, forKey: .jointAttentionSize); try c.encode(captionProjectionSize, forKey: .captionProjectionSize)
        try c.encode(pooledProjectionSize, forKey: .pooledProjectionSize); try c.encode(outputChannels, forKey: .outputChannels)
        try c.encode(positionEmbeddingMaxSize, forKey: .positionEmbeddingMaxSize); try c.encode(qkNorm, forKey: .qkNorm)
        try c.encode([Int](), forKey: .dualAttentionLayers)
    }
}

/// SD3's joint (MM-DiT) block (Esser et al. 2024, §4; diffusers' `JointTransformerBlock`): two
/// streams, image x [N, L, D] and context c [N, T, D], each with its own weights, joined only in one
/// attention over [x; c]:
///
///     (shift₁, scale₁, gate₁, shift₂, scale₂, gate₂) = norm1.linear(SiLU(y))   (c likewise with norm1_context)
///     n = LN(x)·(1 + scale₁) + shift₁;  q, k, v = to_q/k/v(n) per head, QK-RMSNorm (ε 1e-6)
///     a = softmax(q·kᵀ/√d)·v over the L + T tokens [x; c], split back
///     x ← x + gate₁·to_out.0(a_x);  x ← x + gate₂·ff(LN(x)·(1 + scale₂) + shift₂)   (c with to_add_out, ff_context)
///
/// LN is LayerNorm without affine, ε 1e-6; ff = Linear(D, 4D), GELU (tanh), Linear(4D, D).
/// `contextPreOnly` (the last block): norm1_context is Linear(D, 2D) → (scale, shift), that order;
/// c only gives keys and values, and the block returns no context (no to_add_out, no ff_context).
/// Initialisation: PyTorch's defaults (Linear U(±1/√fan_in), RMSNorm weights 1).
public struct JointTransformerBlock: ParameterTree {
    public var norm1: Linear
    public var norm1Context: Linear
    public var toQ: Linear, toK: Linear, toV: Linear
    public var addQ: Linear, addK: Linear, addV: Linear
    public var normQ: RMSNorm?, normK: RMSNorm?, normAddedQ: RMSNorm?, normAddedK: RMSNorm?
    public var toOut: Linear
    public var toAddOut: Linear?
    public var ff1: Linear, ff2: Linear
    public var ffContext1: Linear?, ffContext2: Linear?
    public let headCount: Int
    public let contextPreOnly: Bool

    public init(width d: Int, headCount: Int, contextPreOnly: Bool = false, qkNorm: Bool = true, dtype: DType = .float32,
                using rng: inout SeededGenerator) {
        precondition(d > 0 && headCount > 0 && d % headCount == 0, "JointTransformerBlock: width \(d) must split into \(headCount) heads")
        self.headCount = headCount
        self.contextPreOnly = contextPreOnly
        func linear(_ i: Int, _ o: Int) -> Linear { Linear(inputSize: i, outputSize: o, dtype: dtype, using: &rng) }
        // Creation order follows diffusers' module order (norm1, norm1_context, attn, ff, ff_context).
        norm1 = linear(d, 6 * d)
        norm1Context = linear(d, contextPreOnly ? 2 * d : 6 * d)
        let headSize = d / headCount
        if qkNorm {
            normQ = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
            normK = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
        }
        toQ = linear(d, d); toK = linear(d, d); toV = linear(d, d)
        addK = linear(d, d); addV = linear(d, d); addQ = linear(d, d)
        toOut = linear(d, d)
        toAddOut = contextPreOnly ? nil : linear(d, d)
        if qkNorm {
            normAddedQ = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
            normAddedK = RMSNorm(normalizedShape: [headSize], epsilon: 1e-6, dtype: dtype)
        }
        ff1 = linear(d, 4 * d); ff2 = linear(4 * d, d)
        if !contextPreOnly { ffContext1 = linear(d, 4 * d); ffContext2 = linear(4 * d, d) }
    }

    public var width: Int { toQ.inputSize }

    /// The block on image tokens x [N, L, D] and context c [N, T, D] with conditioning y [N, D]:
    /// (x′ [N, L, D], c′ [N, T, D], or nil when context-pre-only).
    public func callAsFunction(_ x: Tensor, context c: Tensor, conditioning y: Tensor) -> (x: Tensor, context: Tensor?) {
        let d = width
        precondition(x.rank == 3 && x.shape[2] == d && c.rank == 3 && c.shape[2] == d && c.shape[0] == x.shape[0]
                     && y.shape == [x.shape[0], d],
                     "JointTransformerBlock: x \(x.shape), context \(c.shape), conditioning \(y.shape) must be [N, L, \(d)], [N, T, \(d)], [N, \(d)]")
        let l = x.shape[1]
        let sy = y.silu()
        let m = norm1(sy).unsqueezed(axis: 1).split(count: 6, axis: 2)       // 6 × [N, 1, D]
        let nx = layerNorm(x) * (m[1] + 1) + m[0]
        let mc = norm1Context(sy).unsqueezed(axis: 1).split(count: contextPreOnly ? 2 : 6, axis: 2)
        let nc = contextPreOnly ? layerNorm(c) * (mc[0] + 1) + mc[1] : layerNorm(c) * (mc[1] + 1) + mc[0]
        var q = splitHeads(toQ(nx), headCount), k = splitHeads(toK(nx), headCount), v = splitHeads(toV(nx), headCount)  // [N, H, L, d]
        var qc = splitHeads(addQ(nc), headCount), kc = splitHeads(addK(nc), headCount), vc = splitHeads(addV(nc), headCount)  // [N, H, T, d]
        var none: AttentionCache? = nil
        prepareHeads(&q, &k, &v, queryNorm: normQ, keyNorm: normK, rotary: nil, cache: &none)
        prepareHeads(&qc, &kc, &vc, queryNorm: normAddedQ, keyNorm: normAddedK, rotary: nil, cache: &none)
        let a = mergeHeads(Tensor.attention(query: Tensor.concatenate([q, qc], axis: 2), key: Tensor.concatenate([k, kc], axis: 2),
                                            value: Tensor.concatenate([v, vc], axis: 2)))  // [N, L + T, D]
        let parts = a.split(sizes: [l, c.shape[1]], axis: 1)
        var h = x + m[2] * toOut(parts[0])
        h = h + m[5] * ff2(ff1(layerNorm(h) * (m[4] + 1) + m[3]).gelu(approximate: true))
        guard let toAddOut, let ffContext1, let ffContext2 else { return (h, nil) }
        var e = c + mc[2] * toAddOut(parts[1])
        e = e + mc[5] * ffContext2(ffContext1(layerNorm(e) * (mc[4] + 1) + mc[3]).gelu(approximate: true))
        return (h, e)
    }

    func layerNorm(_ x: Tensor) -> Tensor { Tensor.layerNorm(x, normalizedShape: [width], weight: nil, bias: nil, epsilon: 1e-6) }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        norm1.visitParameters(prefix: Self.join(prefix, "norm1.linear"), body)
        norm1Context.visitParameters(prefix: Self.join(prefix, "norm1_context.linear"), body)
        normQ?.visitParameters(prefix: Self.join(prefix, "attn.norm_q"), body)
        normK?.visitParameters(prefix: Self.join(prefix, "attn.norm_k"), body)
        toQ.visitParameters(prefix: Self.join(prefix, "attn.to_q"), body)
        toK.visitParameters(prefix: Self.join(prefix, "attn.to_k"), body)
        toV.visitParameters(prefix: Self.join(prefix, "attn.to_v"), body)
        addK.visitParameters(prefix: Self.join(prefix, "attn.add_k_proj"), body)
        addV.visitParameters(prefix: Self.join(prefix, "attn.add_v_proj"), body)
        addQ.visitParameters(prefix: Self.join(prefix, "attn.add_q_proj"), body)
        toOut.visitParameters(prefix: Self.join(prefix, "attn.to_out.0"), body)
        toAddOut?.visitParameters(prefix: Self.join(prefix, "attn.to_add_out"), body)
        normAddedQ?.visitParameters(prefix: Self.join(prefix, "attn.norm_added_q"), body)
        normAddedK?.visitParameters(prefix: Self.join(prefix, "attn.norm_added_k"), body)
        ff1.visitParameters(prefix: Self.join(prefix, "ff.net.0.proj"), body)
        ff2.visitParameters(prefix: Self.join(prefix, "ff.net.2"), body)
        ffContext1?.visitParameters(prefix: Self.join(prefix, "ff_context.net.0.proj"), body)
        ffContext2?.visitParameters(prefix: Self.join(prefix, "ff_context.net.2"), body)
    }
}

/// SD3's rectified-flow transformer (Esser et al. 2024; diffusers' `SD3Transformer2DModel`, its
/// state-dict names):
///
///     x₀ = pos_embed.proj(image) as tokens (row-major) + crop of pos_embed.pos_embed
///     y = timestep_embedder(sinusoid(timestep)) + text_embedder(pooled)      (each Linear, SiLU, Linear)
///     c₀ = context_embedder(context);  (x, c) ← transformer_blocks.i(x, c, y)
///     v = unpatchify(proj_out(LN(x)·(1 + scale) + shift)),  (scale, shift) = norm_out.linear(SiLU(y))
///
/// The sinusoid is 256 channels [cos | sin] of timestep·ω_k, ω_k = 10000^(−k/128) (diffusers'
/// `Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)`). The position table
/// `pos_embed.pos_embed` [1, M², D], M = pos_embed_max_size, is fixed 2-D sin-cos: positions
/// i·(s/p)/M with s the sample size, channels [column half | row half], each [sin | cos]; an h×w
/// patch grid reads its centre crop (top (M − h)/2, left (M − w)/2). It is listed so that files load
/// strictly, but frozen: the forward pass reads it without derivatives, and `frozenParameters`
/// names it for the optimiser (so weight decay leaves it alone too).
///
/// Shapes: hidden_states [N, C, H, W] (H, W multiples of p, H/p and W/p ≤ M), context [N, T, J],
/// pooled [N, P], timestep [N] (already 1000·t, as diffusers takes it) → [N, C_out, H, W].
/// Initialisation: PyTorch's defaults, as diffusers leaves them; the position table as above.
public struct MMDiT: ParameterTree {
    public var patchEmbedding: Conv2d
    public var positionTable: Tensor
    public var timestepLinear1: Linear, timestepLinear2: Linear
    public var textLinear1: Linear, textLinear2: Linear
    public var contextEmbedder: Linear
    public var blocks: [JointTransformerBlock]
    public var normOut: Linear
    public var projOut: Linear
    public let configuration: MMDiTConfiguration

    /// The parameters an optimiser must leave alone: the fixed position table.
    public static let frozenParameters: Set<String> = ["pos_embed.pos_embed"]

    public init(_ c: MMDiTConfiguration, dtype: DType = .float32, using rng: inout SeededGenerator) {
        configuration = c
        let d = c.width
        func linear(_ i: Int, _ o: Int) -> Linear { Linear(inputSize: i, outputSize: o, dtype: dtype, using: &rng) }
        patchEmbedding = Conv2d(inputChannels: c.inputChannels, outputChannels: d, kernelSize: (c.patchSize, c.patchSize),
                                stride: (c.patchSize, c.patchSize), dtype: dtype, using: &rng)
        positionTable = Self.sinCosPositionTable(width: d, maxSize: c.positionEmbeddingMaxSize, baseSize: c.sampleSize / c.patchSize, dtype: dtype)
        timestepLinear1 = linear(256, d); timestepLinear2 = linear(d, d)
        textLinear1 = linear(c.pooledProjectionSize, d); textLinear2 = linear(d, d)
        contextEmbedder = linear(c.jointAttentionSize, c.captionProjectionSize)
        blocks = (0..<c.layerCount).map { i in
            JointTransformerBlock(width: d, headCount: c.headCount, contextPreOnly: i == c.layerCount - 1, qkNorm: c.qkNorm != nil,
                                  dtype: dtype, using: &rng)
        }
        normOut = linear(d, 2 * d)
        projOut = linear(d, c.patchSize * c.patchSize * c.outputChannels)
    }

    /// diffusers' `get_2d_sincos_pos_embed(D, M, base_size=b)` [1, M², D]: token (i, j) (row-major)
    /// gets [sin(pⱼω), cos(pⱼω), sin(pᵢω), cos(pᵢω)], p = index·b/M, ω_k = 10000^(−k/(D/4)).
    public static func sinCosPositionTable(width d: Int, maxSize m: Int, baseSize b: Int, dtype: DType = .float32) -> Tensor {
        precondition(d % 4 == 0, "MMDiT.sinCosPositionTable: width \(d) must be a multiple of 4")
        let quarter = d / 4
        let omega = (0..<quarter).map { 1 / Foundation.pow(10_000, Double($0) / Double(quarter)) }
        var v = [Double](repeating: 0, count: m * m * d)
        for i in 0..<m {
            for j in 0..<m {
                let base = (i * m + j) * d
                for (half, p) in [(0, Double(j) / (Double(m) / Double(b))), (1, Double(i) / (Double(m) / Double(b)))] {
                    for k in 0..<quarter {
                        v[base + half * 2 * quarter + k] = Foundation.sin(p * omega[k])
                        v[base + half * 2 * quarter + quarter + k] = Foundation.cos(p * omega[k])
                    }
                }
            }
        }
        return Tensor(v, shape: [1, m * m, d], dtype: dtype)
    }

    /// diffusers' `Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0)`: t [N] → [N, 256] = [cos(tω) | sin(tω)].
    public static func timestepSinusoid(_ t: Tensor) -> Tensor {
        let freqs = Tensor((0..<128).map { Foundation.exp(-Foundation.log(10_000) * Double($0) / 128) }, shape: [1, 128], dtype: t.dtype)
        let arg = t.unsqueezed(axis: 1) * freqs
        return Tensor.concatenate([arg.cos(), arg.sin()], axis: 1)
    }

    /// The velocity [N, C_out, H, W] (diffusers' `.sample`) of hidden_states [N, C, H, W] with
    /// context [N, T, J], pooled [N, P] and timestep [N] (1000·t).
    public func callAsFunction(_ image: Tensor, context: Tensor, pooled: Tensor, timestep: Tensor) -> Tensor {
        let c = configuration, p = c.patchSize, d = c.width
        precondition(image.rank == 4 && image.shape[1] == c.inputChannels && image.shape[2] % p == 0 && image.shape[3] % p == 0,
                     "MMDiT: hidden_states \(image.shape) must be [N, \(c.inputChannels), H, W] with H, W multiples of \(p)")
        let (n, h, w) = (image.shape[0], image.shape[2] / p, image.shape[3] / p)
        let m = c.positionEmbeddingMaxSize
        precondition(h <= m && w <= m, "MMDiT: a \(h)×\(w) patch grid exceeds pos_embed_max_size \(m)")
        precondition(context.rank == 3 && context.shape[0] == n && context.shape[2] == c.jointAttentionSize,
                     "MMDiT: encoder_hidden_states \(context.shape) must be [\(n), T, \(c.jointAttentionSize)]")
        precondition(pooled.shape == [n, c.pooledProjectionSize], "MMDiT: pooled_projections \(pooled.shape) must be [\(n), \(c.pooledProjectionSize)]")
        precondition(timestep.shape == [n], "MMDiT: timestep \(timestep.shape) must be [\(n)]")
        let (top, left) = ((m - h) / 2, (m - w) / 2)
        let positions = withoutDerivatives {
            positionTable.reshaped(to: [m, m, d]).sliced(lower: [top, left, 0], upper: [top + h, left + w, d]).reshaped(to: [1, h * w, d])
        }
        var x = patchEmbedding(image).reshaped(to: [n, d, h * w]).permuted([0, 2, 1]) + positions  // [N, L, D]
        let y = timestepLinear2(timestepLinear1(Self.timestepSinusoid(timestep)).silu())
            + textLinear2(textLinear1(pooled).silu())                                            // [N, D]
        var e: Tensor? = contextEmbedder(context)                                                // [N, T, D]
        for block in blocks {
            let r = block(x, context: e!, conditioning: y)
            x = r.x
            e = r.context
        }
        let mo = normOut(y.silu()).unsqueezed(axis: 1).split(count: 2, axis: 2)                  // (scale, shift)
        let o = projOut(Tensor.layerNorm(x, normalizedShape: [d], weight: nil, bias: nil, epsilon: 1e-6) * (mo[0] + 1) + mo[1])
        return o.reshaped(to: [n, h, w, p, p, c.outputChannels]).permuted([0, 5, 1, 3, 2, 4])
            .reshaped(to: [n, c.outputChannels, h * p, w * p])
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        patchEmbedding.visitParameters(prefix: Self.join(prefix, "pos_embed.proj"), body)
        body(Self.join(prefix, "pos_embed.pos_embed"), &positionTable)
        timestepLinear1.visitParameters(prefix: Self.join(prefix, "time_text_embed.timestep_embedder.linear_1"), body)
        timestepLinear2.visitParameters(prefix: Self.join(prefix, "time_text_embed.timestep_embedder.linear_2"), body)
        textLinear1.visitParameters(prefix: Self.join(prefix, "time_text_embed.text_embedder.linear_1"), body)
        textLinear2.visitParameters(prefix: Self.join(prefix, "time_text_embed.text_embedder.linear_2"), body)
        contextEmbedder.visitParameters(prefix: Self.join(prefix, "context_embedder"), body)
        blocks.visitParameters(prefix: Self.join(prefix, "transformer_blocks"), body)
        normOut.visitParameters(prefix: Self.join(prefix, "norm_out.linear"), body)
        projOut.visitParameters(prefix: Self.join(prefix, "proj_out"), body)
    }
}
