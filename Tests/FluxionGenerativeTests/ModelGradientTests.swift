import XCTest
import Foundation
@testable import FluxionGenerative
import FluxionNN
import FluxionData
import _FluxionTestSupport

/// Float64 finite-difference checks (reverse and forward mode, first and second order) of the
/// flow layers, the sequence models and the CNF dynamics, with respect to their inputs and all
/// their parameters; and the parameter-listing check for the models of this module.
final class ModelGradientTests: XCTestCase {
    /// `value` with its parameters replaced, in visiting order, by `values`.
    static func with<P: ParameterTree>(_ value: P, parameters values: ArraySlice<Tensor>) -> P {
        var i = values.startIndex
        return value.mapParameters { _, _ in defer { i += 1 }; return values[i] }
    }

    static func float64<P: ParameterTree>(_ value: P) -> P { value.mapParameters { _, t in t.cast(to: .float64) } }

    func report(_ failures: [String], file: StaticString = #filePath, line: UInt = #line) {
        for failure in failures { XCTFail(failure, file: file, line: line) }
    }

    func testFlowLayersForwardAndInverse() {
        for (name, layer, shape) in FlowLayerTests.layers() {
            let x = FlowLayerTests.input(shape, count: 2, unit: name == "logit")
            let parameters = layer.namedParameters.map { $0.value }
            func forward<L: FlowLayer>(_ layer: L) -> ([Tensor]) -> Tensor {
                { xs in
                    let (y, logDeterminant) = Self.with(layer, parameters: xs[1...]).forward(xs[0])
                    return Tensor.concatenate([y.flattened(), logDeterminant.flattened()], axis: 0)
                }
            }
            func inverse<L: FlowLayer>(_ layer: L) -> ([Tensor]) -> Tensor {
                { xs in Self.with(layer, parameters: xs[1...]).inverse(xs[0]) }
            }
            // The ReLU-output NICE variant has kinks: first order there (second derivatives are
            // zero almost everywhere, and finite differences across a kink are meaningless).
            let order = name.contains("Su") ? 1 : 2
            report(GradientCheck.check(forward(layer), at: [x] + parameters, options: .init(order: order), label: "\(name) forward"))
            let y = layer.forward(x).output
            report(GradientCheck.check(inverse(layer), at: [y] + parameters, options: .init(order: order), label: "\(name) inverse"))
        }
    }

    func testSplitPriorLogDensity() {
        var rng = SeededGenerator(seed: 2)
        let split = perturbed(SplitPrior(channelCount: 4, learned: true, dtype: .float64))
        let x = Tensor.randomNormal(shape: [2, 4, 2, 2], dtype: .float64, using: &rng)
        let f: ([Tensor]) -> Tensor = { xs in
            let (y, logDeterminant) = Self.with(split, parameters: xs[1...]).forward(xs[0])
            return Tensor.concatenate([y.flattened(), logDeterminant.flattened()], axis: 0)
        }
        report(GradientCheck.check(f, at: [x] + split.namedParameters.map(\.value), label: "split prior"))
    }

    func testSequenceModels() {
        var rng = SeededGenerator(seed: 4)
        let x = Tensor.randomNormal(shape: [2, 5, 3], dtype: .float64, using: &rng)
        for kind in [RecurrentKind.rnnTanh, .lstm, .gru] {
            let model = Self.float64(RecurrentSequenceModel(kind, vocabularySize: nil, featureCount: 3, width: 4, hiddenSize: 5,
                                                            layerCount: 2, outputSize: 2, using: &rng))
            let f: ([Tensor]) -> Tensor = { xs in Self.with(model, parameters: xs[1...])(xs[0]) }
            report(GradientCheck.check(f, at: [x] + model.namedParameters.map(\.value), label: "\(kind) sequence model"))
        }
        let transformer = Self.float64(TransformerSequenceModel(vocabularySize: nil, featureCount: 3, width: 8, layerCount: 1, headCount: 2,
                                                                maxLength: 5, outputSize: 2, using: &rng))
        let f: ([Tensor]) -> Tensor = { xs in Self.with(transformer, parameters: xs[1...])(xs[0]) }
        report(GradientCheck.check(f, at: [x] + transformer.namedParameters.map(\.value), options: .init(order: 1), label: "transformer sequence model"))
    }

    func testCNFDynamics() {
        var rng = SeededGenerator(seed: 5)
        let network = TimeConditionedMLP(dimension: 2, hiddenSizes: [6, 6], activation: .tanh, timeFrequencies: 1, dtype: .float64, using: &rng)
        let cnf = ContinuousNormalizingFlow(model: network)
        let z = Tensor.randomNormal(shape: [3, 2], dtype: .float64, using: &rng)
        let probes = traceProbes(for: .exact, batch: 3, dimension: 2, dtype: .float64, using: &rng)
        let f: ([Tensor]) -> Tensor = { xs in
            let (v, trace) = Self.with(cnf, parameters: xs[1...]).dynamics(time: 0.3, state: xs[0], probes: probes)
            return Tensor.concatenate([v.flattened(), trace.flattened()], axis: 0)
        }
        report(GradientCheck.check(f, at: [z] + cnf.namedParameters.map(\.value), label: "CNF dynamics [v, tr ∂v/∂z]"))
    }

    func testEveryStoredTensorIsListed() throws {
        func check<P: ParameterTree>(_ name: String, _ value: P, buffers: Set<String> = []) {
            let stored = storedTensors(value).filter { s in !buffers.contains { s.path.hasSuffix($0) } }
            XCTAssertEqual(stored.map { $0.tensor.shape.description }.sorted(), value.namedParameters.map { $0.value.shape.description }.sorted(),
                           "\(name): stores \(stored.map(\.path)), lists \(value.namedParameters.map(\.name))")
        }
        // Fixed buffers: coupling masks, the 1×1 convolution's permutation, signs and masks.
        let buffers: Set<String> = ["mask", "inverseMask", "permutation", "sign", "lowerMask", "identity"]
        for (name, layer, _) in FlowLayerTests.layers() {
            func open<L: FlowLayer>(_ l: L) { check(name, l, buffers: buffers) }
            open(layer)
        }
        check("split prior", SplitPrior(channelCount: 4, learned: true))
        var rng = SeededGenerator(seed: 1)
        check("TimeConditionedMLP", TimeConditionedMLP(dimension: 2, hiddenSizes: [4], timeFrequencies: 2, using: &rng))
        check("RecurrentSequenceModel", RecurrentSequenceModel(.lstm, vocabularySize: 5, width: 4, hiddenSize: 3, outputSize: 2, using: &rng))
        check("TransformerSequenceModel", TransformerSequenceModel(vocabularySize: 5, width: 8, layerCount: 2, headCount: 2, maxLength: 6, outputSize: 5, using: &rng))
        for (model, data) in [("realnvp", "moons"), ("glow", "digits"), ("nice", "digits"), ("ddpm", "moons"), ("rectified-flow", "moons"), ("cnf", "moons")] {
            let dataset = try RunDataset.load(data)
            var config = RunConfiguration(model: model, data: data, options: ["hidden": "8", "layers": "2"])
            let type = RunModels.registry[model]!
            func build<M: RunModel>(_ type: M.Type) throws {
                try M.resolve(&config, data: dataset)
                check(model, try M(configuration: config, data: dataset), buffers: buffers.union(["pairs.data", "pairs.noise"]))
            }
            try build(type)
        }
    }
}
