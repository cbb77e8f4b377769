import Foundation
import FluxionNN
import FluxionOptim
import FluxionData

/// A model that maps a batch of sequences to per-step outputs [B, T, outputs]; any sequence model
/// (recurrent, Transformer, state-space) trains on any `SequenceTask` through `SequenceTrainer`.
public protocol SequenceModel: ParameterTree {
    /// Per-step outputs [B, T, outputs] for inputs [B, T] (int32 tokens) or [B, T, F] (float features).
    func callAsFunction(_ inputs: Tensor) -> Tensor
}

/// Input encoder + recurrent backbone + linear head: tokens go through an `Embedding`, float
/// features through a `Linear`; outputs [B, T, outputSize].
public struct RecurrentSequenceModel: SequenceModel {
    /// The token encoder [vocabularySize, width], N(0, 1) initially; nil for float features.
    public var embedding: Embedding?
    /// The feature encoder featureCount → width; nil for token inputs.
    public var inputProjection: Linear?
    /// The recurrent network width → hiddenSize (RNN, LSTM or GRU).
    public var backbone: Recurrent
    /// The output layer hiddenSize → outputSize.
    public var head: Linear

    /// - `vocabularySize`: token inputs (nil for float features of `featureCount`).
    public init(_ kind: RecurrentKind, vocabularySize: Int?, featureCount: Int = 1, width: Int, hiddenSize: Int,
                layerCount: Int = 1, outputSize: Int, using rng: inout SeededGenerator) {
        if let v = vocabularySize {
            embedding = Embedding(embeddingCount: v, embeddingSize: width, using: &rng)
        } else {
            inputProjection = Linear(inputSize: featureCount, outputSize: width, using: &rng)
        }
        backbone = Recurrent(kind, inputSize: width, hiddenSize: hiddenSize, layerCount: layerCount, using: &rng)
        head = Linear(inputSize: hiddenSize, outputSize: outputSize, using: &rng)
    }

    /// inputs [B, T] or [B, T, featureCount] → outputs [B, T, outputSize].
    public func callAsFunction(_ inputs: Tensor) -> Tensor {
        let x = embedding.map { $0(inputs) } ?? inputProjection!(inputs)
        return head(backbone(x))
    }

    /// Visits `embedding.` or `input.`, then `rnn.` and `head.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if embedding != nil { embedding!.visitParameters(prefix: Self.join(prefix, "embedding"), body) }
        if inputProjection != nil { inputProjection!.visitParameters(prefix: Self.join(prefix, "input"), body) }
        backbone.visitParameters(prefix: Self.join(prefix, "rnn"), body)
        head.visitParameters(prefix: Self.join(prefix, "head"), body)
    }
}

/// Loss and metrics of a sequence model on a task batch: cross-entropy and accuracy on the scored
/// positions for classification, mean-squared error for regression.
public enum SequenceObjective {
    /// The model's outputs at the scored positions.
    static func scored(_ outputs: Tensor, _ target: SequenceTarget) -> Tensor {
        let t = outputs.shape[1]
        switch target {
        case .classes(_, let positions): return outputs.sliced(axis: 1, (t - positions)..<t)
        case .regression: return outputs.sliced(axis: 1, (t - 1)..<t).reshaped(to: [outputs.shape[0], -1])
        }
    }

    /// The training loss on `batch`: cross-entropy over the scored positions' classes, or the
    /// mean-squared error of the last step's output for regression.
    public static func loss<M: SequenceModel>(_ model: M, _ batch: SequenceBatch, _ target: SequenceTarget) -> Tensor {
        let out = scored(model(batch.inputs), target)
        switch target {
        case .classes: return crossEntropy(logits: out, labels: batch.targets)
        case .regression: return meanSquaredError(out, batch.targets)
        }
    }

    /// (loss, accuracy or nil for regression) without differentiation.
    public static func evaluate<M: SequenceModel>(_ model: M, _ batch: SequenceBatch, _ target: SequenceTarget) -> (loss: Double, accuracy: Double?) {
        withoutDerivatives {
            let out = scored(model(batch.inputs), target)
            switch target {
            case .classes:
                let loss = crossEntropy(logits: out, labels: batch.targets).item
                let predicted = out.argmax(axis: -1).int32s, truth = batch.targets.int32s
                return (loss, Double(zip(predicted, truth).filter { $0 == $1 }.count) / Double(truth.count))
            case .regression:
                return (meanSquaredError(out, batch.targets).item, nil)
            }
        }
    }
}

