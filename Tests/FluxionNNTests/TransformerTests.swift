import XCTest
import Foundation
import FluxionNN
import FluxionOptim
import _FluxionTestSupport

/// Attention layers, positions, Transformer blocks and the GPT: Float64 gradient checks (order 2
/// where twice differentiable), KV-cache decoding against full recomputation, sampling, causality,
/// and a small model that must learn to copy.
final class TransformerTests: XCTestCase {
    /// Random Float64 parameters (N(0, 0.5²); norms' scales around 1) for a gradient check.
    func randomized<P: ParameterTree>(_ p: P, seed: UInt64) -> P {
        var rng = SeededGenerator(seed: seed)
        return p.mapParameters { name, t in
            Tensor.randomNormal(shape: t.shape, mean: name.contains("norm") || name.contains("ln") ? 1 : 0, standardDeviation: 0.5,
                                dtype: .float64, using: &rng)
        }
    }

    /// Checks x, parameters ↦ apply(model, x) in Float64 at first and (by default) second order.
    func check<P: ParameterTree>(_ name: String, _ model: P, inputShape: [Int], order: Int = 2, seed: UInt64 = 1,
                                 _ apply: @escaping (P, Tensor) -> Tensor, file: StaticString = #filePath, line: UInt = #line) {
        let m = randomized(model, seed: seed)
        let params = m.namedParameters.map(\.value)
        let x = Tensor.testInput(inputShape, seed: 11)
        let f: ([Tensor]) -> Tensor = { xs in
            var i = 1
            let mi = m.mapParameters { _, _ in defer { i += 1 }; return xs[i] }
            return apply(mi, xs[0])
        }
        for failure in GradientCheck.check(f, at: [x] + params, options: .init(order: order), label: name) {
            XCTFail(failure, file: file, line: line)
        }
    }

    func testAttentionGradients() {
        var rng = SeededGenerator(seed: 1)
        let mha = MultiheadAttention(width: 4, headCount: 2, dtype: .float64, using: &rng)
        let pad = Tensor([1, 1, 1, 1, 1, 0], shape: [2, 3], dtype: .float64)
        check("MultiheadAttention causal + padding", mha, inputShape: [2, 3, 4]) { m, x in m(x, causal: true, keyPadding: pad) }
        let memory = Tensor.testInput([2, 5, 4], seed: 3)
        check("MultiheadAttention cross", mha, inputShape: [2, 3, 4]) { m, x in m(query: x, key: memory, value: memory) }
        let normed = MultiheadAttention(width: 4, headCount: 2, qkNorm: true, rotary: true, dtype: .float64, using: &rng)
        check("MultiheadAttention QK-norm + RoPE", normed, inputShape: [1, 3, 4]) { m, x in m(x, causal: true) }
    }

    func testBlockGradients() {
        var rng = SeededGenerator(seed: 2)
        for normFirst in [false, true] {
            let gelu = TransformerEncoderLayer(width: 4, headCount: 2, feedForwardSize: 6, activation: .gelu, normFirst: normFirst,
                                               dtype: .float64, using: &rng)
            check("TransformerEncoderLayer gelu normFirst=\(normFirst)", gelu, inputShape: [2, 3, 4]) { l, x in l(x, causal: normFirst) }
            let relu = TransformerEncoderLayer(width: 4, headCount: 2, feedForwardSize: 6, normFirst: normFirst, dtype: .float64, using: &rng)
            check("TransformerEncoderLayer relu normFirst=\(normFirst)", relu, inputShape: [2, 3, 4], order: 1) { l, x in l(x) }
            let decoder = TransformerDecoderLayer(width: 4, headCount: 2, feedForwardSize: 6, activation: .gelu, normFirst: normFirst,
                                                  dtype: .float64, using: &rng)
            let memory = Tensor.testInput([2, 4, 4], seed: 5)
            check("TransformerDecoderLayer normFirst=\(normFirst)", decoder, inputShape: [2, 3, 4]) { l, x in l(x, memory: memory) }
        }
        let stack = TransformerEncoder(layerCount: 2, width: 4, headCount: 2, feedForwardSize: 6, activation: .gelu, normFirst: true,
                                       dtype: .float64, using: &rng)
        XCTAssertEqual(stack.namedParameters.map(\.name).filter { !$0.hasPrefix("layers.0") }.first, "layers.1.self_attn.in_proj_weight")
        XCTAssertEqual(stack.namedParameters.last?.name, "norm.bias")
        let pad = Tensor([1, 1, 0, 1, 1, 1], shape: [2, 3], dtype: .float64)
        check("TransformerEncoder pre-LN, 2 layers", stack, inputShape: [2, 3, 4]) { l, x in l(x, causal: false, keyPadding: pad) }
        check("GPTBlock", GPTBlock(width: 4, headCount: 2, dtype: .float64, using: &rng), inputShape: [2, 3, 4]) { b, x in b(x) }
        check("GPTBlock QK-norm + RoPE", GPTBlock(width: 4, headCount: 2, qkNorm: true, rotary: true, dtype: .float64, using: &rng),
              inputShape: [1, 3, 4]) { b, x in b(x) }
    }

