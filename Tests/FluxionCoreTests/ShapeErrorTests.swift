import XCTest
import Foundation
import FluxionCore

/// Bad shapes stop with a precondition failure whose message names the operation and both shapes.
/// A precondition failure ends the process, so each case runs in a child copy of this test binary.
final class ShapeErrorTests: XCTestCase {
    static let cases: [String: (String, () -> Void)] = [
        "add": ("add: shapes [2, 3] and [4] do not broadcast",
                { _ = Tensor.zeros(shape: [2, 3]) + Tensor.zeros(shape: [4]) }),
        "matmul": ("matmul: inner sizes differ: [2, 3] · [4, 5]",
                   { _ = Tensor.matmul(Tensor.zeros(shape: [2, 3]), Tensor.zeros(shape: [4, 5])) }),
        "reshape": ("reshaped(to:): cannot reshape [2, 3] (6 elements) to [4]",
                    { _ = Tensor.zeros(shape: [2, 3]).reshaped(to: [4]) }),
        "concatenate": ("concatenate: shapes [2, 3] and [2, 4] differ off axis 0",
                        { _ = Tensor.concatenate([Tensor.zeros(shape: [2, 3]), Tensor.zeros(shape: [2, 4])], axis: 0) }),
        "dtype": ("add: dtypes differ: float32 [2] and float64 [2]",
                  { _ = Tensor.zeros(shape: [2]) + Tensor.zeros(shape: [2], dtype: .float64) }),
    ]

    /// In the child process: runs the case named by FLUXION_SHAPE_ERROR_CASE (which must crash).
    func testChild() {
        guard let name = ProcessInfo.processInfo.environment["FLUXION_SHAPE_ERROR_CASE"] else { return }
        Self.cases[name]!.1()
    }

    func testMessagesNameOperationAndShapes() throws {
        #if os(Linux)
        let binary = CommandLine.arguments[0]
        for (name, (message, _)) in Self.cases.sorted(by: { $0.key < $1.key }) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["FluxionCoreTests.ShapeErrorTests/testChild"]
            var env = ProcessInfo.processInfo.environment
            env["FLUXION_SHAPE_ERROR_CASE"] = name
            p.environment = env
            let err = Pipe(), out = Pipe()
            p.standardError = err
            p.standardOutput = out
            try p.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                + String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            XCTAssertNotEqual(p.terminationStatus, 0, "\(name): expected the child to stop")
            XCTAssertTrue(text.contains(message), "\(name): expected \"\(message)\" in:\n\(text.suffix(600))")
        }
        #endif
    }
}