/// A plain training loop for sequence tasks: Adam, gradient clipping, seeded batches. The
/// learning rate is the optimiser's own (`Adam(learningRate:)`, passed to `train`).
public struct SequenceTrainer {
    /// Sequences per batch; 32 by default.
    public var batchSize: Int
    /// The maximum global gradient norm (clipping); 1 by default, nil for none.
    public var clipNorm: Double?

    /// A trainer with batches of 32 and clipping at norm 1 unless given.
    public init(batchSize: Int = 32, clipNorm: Double? = 1) {
        self.batchSize = batchSize
        self.clipNorm = clipNorm
    }

    /// Trains for `steps`; calls `report(step, loss)` after every step. Returns the last loss.
    @discardableResult
    public func train<M: SequenceModel, T: SequenceTask>(_ model: inout M, on task: T, steps: Int, using rng: inout SeededGenerator,
                                                         optimizer: inout Adam, report: (Int, Double) -> Void = { _, _ in }) -> Double {
        var last = Double.nan
        for step in 0..<steps {
            let batch = task.batch(size: batchSize, using: &rng)
            var (loss, g) = valueWithGradient(at: model) { SequenceObjective.loss($0, batch, task.target) }
            if let clipNorm { clipGradientNorm(&g, maxNorm: clipNorm) }
            optimizer.update(&model, along: g)
            last = loss.item
            report(step, last)
        }
        return last
    }
}

/// Input encoder + learned positions + causal pre-LayerNorm Transformer blocks (`GPTBlock`) +
/// final LayerNorm + linear head: outputs [B, T, outputSize]; output t sees inputs ≤ t only.
public struct TransformerSequenceModel: SequenceModel {
    /// The token encoder [vocabularySize, width], N(0, 0.02²) initially (GPT-2); nil for float features.
    public var embedding: Embedding?
    /// The feature encoder featureCount → width; nil for token inputs.
    public var inputProjection: Linear?
    /// The learned positions [maxLength, width], N(0, 0.02²) initially (GPT-2).
    public var positions: LearnedPositionalEmbedding
    /// The causal pre-LayerNorm blocks.
    public var blocks: [GPTBlock]
    /// The final LayerNorm over the width.
    public var norm: LayerNorm
    /// The output layer width → outputSize.
    public var head: Linear

    /// A model of `layerCount` blocks of `width` with `headCount` heads, for sequences up to
    /// `maxLength`; token inputs when `vocabularySize` is given, else `featureCount` float features.
    public init(vocabularySize: Int?, featureCount: Int = 1, width: Int, layerCount: Int, headCount: Int, maxLength: Int,
                outputSize: Int, using rng: inout SeededGenerator) {
        if let v = vocabularySize {
            embedding = Embedding(embeddingCount: v, embeddingSize: width, using: &rng)
            embedding!.weight = embedding!.weight * 0.02   // GPT-2's N(0, 0.02²)
        } else {
            inputProjection = Linear(inputSize: featureCount, outputSize: width, using: &rng)
        }
        positions = LearnedPositionalEmbedding(maxLength: maxLength, width: width, using: &rng)
        positions.weight = positions.weight * 0.02
        blocks = (0..<layerCount).map { _ in GPTBlock(width: width, headCount: headCount, using: &rng) }
        norm = LayerNorm(normalizedShape: [width])
        head = Linear(inputSize: width, outputSize: outputSize, using: &rng)
    }

    /// inputs [B, T] or [B, T, featureCount] (T ≤ maxLength) → outputs [B, T, outputSize].
    public func callAsFunction(_ inputs: Tensor) -> Tensor {
        var h = positions(embedding.map { $0(inputs) } ?? inputProjection!(inputs))
        for block in blocks { h = block(h) }
        return head(norm(h))
    }

    /// Visits `embedding.` or `input.`, then `positions.`, `blocks.i.`, `norm.` and `head.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if embedding != nil { embedding!.visitParameters(prefix: Self.join(prefix, "embedding"), body) }
        if inputProjection != nil { inputProjection!.visitParameters(prefix: Self.join(prefix, "input"), body) }
        positions.visitParameters(prefix: Self.join(prefix, "positions"), body)
        blocks.visitParameters(prefix: Self.join(prefix, "blocks"), body)
        norm.visitParameters(prefix: Self.join(prefix, "norm"), body)
        head.visitParameters(prefix: Self.join(prefix, "head"), body)
    }
}

