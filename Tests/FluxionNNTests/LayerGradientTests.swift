import XCTest
import FluxionNN
import _FluxionTestSupport

/// Every layer and loss through the Float64 finite-difference check, first and second order,
/// with respect to its input and all its parameters at once.
final class LayerGradientTests: XCTestCase {
    /// Checks f(input, parameters) with the layer's parameters as extra inputs.
    func check<L: Layer>(_ name: String, _ layer: L, inputShape: [Int], order: Int = 2, file: StaticString = #filePath, line: UInt = #line) {
        let params = layer.namedParameters.map(\.value)
        let x = Tensor.testInput(inputShape, seed: 11)
        let f: ([Tensor]) -> Tensor = { xs in
            var i = 1
            let l = layer.mapParameters { _, _ in defer { i += 1 }; return xs[i] }
            return l(xs[0])
        }
        for failure in GradientCheck.check(f, at: [x] + params, options: .init(order: order), label: name) {
            XCTFail(failure, file: file, line: line)
        }
    }

    func randomized<L: Layer>(_ layer: L, seed: UInt64) -> L {
        var rng = SeededGenerator(seed: seed)
        return layer.mapParameters { _, p in Tensor.randomNormal(shape: p.shape, mean: 0.5, dtype: .float64, using: &rng) }
    }

    func testLayers() {
        var rng = SeededGenerator(seed: 1)
        check("Linear", Linear(inputSize: 4, outputSize: 3, dtype: .float64, using: &rng), inputShape: [2, 5, 4])
        check("Linear rank 1 input", Linear(inputSize: 4, outputSize: 3, dtype: .float64, using: &rng), inputShape: [4])
        check("Linear without bias", Linear(inputSize: 4, outputSize: 3, bias: false, dtype: .float64, using: &rng), inputShape: [3, 4])
        check("MLP silu", MLP(sizes: [3, 5, 2], activation: .silu, dtype: .float64, using: &rng), inputShape: [4, 3])
        check("MLP gelu", MLP(sizes: [3, 5, 2], activation: .gelu, dtype: .float64, using: &rng), inputShape: [4, 3])
        check("LayerNorm", randomized(LayerNorm(normalizedShape: [5], dtype: .float64), seed: 2), inputShape: [3, 5])
        check("LayerNorm 2-D", randomized(LayerNorm(normalizedShape: [2, 3], dtype: .float64), seed: 3), inputShape: [2, 2, 3])
        check("RMSNorm", randomized(RMSNorm(normalizedShape: [5], dtype: .float64), seed: 4), inputShape: [3, 5])
        check("GroupNorm", randomized(GroupNorm(groupCount: 2, channelCount: 4, dtype: .float64), seed: 5), inputShape: [2, 4, 3])
        check("Conv2d", Conv2d(inputChannels: 2, outputChannels: 3, kernelSize: (2, 3), stride: (2, 1), padding: (1, 1),
                               dtype: .float64, using: &rng), inputShape: [2, 2, 5, 4])
        check("Conv2d groups dilation", Conv2d(inputChannels: 4, outputChannels: 2, kernelSize: (3, 3), padding: (2, 2), dilation: (2, 2),
                                               groupCount: 2, dtype: .float64, using: &rng), inputShape: [1, 4, 4, 5])
        check("Sequential", Sequential([Linear(inputSize: 3, outputSize: 4, dtype: .float64, using: &rng), Activation(.tanh),
                                        LayerNorm(normalizedShape: [4], dtype: .float64), Linear(inputSize: 4, outputSize: 2, dtype: .float64, using: &rng)]),
              inputShape: [2, 3])
        for kind in [Activation.Kind.relu, .leakyRelu(0.1)] {
            check("Activation \(kind)", Activation(kind), inputShape: [3, 4], order: 1)
        }
        for kind in [Activation.Kind.gelu, .geluTanh, .silu, .tanh, .sigmoid, .softplus, .identity] {
            check("Activation \(kind)", Activation(kind), inputShape: [3, 4])
        }
    }

    /// The recurrent layers (Float64: the composite reference of the fused LSTM) and the cells.
    func testRecurrentLayersAndCells() {
        var rng = SeededGenerator(seed: 8)
        for kind in [RecurrentKind.rnnTanh, .lstm, .gru] {
            check("Recurrent \(kind)", Recurrent(kind, inputSize: 3, hiddenSize: 4, layerCount: 2, dtype: .float64, using: &rng), inputShape: [2, 4, 3])
            check("Recurrent \(kind) bidirectional", Recurrent(kind, inputSize: 3, hiddenSize: 3, bidirectional: true, dtype: .float64, using: &rng),
                  inputShape: [2, 3, 3])
        }
        let h = Tensor.testInput([2, 4], seed: 21), c = Tensor.testInput([2, 4], seed: 22)
        func cell<C: RecurrentCell>(_ name: String, _ cell: C, state: @escaping ([Tensor]) -> C.State, flatten: @escaping (C.State) -> [Tensor],
                                    stateInputs: [Tensor]) {
            let params = cell.namedParameters.map(\.value)
            let x = Tensor.testInput([2, 3], seed: 23)
            let n = stateInputs.count
            let f: ([Tensor]) -> Tensor = { xs in
                var i = 1 + n
                let l = cell.mapParameters { _, _ in defer { i += 1 }; return xs[i] }
                let (output, next) = l.step(xs[0], state(Array(xs[1...n])))
                return Tensor.concatenate([output.flattened()] + flatten(next).map { $0.flattened() }, axis: 0)
            }
            for failure in GradientCheck.check(f, at: [x] + stateInputs + params, label: name) { XCTFail(failure) }
        }
        cell("LSTMCell", LSTMCell(inputSize: 3, hiddenSize: 4, dtype: .float64, using: &rng), state: { ($0[0], $0[1]) }, flatten: { [$0.h, $0.c] },
             stateInputs: [h, c])
        cell("GRUCell", GRUCell(inputSize: 3, hiddenSize: 4, dtype: .float64, using: &rng), state: { $0[0] }, flatten: { [$0] }, stateInputs: [h])
        cell("RNNCell", RNNCell(inputSize: 3, hiddenSize: 4, dtype: .float64, using: &rng), state: { $0[0] }, flatten: { [$0] }, stateInputs: [h])
    }

