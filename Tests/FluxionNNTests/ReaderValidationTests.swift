import XCTest
import Foundation
import FluxionNN
import _FluxionTestSupport

/// Malformed safetensors and .npy contents: each case throws a specific `FluxionError` naming the
/// file, the tensor (where there is one) and the problem; none may trap. Everything is decoded from
/// memory (the `path` argument names the file), so the suite runs in milliseconds.
final class ReaderValidationTests: XCTestCase {
    // MARK: safetensors

    /// A safetensors file: the 8-byte length, `header` as it is (no padding), then `body`.
    func safetensors(_ header: String, body: Data = Data(), length: UInt64? = nil) -> Data {
        safetensors(bytes: Data(header.utf8), body: body, length: length)
    }

    func safetensors(bytes header: Data, body: Data = Data(), length: UInt64? = nil) -> Data {
        var out = Data()
        var n = (length ?? UInt64(header.count)).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(header)
        out.append(body)
        return out
    }

    /// Expects decoding `data` (as "x.safetensors") to fail with `kind`, naming the file, with a
    /// message containing `text`.
    func expectSafeTensors(_ data: Data, _ kind: FluxionError.Kind, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        expectError(kind, containing: text, file: file, line: line) {
            do { _ = try SafeTensors.decode(data, path: "x.safetensors") } catch let e as FluxionError {
                XCTAssertTrue(e.description.hasPrefix("x.safetensors: "), "\(e) should name the file", file: file, line: line)
                throw e
            }
        }
    }

    func entry(_ name: String, dtype: String = "F32", shape: String, offsets: String) -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    func testSafeTensorsValidEdgeCases() throws {
        // no tensors at all
        XCTAssertEqual(try SafeTensors.decode(safetensors("{}")).names, [])
        // padding, an unknown key in an entry (ignored, as the reference reader does), a
        // zero-sized tensor, entries listed out of data order, escapes in names and metadata
        let header = "{\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[8,12],\"extra\":[1,{\"x\":null}]},"
            + entry("z\\u00e9\\ud83d\\ude00", shape: "[0,3]", offsets: "[8,8]") + ","
            + entry("a", dtype: "F64", shape: "[]", offsets: "[0,8]")
            + ",\"__metadata__\":{\"note\":\"tab\\there\\/\"}}      "
        var body = Data()
        var x = 2.5
        withUnsafeBytes(of: &x) { body.append(contentsOf: $0) }
        body.append(contentsOf: [7, 0, 0, 0])
        let file = try SafeTensors.decode(safetensors(header, body: body))
        XCTAssertEqual(file.names, ["a", "zé😀", "b"])
        XCTAssertEqual(file["a"]?.scalars, [2.5])
        XCTAssertEqual(file["b"]?.int32s, [7])
        XCTAssertEqual(file["zé😀"]?.shape, [0, 3])
        XCTAssertEqual(file.metadata, ["note": "tab\there/"])
        // a slice of a larger buffer (indices not starting at 0) decodes the same
        let padded = Data([1, 2, 3]) + safetensors(header, body: body)
        XCTAssertEqual(try SafeTensors.decode(padded.dropFirst(3)).names, ["a", "zé😀", "b"])
        // what Fluxion writes decodes, and round-trips
        let written = try SafeTensors.encode([("w", Tensor([1.0, 2, 3, 4], shape: [2, 2], dtype: .float64)), ("s", Tensor(3.0, dtype: .float32))], metadata: ["k": "v"])
        let back = try SafeTensors.decode(written)
        XCTAssertEqual(back.names, ["w", "s"])
        XCTAssertEqual(try SafeTensors.encode(back.names.map { ($0, back[$0]!) }, metadata: back.metadata), written)
    }

