import Foundation

/// NumPy's `.npy` format, version 1.0: magic `\x93NUMPY`, version bytes, a little-endian UInt16
/// header length, a Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
/// padded with spaces and a newline to a multiple of 64 bytes, then the data (C order).
public enum NPY {
    static let descriptors: [DType: String] = [.float32: "<f4", .float64: "<f8", .int32: "<i4"]

    /// Encodes as version 1.0, or 2.0 (4-byte header length) when the header does not fit in
    /// version 1.0's 65,535 bytes (a tensor of very high rank), as NumPy does.
    public static func encode(_ t: Tensor) -> Data {
        let shape = t.shape.isEmpty ? "()" : (t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")")
        let dict = "{'descr': '\(descriptors[t.dtype]!)', 'fortran_order': False, 'shape': \(shape), }"
        func padded(preamble: Int) -> String {
            let unpadded = preamble + dict.utf8.count + 1
            return dict + String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        }
        var header = padded(preamble: 10)
        var out: Data
        if header.utf8.count <= Int(UInt16.max) {
            out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
            let n = UInt16(header.utf8.count)
            out.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        } else {
            header = padded(preamble: 12)
            out = Data([0x93] + Array("NUMPY".utf8) + [2, 0])
            let n = UInt32(header.utf8.count)
            out.append(contentsOf: (0..<4).map { UInt8(truncatingIfNeeded: n >> (8 * $0)) })
        }
        out.append(contentsOf: Array(header.utf8))
        out.append(t.rawBytes)
        return out
    }

    /// Writes `t` to `path` as `.npy`, atomically (NumPy's `numpy.save`).
    public static func write(_ t: Tensor, to path: String) throws {
        try FileIO.writeAtomically(encode(t), to: path)
    }

