import Foundation
import XCTest
import FluxionCore

/// Loads committed reference fixtures (safetensors written by a script in `Tools/`).
public enum Fixture {
    /// The file `Fixtures/NAME.safetensors` beside the calling test file.
    public static func load(_ name: String, file: StaticString = #filePath) throws -> SafeTensors.File {
        let dir = URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Fixtures")
        return try SafeTensors.read(dir.appendingPathComponent(name + ".safetensors").path)
    }

    public static func path(_ name: String, file: StaticString = #filePath) -> String {
        URL(fileURLWithPath: "\(file)").deletingLastPathComponent().appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }
}

extension SafeTensors.File {
    /// The tensor `name`, failing the test (and returning an empty tensor) when it is missing.
    public func tensor(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> Tensor {
        guard let t = tensors[name] else {
            XCTFail("fixture has no tensor '\(name)' (has \(names.prefix(12)))", file: file, line: line)
            return Tensor.zeros(shape: [0])
        }
        return t
    }
}

/// Asserts `actual ≈ expected` elementwise: |a − e| ≤ atol + rtol·|e|, naming the worst element.
public func assertClose(_ actual: Tensor, _ expected: Tensor, relativeTolerance: Double = 1e-5, absoluteTolerance: Double = 1e-6,
                        _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(message): shape \(actual.shape) != expected \(expected.shape)", file: file, line: line)
        return
    }
    let a = actual.scalars, e = expected.scalars
    var worst = -1
    var worstExcess = 0.0
    for i in 0..<a.count {
        let excess = Swift.abs(a[i] - e[i]) - (absoluteTolerance + relativeTolerance * Swift.abs(e[i]))
        if excess > worstExcess || (a[i].isNaN != e[i].isNaN) { worst = i; worstExcess = Swift.max(excess, worstExcess) }
    }
    if worst >= 0 {
        XCTFail("\(message): element \(worst) is \(a[worst]), expected \(e[worst]) (shape \(actual.shape))", file: file, line: line)
    }
}

/// Expects `body` to throw a `FluxionError` of `kind` whose description contains every one of
/// `texts` (the file, the tensor, the problem); anything else fails the test at the caller's line.
public func expectError(_ kind: FluxionError.Kind, containing texts: [String], file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a \(kind) error containing \(texts)", file: file, line: line)
    } catch let e as FluxionError {
        XCTAssertEqual(e.kind, kind, "\(e)", file: file, line: line)
        for text in texts { XCTAssertTrue(e.description.contains(text), "\"\(e)\" should contain \"\(text)\"", file: file, line: line) }
    } catch {
        XCTFail("unexpected error \(error)", file: file, line: line)
    }
}

/// `expectError(_:containing:_:)` with one expected text.
public func expectError(_ kind: FluxionError.Kind, containing text: String, file: StaticString = #filePath, line: UInt = #line,
                        _ body: () throws -> Void) {
    expectError(kind, containing: [text], file: file, line: line, body)
}
