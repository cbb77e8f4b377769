import XCTest
import Foundation
import FluxionNN
import _FluxionTestSupport

/// Truncated, corrupted and mismatched files each throw a specific error naming file, tensor and problem.
final class FileErrorTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("fluxion-files-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: dir) }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    func model() -> MLP {
        var rng = SeededGenerator(seed: 1)
        return MLP(sizes: [3, 4, 2], using: &rng)
    }

    func testRoundTripAndMetadata() throws {
        let m = model()
        try m.save(to: path("m.safetensors"), metadata: ["note": "hello"])
        var other = SeededGenerator(seed: 99)
        var n = MLP(sizes: [3, 4, 2], using: &other)
        try n.load(from: path("m.safetensors"))
        for (a, b) in zip(m.namedParameters, n.namedParameters) { XCTAssertEqual(a.value.scalars, b.value.scalars) }
        XCTAssertEqual(try SafeTensors.read(path("m.safetensors")).metadata["note"], "hello")
        let mixed: [(String, Tensor)] = [("f", Tensor([1.5, 2.5], dtype: .float64)), ("i", Tensor([1, -2] as [Int32])), ("s", Tensor(3.0, dtype: .float32))]
        try SafeTensors.write(mixed, to: path("mixed.safetensors"))
        let back = try SafeTensors.read(path("mixed.safetensors"))
        XCTAssertEqual(back.names, ["f", "i", "s"])
        XCTAssertEqual(back["i"]?.int32s, [1, -2])
        XCTAssertEqual(back["s"]?.shape, [])
        // no temporary file is left behind
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["m.safetensors", "mixed.safetensors"])
    }

    func testTruncatedFiles() throws {
        try model().save(to: path("m.safetensors"))
        let data = try Data(contentsOf: URL(fileURLWithPath: path("m.safetensors")))
        try data.prefix(5).write(to: URL(fileURLWithPath: path("short.safetensors")))
        expectError(.truncated, containing: "short.safetensors") { _ = try SafeTensors.read(path("short.safetensors")) }
        try data.prefix(data.count - 10).write(to: URL(fileURLWithPath: path("cut.safetensors")))
        expectError(.truncated, containing: "tensor 'layers.1.weight': data ends at byte 96 but the file holds 94 data bytes") { _ = try SafeTensors.read(path("cut.safetensors")) }
        try data.prefix(40).write(to: URL(fileURLWithPath: path("header.safetensors")))
        expectError(.truncated, containing: "header length") { _ = try SafeTensors.read(path("header.safetensors")) }
        expectError(.io, containing: "no such file") { _ = try SafeTensors.read(path("absent.safetensors")) }
    }

    func testCorruptedFiles() throws {
        var bad = Data([16, 0, 0, 0, 0, 0, 0, 0])
        bad.append(Data("{not json at all}".utf8.prefix(16)))
        try bad.write(to: URL(fileURLWithPath: path("bad.safetensors")))
        expectError(.malformed, containing: "not a JSON object") { _ = try SafeTensors.read(path("bad.safetensors")) }
        let header = #"{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,8]}}"#
        var wrong = Data()
        var n = UInt64(header.utf8.count).littleEndian
        withUnsafeBytes(of: &n) { wrong.append(contentsOf: $0) }
        wrong.append(Data(header.utf8))
        wrong.append(Data(count: 16))
        try wrong.write(to: URL(fileURLWithPath: path("offsets.safetensors")))
        expectError(.malformed, containing: "tensor 'w'") { _ = try SafeTensors.read(path("offsets.safetensors")) }
        let bf16 = #"{"w":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"#
        var unsupported = Data()
        var m = UInt64(bf16.utf8.count).littleEndian
        withUnsafeBytes(of: &m) { unsupported.append(contentsOf: $0) }
        unsupported.append(Data(bf16.utf8))
        unsupported.append(Data(count: 4))
        try unsupported.write(to: URL(fileURLWithPath: path("bf16.safetensors")))
        expectError(.malformed, containing: "unsupported dtype BF16") { _ = try SafeTensors.read(path("bf16.safetensors")) }
    }

    func testMismatchedModels() throws {
        var rng = SeededGenerator(seed: 2)
        try MLP(sizes: [3, 5, 2], using: &rng).save(to: path("wide.safetensors"))
        var m = model()
        expectError(.shapeMismatch, containing: "tensor 'layers.0.weight': file has shape [5, 3], model expects [4, 3]") {
            try m.load(from: path("wide.safetensors"))
        }
        try MLP(sizes: [3, 4, 2], dtype: .float64, using: &rng).save(to: path("double.safetensors"))
        expectError(.dtypeMismatch, containing: "file has dtype float64, model expects float32") { try m.load(from: path("double.safetensors")) }
        try MLP(sizes: [3, 4, 4, 2], using: &rng).save(to: path("deep.safetensors"))
        expectError(.shapeMismatch, containing: "layers.1.weight") { try m.load(from: path("deep.safetensors")) }
        try SafeTensors.write(Array(model().namedParameters.dropLast()), to: path("partial.safetensors"))
        expectError(.missingTensor, containing: "tensor 'layers.1.bias': missing from the file") { try m.load(from: path("partial.safetensors")) }
        try SafeTensors.write(model().namedParameters + [("extra", Tensor([1.0], dtype: .float64))], to: path("extra.safetensors"))
        expectError(.unexpectedTensor, containing: "tensor 'extra'") { try m.load(from: path("extra.safetensors")) }
        try m.load(from: path("extra.safetensors"), strict: false)
    }

    func testNPYRoundTripAndErrors() throws {
        let t = Tensor([1.0, 2, 3, 4, 5, 6], shape: [2, 3], dtype: .float64)
        try NPY.write(t, to: path("a.npy"))
        let back = try NPY.read(path("a.npy"))
        XCTAssertEqual(back.shape, [2, 3])
        XCTAssertEqual(back.scalars, t.scalars)
        try NPY.write(Tensor([7, 8] as [Int32]), to: path("i.npy"))
        XCTAssertEqual(try NPY.read(path("i.npy")).int32s, [7, 8])
        try NPY.write(Tensor(2.5, dtype: .float32), to: path("s.npy"))
        XCTAssertEqual(try NPY.read(path("s.npy")).shape, [])
        let data = try Data(contentsOf: URL(fileURLWithPath: path("a.npy")))
        try data.prefix(data.count - 8).write(to: URL(fileURLWithPath: path("cut.npy")))
        expectError(.truncated, containing: "needs 48") { _ = try NPY.read(path("cut.npy")) }
        try Data("hello world, not numpy".utf8).write(to: URL(fileURLWithPath: path("x.npy")))
        expectError(.malformed, containing: "bad magic") { _ = try NPY.read(path("x.npy")) }
    }
}
