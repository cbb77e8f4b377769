import FluxionCore
import Foundation

/// The recurrent state of a `MambaBlock` between calls: the last K inputs of the depthwise
/// convolution and the scan's state. Start from `MambaBlock.emptyCache(batch:)`.
public struct MambaCache {
    /// The convolution's last K inputs [B, K, D_inner], oldest first (zeros before the sequence).
    /// mamba_simple keeps the same values as `conv_state` [B, D_inner, K].
    public var convolution: Tensor
    /// The selective scan's state h [B, D_inner, N] (mamba_simple's `ssm_state`).
    public var state: Tensor

    public init(convolution: Tensor, state: Tensor) {
        self.convolution = convolution
        self.state = state
    }
}

/// The Mamba mixer (Gu & Dao 2023; state-spaces `mamba_ssm/modules/mamba_simple.py`, `Mamba`),
/// batch-first, with its parameter names and initialisation:
///
///     [x, z] = in_proj(h)                         (no bias; D_inner = expand · d_model each)
///     u = SiLU(conv1d(x))                         (depthwise causal, kernel K, with bias)
///     [δ_low, B, C] = x_proj(u)                   (no bias; dt_rank, N, N)
///     Δ = softplus(dt_proj.weight · δ_low + dt_proj.bias)
///     y = selectiveScan(u, Δ, A = −exp(A_log), B, C, D) · SiLU(z),  out = out_proj(y)
///
/// Shapes: h [B, L, d_model] → [B, L, d_model]. Parameters: `in_proj.weight` [2·D_inner, d_model],
/// `conv1d.weight` [D_inner, 1, K], `conv1d.bias` [D_inner], `x_proj.weight` [dt_rank + 2N, D_inner],
/// `dt_proj.weight` [D_inner, dt_rank], `dt_proj.bias` [D_inner], `A_log` [D_inner, N], `D` [D_inner],
/// `out_proj.weight` [d_model, D_inner].
///
/// Initialisation as mamba_simple: A_log[d, n] = log(n + 1); D = 1; dt_proj weight U(±dt_rank^−½);
/// dt_proj bias = softplus⁻¹(Δ₀) = Δ₀ + log(−expm1(−Δ₀)) with Δ₀ = max(exp(U(log dtMin, log dtMax)), 1e-4)
/// per channel, so that softplus(bias) ∈ [dtMin, dtMax]; every other weight PyTorch's default
/// (U(±1/√fan_in), the convolution's fan-in K). dt_rank defaults to ⌈d_model/16⌉.
///
/// `selective: false` is the ablation of the Mamba paper's §4.1 (S4-like, time-invariant): δ_low,
/// B and C are one learned vector `x_const` [dt_rank + 2N] (N(0, 1)) instead of x_proj(u), so Δ, B
/// and C no longer depend on the input.
public struct MambaBlock: Layer {
    public var inProjection: Linear
    public var convolutionWeight: Tensor
    public var convolutionBias: Tensor
    /// x_proj (selective); nil for the time-invariant ablation.
    public var xProjection: Linear?
    /// The input-independent [δ_low, B, C] of the time-invariant ablation; nil when selective.
    public var constantProjection: Tensor?
    public var dtProjection: Linear
    public var ALog: Tensor
    public var D: Tensor
    public var outProjection: Linear

