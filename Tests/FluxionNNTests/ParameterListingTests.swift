import XCTest
import FluxionNN
import _FluxionTestSupport

/// Every tensor a layer stores is visited by its parameter listing (so it is saved, loaded,
/// optimised and differentiated), except the fixed buffers each layer names here.
final class ParameterListingTests: XCTestCase {
    static func check<P: ParameterTree>(_ name: String, _ layer: P, buffers: Set<String> = [], file: StaticString = #filePath, line: UInt = #line) {
        let stored = storedTensors(layer).filter { s in !buffers.contains { s.path.hasSuffix($0) } }
        let listed = layer.namedParameters
        XCTAssertEqual(stored.count, listed.count, "\(name): stores \(stored.map(\.path)) but lists \(listed.map(\.name))", file: file, line: line)
        XCTAssertEqual(stored.map { $0.tensor.shape.description }.sorted(), listed.map { $0.value.shape.description }.sorted(),
                       "\(name): stored and listed shapes differ", file: file, line: line)
        // Each listed parameter is one of the stored tensors (same values), not a copy made on the fly.
        for p in listed {
            XCTAssertTrue(stored.contains { $0.tensor.shape == p.value.shape && $0.tensor.scalars == p.value.scalars },
                          "\(name): parameter \(p.name) is not a stored tensor", file: file, line: line)
        }
    }

    func testEveryStoredTensorIsListed() {
        var rng = SeededGenerator(seed: 1)
        Self.check("Linear", Linear(inputSize: 3, outputSize: 2, using: &rng))
        Self.check("Linear without bias", Linear(inputSize: 3, outputSize: 2, bias: false, using: &rng))
        Self.check("MLP", MLP(sizes: [3, 4, 2], using: &rng))
        Self.check("Embedding", Embedding(embeddingCount: 5, embeddingSize: 3, using: &rng))
        Self.check("LayerNorm", LayerNorm(normalizedShape: [4]))
        Self.check("LayerNorm no affine", LayerNorm(normalizedShape: [4], affine: false))
        Self.check("RMSNorm", RMSNorm(normalizedShape: [4]))
        Self.check("GroupNorm", GroupNorm(groupCount: 2, channelCount: 4))
        Self.check("Conv2d", Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: (3, 3), using: &rng))
        Self.check("Sequential", Sequential([Linear(inputSize: 3, outputSize: 4, using: &rng), Activation(.relu), Linear(inputSize: 4, outputSize: 1, using: &rng)]))
        Self.check("LearnedPositionalEmbedding", LearnedPositionalEmbedding(maxLength: 6, width: 4, using: &rng))
        Self.check("SinusoidalPositionalEncoding", SinusoidalPositionalEncoding(width: 4))
        for kind in [RecurrentKind.rnnTanh, .lstm, .gru] {
            Self.check("Recurrent \(kind)", Recurrent(kind, inputSize: 3, hiddenSize: 4, layerCount: 2, bidirectional: true, using: &rng))
        }
        Self.check("LSTMCell", LSTMCell(inputSize: 3, hiddenSize: 4, using: &rng))
        Self.check("GRUCell", GRUCell(inputSize: 3, hiddenSize: 4, using: &rng))
        Self.check("RNNCell", RNNCell(inputSize: 3, hiddenSize: 4, using: &rng))
        Self.check("MultiheadAttention", MultiheadAttention(width: 8, headCount: 2, using: &rng))
        Self.check("MultiheadAttention QK-norm", MultiheadAttention(width: 8, headCount: 2, qkNorm: true, using: &rng))
        Self.check("GPTBlock", GPTBlock(width: 8, headCount: 2, using: &rng))
        Self.check("JointTransformerBlock", JointTransformerBlock(width: 8, headCount: 2, using: &rng))
        Self.check("JointTransformerBlock context-pre-only", JointTransformerBlock(width: 8, headCount: 2, contextPreOnly: true, using: &rng))
        Self.check("MMDiT", MMDiT(MMDiTConfiguration(sampleSize: 4, patchSize: 2, inputChannels: 1, layerCount: 2, headSize: 4, headCount: 2,
                                                     jointAttentionSize: 3, captionProjectionSize: 8, pooledProjectionSize: 2,
                                                     outputChannels: 1, positionEmbeddingMaxSize: 3), using: &rng))
        Self.check("S4DLayer", S4DLayer(modelSize: 3, stateSize: 4, using: &rng))
        Self.check("S4Layer", S4Layer(modelSize: 3, stateSize: 4, kernelLength: 8, using: &rng))
        Self.check("GPT", GPT(GPTConfiguration(vocabularySize: 7, contextLength: 5, width: 8, layerCount: 2, headCount: 2), using: &rng))
        Self.check("MambaBlock", MambaBlock(modelSize: 4, stateSize: 3, using: &rng))
        Self.check("MambaLM", MambaLM(vocabularySize: 7, modelSize: 4, layerCount: 2, stateSize: 3, using: &rng))
        Self.check("MambaLM untied", MambaLM(vocabularySize: 7, modelSize: 4, layerCount: 1, tiedHead: false, using: &rng))
        Self.check("TransformerEncoderLayer", TransformerEncoderLayer(width: 8, headCount: 2, feedForwardSize: 16, using: &rng))
        Self.check("TransformerDecoderLayer", TransformerDecoderLayer(width: 8, headCount: 2, feedForwardSize: 16, using: &rng))
        Self.check("TransformerEncoder", TransformerEncoder(layerCount: 2, width: 8, headCount: 2, feedForwardSize: 16, using: &rng))
    }

    /// The check itself catches a layer that forgets a tensor.
    func testAForgottenTensorIsCaught() {
        struct Forgetful: ParameterTree {
            var weight = Tensor.zeros(shape: [2, 2])
            var bias = Tensor.zeros(shape: [2])
            mutating func visitParameters(prefix: String, _ body: (String, inout Tensor) -> Void) {
                body(Self.join(prefix, "weight"), &weight)
            }
        }
        let stored = storedTensors(Forgetful())
        XCTAssertEqual(stored.map(\.path), ["weight", "bias"])
        XCTAssertNotEqual(stored.count, Forgetful().namedParameters.count)
    }
}
