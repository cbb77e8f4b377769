import Foundation
import Fluxion

// Shared helpers for the fuzz targets. A target is one Swift file that defines
//
//     @_cdecl("LLVMFuzzerTestOneInput")
//     public func fuzz(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
//         let data = fuzzData(bytes, count)
//         ... return 0
//     }
//
// and reports a broken invariant with `fuzzCheck`/`fuzzFail` (which abort, so libFuzzer records
// the input as a crash). Readers must throw `FluxionError` on bad input: any other error, or a
// trap, is a finding.

/// The input as `Data` (copied: libFuzzer owns the buffer).
public func fuzzData(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> Data {
    guard let bytes, count > 0 else { return Data() }
    return Data(bytes: bytes, count: count)
}

/// Prints `message` and aborts: libFuzzer saves the input as a crash artifact.
public func fuzzFail(_ message: String, file: StaticString = #fileID, line: UInt = #line) -> Never {
    FileHandle.standardError.write(Data("FUZZ INVARIANT BROKEN (\(file):\(line)): \(message)\n".utf8))
    abort()
}

/// Aborts unless `condition` holds.
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    if !condition() { fuzzFail(message(), file: file, line: line) }
}

/// Runs a reader on untrusted bytes: its value, or nil when it threw a `FluxionError` (the
/// expected outcome for bad input). Any other error aborts.
public func fuzzDecode<T>(file: StaticString = #fileID, line: UInt = #line, _ body: () throws -> T) -> T? {
    do { return try body() } catch let e as FluxionError {
        fuzzCheck(!e.description.isEmpty, "empty error description", file: file, line: line)
        return nil
    } catch {
        fuzzFail("threw \(type(of: error)) instead of FluxionError: \(error)", file: file, line: line)
    }
}

/// Runs something that must succeed on valid data (re-encoding what was decoded, decoding it
/// again); any error aborts.
public func fuzzMust<T>(file: StaticString = #fileID, line: UInt = #line, _ body: () throws -> T) -> T {
    do { return try body() } catch {
        fuzzFail("unexpected error on valid data: \(error)", file: file, line: line)
    }
}