    public init(modelSize: Int, stateSize: Int = 16, convolutionSize: Int = 4, expand: Int = 2, dtRank: Int? = nil,
                dtMin: Double = 1e-3, dtMax: Double = 0.1, dtFloor: Double = 1e-4, selective: Bool = true, dtype: DType = .float32,
                using rng: inout SeededGenerator) {
        precondition(modelSize > 0 && stateSize > 0 && convolutionSize > 0 && expand > 0,
                     "MambaBlock: modelSize \(modelSize), stateSize \(stateSize), convolutionSize \(convolutionSize) and expand \(expand) must be positive")
        precondition(dtMin > 0 && dtMax >= dtMin, "MambaBlock: need 0 < dtMin ≤ dtMax, got \(dtMin), \(dtMax)")
        let inner = expand * modelSize, rank = dtRank ?? (modelSize + 15) / 16
        precondition(rank > 0, "MambaBlock: dtRank must be positive, got \(rank)")
        inProjection = Linear(inputSize: modelSize, outputSize: 2 * inner, bias: false, dtype: dtype, using: &rng)
        let convBound = 1 / Double(convolutionSize).squareRoot()
        convolutionWeight = Tensor.randomUniform(shape: [inner, 1, convolutionSize], low: -convBound, high: convBound, dtype: dtype, using: &rng)
        convolutionBias = Tensor.randomUniform(shape: [inner], low: -convBound, high: convBound, dtype: dtype, using: &rng)
        if selective {
            xProjection = Linear(inputSize: inner, outputSize: rank + 2 * stateSize, bias: false, dtype: dtype, using: &rng)
        } else {
            constantProjection = Tensor.randomNormal(shape: [rank + 2 * stateSize], dtype: dtype, using: &rng)
        }
        dtProjection = Linear(inputSize: rank, outputSize: inner, dtype: dtype, using: &rng)
        let std = 1 / Double(rank).squareRoot()
        dtProjection.weight = Tensor.randomUniform(shape: [inner, rank], low: -std, high: std, dtype: dtype, using: &rng)
        let inverseSoftplus: [Double] = (0..<inner).map { _ in
            let logDt = Foundation.log(dtMin) + rng.nextUniform() * (Foundation.log(dtMax) - Foundation.log(dtMin))
            let dt = Swift.max(Foundation.exp(logDt), dtFloor)
            return dt + Foundation.log(-Foundation.expm1(-dt))
        }
        dtProjection.bias = Tensor(inverseSoftplus, shape: [inner], dtype: dtype)
        ALog = Tensor((0..<(inner * stateSize)).map { Foundation.log(Double($0 % stateSize + 1)) }, shape: [inner, stateSize], dtype: dtype)
        D = Tensor.ones(shape: [inner], dtype: dtype)
        outProjection = Linear(inputSize: inner, outputSize: modelSize, bias: false, dtype: dtype, using: &rng)
    }

    public var modelSize: Int { inProjection.inputSize }
    public var innerSize: Int { D.shape[0] }
    public var stateSize: Int { ALog.shape[1] }
    public var convolutionSize: Int { convolutionWeight.shape[2] }
    public var dtRank: Int { dtProjection.inputSize }

    /// A cache of zeros for `batch` sequences (nothing seen yet).
    public func emptyCache(batch: Int) -> MambaCache {
        MambaCache(convolution: Tensor.zeros(shape: [batch, convolutionSize, innerSize], dtype: D.dtype),
                   state: Tensor.zeros(shape: [batch, innerSize, stateSize], dtype: D.dtype))
    }

    /// h [B, L, d_model] → [B, L, d_model], from zero state.
    public func callAsFunction(_ h: Tensor) -> Tensor {
        var cache: MambaCache? = nil
        return callAsFunction(h, cache: &cache)
    }

    /// h [B, L, d_model] → [B, L, d_model] continuing from `cache` (nil: from zero state, and no
    /// cache kept); with a cache, it is advanced past the L new steps (prefill, or L = 1 per token).
    public func callAsFunction(_ h: Tensor, cache: inout MambaCache?) -> Tensor {
        precondition(h.rank == 3 && h.shape[2] == modelSize && h.dtype == D.dtype,
                     "MambaBlock: input \(h.dtype) \(h.shape) must be \(D.dtype) [B, L, \(modelSize)]")
        let (b, l, inner, n, k) = (h.shape[0], h.shape[1], innerSize, stateSize, convolutionSize)
        if let cache {
            precondition(cache.convolution.shape == [b, k, inner] && cache.state.shape == [b, inner, n],
                         "MambaBlock: cache \(cache.convolution.shape), \(cache.state.shape) must be [\(b), \(k), \(inner)] and [\(b), \(inner), \(n)]")
        }
        let xz = inProjection(h)                                                    // [B, L, 2·D_inner]
        let x = xz.sliced(axis: 2, 0..<inner), z = xz.sliced(axis: 2, inner..<(2 * inner))
        var u: Tensor
        if let past = cache?.convolution {
            // The previous K − 1 inputs stand in for the convolution's zero padding.
            let joined = Tensor.concatenate([past.sliced(axis: 1, 1..<k), x], axis: 1)           // [B, K − 1 + L, D_inner]
            u = Tensor.depthwiseCausalConv1d(joined, weight: convolutionWeight, bias: convolutionBias).sliced(axis: 1, (k - 1)..<(k - 1 + l))
            cache!.convolution = joined.sliced(axis: 1, (l - 1)..<(l - 1 + k))
        } else {
            u = Tensor.depthwiseCausalConv1d(x, weight: convolutionWeight, bias: convolutionBias)
        }
        u = u.silu()
        let r = dtRank
        let projected = xProjection.map { $0(u) }                                   // [B, L, dt_rank + 2N]
            ?? constantProjection!.expanded(to: [b, l, r + 2 * n])
        let dtLow = projected.sliced(axis: 2, 0..<r)
        let B = projected.sliced(axis: 2, r..<(r + n)), C = projected.sliced(axis: 2, (r + n)..<(r + 2 * n))
        let delta = Tensor.linear(dtLow, weight: dtProjection.weight, bias: nil)    // [B, L, D_inner]
        let (y, last) = Tensor.selectiveScan(u, delta: delta, A: -ALog.exp(), B: B, C: C, D: D, z: z,
                                             deltaBias: dtProjection.bias, softplus: true, initialState: cache?.state)
        if cache != nil { cache!.state = last }
        return outProjection(y)
    }

