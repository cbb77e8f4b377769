import XCTest
import Foundation
import FluxionGenerative
import FluxionData

final class FlowRunTests: XCTestCase {
    func temporaryFolder(_ name: String) -> String {
        let path = NSTemporaryDirectory() + "fluxion-run-\(name)-\(ProcessInfo.processInfo.processIdentifier)"
        try? FileManager.default.removeItem(atPath: path)
        return path
    }

    func configuration(_ model: String, data: String = "moons", steps: Int) -> RunConfiguration {
        RunConfiguration(model: model, data: data, steps: steps, batchSize: 32, learningRate: 1e-3, seed: 3, checkpointEvery: 5,
                         options: ["hidden": "16", "layers": "2"])
    }

    /// Training 12 steps straight and 6 + resume + 6 gives bit-identical parameters, optimiser
    /// state and generator: the checkpoint holds everything.
    func testResumeContinuesExactly() throws {
        for (model, data) in [("realnvp", "moons"), ("glow", "digits"), ("nice", "moons")] {
            let straightFolder = temporaryFolder("straight-\(model)"), resumedFolder = temporaryFolder("resumed-\(model)")
            defer { try? FileManager.default.removeItem(atPath: straightFolder); try? FileManager.default.removeItem(atPath: resumedFolder) }
            var straight = try TrainingRun<FlowRunModel>.start(configuration(model, data: data, steps: 12), folder: straightFolder)
            while !straight.isFinished { _ = straight.step() }

            var first = try TrainingRun<FlowRunModel>.start(configuration(model, data: data, steps: 12), folder: resumedFolder)
            for _ in 0..<6 { _ = first.step(); first.log(["loss": 1]) }
            try first.saveCheckpoint()
            _ = first.step()   // work after the checkpoint is lost, as after Ctrl-C between checkpoints
            var resumed = try TrainingRun<FlowRunModel>.load(folder: resumedFolder)
            XCTAssertEqual(resumed.state.step, 6, model)
            XCTAssertEqual(resumed.metrics.count, 6, model)
            while !resumed.isFinished { _ = resumed.step() }

            XCTAssertEqual(resumed.state, straight.state, model)
            for (a, b) in zip(resumed.model.namedParameters, straight.model.namedParameters) {
                XCTAssertEqual(a.name, b.name)
                XCTAssertEqual(a.value.floats, b.value.floats, "\(model): \(a.name)")
            }
            XCTAssertEqual(resumed.optimizer.stepCount, straight.optimizer.stepCount)
        }
    }

    func testRunFolderFilesAndErrors() throws {
        let folder = temporaryFolder("files")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var run = try TrainingRun<FlowRunModel>.start(configuration("realnvp", steps: 3), folder: folder)
        while !run.isFinished { _ = run.step(); run.log(["loss": 0.5]) }
        try run.saveCheckpoint()
        for file in ["config.json", "model.safetensors", "metrics.jsonl", "checkpoints/step-000000003/optimizer.safetensors",
                     "checkpoints/step-000000003/state.json", "checkpoints/step-000000003/manifest.json"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/" + file), file)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasPrefix(".") }
            + FileManager.default.contentsOfDirectory(atPath: folder + "/checkpoints").filter { $0.hasPrefix(".") }
        XCTAssertEqual(leftovers, [], "no temporary files are left behind")
        // The saved parameters have the PyTorch reference's names.
        let names = try SafeTensors.read(folder + "/model.safetensors").names
        XCTAssertTrue(names.contains("layers.0.net.0.weight") && names.contains("layers.1.net.4.bias"), "\(names)")
        // Errors name the file and the problem.
        XCTAssertThrowsError(try TrainingRun<FlowRunModel>.load(folder: folder + "-missing")) { error in
            XCTAssertTrue("\(error)".contains("no such run folder"), "\(error)")
        }
        try Data("{ not json".utf8).write(to: URL(fileURLWithPath: folder + "/config.json"))
        XCTAssertThrowsError(try TrainingRun<FlowRunModel>.load(folder: folder)) { error in
            XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
        }
        XCTAssertThrowsError(try RunDataset.load("mooons")) { error in
            XCTAssertTrue("\(error)".contains("unknown data 'mooons'"), "\(error)")
        }
        var bad = configuration("realnvp", steps: 3)
        bad.options["hidden"] = "wide"
        XCTAssertThrowsError(try TrainingRun<FlowRunModel>.start(bad, folder: folder + "-bad")) { error in
            XCTAssertTrue("\(error)".contains("hidden=wide"), "\(error)")
        }
    }

    func testEvaluationReportsBitsPerDimensionOnDigits() throws {
        let data = try RunDataset.load("digits")
        var config = configuration("realnvp", data: "digits", steps: 1)
        try FlowRunModel.resolve(&config, data: data)
        let model = try FlowRunModel(configuration: config, data: data)
        var rng = SeededGenerator(seed: 0)
        let figures = Dictionary(uniqueKeysWithValues: try model.evaluate(data.testSet, data: data, using: &rng).map { ($0.name, $0.value) })
        XCTAssertEqual(figures["test_count"], 360)
        let nll = figures["nll_nats"]!, bpd = figures["bits_per_dim"]!
        XCTAssertEqual(bpd, (nll + 64 * log(17.0)) / (64 * log(2.0)), accuracy: 1e-9)
        XCTAssertTrue(bpd > 2 && bpd < 8, "an untrained flow is worse than uniform (\(bpd))")
    }
    /// Digits runs hold out every tenth training image for validation; each validation keeps the
    /// best model in best.safetensors, and `load(best:)` returns it while resuming uses the last.
    func testValidationKeepsTheBestModel() throws {
        let data = try RunDataset.load("digits")
        XCTAssertEqual(data.validation?.shape, [143, 1, 8, 8])
        XCTAssertEqual(data.trainCount, 1_437 - 143)
        XCTAssertNil(try RunDataset.load("moons").validation)

        let folder = temporaryFolder("validation")
        defer { try? FileManager.default.removeItem(atPath: folder) }
        var run = try TrainingRun<FlowRunModel>.start(configuration("nice", data: "digits", steps: 4), folder: folder, data: data)
        var seen: [Double] = []
        while !run.isFinished {
            if run.state.step == 3 { run.optimizer.learningRate = 3 }  // a last step that makes the model worse
            _ = run.step()
            seen.append(try XCTUnwrap(run.validate()))
            try run.saveCheckpoint()
        }
        let bestIndex = seen.indices.min { seen[$0] < seen[$1] }!
        XCTAssertEqual(run.state.bestValidation, seen[bestIndex])
        XCTAssertEqual(run.state.bestStep, bestIndex + 1)
        XCTAssertEqual(run.metrics.filter { $0.contains("validation_nll") }.count, 4)
        XCTAssertLessThan(run.state.bestStep!, 4, "validation NLLs \(seen)")
        // The kept model gives the best validation NLL again; the last checkpoint is the final model.
        let best = try TrainingRun<FlowRunModel>.load(folder: folder, best: true)
        var rng = SeededGenerator(seed: 0)
        let again = try best.model.evaluate(data.validationSet!, data: data, using: &rng).first { $0.name == "nll_nats" }!.value
        XCTAssertEqual(again, seen[bestIndex], accuracy: 1e-9)
        let last = try TrainingRun<FlowRunModel>.load(folder: folder)
        for (a, b) in zip(last.model.namedParameters, run.model.namedParameters) { XCTAssertEqual(a.value.floats, b.value.floats, a.name) }
    }
}