/// Input encoder + pre-norm residual Mamba layers (`MambaResidualBlock`: h ← h + Mixer(RMSNorm(h)))
/// + final RMSNorm (ε 1e-5) + linear head, as mamba_ssm's MixerModel with an untied head:
/// outputs [B, T, outputSize]; output t sees inputs ≤ t only. The token embedding is N(0, 0.02²)
/// and each `out_proj` is divided by √layerCount (MambaLMHeadModel's initialisation).
public struct MambaSequenceModel: SequenceModel {
    /// The token encoder [vocabularySize, width]; nil for float features.
    public var embedding: Embedding?
    /// The feature encoder featureCount → width; nil for token inputs.
    public var inputProjection: Linear?
    /// The residual Mamba layers.
    public var layers: [MambaResidualBlock]
    /// The final RMSNorm.
    public var norm: RMSNorm
    /// The output layer width → outputSize.
    public var head: Linear

    public init(vocabularySize: Int?, featureCount: Int = 1, width: Int, layerCount: Int, stateSize: Int = 16, expand: Int = 2,
                convolutionSize: Int = 4, selective: Bool = true, outputSize: Int, using rng: inout SeededGenerator) {
        if let v = vocabularySize {
            embedding = Embedding(weight: Tensor.randomNormal(shape: [v, width], standardDeviation: 0.02, using: &rng))
        } else {
            inputProjection = Linear(inputSize: featureCount, outputSize: width, using: &rng)
        }
        layers = MambaResidualBlock.stack(layerCount, modelSize: width, stateSize: stateSize, convolutionSize: convolutionSize,
                                          expand: expand, selective: selective, using: &rng)
        norm = RMSNorm(normalizedShape: [width], epsilon: 1e-5)
        head = Linear(inputSize: width, outputSize: outputSize, using: &rng)
    }

    /// inputs [B, T] or [B, T, featureCount] → outputs [B, T, outputSize].
    public func callAsFunction(_ inputs: Tensor) -> Tensor {
        var caches: [MambaCache]? = nil
        return callAsFunction(inputs, caches: &caches)
    }

    /// Empty caches, one per layer, for `batch` sequences.
    public func emptyCache(batch: Int) -> [MambaCache] { layers.map { $0.mixer.emptyCache(batch: batch) } }

    /// As `callAsFunction(_:)`, continuing from and advancing `caches` when given: a prefill, then
    /// one step at a time (T = 1) at a cost that does not grow with the position.
    public func callAsFunction(_ inputs: Tensor, caches: inout [MambaCache]?) -> Tensor {
        let h = embedding.map { $0(inputs) } ?? inputProjection!(inputs)
        return head(norm(MambaResidualBlock.run(layers, h, caches: &caches)))
    }

    /// Visits `embedding.` or `input.`, then `layers.i.mixer.`, `layers.i.norm.`, `norm_f.` and `head.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if embedding != nil { embedding!.visitParameters(prefix: Self.join(prefix, "embedding"), body) }
        if inputProjection != nil { inputProjection!.visitParameters(prefix: Self.join(prefix, "input"), body) }
        layers.visitParameters(prefix: Self.join(prefix, "layers"), body)
        norm.visitParameters(prefix: Self.join(prefix, "norm_f"), body)
        head.visitParameters(prefix: Self.join(prefix, "head"), body)
    }
}

/// state-spaces models/s4 example.py's `S4Model` per step: input encoder, then per layer
/// x ← LayerNorm(x + S4D(x)) (its default post-norm, no dropout), and a linear head on every step
/// (example.py mean-pools for classification; the tasks here score the last steps):
/// outputs [B, T, outputSize]; S4D is causal, so output t sees inputs ≤ t only. `SSM` is the
/// layer: `S4DLayer` (`S4DSequenceModel`, `fluxion train s4d`) or `S4Layer` (`S4SequenceModel`,
/// `fluxion train s4`).
public struct StateSpaceSequenceModel<SSM: Layer>: SequenceModel {
    /// The token encoder [vocabularySize, width], N(0, 1); nil for float features.
    public var embedding: Embedding?
    /// The feature encoder featureCount → width (example.py's `encoder`); nil for token inputs.
    public var inputProjection: Linear?
    /// The S4D (or S4) layers.
    public var layers: [SSM]
    /// The LayerNorm after each residual.
    public var norms: [LayerNorm]
    /// The output layer width → outputSize (example.py's `decoder`).
    public var head: Linear