    /// Decodes `.npy` bytes; `path` only names the source in errors.
    ///
    /// Accepted: versions 1.0, 2.0 and 3.0; a header that is a Python dict literal with exactly the
    /// keys `descr` (`'<f4'`, `'<f8'` or `'<i4'`), `fortran_order` (`False`) and `shape` (a tuple
    /// of non-negative integers whose element and byte counts fit in `Int`; a one-axis shape needs
    /// its trailing comma, `(3,)`, as in Python), followed only by whitespace; then exactly the
    /// bytes the shape needs. A body longer than that is rejected (`.malformed`), not ignored:
    /// NumPy never writes one, and extra bytes mean the header's shape does not describe the data.
    /// Every problem is a thrown `FluxionError` naming the file and the problem.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> Tensor {
        let base = data.startIndex
        guard data.count >= 10 else { throw FluxionError(.truncated, file: path, "file is \(data.count) bytes, shorter than the .npy preamble") }
        guard data[base] == 0x93, [UInt8](data[(base + 1)..<(base + 6)]) == Array("NUMPY".utf8) else {
            throw FluxionError(.malformed, file: path, "not a .npy file (bad magic)")
        }
        let (major, minor) = (data[base + 6], data[base + 7])
        guard (1...3).contains(major), minor == 0 else {
            throw FluxionError(.malformed, file: path, "unsupported .npy version \(major).\(minor) (Fluxion reads 1.0, 2.0 and 3.0)")
        }
        let (lengthBytes, start) = major == 1 ? (2, 10) : (4, 12)
        guard data.count >= start else {
            throw FluxionError(.truncated, file: path, "file is \(data.count) bytes, shorter than the \(start)-byte preamble of .npy version \(major).0")
        }
        var length: UInt64 = 0
        for i in 0..<lengthBytes { length |= UInt64(data[base + 8 + i]) << (8 * UInt64(i)) }
        guard length <= UInt64(data.count - start) else {
            throw FluxionError(.truncated, file: path, "header of \(length) bytes runs past the end of the file (\(data.count - start) bytes after the preamble)")
        }
        let headerLength = Int(length)  // at most data.count: cannot trap
        let headerBytes = [UInt8](data[(base + start)..<(base + start + headerLength)])
        // Versions 1 and 2 store the header in Latin-1, version 3 in UTF-8.
        let scalars: [Unicode.Scalar]
        if major == 3 {
            if let bad = SafeTensors.firstInvalidUTF8(headerBytes) {
                throw FluxionError(.malformed, file: path, "header is not valid UTF-8 (byte \(bad) of the header)")
            }
            scalars = Array(String(decoding: headerBytes, as: UTF8.self).unicodeScalars)
        } else {
            scalars = headerBytes.map { Unicode.Scalar($0) }
        }
        let fields: [String: PythonLiteral.Value]
        do { fields = try PythonLiteral.parseHeader(scalars) } catch let e as PythonLiteral.SyntaxError {
            throw FluxionError(.malformed, file: path, "header is not a Python dict literal (\(e.message) at character \(e.offset))")
        } catch let e as PythonLiteral.KeyError {
            throw FluxionError(.malformed, file: path, e.message)
        }
        for key in fields.keys.sorted() where !["descr", "fortran_order", "shape"].contains(key) {
            throw FluxionError(.malformed, file: path, "header has an unexpected key '\(PythonLiteral.shortened(key))' (expected descr, fortran_order and shape)")
        }
        guard let descrValue = fields["descr"] else { throw FluxionError(.malformed, file: path, "header has no descr") }
        guard case .string(let descr) = descrValue else {
            throw FluxionError(.malformed, file: path, "descr must be a string such as '<f4' (structured dtypes are not supported), got \(descrValue.summary)")
        }
        guard let dtype = descriptors.first(where: { $0.value == descr || $0.value.replacingOccurrences(of: "<", with: "|") == descr })?.key else {
            throw FluxionError(.malformed, file: path, "unsupported dtype '\(PythonLiteral.shortened(descr))' (Fluxion reads <f4, <f8, <i4)")
        }
        guard let order = fields["fortran_order"] else { throw FluxionError(.malformed, file: path, "header has no fortran_order") }
        guard case .bool(let fortran) = order else {
            throw FluxionError(.malformed, file: path, "fortran_order must be True or False, got \(order.summary)")
        }
        if fortran { throw FluxionError(.malformed, file: path, "Fortran-order arrays are not supported") }
        guard let shapeValue = fields["shape"] else { throw FluxionError(.malformed, file: path, "header has no shape") }
        guard case .tuple(let items) = shapeValue else {
            throw FluxionError(.malformed, file: path, "shape must be a tuple of integers (a one-axis shape is written (3,)), got \(shapeValue.summary)")
        }
        let shape = try items.map { item -> Int in
            guard case .integer(let text, let value) = item else {
                throw FluxionError(.malformed, file: path, "shape \(shapeValue.summary) has a non-integer entry \(item.summary)")
            }
            guard !text.hasPrefix("-") || value == 0 else {
                throw FluxionError(.malformed, file: path, "shape \(shapeValue.summary) has a negative entry \(item.summary)")
            }
            guard let value else { throw FluxionError(.malformed, file: path, "shape \(shapeValue.summary) has an entry too large for Int: \(item.summary)") }
            return value
        }
        let bytesNeeded = try SafeTensors.byteCount(shape: shape, dtype: dtype) {
            FluxionError(.malformed, file: path, "shape \(shapeValue.summary) of \(descr) " + $0)
        }
        let body = data.count - start - headerLength
        guard body >= bytesNeeded else { throw FluxionError(.truncated, file: path, "data holds \(body) bytes, shape \(shape) of \(descr) needs \(bytesNeeded)") }
        guard body == bytesNeeded else {
            throw FluxionError(.malformed, file: path, "data holds \(body) bytes, shape \(shape) of \(descr) needs \(bytesNeeded): \(body - bytesNeeded) bytes after the array")
        }
        let dataStart = base + start + headerLength
        return Tensor(rawBytes: data.subdata(in: dataStart..<(dataStart + bytesNeeded)), shape: shape, dtype: dtype)
    }

    /// Reads the `.npy` file at `path` (NumPy's `numpy.load`); errors name the file.
    public static func read(_ path: String) throws -> Tensor {
        try decode(FileIO.read(path), path: path)
    }
}

/// The subset of Python literals that `.npy` headers use (the dict that NumPy's writer prints with
/// `repr` and its reader evaluates with `ast.literal_eval`): a dict of string keys whose values are
/// strings, `True`/`False`, integers or tuples of integers. Anything else is a `SyntaxError`
/// (lists, nested tuples, floats, expressions...), never a trap.
enum PythonLiteral {
    indirect enum Value {
        case string(String)
        case bool(Bool)
        /// An integer as written; the value when it fits `Int`.
        case integer(String, Int?)
        case tuple([Value])

        var summary: String {
            switch self {
            case .string(let s): return "'" + PythonLiteral.shortened(s) + "'"
            case .bool(let b): return b ? "True" : "False"
            case .integer(let text, _): return PythonLiteral.shortened(text)
            case .tuple(let items):
                let shown = items.prefix(8).map(\.summary).joined(separator: ", ")
                return "(" + shown + (items.count == 1 ? "," : "") + (items.count > 8 ? ", ... (\(items.count) entries)" : "") + ")"
            }
        }
    }

    struct SyntaxError: Error { let offset: Int; let message: String }
    struct KeyError: Error { let message: String }