    func testGPTAndPositionGradients() {
        var rng = SeededGenerator(seed: 3)
        let tokens = Tensor([1, 4, 0, 2, 2, 3] as [Int32], shape: [2, 3])
        for positions in [GPTConfiguration.Positions.learned, .sinusoidal, .rotary] {
            let c = GPTConfiguration(vocabularySize: 5, contextLength: 4, width: 4, layerCount: 1, headCount: 2, mlpRatio: 2, positions: positions)
            check("GPT \(positions)", GPT(c, dtype: .float64, using: &rng), inputShape: [1]) { m, x in m(tokens) * x }
        }
        check("LearnedPositionalEmbedding", LearnedPositionalEmbedding(maxLength: 5, width: 3, dtype: .float64, using: &rng),
              inputShape: [2, 3, 3]) { p, x in p(x, offset: 1).sin() }
        check("SinusoidalPositionalEncoding", SinusoidalPositionalEncoding(width: 4), inputShape: [2, 3, 4]) { p, x in p(x).sin() }
        check("RotaryEmbedding", Tensor.zeros(shape: [0], dtype: .float64), inputShape: [2, 3, 4]) { _, x in RotaryEmbedding(headSize: 4)(x, offset: 2).sin() }
    }

    func testPositionFormulas() {
        let pe = SinusoidalPositionalEncoding.table(length: 6, width: 8, dtype: .float64)
        XCTAssertEqual(pe.scalar(at: [3, 4]), Foundation.sin(3 / Foundation.pow(10_000, 4.0 / 8)), accuracy: 1e-12)
        XCTAssertEqual(pe.scalar(at: [3, 5]), Foundation.cos(3 / Foundation.pow(10_000, 4.0 / 8)), accuracy: 1e-12)
        XCTAssertEqual(pe.scalar(at: [0, 1]), 1)
        // RoPE: ⟨R(q, m), R(k, n)⟩ depends on m − n only, and rotations keep norms.
        let rope = RotaryEmbedding(headSize: 6)
        let q = Tensor.testInput([1, 6], seed: 1), k = Tensor.testInput([1, 6], seed: 2)
        let dot = { (m: Int, n: Int) in (rope(q, offset: m) * rope(k, offset: n)).sum().item }
        XCTAssertEqual(dot(2, 5), dot(9, 12), accuracy: 1e-12)
        XCTAssertNotEqual(dot(2, 5), dot(2, 6), accuracy: 1e-6)
        XCTAssertEqual((rope(q, offset: 7) * rope(q, offset: 7)).sum().item, (q * q).sum().item, accuracy: 1e-12)
    }

    /// Logits from prefill + one token at a time with the KV cache equal one full pass.
    func testKVCacheMatchesFullRecomputation() {
        var rng = SeededGenerator(seed: 4)
        let tokens = Tensor((0..<(2 * 9)).map { _ in Int32(rng.next() % 7) }, shape: [2, 9])
        for (positions, qkNorm) in [(GPTConfiguration.Positions.learned, false), (.sinusoidal, false), (.rotary, true)] {
            let c = GPTConfiguration(vocabularySize: 7, contextLength: 12, width: 8, layerCount: 2, headCount: 2, positions: positions, qkNorm: qkNorm)
            let model = randomized(GPT(c, dtype: .float64, using: &rng), seed: 5)
            let full = model(tokens)
            var caches = [AttentionCache](repeating: AttentionCache(), count: c.layerCount)
            var pieces = [model(tokens.sliced(axis: 1, 0..<4), caches: &caches)]
            for t in 4..<9 { pieces.append(model(tokens.sliced(axis: 1, t..<(t + 1)), caches: &caches)) }
            XCTAssertEqual(caches[0].length, 9)
            assertClose(Tensor.concatenate(pieces, axis: 1), full, relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "\(positions) cached logits")
        }
        // the layer-level cache of MultiheadAttention
        let mha = randomized(MultiheadAttention(width: 4, headCount: 2, rotary: true, dtype: .float64, using: &rng), seed: 6)
        let x = Tensor.testInput([2, 5, 4], seed: 7)
        var cache = AttentionCache()
        let stepwise = Tensor.concatenate((0..<5).map { mha(x.sliced(axis: 1, $0..<($0 + 1)), cache: &cache) }, axis: 1)
        assertClose(stepwise, mha(x, causal: true), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "MultiheadAttention cache")
    }

