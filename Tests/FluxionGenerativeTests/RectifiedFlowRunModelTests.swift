import XCTest
import Foundation
import FluxionGenerative

final class RectifiedFlowRunModelTests: XCTestCase {
    private func temporaryFolder() throws -> String {
        let path = NSTemporaryDirectory() + "fluxion-rf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func testResolveFillsDefaultsAndRejectsBadOptions() throws {
        let data = try RunDataset.load("moons")
        var config = RunConfiguration(model: "rectified-flow", data: "moons")
        try RectifiedFlowRunModel.resolve(&config, data: data)
        XCTAssertEqual(config.options["solver"], "euler")
        XCTAssertEqual(config.options["timesteps"], "uniform")
        XCTAssertEqual(config.options["rectification"], "1")
        for (key, value) in [("solver", "leapfrog"), ("timesteps", "beta"), ("sigma_min", "1.5"), ("shift", "-1"), ("hidden", "0")] {
            var bad = RunConfiguration(model: "rectified-flow", data: "moons", options: [key: value])
            XCTAssertThrowsError(try RectifiedFlowRunModel.resolve(&bad, data: data), "\(key)=\(value)")
        }
        var ddpm = RunConfiguration(model: "ddpm", data: "moons", options: ["prediction": "score"])
        XCTAssertThrowsError(try DDPMRunModel.resolve(&ddpm, data: data))
        var cnf = RunConfiguration(model: "cnf", data: "moons", options: ["train_solver": "dopri5"])
        XCTAssertThrowsError(try CNFRunModel.resolve(&cnf, data: data), "training differentiates a fixed-step solve")
        XCTAssertNotNil(RunModels.registry["ddpm"])
        XCTAssertNotNil(RunModels.registry["rectified-flow"])
        XCTAssertNotNil(RunModels.registry["cnf"])
    }

    func testReflowRunStartsFromTheParentWeightsAndTrainsOnItsPairs() throws {
        let folder = try temporaryFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let data = try RunDataset.load("moons")
        var config = RunConfiguration(model: "rectified-flow", data: "moons", seed: 3, options: ["hidden": "16", "layers": "2"])
        try RectifiedFlowRunModel.resolve(&config, data: data)
        let parent = try RectifiedFlowRunModel(configuration: config, data: data)
        let weights = folder + "/model.safetensors"
        try parent.save(to: weights)
        var rng = SeededGenerator(seed: 1)
        let (x0, noise) = try reflowPairs(parent.network, count: 64, dimension: 2, solver: ODESolver(method: .euler, steps: 4), using: &rng)
        let pairs = folder + "/pairs.safetensors"
        try SafeTensors.write([("data", x0), ("noise", noise)], to: pairs)

        var child = config
        child.seed = 99                                  // a different initialisation, overwritten by init_from
        child.options["init_from"] = weights
        child.options["reflow_pairs"] = pairs
        let model = try RectifiedFlowRunModel(configuration: child, data: data)
        for (a, b) in zip(parent.namedParameters, model.namedParameters) {
            XCTAssertEqual(a.name, b.name)
            XCTAssertEqual(a.value.floats, b.value.floats, "\(a.name) comes from the parent run")
        }
        XCTAssertEqual(model.pairs?.data.shape, [64, 2])
        // On its own pairs (x₀ = ODE(ε)) a straight-line loss is finite; the data batch is ignored.
        let loss = model.loss(RunBatch(data: Tensor.zeros(shape: [32, 2])), using: &rng).item
        XCTAssertTrue(loss.isFinite && loss > 0)

        // A malformed pairs file is a one-line error naming the file.
        let broken = folder + "/broken.safetensors"
        try SafeTensors.write([("data", x0)], to: broken)
        child.options["reflow_pairs"] = broken
        XCTAssertThrowsError(try RectifiedFlowRunModel(configuration: child, data: data)) { error in
            XCTAssertTrue("\(error)".contains("broken.safetensors"), "\(error)")
        }
    }
}