    static func shortened(_ s: String) -> String { s.count > 40 ? String(s.prefix(40)) + "..." : s }

    /// Parses `{key: value, ...}` followed by whitespace only; repeated keys are a `KeyError`.
    static func parseHeader(_ text: [Unicode.Scalar]) throws -> [String: Value] {
        var p = Parser(text: text)
        p.skipWhitespace()
        guard p.current == "{" else { throw p.error("expected '{'") }
        p.position += 1
        var fields: [String: Value] = [:]
        while true {
            p.skipWhitespace()
            if p.current == "}" { p.position += 1; break }
            guard p.current == "'" || p.current == "\"" else { throw p.error("expected a string key or '}'") }
            let key = try p.string()
            p.skipWhitespace()
            guard p.current == ":" else { throw p.error("expected ':' after a key") }
            p.position += 1
            p.skipWhitespace()
            let value = try p.value(allowTuple: true)
            guard fields.updateValue(value, forKey: key) == nil else { throw KeyError(message: "header has the key '\(shortened(key))' twice") }
            p.skipWhitespace()
            if p.current == "," { p.position += 1; continue }
            guard p.current == "}" else { throw p.error("expected ',' or '}'") }
            p.position += 1
            break
        }
        p.skipWhitespace()
        guard p.position == text.count else { throw p.error("unexpected text after the dict") }
        return fields
    }

    private struct Parser {
        let text: [Unicode.Scalar]
        var position = 0

        var current: Unicode.Scalar? { position < text.count ? text[position] : nil }

        func error(_ message: String) -> SyntaxError {
            let found = current.map { $0.value >= 0x20 && $0.value < 0x7F ? "'\(Character($0))'" : "U+" + String($0.value, radix: 16, uppercase: true) } ?? "the end"
            return SyntaxError(offset: position, message: "\(message), found \(found)")
        }

        mutating func skipWhitespace() {
            while let c = current, c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0C}" { position += 1 }
        }

        mutating func string() throws -> String {
            guard let quote = current else { throw error("expected a string") }
            position += 1
            var out = String.UnicodeScalarView()
            while true {
                guard let c = current, c != "\n" else { throw error("unterminated string") }
                position += 1
                if c == quote { return String(out) }
                if c == "\\" {
                    guard let e = current, e == "\\" || e == "'" || e == "\"" else { throw error("unsupported escape in a string") }
                    position += 1
                    out.append(e)
                } else {
                    out.append(c)
                }
            }
        }

        mutating func word() -> String {
            var out = ""
            while let c = current, c.properties.isAlphabetic || c == "_" || ("0"..."9").contains(c) { out.unicodeScalars.append(c); position += 1 }
            return out
        }

        mutating func value(allowTuple: Bool) throws -> Value {
            guard let c = current else { throw error("expected a value") }
            if c == "'" || c == "\"" { return .string(try string()) }
            if c == "(" {
                guard allowTuple else { throw error("nested tuples are not supported") }
                position += 1
                var items: [Value] = []
                var sawComma = false
                while true {
                    skipWhitespace()
                    if current == ")" { position += 1; break }
                    items.append(try value(allowTuple: false))
                    skipWhitespace()
                    if current == "," { position += 1; sawComma = true; continue }
                    guard current == ")" else { throw error("expected ',' or ')' in a tuple") }
                    position += 1
                    break
                }
                // Python: (3) is the integer 3, (3,) a one-element tuple.
                if items.count == 1 && !sawComma { return items[0] }
                return .tuple(items)
            }
            if c == "-" || ("0"..."9").contains(c) { return try integer() }
            let start = position
            switch word() {
            case "True": return .bool(true)
            case "False": return .bool(false)
            default: position = start; throw error("unsupported value (expected a string, True, False, an integer or a tuple)")
            }
        }

        mutating func integer() throws -> Value {
            var text = ""
            if current == "-" { text = "-"; position += 1; skipWhitespace() }
            var value = 0
            var fits = true
            var digits = 0
            while let c = current, ("0"..."9").contains(c) {
                text.unicodeScalars.append(c)
                position += 1
                digits += 1
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(Int(c.value - 48))
                if o1 || o2 { fits = false } else { value = s }
            }
            guard digits > 0 else { throw error("expected a digit") }
            // Python 2's NumPy wrote long integers with an L suffix: (3L, 4L).
            if current == "L" || current == "l" { position += 1 }
            if let c = current, c.properties.isAlphabetic || c == "_" || c == "." { throw error("unsupported number syntax") }
            return .integer(text, fits ? (text.hasPrefix("-") ? -value : value) : nil)
        }
    }
}