    /// The encoder, `layerCount` layers made by `makeLayer` (each with its LayerNorm) and the head.
    public init(vocabularySize: Int?, featureCount: Int = 1, width: Int, layerCount: Int, outputSize: Int,
                using rng: inout SeededGenerator, makeLayer: (inout SeededGenerator) -> SSM) {
        if let v = vocabularySize {
            embedding = Embedding(embeddingCount: v, embeddingSize: width, using: &rng)
        } else {
            inputProjection = Linear(inputSize: featureCount, outputSize: width, using: &rng)
        }
        layers = (0..<layerCount).map { _ in makeLayer(&rng) }
        norms = (0..<layerCount).map { _ in LayerNorm(normalizedShape: [width]) }
        head = Linear(inputSize: width, outputSize: outputSize, using: &rng)
    }

    /// inputs [B, T] or [B, T, featureCount] → outputs [B, T, outputSize].
    public func callAsFunction(_ inputs: Tensor) -> Tensor {
        var h = embedding.map { $0(inputs) } ?? inputProjection!(inputs)
        for (layer, norm) in zip(layers, norms) { h = norm(h + layer(h)) }
        return head(h)
    }

    /// The names of the SSM parameters, which s4d.py and s4.py train at learning rate min(1e-3, lr)
    /// without weight decay: `kernel.log_dt`, `kernel.log_A_real`, `kernel.A_imag` of each S4D
    /// layer; `kernel.log_dt`, `kernel.inv_A_real`, `kernel.A_imag`, `kernel.B`, `kernel.P` of each
    /// S4 layer (its C trains with the rest).
    public var stateSpaceParameterNames: Set<String> {
        let suffixes = ["kernel.log_dt", "kernel.log_A_real", "kernel.A_imag", "kernel.inv_A_real", "kernel.B", "kernel.P"]
        return Set(namedParameters.map(\.name).filter { name in suffixes.contains { name.hasSuffix($0) } })
    }

    /// Visits `embedding.` or `input.`, then `layers.i.`, `norms.i.` and `head.`.
    public mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
        if embedding != nil { embedding!.visitParameters(prefix: Self.join(prefix, "embedding"), body) }
        if inputProjection != nil { inputProjection!.visitParameters(prefix: Self.join(prefix, "input"), body) }
        layers.visitParameters(prefix: Self.join(prefix, "layers"), body)
        norms.visitParameters(prefix: Self.join(prefix, "norms"), body)
        head.visitParameters(prefix: Self.join(prefix, "head"), body)
    }
}

/// example.py's S4Model with S4D layers (`fluxion train s4d`).
public typealias S4DSequenceModel = StateSpaceSequenceModel<S4DLayer>
/// example.py's S4Model with S4 (DPLR) layers (`fluxion train s4`); inputs at most `kernelLength` long.
public typealias S4SequenceModel = StateSpaceSequenceModel<S4Layer>

extension StateSpaceSequenceModel where SSM == S4DLayer {
    /// example.py's S4Model with S4D layers of `stateSize` N.
    public init(vocabularySize: Int?, featureCount: Int = 1, width: Int, layerCount: Int, stateSize: Int = 64,
                outputSize: Int, using rng: inout SeededGenerator) {
        self.init(vocabularySize: vocabularySize, featureCount: featureCount, width: width, layerCount: layerCount,
                  outputSize: outputSize, using: &rng) { S4DLayer(modelSize: width, stateSize: stateSize, using: &$0) }
    }
}

extension StateSpaceSequenceModel where SSM == S4Layer {
    /// example.py's S4Model with S4 (DPLR, HiPPO-LegS) layers of `stateSize` N whose kernels are
    /// made at `kernelLength` (a power of two, at least the longest input).
    public init(vocabularySize: Int?, featureCount: Int = 1, width: Int, layerCount: Int, stateSize: Int = 64, kernelLength: Int,
                outputSize: Int, using rng: inout SeededGenerator) {
        self.init(vocabularySize: vocabularySize, featureCount: featureCount, width: width, layerCount: layerCount,
                  outputSize: outputSize, using: &rng) { S4Layer(modelSize: width, stateSize: stateSize, kernelLength: kernelLength, using: &$0) }
    }

    /// The longest input the layers take.
    public var kernelLength: Int { layers.first?.kernelLength ?? Int.max }
}