    /// One token: h [B, d_model] → [B, d_model], advancing `cache` (mamba_simple's `step`).
    public func step(_ h: Tensor, cache: inout MambaCache) -> Tensor {
        precondition(h.rank == 2, "MambaBlock.step: input \(h.shape) must be [B, \(modelSize)]")
        var c: MambaCache? = cache
        let y = callAsFunction(h.unsqueezed(axis: 1), cache: &c)
        cache = c!
        return y.squeezed(axis: 1)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        inProjection.visitParameters(prefix: Self.join(prefix, "in_proj"), body)
        body(Self.join(prefix, "conv1d.weight"), &convolutionWeight)
        body(Self.join(prefix, "conv1d.bias"), &convolutionBias)
        if xProjection != nil { xProjection!.visitParameters(prefix: Self.join(prefix, "x_proj"), body) }
        if constantProjection != nil { body(Self.join(prefix, "x_const"), &constantProjection!) }
        dtProjection.visitParameters(prefix: Self.join(prefix, "dt_proj"), body)
        body(Self.join(prefix, "A_log"), &ALog)
        body(Self.join(prefix, "D"), &D)
        outProjection.visitParameters(prefix: Self.join(prefix, "out_proj"), body)
    }
}

/// A pre-norm residual Mamba layer (mamba_ssm `Block` without fused add-norm): h ← h + mixer(norm(h)),
/// `norm` an RMSNorm with ε = 1e-5 (mamba_ssm's, not `RMSNorm`'s machine-epsilon default).
public struct MambaResidualBlock: Layer {
    public var mixer: MambaBlock
    public var norm: RMSNorm

    public init(mixer: MambaBlock, epsilon: Double = 1e-5) {
        self.mixer = mixer
        norm = RMSNorm(normalizedShape: [mixer.modelSize], epsilon: epsilon, dtype: mixer.D.dtype)
    }

    public func callAsFunction(_ h: Tensor) -> Tensor {
        var cache: MambaCache? = nil
        return callAsFunction(h, cache: &cache)
    }

    /// `count` layers initialised as MambaLMHeadModel does: each mixer's `out_proj.weight` divided
    /// by √count (the prenorm-residual rescaling).
    public static func stack(_ count: Int, modelSize: Int, stateSize: Int = 16, convolutionSize: Int = 4, expand: Int = 2,
                             selective: Bool = true, dtype: DType = .float32, using rng: inout SeededGenerator) -> [MambaResidualBlock] {
        (0..<count).map { _ in
            var mixer = MambaBlock(modelSize: modelSize, stateSize: stateSize, convolutionSize: convolutionSize, expand: expand,
                                   selective: selective, dtype: dtype, using: &rng)
            mixer.outProjection.weight = mixer.outProjection.weight / Double(count).squareRoot()
            return MambaResidualBlock(mixer: mixer)
        }
    }

    /// h [B, L, d_model] → h + mixer(norm(h)), advancing `cache` when given.
    public func callAsFunction(_ h: Tensor, cache: inout MambaCache?) -> Tensor {
        h + mixer(norm(h), cache: &cache)
    }

    /// h through `layers` in turn, continuing from and advancing one cache per layer when
    /// `caches` is given (a prefill, then one step at a time).
    public static func run(_ layers: [MambaResidualBlock], _ h: Tensor, caches: inout [MambaCache]?) -> Tensor {
        if let caches { precondition(caches.count == layers.count, "Mamba: \(caches.count) caches for \(layers.count) layers") }
        var h = h
        for i in layers.indices {
            if caches == nil {
                h = layers[i](h)
            } else {
                var c: MambaCache? = caches![i]
                h = layers[i](h, cache: &c)
                caches![i] = c!
            }
        }
        return h
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        mixer.visitParameters(prefix: Self.join(prefix, "mixer"), body)
        norm.visitParameters(prefix: Self.join(prefix, "norm"), body)
    }
}