    func testSafeTensorsLengthAndHeaderProblems() {
        expectSafeTensors(Data([1, 2, 3]), .truncated, "file is 3 bytes, shorter than the 8-byte header length")
        expectSafeTensors(safetensors("{}", length: UInt64.max), .malformed, "header length 18446744073709551615 exceeds the format's limit of 100000000 bytes")
        expectSafeTensors(safetensors("{}", length: 1 << 63), .malformed, "header length 9223372036854775808 exceeds")
        expectSafeTensors(safetensors("{}", length: 100_000_001), .malformed, "header length 100000001 exceeds")
        expectSafeTensors(safetensors("{}", length: 64), .truncated, "header length 64 exceeds the 2 bytes after it")
        expectSafeTensors(safetensors(bytes: Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D])), .malformed, "header is not valid UTF-8 (byte 2 of the header)")
        expectSafeTensors(safetensors(" {}"), .malformed, "header is not a JSON object (it must start with '{')")
        expectSafeTensors(safetensors(""), .malformed, "it must start with '{'")
        expectSafeTensors(safetensors("{} x"), .malformed, "header is not a JSON object (unexpected text after the JSON value at byte 3)")
        expectSafeTensors(safetensors("{\"a\":"), .malformed, "unexpected end of the JSON text")
        expectSafeTensors(safetensors("{\"a\":\"\\ud800\"}"), .malformed, "unpaired surrogate")
        expectSafeTensors(safetensors("{\"a\":[01]}"), .malformed, "leading zero")
        expectSafeTensors(safetensors("{\"a\":" + String(repeating: "[", count: 500) + String(repeating: "]", count: 500) + "}"),
                          .malformed, "nesting deeper than 128 levels")
        expectSafeTensors(safetensors("{\"a\":1}"), .malformed, "tensor 'a': entry must be an object")
    }

    func testSafeTensorsShapeProblems() {
        func shaped(_ shape: String, dtype: String = "F32") -> Data { safetensors("{" + entry("w", dtype: dtype, shape: shape, offsets: "[0,8]") + "}", body: Data(count: 8)) }
        expectSafeTensors(shaped("[4611686018427387904,4]"), .malformed, "tensor 'w': shape [4611686018427387904, 4] of F32 has more elements than fit in Int")
        // the running product overflows before the 0: Tensor would trap computing it, so it is rejected
        expectSafeTensors(shaped("[4611686018427387904,4,0]"), .malformed, "has more elements than fit in Int")
        expectSafeTensors(shaped("[2305843009213693952,2]"), .malformed, "tensor 'w': shape [2305843009213693952, 2] of F32 needs more bytes than fit in Int")
        expectSafeTensors(shaped("[9223372036854775807]", dtype: "F64"), .malformed, "needs more bytes than fit in Int")
        expectSafeTensors(shaped("[-1,2]"), .malformed, "tensor 'w': shape [-1, 2] has a negative entry -1")
        expectSafeTensors(shaped("[1.5,2]"), .malformed, "tensor 'w': shape [1.5, 2] has a non-integer entry 1.5")
        expectSafeTensors(shaped("[2.0]"), .malformed, "has a non-integer entry 2.0")
        expectSafeTensors(shaped("[1e30]"), .malformed, "has a non-integer entry 1e30")
        expectSafeTensors(shaped("[2E0]"), .malformed, "has a non-integer entry 2E0")
        expectSafeTensors(shaped("[\"2\"]"), .malformed, "has a non-integer entry \"2\"")
        expectSafeTensors(shaped("[null]"), .malformed, "has a non-integer entry null")
        expectSafeTensors(shaped("[99999999999999999999]"), .malformed, "has an entry too large for Int: 99999999999999999999")
        expectSafeTensors(shaped("2"), .malformed, "shape must be an array of integers, got 2")
        expectSafeTensors(shaped("[3]"), .malformed, "tensor 'w': data_offsets [0, 8] span 8 bytes but shape [3] of F32 needs 12")
    }

    func testSafeTensorsDtypeAndEntryProblems() {
        expectSafeTensors(safetensors("{" + entry("w", dtype: "BF16", shape: "[2]", offsets: "[0,4]") + "}", body: Data(count: 4)),
                          .malformed, "tensor 'w': unsupported dtype BF16 (Fluxion reads F32, F64, I32)")
        expectSafeTensors(safetensors("{\"w\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", body: Data(count: 4)),
                          .malformed, "tensor 'w': dtype must be a string, got 4")
        expectSafeTensors(safetensors("{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", body: Data(count: 4)), .malformed, "tensor 'w': entry needs dtype, shape and two data_offsets (no dtype)")
        expectSafeTensors(safetensors("{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", body: Data(count: 4)), .malformed, "(no shape)")
        expectSafeTensors(safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[1]}}", body: Data(count: 4)), .malformed, "(no data_offsets)")
        expectSafeTensors(safetensors("{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"shape\":[1],\"data_offsets\":[0,4]}}", body: Data(count: 4)),
                          .malformed, "tensor 'w': entry has the key \"shape\" twice")
        let w = entry("w", shape: "[1]", offsets: "[0,4]")
        expectSafeTensors(safetensors("{" + w + "," + w + "}", body: Data(count: 4)), .malformed, "tensor 'w': the tensor appears twice in the header")
        expectSafeTensors(safetensors("{\"__metadata__\":{},\"__metadata__\":{}}"), .malformed, "__metadata__ appears twice")
        expectSafeTensors(safetensors("{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}"), .malformed, "__metadata__ has the key \"a\" twice")
        expectSafeTensors(safetensors("{\"__metadata__\":{\"a\":1}}"), .malformed, "__metadata__ must map strings to strings: \"a\" is 1")
        expectSafeTensors(safetensors("{\"__metadata__\":[\"a\"]}"), .malformed, "__metadata__ must map strings to strings, got [\"a\"]")
    }

    func testSafeTensorsOffsetProblems() {
        let two = "[2]"  // 8 bytes of F32
        func file(_ entries: [String], body: Int) -> Data { safetensors("{" + entries.joined(separator: ",") + "}", body: Data(count: body)) }
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8]"), entry("b", shape: two, offsets: "[4,12]")], body: 12),
                          .malformed, "tensor 'b': data_offsets [4, 12] overlap tensor 'a' (bytes 0..<8)")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8]"), entry("b", shape: two, offsets: "[0,8]")], body: 8),
                          .malformed, "tensor 'b': data_offsets [0, 8] overlap tensor 'a'")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8]"), entry("b", shape: two, offsets: "[12,20]")], body: 20),
                          .malformed, "tensor 'b': data_offsets [12, 20] leave a gap: data bytes 8..<12 belong to no tensor")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[4,12]")], body: 12),
                          .malformed, "tensor 'a': data_offsets [4, 12] leave a gap: data bytes 0..<4 belong to no tensor")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8]"), entry("b", shape: two, offsets: "[8,16]")], body: 12),
                          .truncated, "tensor 'b': data ends at byte 16 but the file holds 12 data bytes")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8]")], body: 12),
                          .malformed, "the tensors cover 8 of the 12 data bytes: 4 trailing bytes belong to no tensor")
        expectSafeTensors(file([entry("a", shape: "[0]", offsets: "[8,0]")], body: 8), .malformed, "tensor 'a': data_offsets [8, 0] end before they begin")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8,16]")], body: 8), .malformed, "tensor 'a': data_offsets must be two integers [begin, end], got [0, 8, 16]")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,8.0]")], body: 8), .malformed, "tensor 'a': data_offsets [0, 8.0] has a non-integer entry 8.0")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[-8,0]")], body: 8), .malformed, "tensor 'a': data_offsets [-8, 0] has a negative entry -8")
        expectSafeTensors(file([entry("a", shape: two, offsets: "[0,9223372036854775808]")], body: 8), .malformed, "has an entry too large for Int")
        // offsets near Int.max: no arithmetic may overflow
        expectSafeTensors(file([entry("a", shape: "[0]", offsets: "[9223372036854775807,9223372036854775807]")], body: 0),
                          .malformed, "leave a gap: data bytes 0..<9223372036854775807")
    }

    func testSafeTensorsTruncatedWrittenFile() throws {
        var rng = SeededGenerator(seed: 1)
        let data = try SafeTensors.encode(MLP(sizes: [3, 4, 2], using: &rng).namedParameters)
        for cut in [0, 7, 8, 20, data.count - 1] {
            expectError(.truncated, containing: "m.safetensors: ") { _ = try SafeTensors.decode(data.prefix(cut), path: "m.safetensors") }
        }
        expectError(.truncated, containing: "tensor 'layers.1.bias': data ends at byte 104 but the file holds 103 data bytes") {
            _ = try SafeTensors.decode(data.prefix(data.count - 1), path: "m.safetensors")
        }
    }

    // MARK: npy

    /// An .npy file with `header` as it is (no padding), version `major`.0, then `body`.
    func npy(_ header: String, major: UInt8 = 1, body: Data = Data(), length: UInt32? = nil) -> Data {
        npy(bytes: Data(header.utf8), major: major, body: body, length: length)
    }

    func npy(bytes header: Data, major: UInt8 = 1, body: Data = Data(), length: UInt32? = nil) -> Data {
        var out = Data([0x93] + Array("NUMPY".utf8) + [major, 0])
        let n = length ?? UInt32(header.count)
        out.append(contentsOf: (0..<(major == 1 ? 2 : 4)).map { UInt8(truncatingIfNeeded: n >> (8 * UInt32($0))) })
        out.append(header)
        out.append(body)
        return out
    }

    func dict(descr: String = "'<f4'", fortran: String = "False", shape: String) -> String {
        "{'descr': \(descr), 'fortran_order': \(fortran), 'shape': \(shape), }"
    }

    func expectNPY(_ data: Data, _ kind: FluxionError.Kind, _ text: String, file: StaticString = #filePath, line: UInt = #line) {
        expectError(kind, containing: text, file: file, line: line) {
            do { _ = try NPY.decode(data, path: "x.npy") } catch let e as FluxionError {
                XCTAssertTrue(e.description.hasPrefix("x.npy: "), "\(e) should name the file", file: file, line: line)
                throw e
            }
        }
    }

    func testNPYValidEdgeCases() throws {
        let six = Data(count: 24)
        for major: UInt8 in [1, 2, 3] {
            XCTAssertEqual(try NPY.decode(npy(dict(shape: "(2, 3)") + "   \n", major: major, body: six)).shape, [2, 3])
        }
        // double quotes, no trailing comma, other key order, whitespace, Python 2 long suffixes
        XCTAssertEqual(try NPY.decode(npy("{\"shape\": (2L,3L),\n \"descr\": \"<f4\", \"fortran_order\": False}", body: six)).shape, [2, 3])
        XCTAssertEqual(try NPY.decode(npy(dict(shape: "()"), body: Data(count: 4))).shape, [])
        XCTAssertEqual(try NPY.decode(npy(dict(shape: "(0, 5)"))).shape, [0, 5])
        XCTAssertEqual(try NPY.decode(npy(dict(descr: "'<i4'", shape: "(1,)"), body: Data([5, 0, 0, 0]))).int32s, [5])
        // version 3.0 (a UTF-8 header)
        XCTAssertEqual(try NPY.decode(npy(dict(shape: "(1,)"), major: 3, body: Data(count: 4))).shape, [1])
        // a slice of a larger buffer
        let t = Tensor([1.0, 2, 3], shape: [3], dtype: .float64)
        let sliced = (Data([9, 9]) + NPY.encode(t)).dropFirst(2)
        XCTAssertEqual(try NPY.decode(sliced).scalars, [1, 2, 3])
        // a rank too high for a version 1.0 header is written as version 2.0 and reads back
        let high = Tensor(Array(repeating: 1.0, count: 1), shape: Array(repeating: 1, count: 22_000), dtype: .float64)
        let encoded = NPY.encode(high)
        XCTAssertEqual(encoded[6], 2)
        XCTAssertEqual((encoded.count - 8) % 64, 0)  // the header is padded so that the data start is 64-aligned
        XCTAssertEqual(try NPY.decode(encoded).shape.count, 22_000)
    }

    func testNPYPreambleProblems() {
        expectNPY(Data([0x93, 0x4E]), .truncated, "file is 2 bytes, shorter than the .npy preamble")
        expectNPY(Data("hello world".utf8), .malformed, "not a .npy file (bad magic)")
        expectNPY(npy(dict(shape: "(1,)"), major: 4), .malformed, "unsupported .npy version 4.0 (Fluxion reads 1.0, 2.0 and 3.0)")
        var minor = npy(dict(shape: "(1,)"), body: Data(count: 4))
        minor[7] = 1
        expectNPY(minor, .malformed, "unsupported .npy version 1.1")
        expectNPY(npy(dict(shape: "(1,)"), major: 2).prefix(11), .truncated, "file is 11 bytes, shorter than the 12-byte preamble of .npy version 2.0")
        expectNPY(npy(dict(shape: "(1,)"), major: 2, length: UInt32.max), .truncated, "header of 4294967295 bytes runs past the end of the file")
        expectNPY(npy(dict(shape: "(1,)"), length: 0xFFFF), .truncated, "header of 65535 bytes runs past the end of the file")
        expectNPY(npy(bytes: Data("{'descr': '".utf8) + Data([0xFF]) + Data("'}".utf8), major: 3), .malformed, "header is not valid UTF-8 (byte 11 of the header)")
    }

    func testNPYHeaderProblems() {
        expectNPY(npy("hello"), .malformed, "header is not a Python dict literal (expected '{', found 'h' at character 0)")
        expectNPY(npy(""), .malformed, "header is not a Python dict literal (expected '{', found the end")
        expectNPY(npy(dict(shape: "(1,)") + " junk"), .malformed, "unexpected text after the dict")
        expectNPY(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)"), .malformed, "expected ',' or '}'")
        expectNPY(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}"), .malformed, "header has an unexpected key 'extra'")
        expectNPY(npy("{'descr': '<f4', 'shape': (1,), 'shape': (1,), 'fortran_order': False}"), .malformed, "header has the key 'shape' twice")
        expectNPY(npy("{'descr': '<f4', 'fortran_order': False}"), .malformed, "header has no shape")
        expectNPY(npy("{'fortran_order': False, 'shape': (1,)}"), .malformed, "header has no descr")
        expectNPY(npy("{'descr': '<f4', 'shape': (1,)}"), .malformed, "header has no fortran_order")
        expectNPY(npy(dict(descr: "'>f4'", shape: "(1,)")), .malformed, "unsupported dtype '>f4' (Fluxion reads <f4, <f8, <i4)")
        expectNPY(npy(dict(descr: "[('a', '<f4')]", shape: "(1,)")), .malformed, "header is not a Python dict literal (unsupported value")
        expectNPY(npy(dict(descr: "4", shape: "(1,)")), .malformed, "descr must be a string such as '<f4' (structured dtypes are not supported), got 4")
        expectNPY(npy(dict(fortran: "True", shape: "(1,)")), .malformed, "Fortran-order arrays are not supported")
        expectNPY(npy(dict(fortran: "1", shape: "(1,)")), .malformed, "fortran_order must be True or False, got 1")
        expectNPY(npy("{'descr': '<f4\\x41', 'fortran_order': False, 'shape': (1,)}"), .malformed, "unsupported escape in a string")
    }

    func testNPYShapeProblems() {
        func shaped(_ shape: String, descr: String = "'<f4'") -> Data { npy(dict(descr: descr, shape: shape), body: Data(count: 8)) }
        expectNPY(shaped("(4611686018427387904, 4)"), .malformed, "shape (4611686018427387904, 4) of <f4 has more elements than fit in Int")
        expectNPY(shaped("(4611686018427387904, 4, 0)"), .malformed, "has more elements than fit in Int")
        expectNPY(shaped("(1152921504606846976, 2)", descr: "'<f8'"), .malformed, "shape (1152921504606846976, 2) of <f8 needs more bytes than fit in Int")
        expectNPY(shaped("(-1, 2)"), .malformed, "shape (-1, 2) has a negative entry -1")
        expectNPY(shaped("(99999999999999999999999,)"), .malformed, "has an entry too large for Int: 99999999999999999999999")
        expectNPY(shaped("(2)"), .malformed, "shape must be a tuple of integers (a one-axis shape is written (3,)), got 2")
        expectNPY(shaped("'(2,)'"), .malformed, "shape must be a tuple of integers")
        expectNPY(shaped("(2, 'a')"), .malformed, "shape (2, 'a') has a non-integer entry 'a'")
        expectNPY(shaped("(True, 2)"), .malformed, "shape (True, 2) has a non-integer entry True")
        expectNPY(shaped("(2, x)"), .malformed, "unsupported value")
        expectNPY(shaped("(2.5,)"), .malformed, "unsupported number syntax")
        expectNPY(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3}"), .malformed, "expected ',' or ')' in a tuple")
        expectNPY(shaped("(,)"), .malformed, "unsupported value")
        expectNPY(shaped("((2, 3),)"), .malformed, "nested tuples are not supported")
        expectNPY(shaped("[2, 3]"), .malformed, "unsupported value")
        // found by the npy fuzz target in the old reader, which sliced from '(' to the first ')' and trapped
        expectNPY(shaped(")2, 3("), .malformed, "unsupported value")
        expectNPY(npy("{'descr': '<f8', 'fortran_order': False, 'shape': \u{1}1, 0, 2, [1), }"), .malformed, "header is not a Python dict literal")
    }

    func testNPYBodyProblems() {
        expectNPY(npy(dict(shape: "(2, 3)"), body: Data(count: 20)), .truncated, "data holds 20 bytes, shape [2, 3] of <f4 needs 24")
        expectNPY(npy(dict(shape: "(2, 3)"), body: Data(count: 28)), .malformed, "data holds 28 bytes, shape [2, 3] of <f4 needs 24: 4 bytes after the array")
        let written = NPY.encode(Tensor([1.0, 2, 3, 4, 5, 6], shape: [2, 3], dtype: .float64))
        for cut in [0, 9, 10, 30, written.count - 1] {
            expectError(.truncated, containing: "a.npy: ") { _ = try NPY.decode(written.prefix(cut), path: "a.npy") }
        }
    }
}