    /// GPT, GPTBlock, MultiheadAttention and RotaryEmbedding are `Layer`s: inside a `Sequential` they
    /// compute what their own richer calls compute (no cache, no mask, offset 0), and their
    /// parameters keep their names under the position prefix.
    func testAttentionLayersConformToLayer() {
        var rng = SeededGenerator(seed: 12)
        let block = randomized(GPTBlock(width: 8, headCount: 2, dtype: .float64, using: &rng), seed: 1)
        let mha = randomized(MultiheadAttention(width: 8, headCount: 2, dtype: .float64, using: &rng), seed: 2)
        let rope = RotaryEmbedding(headSize: 8)
        let stack = Sequential([block, mha, rope])
        let x = Tensor.testInput([2, 5, 8], seed: 3)
        var none: AttentionCache? = nil
        let expected = rope(mha(block(x, cache: &none), causal: false), offset: 0)
        assertClose(stack(x), expected, relativeTolerance: 1e-12, absoluteTolerance: 1e-12, "Sequential of attention layers")
        XCTAssertEqual(stack.namedParameters.map(\.name),
                       block.namedParameters.map { "0." + $0.name } + mha.namedParameters.map { "1." + $0.name })
        XCTAssertTrue(block.namedParameters.map(\.name).contains("mlp.0.weight"))
        XCTAssertTrue(mha.namedParameters.map(\.name).contains("in_proj_weight"))

        let c = GPTConfiguration(vocabularySize: 7, contextLength: 6, width: 8, layerCount: 1, headCount: 2)
        let gpt = randomized(GPT(c, dtype: .float64, using: &rng), seed: 4)
        let tokens = Tensor((0..<12).map { _ in Int32(rng.next() % 7) }, shape: [2, 6])
        var caches = [AttentionCache](repeating: AttentionCache(), count: c.layerCount)
        let model: any Layer = gpt
        assertClose(model(tokens), gpt(tokens, caches: &caches), relativeTolerance: 1e-10, absoluteTolerance: 1e-10, "GPT as a Layer")
        XCTAssertEqual(Sequential([gpt]).namedParameters.first?.name, "0.tok.weight")
    }

    /// Greedy generation with the cache equals greedy decoding by full recomputation; changing a
    /// later token leaves earlier logits unchanged (causality of the whole model).
    func testGenerationAndCausality() {
        var rng = SeededGenerator(seed: 8)
        let c = GPTConfiguration(vocabularySize: 10, contextLength: 10, width: 8, layerCount: 2, headCount: 2)
        let model = GPT(c, using: &rng)
        let prompt = Tensor([3, 1, 4, 1, 5, 9] as [Int32], shape: [2, 3])
        let generated = model.generate(prompt: prompt, count: 12, temperature: 0, using: &rng)  // slides past the context of 10
        XCTAssertEqual(generated.shape, [2, 15])
        var rows = [[Int32]]([[3, 1, 4], [1, 5, 9]])
        for _ in 0..<7 {
            let logits = model(Tensor(rows.flatMap { $0 }, shape: [2, rows[0].count]))
            let last = logits.sliced(axis: 1, (rows[0].count - 1)..<rows[0].count).reshaped(to: [2, 10]).argmax(axis: 1).int32s
            for r in 0..<2 { rows[r].append(last[r]) }
        }
        XCTAssertEqual(Array(generated.int32s[0..<10]), rows[0])
        XCTAssertEqual(Array(generated.int32s[15..<25]), rows[1])
        // top-1 sampling is greedy; samples are reproducible with the same seed
        var r1 = SeededGenerator(seed: 1), r2 = SeededGenerator(seed: 1)
        XCTAssertEqual(model.generate(prompt: prompt, count: 5, temperature: 0.8, topK: 1, using: &r1).int32s,
                       model.generate(prompt: prompt, count: 5, temperature: 0, using: &r2).int32s)
        var r3 = SeededGenerator(seed: 2), r4 = SeededGenerator(seed: 2)
        XCTAssertEqual(model.generate(prompt: prompt, count: 5, temperature: 1.3, topK: 4, using: &r3).int32s,
                       model.generate(prompt: prompt, count: 5, temperature: 1.3, topK: 4, using: &r4).int32s)
        // causality
        let a = Tensor([1, 2, 3, 4, 5] as [Int32], shape: [1, 5]), b = Tensor([1, 2, 3, 4, 8] as [Int32], shape: [1, 5])
        XCTAssertEqual(model(a).sliced(axis: 1, 0..<4).scalars, model(b).sliced(axis: 1, 0..<4).scalars)
        XCTAssertNotEqual(model(a).sliced(axis: 1, 4..<5).scalars, model(b).sliced(axis: 1, 4..<5).scalars)
    }