    func testEmbeddingGradient() {
        var rng = SeededGenerator(seed: 1)
        let table = Embedding(embeddingCount: 5, embeddingSize: 3, dtype: .float64, using: &rng)
        let idx = Tensor([4, 0, 4, 2] as [Int32], shape: [2, 2])
        let failures = GradientCheck.check({ xs in Embedding(weight: xs[0])(idx).sin() }, at: [table.weight], label: "Embedding")
        for f in failures { XCTFail(f) }
    }

    func testLosses() {
        let labels = Tensor([2, 0, 1, -100] as [Int32])
        let y = Tensor.testInput([4, 3], seed: 5, range: 0...1)
        let cases: [(String, [[Int]], ([Tensor]) -> Tensor)] = [
            ("crossEntropy", [[4, 3]], { crossEntropy(logits: $0[0], labels: labels) }),
            ("crossEntropy smoothing", [[4, 3]], { crossEntropy(logits: $0[0], labels: labels, labelSmoothing: 0.1) }),
            ("crossEntropy per item", [[4, 3]], { crossEntropy(logits: $0[0], labels: labels, reduction: .none) }),
            ("negativeLogLikelihood", [[4, 3]], { negativeLogLikelihood($0[0].logSoftmax(), labels: labels) }),
            ("meanSquaredError", [[4, 3], [4, 3]], { meanSquaredError($0[0], $0[1]) }),
            ("binaryCrossEntropy", [[4, 3]], { binaryCrossEntropy(logits: $0[0], targets: y) }),
            ("gaussianLogDensity", [[4, 3], [4, 3], [3]], { gaussianLogDensity($0[0], mean: $0[1], logStandardDeviation: $0[2]) }),
            ("logisticLogDensity", [[4, 3], [4, 3], [3]], { logisticLogDensity($0[0], location: $0[1], logScale: $0[2]) }),
        ]
        for (i, (name, shapes, f)) in cases.enumerated() {
            let xs = shapes.enumerated().map { Tensor.testInput($0.element, seed: UInt64(10 * i + $0.offset)) }
            for failure in GradientCheck.check(f, at: xs, label: name) { XCTFail(failure) }
        }
    }

    func testDropout() {
        var d = Dropout(probability: 0.25)
        var rng = SeededGenerator(seed: 1)
        let x = Tensor.ones(shape: [20_000], dtype: .float64)
        let y = d(x, using: &rng)
        let zeros = y.scalars.filter { $0 == 0 }.count
        XCTAssertEqual(Double(zeros) / 20_000, 0.25, accuracy: 0.015)
        XCTAssertEqual(y.mean().item, 1, accuracy: 0.03, "kept elements are scaled by 1/(1 − p)")
        // Same generator state → same mask; the gradient is the mask times the scale.
        var r1 = SeededGenerator(seed: 7), r2 = SeededGenerator(seed: 7)
        let g = gradient(at: x) { x in d(x, using: &r1).sum() }
        XCTAssertEqual(g.scalars, d(x, using: &r2).scalars)
        d.isTraining = false
        XCTAssertEqual(d(x, using: &rng).scalars, x.scalars)
    }

    func testDefaultInitialisationMatchesPyTorch() {
        var rng = SeededGenerator(seed: 1)
        let l = Linear(inputSize: 100, outputSize: 300, using: &rng)
        let bound = 0.1
        XCTAssertLessThanOrEqual(l.weight.abs().max().item, bound)
        XCTAssertEqual(l.weight.variance().item, bound * bound / 3, accuracy: 2e-4)  // U(−b, b) has variance b²/3
        let c = Conv2d(inputChannels: 4, outputChannels: 8, kernelSize: (3, 3), groupCount: 2, using: &rng)
        XCTAssertLessThanOrEqual(c.weight.abs().max().item, 1 / 18.0.squareRoot())
        XCTAssertEqual(c.weight.shape, [8, 2, 3, 3])
        let e = Embedding(embeddingCount: 1000, embeddingSize: 16, using: &rng)
        XCTAssertEqual(e.weight.variance().item, 1, accuracy: 0.05)
        XCTAssertEqual(LayerNorm(normalizedShape: [4]).weight?.scalars, [1, 1, 1, 1])
        XCTAssertEqual(Sequential([Linear(inputSize: 2, outputSize: 2, using: &rng), Activation(.relu),
                                   Linear(inputSize: 2, outputSize: 1, using: &rng)]).namedParameters.map(\.name),
                       ["0.weight", "0.bias", "2.weight", "2.bias"])
        XCTAssertEqual(MLP(sizes: [2, 3, 1], using: &rng).parameterCount, 2 * 3 + 3 + 3 + 1)
    }
}