/// The Mamba language model (mamba_ssm `MambaLMHeadModel` over `MixerModel`, Mamba-1 layers, no
/// MLP), with its names: `backbone.embedding.weight` [V, d], `backbone.layers.i.mixer.*`
/// (`MambaBlock`), `backbone.layers.i.norm.weight`, `backbone.norm_f.weight`, and `lm_head.weight`
/// only when the head is not tied.
///
///     h = embedding(tokens);  h ← h + Mixer_i(RMSNorm_i(h)) for each layer;  logits = head(RMSNorm_f(h))
///
/// As MambaLMHeadModel: the vocabulary is padded up to a multiple of `vocabularyMultiple` (8 there;
/// the extra logits are trained towards −∞ like any unused class), the head is tied to the
/// embedding by default, the embedding is N(0, 0.02²) and every `out_proj.weight` is PyTorch's
/// default divided by √layerCount (the prenorm-residual rescaling; Linear biases would be zeroed,
/// but the Mamba-1 mixer has none besides dt_proj's, which is kept). RMSNorm ε = 1e-5.
///
/// A tied model's state dict holds `backbone.embedding.weight` alone: save PyTorch's with
/// safetensors' `save_model`, or drop `lm_head.weight` from the dict, before loading it here.
public struct MambaLM: ParameterTree {
    public var embedding: Embedding
    public var layers: [MambaResidualBlock]
    public var finalNorm: RMSNorm
    /// The untied output layer [V, d] (no bias); nil when the head is the embedding.
    public var head: Linear?

    public init(vocabularySize: Int, modelSize: Int, layerCount: Int, stateSize: Int = 16, convolutionSize: Int = 4,
                expand: Int = 2, tiedHead: Bool = true, vocabularyMultiple: Int = 8, dtype: DType = .float32,
                using rng: inout SeededGenerator) {
        precondition(vocabularySize > 0 && layerCount > 0 && vocabularyMultiple > 0,
                     "MambaLM: vocabularySize \(vocabularySize), layerCount \(layerCount) and vocabularyMultiple \(vocabularyMultiple) must be positive")
        let v = (vocabularySize + vocabularyMultiple - 1) / vocabularyMultiple * vocabularyMultiple
        embedding = Embedding(weight: Tensor.randomNormal(shape: [v, modelSize], standardDeviation: 0.02, dtype: dtype, using: &rng))
        layers = MambaResidualBlock.stack(layerCount, modelSize: modelSize, stateSize: stateSize, convolutionSize: convolutionSize,
                                          expand: expand, dtype: dtype, using: &rng)
        finalNorm = RMSNorm(normalizedShape: [modelSize], epsilon: 1e-5, dtype: dtype)
        head = tiedHead ? nil : Linear(inputSize: modelSize, outputSize: v, bias: false, dtype: dtype, using: &rng)
    }

    /// The (padded) vocabulary size: the number of logits.
    public var vocabularySize: Int { embedding.weight.shape[0] }
    public var modelSize: Int { embedding.weight.shape[1] }

    /// Empty caches, one per layer, for `batch` sequences.
    public func emptyCache(batch: Int) -> [MambaCache] { layers.map { $0.mixer.emptyCache(batch: batch) } }

    /// tokens [B, L] (int32) → logits [B, L, V].
    public func callAsFunction(_ tokens: Tensor) -> Tensor {
        var caches: [MambaCache]? = nil
        return callAsFunction(tokens, caches: &caches)
    }

    /// tokens [B, L] → logits [B, L, V], continuing from and advancing `caches` when given
    /// (prefill with `emptyCache(batch:)`, then one token at a time).
    public func callAsFunction(_ tokens: Tensor, caches: inout [MambaCache]?) -> Tensor {
        precondition(tokens.rank == 2, "MambaLM: tokens \(tokens.shape) must be [B, L]")
        return logits(finalNorm(MambaResidualBlock.run(layers, embedding(tokens), caches: &caches)))
    }

    /// One token per sequence: tokens [B] → logits [B, V], advancing `caches`.
    public func step(_ tokens: Tensor, caches: inout [MambaCache]) -> Tensor {
        precondition(tokens.rank == 1, "MambaLM.step: tokens \(tokens.shape) must be [B]")
        var c: [MambaCache]? = caches
        let y = callAsFunction(tokens.reshaped(to: [tokens.shape[0], 1]), caches: &c)
        caches = c!
        return y.squeezed(axis: 1)
    }

    func logits(_ h: Tensor) -> Tensor {
        head.map { $0(h) } ?? Tensor.linear(h, weight: embedding.weight, bias: nil)
    }

    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        embedding.visitParameters(prefix: Self.join(prefix, "backbone.embedding"), body)
        layers.visitParameters(prefix: Self.join(prefix, "backbone.layers"), body)
        finalNorm.visitParameters(prefix: Self.join(prefix, "backbone.norm_f"), body)
        if head != nil { head!.visitParameters(prefix: Self.join(prefix, "lm_head"), body) }
    }
}