    func testSamplingFrequencies() {
        var rng = SeededGenerator(seed: 3)
        let logits = Tensor([0.2, 0.3, 0.5, 1e-9].map { Foundation.log($0) }, shape: [1, 4], dtype: .float64)
        var counts = [0, 0, 0, 0], topTwo = [0, 0, 0, 0]
        for _ in 0..<20_000 {
            counts[Int(sampleTokens(logits: logits, using: &rng)[0])] += 1
            topTwo[Int(sampleTokens(logits: logits, topK: 2, using: &rng)[0])] += 1
        }
        XCTAssertEqual(Double(counts[0]) / 20_000, 0.2, accuracy: 0.015)
        XCTAssertEqual(Double(counts[2]) / 20_000, 0.5, accuracy: 0.015)
        XCTAssertEqual(topTwo[0] + topTwo[3], 0, "top-2 never samples outside the two largest")
        XCTAssertEqual(Double(topTwo[2]) / 20_000, 0.625, accuracy: 0.015)
        // temperature → 0 concentrates on the maximum
        XCTAssertEqual(sampleTokens(logits: logits, temperature: 1e-3, using: &rng), [2])
    }

    /// A two-layer GPT learns to copy a random sequence of random length (4 to 8 tokens) after a
    /// separator: the offset to the token to copy varies, so it must find it by content (an
    /// induction head: attend to the token after the previous occurrence of the current one).
    func testGPTLearnsToCopy() {
        var rng = SeededGenerator(seed: 11)
        let (maxLength, batch, vocab) = (8, 32, 10)
        let c = GPTConfiguration(vocabularySize: vocab, contextLength: 2 * maxLength + 1, width: 32, layerCount: 2, headCount: 2)
        var model = GPT(c, using: &rng)
        var optimizer = Adam(learningRate: 3e-3)
        func makeBatch() -> (Tensor, Tensor) {
            var inputs: [Int32] = [], labels: [Int32] = []
            for _ in 0..<batch {
                let n = 4 + Int(rng.next() % 5)
                let s = (0..<n).map { _ in Int32(1 + rng.next() % UInt64(vocab - 1)) }
                let pad = 2 * (maxLength - n)
                let seq = s + [0] + s + [Int32](repeating: 0, count: pad)
                inputs += seq.dropLast()
                // predict the copy only
                labels += [Int32](repeating: -100, count: n) + s + [Int32](repeating: -100, count: pad)
            }
            return (Tensor(inputs, shape: [batch, 2 * maxLength]), Tensor(labels, shape: [batch, 2 * maxLength]))
        }
        var loss = 0.0
        for _ in 0..<500 {
            let (x, y) = makeBatch()
            let (l, g) = valueWithGradient(at: model) { crossEntropy(logits: $0(x), labels: y) }
            optimizer.update(&model, along: g)
            loss = l.item
        }
        let (x, y) = makeBatch()
        let predicted = model(x).argmax(axis: 2).int32s, want = y.int32s
        let scored = zip(predicted, want).filter { $0.1 >= 0 }
        let accuracy = Double(scored.filter { $0.0 == $0.1 }.count) / Double(scored.count)
        XCTAssertGreaterThan(accuracy, 0.95, "copy accuracy \(accuracy), final training loss \(loss)")
    }
}
