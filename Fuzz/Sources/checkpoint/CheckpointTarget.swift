import Foundation
import Fluxion
import FuzzSupport

// A run checkpoint restored as `fluxion train --resume`, `sample` and `eval` restore it
// (TrainingRun.restore: model, optimiser state, run state and metrics checked against the
// configuration and the model). The first input byte picks the file that the rest of the input
// replaces in an otherwise valid checkpoint of a tiny RealNVP run on moons (step 1); restoring
// must throw a FluxionError or succeed, never trap, and a restored run must take a step.

struct Fixture {
    let configuration: RunConfiguration
    let data: RunDataset
    /// The valid files as byte arrays: LeakSanitizer cannot follow the references that Data packs
    /// into its enum representation, so a global holding Data would be reported as a leak.
    let files: [String: [UInt8]]
    static let names = ["model.safetensors", "optimizer.safetensors", "state.json", "metrics.jsonl", "best.safetensors"]

    static let shared: Fixture = {
        let folder = NSTemporaryDirectory() + "fluxion-fuzz-checkpoint-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        do {
            var run = try TrainingRun<FlowRunModel>.start(
                RunConfiguration(model: "realnvp", data: "moons", steps: 1, batchSize: 8, checkpointEvery: 1,
                                 options: ["hidden": "4", "layers": "2"]), folder: folder)
            _ = try run.train()
            let checkpoint = try CheckpointStore(folder: folder + "/checkpoints").read(step: 1)
            var files = checkpoint.files.mapValues { [UInt8]($0) }
            files["best.safetensors"] = files["model.safetensors"]
            return Fixture(configuration: run.configuration, data: run.data, files: files)
        } catch {
            fuzzFail("cannot make the fixture checkpoint: \(error)")
        }
    }()
}

/// libFuzzer calls this once before any input: the fixture's allocations are not an input's leak.
@_cdecl("LLVMFuzzerInitialize")
public func initializeCheckpointFixture(_ argc: UnsafeMutablePointer<CInt>?, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>?) -> CInt {
    _ = Fixture.shared
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let fixture = Fixture.shared
    let data = fuzzData(bytes, count)
    guard let selector = data.first else { return 0 }
    var files = fixture.files.mapValues { Data($0) }
    let name = Fixture.names[Int(selector) % Fixture.names.count]
    files[name] = Data(data.dropFirst())
    if selector >= 128 { files[name] = nil }   // a file missing from the checkpoint
    let checkpoint = CheckpointStore.Checkpoint(step: 1, folder: "checkpoints/step-000000001", files: files)
    guard var run = fuzzDecode({
        try TrainingRun<FlowRunModel>.restore(checkpoint, configuration: fixture.configuration, data: fixture.data,
                                              folder: "fuzz-run", best: selector % 2 == 0)
    }) else { return 0 }
    _ = run.step()
    return 0
}
