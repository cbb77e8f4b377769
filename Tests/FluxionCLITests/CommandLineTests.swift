import XCTest
import Foundation

/// The `fluxion` program as a user meets it: misuse gets exit code 64 (usage) or 1 (failure) and
/// a message naming the problem; SIGKILL at random instants and `--resume` end byte-identical to
/// an uninterrupted run.
final class CommandLineTests: XCTestCase {
    static var binary: String {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("fluxion").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/release/fluxion").path
    }

    struct Result { let status: Int32; let output: String }

    @discardableResult
    static func fluxion(_ arguments: [String], in folder: String) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: folder)
        var environment = ProcessInfo.processInfo.environment
        environment["FLUXION_THREADS"] = "1"
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Result(status: process.terminationStatus, output: String(decoding: data, as: UTF8.self))
    }

    var folder: String!

    override func setUpWithError() throws {
        // The test target depends on FluxionCLI, so `swift test` builds the program: a missing
        // binary is a failure, not a reason to skip.
        guard FileManager.default.isExecutableFile(atPath: Self.binary) else {
            XCTFail("the fluxion program is not built at \(Self.binary)")
            throw CocoaError(.fileNoSuchFile)
        }
        folder = NSTemporaryDirectory() + "fluxion-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { if let folder { try? FileManager.default.removeItem(atPath: folder) } }

    func testMisusesGetAnExitCodeAndAMessageNamingTheProblem() throws {
        let quick = ["--steps", "2", "--no-pictures"]
        XCTAssertEqual(try Self.fluxion(["train", "realnvp", "--data", "moons", "--set", "hidden=8", "--out", "flow"] + quick, in: folder).status, 0)
        XCTAssertEqual(try Self.fluxion(["train", "lstm", "--task", "copying", "--length", "3", "--state-size", "8", "--out", "seq"] + quick, in: folder).status, 0)
        try FileManager.default.createDirectory(atPath: folder + "/broken", withIntermediateDirectories: true)
        try Data("{ \"model\": 3 ".utf8).write(to: URL(fileURLWithPath: folder + "/broken/config.json"))
        let text = String(repeating: "abc def ", count: 40)
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/short.txt"))

        let flow = ["train", "realnvp", "--data", "moons"]
        let cases: [(arguments: [String], status: Int32, message: String)] = [
            (["train"], 64, "give a model"),
            (["train", "nosuch", "--data", "moons"], 64, "unknown model 'nosuch'"),
            (["train", "realnvp"], 64, "give --data"),
            (["train", "realnvp", "--data", "mooons"], 64, "unknown data 'mooons'"),
            (flow + ["--steps", "0"], 64, "--steps must be positive"),
            (flow + ["--steps=-5"], 64, "--steps must be positive"),
            (flow + ["--lr", "nan"], 64, "--lr must be a positive number"),
            (flow + ["--lr", "0"], 64, "--lr must be a positive number"),
            (flow + ["--batch-size", "0"], 64, "--batch-size must be in"),
            (flow + ["--checkpoint-every", "0"], 64, "--checkpoint-every must be positive"),
            (flow + ["--keep-checkpoints", "0"], 64, "--keep-checkpoints must be at least 1"),
            (flow + ["--threads", "0"], 64, "--threads must be in"),
            (flow + ["--set", "hidden=wide"], 64, "hidden=wide"),
            (flow + ["--set", "novalue"], 64, "--set expects key=value"),
            (flow + ["--hidden=-3"], 64, "--hidden must be positive"),
            (flow + ["--prior", "cauchy"], 64, "prior must be gaussian or logistic"),
            (flow + ["--set", "clip=-1"], 64, "clip must be positive"),
            (flow + ["--task", "copying"], 64, "--task is an option of the sequence models"),
            (flow + ["--out", "flow"], 64, "already holds a run"),
            (flow + ["--resume", "flow"], 64, "--resume takes the model and data"),
            (["train", "--resume", "flow", "--init-from", "flow"], 64, "--init-from starts a new run"),
            (["train", "lstm", "--task", "copying", "--init-from", "/nonexistent/run"], 64, "--init-from /nonexistent/run: no such run folder or file"),
            (["train", "lstm", "--task", "copying", "--init-from", "broken"], 64, "neither best.safetensors nor model.safetensors"),
            (["train", "lstm", "--task", "copying", "--init-from", "flow", "--out", "mixed"], 1, "missing from the file"),
            (["train", "lstm", "--data", "moons"], 64, "--data is an option of the generative models"),
            (["train", "lstm"], 64, "give --task"),
            (["train", "lstm", "--task", "nosuch"], 64, "unknown task 'nosuch'"),
            (["train", "lstm", "--task", "chars"], 64, "--task chars needs --text FILE"),
            (["train", "lstm", "--task", "chars", "--text", "/nonexistent/t.txt"], 1, "/nonexistent/t.txt: no such file"),
            (["train", "lstm", "--task", "chars", "--text", "short.txt", "--length", "64"], 64, "need at least"),
            (["train", "lstm", "--task", "copying", "--length", "0"], 64, "--length must be positive"),
            (["train", "lstm", "--task", "copying", "--set", "nonsense=1"], 64, "unknown option 'nonsense'"),
            (["train", "transformer", "--task", "copying", "--width", "10", "--heads", "3"], 64, "heads (3) must divide width (10)"),
            (["train", "--resume", "/nonexistent/run"], 1, "no such run folder"),
            (["train", "--resume", "broken"], 1, "broken/config.json"),
            (["sample", "/nonexistent/run"], 1, "no such run folder"),
            (["sample", "flow", "--solver", "rk5"], 64, "unknown solver 'rk5'"),
            (["sample", "flow", "--solver", "euler"], 64, "--solver euler does not apply"),
            (["sample", "flow", "--count", "0"], 64, "--count must be in"),
            (["sample", "flow", "--temperature", "nan"], 64, "--temperature must be non-negative"),
            (["sample", "flow", "--steps", "0"], 64, "--steps must be in"),
            (["sample", "seq"], 64, "needs a generative-model run"),
            (["eval", "broken"], 1, "broken/config.json"),
            (["eval", "flow", "--length", "10"], 64, "needs a sequence-model run"),
            (["eval", "seq", "--length", "0"], 64, "--length must be in"),
            (flow + ["--set", "schedule=linear"], 64, "schedule=linear is not one of constant, cosine"),
            (flow + ["--set", "warmup=-2"], 64, "warmup=-2 is outside"),
            (["generate", "flow"], 64, "not a character language model"),
            (["generate", "seq"], 64, "not a character language model"),
            (["generate", "flow", "--temperature", "0"], 64, "--temperature must be a positive number"),
            (flow + ["--lr", "1e30", "--steps", "40", "--out", "diverges"], 1, "the loss became"),
            (["bench", "nosuch"], 64, "unknown workload 'nosuch'"),
            (["bench", "gemm256", "--seconds", "nan"], 64, "--seconds must be in"),
            (["reflow", "flow"], 64, "reflow needs a rectified-flow run"),
            (["reflow", "flow", "--pairs", "0"], 64, "--pairs must be in"),
            (["calculus", "minimize", "--matrix", "2,0;0,1", "--vector", "1,1", "--rows=-1"], 64, "--rows must be non-negative"),
            (["calculus", "minimize", "--matrix", "2,0;0", "--vector", "1,1"], 64, "matrix"),
            (["randomwalk", "--p", "1.5"], 64, "--p must be a probability"),
            (["ssm-scaling", "--models", "rnn"], 64, "unknown model 'rnn'"),
            (["ssm-scaling", "--lengths", "1"], 64, "--lengths: '1' is not a length"),
        ]
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        for (arguments, status, message) in cases {
            let noPictures = arguments.first == "train" ? ["--no-pictures"] : []
            let result = try Self.fluxion(arguments + noPictures, in: folder)
            let line = arguments.joined(separator: " ")
            XCTAssertEqual(result.status, status, "fluxion \(line): \(result.output)")
            XCTAssertTrue(result.output.contains(message), "fluxion \(line) should say \"\(message)\": \(result.output)")
            if status == 1 {
                XCTAssertFalse(result.output.contains("Usage:"), "a failure prints no usage text: fluxion \(line): \(result.output)")
            }
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/mixed"), "a run that cannot start from its --init-from file leaves no folder")
        // A rejected option leaves no run folder behind (every failing `train` above would have
        // written to runs/MODEL-DATA).
        XCTAssertFalse(FileManager.default.fileExists(atPath: folder + "/runs"), "a failed train left \(folder!)/runs")
    }

    /// `eval --length` rebuilds the task's held-out set at another length and evaluates the same
    /// weights (the JSON line records the length); a model with learned positions refuses lengths
    /// beyond them with a message, not a crash.
    func testEvalAtAnotherLength() throws {
        let quick = ["--steps", "2", "--no-pictures", "--width", "16", "--blocks", "1"]
        XCTAssertEqual(try Self.fluxion(["train", "mamba", "--task", "induction-heads", "--length", "16", "--out", "m"] + quick, in: folder).status, 0)
        let result = try Self.fluxion(["eval", "m", "--length", "48"], in: folder)
        XCTAssertEqual(result.status, 0, result.output)
        let json = try XCTUnwrap(result.output.split(separator: "\n").last.map(String.init))
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(record["length"] as? Int, 48)
        XCTAssertNotNil(record["accuracy"] as? Double)
        XCTAssertEqual(try Self.fluxion(["train", "transformer", "--task", "induction-heads", "--length", "16", "--heads", "2", "--out", "t"] + quick, in: folder).status, 0)
        let refused = try Self.fluxion(["eval", "t", "--length", "48"], in: folder)
        XCTAssertEqual(refused.status, 64, refused.output)
        XCTAssertTrue(refused.output.contains("16 learned positions"), refused.output)
        XCTAssertEqual(try Self.fluxion(["train", "s4", "--task", "induction-heads", "--length", "16", "--state-size", "4", "--out", "s"] + quick, in: folder).status, 0)
        let s4 = try Self.fluxion(["eval", "s", "--length", "48"], in: folder)
        XCTAssertEqual(s4.status, 64, s4.output)
        XCTAssertTrue(s4.output.contains("kernels of 16 steps"), s4.output)
        XCTAssertEqual(try Self.fluxion(["eval", "s", "--length", "12"], in: folder).status, 0)

        // The scaling picture's command at toy sizes: one JSON line per (model, length), two pictures.
        let scaling = try Self.fluxion(["ssm-scaling", "--lengths", "8,16", "--tokens", "32", "--steps", "1", "--out", "scaling"], in: folder)
        XCTAssertEqual(scaling.status, 0, scaling.output)
        XCTAssertEqual(scaling.output.split(separator: "\n").filter { $0.contains("\"us_per_token\"") }.count, 8, scaling.output)
        for file in ["ssm-scaling-time.png", "ssm-scaling-memory.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/scaling/" + file), file)
        }
    }

    /// The suite's small version of Tools/crash_test.py: SIGKILL at random instants (a checkpoint
    /// every step, so some kills land inside a write), resume each time, compare the final model.
    func testKilledAndResumedRunIsByteIdentical() throws {
        let arguments = ["realnvp", "--data", "moons", "--steps", "80", "--set", "hidden=32", "--batch-size", "32",
                         "--checkpoint-every", "1", "--no-pictures", "--threads", "1"]
        XCTAssertEqual(try Self.fluxion(["train"] + arguments + ["--out", "reference"], in: folder).status, 0)
        var rng = SystemRandomNumberGenerator()
        var kills = 0
        var command = ["train"] + arguments + ["--out", "victim"]
        while true {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: Self.binary)
            process.arguments = command
            process.currentDirectoryURL = URL(fileURLWithPath: folder)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if kills < 8 {
                usleep(UInt32.random(in: 20_000...250_000, using: &rng))
                if process.isRunning {
                    kill(process.processIdentifier, SIGKILL)
                    process.waitUntilExit()
                    kills += 1
                    if FileManager.default.fileExists(atPath: folder + "/victim/config.json") {
                        command = ["train", "--resume", "victim", "--no-pictures", "--threads", "1"]
                    } else {
                        try? FileManager.default.removeItem(atPath: folder + "/victim")
                    }
                    continue
                }
            }
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "the resumed run finishes")
            break
        }
        let reference = try Data(contentsOf: URL(fileURLWithPath: folder + "/reference/model.safetensors"))
        let victim = try Data(contentsOf: URL(fileURLWithPath: folder + "/victim/model.safetensors"))
        XCTAssertEqual(reference, victim, "after \(kills) kills the final model is byte-identical")
    }

    /// `fluxion hippo` writes its picture and one JSON line with the reconstruction errors; a bad
    /// size is a usage error.
    func testHiPPOWritesThePictureAndTheErrors() throws {
        let run = try Self.fluxion(["hippo", "--size", "32", "--samples", "500", "--out", "pictures/hippo.png"], in: folder)
        XCTAssertEqual(run.status, 0, run.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder + "/pictures/hippo.png"))
        let line = try XCTUnwrap(run.output.split(separator: "\n").last)
        let record = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        let (legS, legT, rms) = (record["legs_rmse"] as? Double ?? .nan, record["legt_rmse"] as? Double ?? .nan, record["signal_rms"] as? Double ?? 0)
        XCTAssertLessThan(legS, 0.1 * rms, "LegS reconstruction RMSE \(legS) against a signal RMS \(rms)")
        XCTAssertLessThan(legT, 0.1 * rms, "LegT reconstruction RMSE \(legT) against a signal RMS \(rms)")
        let bad = try Self.fluxion(["hippo", "--size", "0"], in: folder)
        XCTAssertEqual(bad.status, 64)
        XCTAssertTrue(bad.output.contains("--size must be in"), bad.output)
    }
}
