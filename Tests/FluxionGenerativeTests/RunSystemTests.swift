import XCTest
import Foundation
import FluxionGenerative
import FluxionData
import FluxionOptim
import FluxionNN
import _FluxionTestSupport

/// The one run system: damaged checkpoints are detected, named and passed over; mismatched
/// optimiser and generator state throw specific errors; sequence runs resume exactly and
/// generate without their training text.
final class RunSystemTests: XCTestCase {
    var folder: String!

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "fluxion-runs-\(UUID().uuidString)"
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: folder) }

    func flowRun(steps: Int = 2) throws -> TrainingRun<FlowRunModel> {
        var run = try TrainingRun<FlowRunModel>.start(
            RunConfiguration(model: "realnvp", data: "moons", steps: steps, batchSize: 16, seed: 4, checkpointEvery: 1,
                             options: ["hidden": "8", "layers": "2"]), folder: folder)
        _ = try run.train()
        return run
    }

    /// Every file of the newest checkpoint, truncated or with a flipped byte at 20 positions: the
    /// damage is detected, the notice names the file, and the previous checkpoint is used.
    func testDamagedCheckpointFilesAreNamedAndPassedOver() throws {
        _ = try flowRun(steps: 2)
        let newest = folder + "/checkpoints/step-000000002"
        let names = try FileManager.default.contentsOfDirectory(atPath: newest).sorted()
        XCTAssertEqual(names, ["manifest.json", "metrics.jsonl", "model.safetensors", "optimizer.safetensors", "state.json"])
        var rng = SeededGenerator(seed: 11)
        var checked = 0
        for name in names {
            let url = URL(fileURLWithPath: newest + "/" + name)
            let original = try Data(contentsOf: url)
            var damaged: [(String, Data)] = [0, 1, original.count / 2, original.count - 1].map { n in ("truncated to \(n) bytes", original.prefix(n)) }
            for _ in 0..<20 {
                let position = Int(rng.next() % UInt64(original.count))
                var bytes = original
                bytes[position] ^= UInt8(1 + rng.next() % 255)
                damaged.append(("byte \(position) flipped", bytes))
            }
            for (what, bytes) in damaged {
                try bytes.write(to: url)
                let run = try TrainingRun<FlowRunModel>.load(folder: folder)
                XCTAssertEqual(run.state.step, 1, "\(name) \(what): the previous checkpoint is used")
                XCTAssertEqual(run.notices.count, 1, "\(name) \(what)")
                XCTAssertTrue(run.notices.first?.contains(name) ?? false, "\(name) \(what): \(run.notices)")
                XCTAssertTrue(run.notices.first?.contains("using step-000000001") ?? false, "\(run.notices)")
                checked += 1
            }
            try original.write(to: url)
        }
        XCTAssertEqual(checked, 5 * 24)
        XCTAssertEqual(try TrainingRun<FlowRunModel>.load(folder: folder).state.step, 2, "restored, the newest is used again")
        // With every checkpoint damaged, the error names each problem.
        for step in [1, 2] {
            let url = URL(fileURLWithPath: folder + "/checkpoints/step-00000000\(step)/model.safetensors")
            try Data(try Data(contentsOf: url).prefix(10)).write(to: url)
        }
        expectError(.malformed, containing: ["no intact checkpoint", "step-000000001/model.safetensors", "step-000000002/model.safetensors"]) {
            _ = try TrainingRun<FlowRunModel>.load(folder: folder)
        }
    }

    /// Checkpoints are kept to the newest K; an interrupted write leaves nothing a reader sees.
    func testCheckpointStoreKeepsTheNewestAndIgnoresIncompleteWrites() throws {
        let store = try CheckpointStore(folder: folder + "/store", keep: 2)
        for step in 1...4 { try store.write(step: step, files: [("a.bin", Data([UInt8(step)]))]) }
        XCTAssertEqual(store.steps(), [4, 3])
        try FileManager.default.createDirectory(atPath: folder + "/store/.incomplete-step-000000005-1", withIntermediateDirectories: true)
        XCTAssertEqual(store.steps(), [4, 3])
        var notices: [String] = []
        XCTAssertEqual(try store.newest(notices: &notices) { try $0.data("a.bin") }, Data([4]))
        try store.write(step: 5, files: [("a.bin", Data([5]))])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder + "/store").sorted(), ["step-000000004", "step-000000005"])
        XCTAssertThrowsError(try store.write(step: 6, files: [("../x", Data())]))
        XCTAssertThrowsError(try CheckpointStore(folder: folder, keep: 0))
        XCTAssertEqual(SHA256.hexDigest(Data("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hexDigest(Data()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hexDigest(Data(repeating: 0x61, count: 1_000_000)), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// Optimiser state that does not fit the model: each mismatch is a specific error.
    func testMismatchedOptimizerStateIsRejected() throws {
        let run = try flowRun(steps: 1)
        let good = try SafeTensors.decode(run.optimizer.encodedState())
        let first = good.names[0]
        let parameter = String(first.split(separator: "/", maxSplits: 1)[1])
        func variant(_ change: (inout [String: Tensor], inout [String: String]) -> Void) -> SafeTensors.File {
            var tensors = good.tensors, metadata = good.metadata
            change(&tensors, &metadata)
            return SafeTensors.File(names: tensors.keys.sorted(), tensors: tensors, metadata: metadata)
        }
        var adam = Adam()
        expectError(.unexpectedTensor, containing: ["exp_avg/no.such.weight", "no parameter 'no.such.weight'"]) {
            try adam.loadState(from: variant { t, _ in t["exp_avg/no.such.weight"] = t[first] }, for: run.model)
        }
        expectError(.unexpectedTensor, containing: ["unknown slot 'momentum'"]) {
            try adam.loadState(from: variant { t, _ in t["momentum/" + parameter] = t[first] }, for: run.model)
        }
        expectError(.unexpectedTensor, containing: ["not an optimiser slot"]) {
            try adam.loadState(from: variant { t, _ in t["loose"] = t[first] }, for: run.model)
        }
        expectError(.shapeMismatch, containing: [first, "shape [1]"]) {
            try adam.loadState(from: variant { t, _ in t[first] = Tensor.zeros(shape: [1]) }, for: run.model)
        }
        expectError(.shapeMismatch, containing: [first]) {
            try adam.loadState(from: variant { t, _ in t[first] = t[first]!.reshaped(to: [1, -1]) }, for: run.model)
        }
        expectError(.dtypeMismatch, containing: [first, "float64"]) {
            try adam.loadState(from: variant { t, _ in t[first] = t[first]!.cast(to: .float64) }, for: run.model)
        }
        expectError(.malformed, containing: ["'step'"]) {
            try adam.loadState(from: variant { _, m in m["step"] = "-1" }, for: run.model)
        }
        expectError(.malformed, containing: ["learning_rate"]) {
            try adam.loadState(from: variant { _, m in m["learning_rate"] = "nan" }, for: run.model)
        }
        XCTAssertEqual(adam.stepCount, 0, "nothing was adopted")
        try adam.loadState(from: good, for: run.model)
        XCTAssertEqual(adam.stepCount, 1)
    }

    /// A run state with a bad generator or data order is a specific error (the checkpoint's
    /// checksums are rewritten, so only the contents are wrong).
    func testInvalidRunStateIsRejected() throws {
        let decoder = JSONDecoder()
        for bad in [#"{"state":[1,2,3]}"#, #"{"state":[0,0,0,0]}"#, #"{"state":"x"}"#] {
            XCTAssertThrowsError(try decoder.decode(SeededGenerator.self, from: Data(bad.utf8)), bad)
        }
        XCTAssertNoThrow(try decoder.decode(SeededGenerator.self, from: Data(#"{"state":[1,2,3,4]}"#.utf8)))
        for bad in [#"{"count":4,"batchSize":2,"order":[0,1,2,9],"position":0}"#, #"{"count":4,"batchSize":2,"order":[0,1,2,3],"position":7}"#,
                    #"{"count":0,"batchSize":2,"order":[],"position":0}"#, #"{"count":4,"batchSize":9,"order":[],"position":0}"#] {
            XCTAssertThrowsError(try decoder.decode(ShuffledBatches.self, from: Data(bad.utf8)), bad)
        }
        // A state of the wrong step, written into an otherwise valid checkpoint.
        let run = try flowRun(steps: 1)
        var state = run.state
        state.step = 7
        let store = try CheckpointStore(folder: folder + "/checkpoints")
        let checkpoint = try store.read(step: 1)
        var files = checkpoint.files.map { (name: $0.key, data: $0.value) }
        files.removeAll { $0.name == "state.json" }
        files.append(("state.json", try JSONEncoder().encode(state)))
        try store.write(step: 1, files: files)
        expectError(.malformed, containing: ["state.json", "records step 7"]) { _ = try TrainingRun<FlowRunModel>.load(folder: folder) }
        files.removeAll { $0.name == "state.json" }
        files.append(("state.json", Data(String(decoding: try JSONEncoder().encode(run.state), as: UTF8.self)
            .replacingOccurrences(of: #""generator":{"state":["#, with: #""generator":{"state":[0,"#).utf8)))
        try store.write(step: 1, files: files)
        expectError(.malformed, containing: ["state.json", "4 words"]) { _ = try TrainingRun<FlowRunModel>.load(folder: folder) }
    }

    func characterConfiguration(text: String, steps: Int) -> RunConfiguration {
        RunConfiguration(model: "lstm", data: "chars", steps: steps, batchSize: 4, learningRate: 2e-3, seed: 2, checkpointEvery: 3,
                         options: ["text": text, "length": "12", "hidden": "16", "width": "8"])
    }

    /// A character-level LSTM run, stopped after 6 steps and resumed, ends bit-identical to a
    /// straight run; `generate` then works from the folder alone.
    func testSequenceRunResumesExactlyAndGeneratesWithoutItsText() throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let text = folder + "/text.txt"
        var rng = SeededGenerator(seed: 0)
        let words = ["alpha", "beta", "gamma", "delta", "epsilon"]
        try Data((0..<400).map { _ in words[Int(rng.next() % 5)] }.joined(separator: " ").utf8).write(to: URL(fileURLWithPath: text))
        var straight = try TrainingRun<SequenceRunModel>.start(characterConfiguration(text: text, steps: 12), folder: folder + "/straight")
        _ = try straight.train()
        var first = try TrainingRun<SequenceRunModel>.start(characterConfiguration(text: text, steps: 12), folder: folder + "/resumed")
        var calls = 0
        XCTAssertTrue(try first.train(shouldStop: { calls += 1; return calls == 7 }))
        var resumed = try TrainingRun<SequenceRunModel>.resume(folder: folder + "/resumed")
        XCTAssertEqual(resumed.state.step, 7)
        XCTAssertFalse(try resumed.train())
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: folder + "/straight/model.safetensors")),
                       try Data(contentsOf: URL(fileURLWithPath: folder + "/resumed/model.safetensors")))
        XCTAssertEqual(resumed.metrics, straight.metrics)
        XCTAssertEqual(resumed.configuration.vocabulary, [" ", "a", "b", "d", "e", "g", "h", "i", "l", "m", "n", "o", "p", "s", "t"])
        var eval = SeededGenerator(seed: 1)
        let figures = Dictionary(uniqueKeysWithValues: try resumed.model.evaluate(resumed.data.testSet, data: resumed.data, using: &eval).map { ($0.name, $0.value) })
        XCTAssertNotNil(figures["accuracy"])
        XCTAssertEqual(figures["test_count"], 1024)

        try FileManager.default.removeItem(atPath: text)
        expectError(.io, containing: ["text.txt", "no such file"]) { _ = try TrainingRun<SequenceRunModel>.load(folder: folder + "/resumed") }
        let generator = try TrainingRun<SequenceRunModel>.load(folder: folder + "/resumed", requireData: false)
        let task = try XCTUnwrap(generator.data.task as? CharacterTask)
        var g = SeededGenerator(seed: 3)
        let out = try generator.model.generate(context: try task.encode("alpha "), count: 30, temperature: 0.8, using: &g)
        XCTAssertEqual(out.count, 36)
        XCTAssertEqual(task.decode(out).prefix(6), "alpha ")
        XCTAssertThrowsError(try generator.model.generate(context: [], count: 3, temperature: 1, using: &g))
        XCTAssertThrowsError(try generator.model.generate(context: [0], count: 3, temperature: 0, using: &g))
    }

    /// A sequence model learns through the run system (copying with a short delay).
    func testSequenceRunLearns() throws {
        var run = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "gru", data: "copying", steps: 300, batchSize: 32, learningRate: 5e-3, seed: 1, checkpointEvery: 300,
                             options: ["length": "3", "hidden": "48", "width": "16"]), folder: folder)
        _ = try run.train()
        var rng = SeededGenerator(seed: 0)
        let figures = Dictionary(uniqueKeysWithValues: try run.model.evaluate(run.data.testSet, data: run.data, using: &rng).map { ($0.name, $0.value) })
        XCTAssertGreaterThan(figures["accuracy"]!, 0.25, "chance is 1/8: \(figures)")
        XCTAssertNotNil(run.state.bestStep, "the validation split picks a best checkpoint")
    }

    /// config.json records the task's own parameters (copying's delay, selective copying's noise
    /// stretch, symbols and vocabulary), so a resumed run trains on the same task.
    func testResumedSequenceRunsKeepTheirTask() throws {
        for (data, options, length) in [("copying", ["length": "4"], 24), ("selective-copying", ["length": "9", "symbols": "3", "vocabulary": "7"], 13),
                                        ("induction-heads", [:], 32), ("adding", ["length": "7"], 7)] {
            let out = folder + "/" + data
            var run = try TrainingRun<SequenceRunModel>.start(
                RunConfiguration(model: "mamba", data: data, steps: 2, batchSize: 4, seed: 1, checkpointEvery: 1,
                                 options: options.merging(["width": "8", "layers": "1", "state": "4"]) { a, _ in a }), folder: out)
            XCTAssertEqual(run.data.task!.length, length, data)
            _ = try run.train()
            let resumed = try TrainingRun<SequenceRunModel>.load(folder: out)
            XCTAssertEqual(resumed.data.task!.length, length, "\(data) after resume")
            XCTAssertEqual(resumed.configuration.options, run.configuration.options, data)
        }
        let sc = try TrainingRun<SequenceRunModel>.load(folder: folder + "/selective-copying")
        XCTAssertEqual(sc.data.task!.vocabularySize, 7)
        XCTAssertEqual(sc.data.task!.target, .classes(count: 7, positions: 3))
        XCTAssertThrowsError(try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "mamba", data: "adding", steps: 2, options: ["symbols": "3"]), folder: folder + "/bad")) { e in
            XCTAssertTrue("\(e)".contains("unknown option 'symbols'"), "\(e)")
        }
    }

    /// `initialModel` (`fluxion train --init-from`): a run at another task length starts from the
    /// file's parameters, as does a restart before its first checkpoint; a changed file, or one
    /// from another architecture, throws an error naming the file (and the tensor).
    func testRunStartsFromAnotherRunsParameters() throws {
        let options = ["width": "8", "layers": "1", "state": "4"]
        var short = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "mamba", data: "adding", steps: 3, batchSize: 4, seed: 1, checkpointEvery: 3,
                             options: options.merging(["length": "7"]) { a, _ in a }), folder: folder + "/short")
        _ = try short.train()
        let file = folder + "/short.safetensors"
        try short.model.save(to: file)
        var config = RunConfiguration(model: "mamba", data: "adding", steps: 2, batchSize: 4, seed: 2, checkpointEvery: 5,
                                      options: options.merging(["length": "30"]) { a, _ in a })
        config.initialModel = file
        let long = try TrainingRun<SequenceRunModel>.start(config, folder: folder + "/long")
        XCTAssertEqual(long.data.task!.length, 30)
        XCTAssertNotNil(long.configuration.initialModelSHA256)
        let fresh = try TrainingRun<SequenceRunModel>.resume(folder: folder + "/long")   // no checkpoint yet: step 0 again
        for run in [long, fresh] {
            for (a, b) in zip(run.model.namedParameters, short.model.namedParameters) { XCTAssertEqual(a.value.floats, b.value.floats, a.name) }
        }
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: file))
        expectError(.malformed, containing: ["short.safetensors", "changed since the run started"]) {
            _ = try TrainingRun<SequenceRunModel>.resume(folder: self.folder + "/long")
        }
        try short.model.save(to: file)
        var wider = config
        wider.options["width"] = "12"
        expectError(.shapeMismatch, containing: ["short.safetensors", "model expects"]) {
            _ = try TrainingRun<SequenceRunModel>.start(wider, folder: self.folder + "/wider")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/wider"), "a failed start leaves no run folder")
    }

    /// Options `warmup` and `schedule`: linear warm-up, then cosine decay to 0 at the last step;
    /// the factor scales the optimiser's rate and every group's (S4D's SSM group here).
    func testLearningRateSchedule() throws {
        var run = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "s4d", data: "adding", steps: 12, batchSize: 4, learningRate: 4e-3, seed: 0, checkpointEvery: 12,
                             options: ["length": "8", "width": "8", "state": "4", "layers": "1", "warmup": "4", "schedule": "cosine"]), folder: folder)
        XCTAssertEqual((0..<5).map { run.rateFactor(at: $0) }, [0.25, 0.5, 0.75, 1, 1])
        XCTAssertEqual(run.rateFactor(at: 8), 0.5, accuracy: 1e-12)
        XCTAssertEqual(run.rateFactor(at: 12), 0, accuracy: 1e-12)
        for step in 0..<6 {
            _ = run.step()
            XCTAssertEqual(run.optimizer.learningRate, 4e-3 * run.rateFactor(at: step), accuracy: 1e-15)
            XCTAssertEqual(run.optimizer.groups[0].learningRate, 1e-3 * run.rateFactor(at: step), accuracy: 1e-15)
        }
        expectError(.invalidArgument, containing: ["schedule=step", "constant, cosine"]) {
            _ = try TrainingRun<SequenceRunModel>.start(RunConfiguration(model: "s4d", data: "adding", steps: 2, options: ["schedule": "step"]), folder: self.folder + "/bad")
        }
    }

    /// Mamba's cached path (prefill, then one token at a time, as `generate` runs it) gives the
    /// full forward's outputs; `generate` returns context + count tokens.
    func testMambaSequenceModelStepsEqualTheFullForward() throws {
        var rng = SeededGenerator(seed: 4)
        let model = MambaSequenceModel(vocabularySize: 11, width: 16, layerCount: 2, stateSize: 4, outputSize: 11, using: &rng)
        let tokens = Tensor((0..<(2 * 9)).map { _ in Int32(rng.next() % 11) }, shape: [2, 9])
        let full = model(tokens)
        var caches: [MambaCache]? = model.emptyCache(batch: 2)
        var pieces = [model(tokens.sliced(axis: 1, 0..<5), caches: &caches)]
        for t in 5..<9 { pieces.append(model(tokens.sliced(axis: 1, t..<(t + 1)), caches: &caches)) }
        assertClose(Tensor.concatenate(pieces, axis: 1), full, relativeTolerance: 1e-5, absoluteTolerance: 1e-5)
        let run = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "mamba", data: "induction-heads", steps: 1, batchSize: 4, seed: 0,
                             options: ["length": "8", "width": "8", "state": "4", "layers": "1"]), folder: folder)
        var g = SeededGenerator(seed: 1)
        XCTAssertEqual(try run.model.generate(context: [3, 4, 5], count: 20, temperature: 1, using: &g).count, 23)
    }

    /// The state-space models learn through the run system: Mamba selective copying, S4D the
    /// adding problem (short sequences); the S4D run puts its SSM parameters in an Adam group at
    /// min(1e-3, lr).
    func testStateSpaceRunsLearn() throws {
        var mamba = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "mamba", data: "selective-copying", steps: 300, batchSize: 32, learningRate: 3e-3, seed: 0, checkpointEvery: 300,
                             options: ["length": "16", "symbols": "4", "vocabulary": "8", "width": "32"]), folder: folder + "/mamba")
        _ = try mamba.train()
        var rng = SeededGenerator(seed: 0)
        let m = Dictionary(uniqueKeysWithValues: try mamba.model.evaluate(mamba.data.testSet, data: mamba.data, using: &rng).map { ($0.name, $0.value) })
        XCTAssertGreaterThan(m["accuracy"]!, 0.9, "chance is 1/5: \(m)")
        var s4d = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "s4d", data: "adding", steps: 600, batchSize: 32, learningRate: 1e-2, seed: 0, checkpointEvery: 600,
                             options: ["length": "20", "width": "32", "state": "16"]), folder: folder + "/s4d")
        XCTAssertEqual(s4d.optimizer.groups.count, 1)
        XCTAssertEqual(s4d.optimizer.groups[0].learningRate, 1e-3)
        XCTAssertEqual(s4d.optimizer.groups[0].names, ["layers.0.kernel.log_dt", "layers.0.kernel.log_A_real", "layers.0.kernel.A_imag",
                                                       "layers.1.kernel.log_dt", "layers.1.kernel.log_A_real", "layers.1.kernel.A_imag"])
        _ = try s4d.train()
        let s = Dictionary(uniqueKeysWithValues: try s4d.model.evaluate(s4d.data.testSet, data: s4d.data, using: &rng).map { ($0.name, $0.value) })
        XCTAssertLessThan(s["loss"]!, 0.01, "predicting the mean gives ≈ 0.167: \(s)")
        // S4 (DPLR) through the same run: kernels at the next power of two of the length, its SSM
        // parameters (log Δ, A, B, P; not C) in the slow group.
        var s4 = try TrainingRun<SequenceRunModel>.start(
            RunConfiguration(model: "s4", data: "adding", steps: 600, batchSize: 32, learningRate: 1e-2, seed: 0, checkpointEvery: 600,
                             options: ["length": "20", "width": "32", "state": "16"]), folder: folder + "/s4")
        XCTAssertEqual(s4.model.maxLength, 32)
        XCTAssertEqual(s4.model.maxLengthReason, "kernels of 32 steps")
        XCTAssertEqual(s4.optimizer.groups[0].names, Set((0..<2).flatMap { i in
            ["log_dt", "B", "P", "inv_A_real", "A_imag"].map { "layers.\(i).kernel.\($0)" } }))
        _ = try s4.train()
        let s4Figures = Dictionary(uniqueKeysWithValues: try s4.model.evaluate(s4.data.testSet, data: s4.data, using: &rng).map { ($0.name, $0.value) })
        XCTAssertLessThan(s4Figures["loss"]!, 0.01, "predicting the mean gives ≈ 0.167: \(s4Figures)")
    }
}
