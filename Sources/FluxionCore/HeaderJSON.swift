/// A strict, bounded JSON reader (RFC 8259) for file headers that come from outside: the
/// safetensors header. Unlike `JSONSerialization` it keeps integers exact (a number is an integer
/// only when written without fraction or exponent and when it fits in `Int`; `1.5`, `1e3` and
/// `99999999999999999999` stay distinguishable from integers), keeps the keys of an object in file
/// order including duplicates (so the caller can reject them by name), rejects trailing text, and
/// limits nesting depth. It never traps: every problem is a `HeaderJSON.SyntaxError`.
enum HeaderJSON {
    indirect enum Value {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        case number(Number)
        case bool(Bool)
        case null
    }

    /// A JSON number as written; `integer` is its exact value when it is an integer that fits `Int`.
    struct Number {
        let text: String
        let integer: Int?
        /// True when written as an integer (no fraction, no exponent), whatever its size.
        let isIntegerSyntax: Bool
    }

    struct SyntaxError: Error {
        let offset: Int
        let message: String
        var description: String { "\(message) at byte \(offset)" }
    }

    static let maximumDepth = 128

    /// Parses one JSON value filling `bytes` (surrounding whitespace allowed). The bytes must be
    /// valid UTF-8 (the caller checks, to report it as its own problem).
    static func parse(_ bytes: [UInt8]) throws -> Value {
        var parser = Parser(bytes: bytes)
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.position == bytes.count else { throw parser.error("unexpected text after the JSON value") }
        return value
    }

    private struct Parser {
        let bytes: [UInt8]
        var position = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        func error(_ message: String) -> SyntaxError { SyntaxError(offset: position, message: message) }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipWhitespace() {
            while let c = current, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { position += 1 }
        }

        mutating func expect(_ literal: String, _ value: Value) throws -> Value {
            for b in literal.utf8 {
                guard current == b else { throw error("invalid literal (expected \(literal))") }
                position += 1
            }
            return value
        }

        mutating func value(depth: Int) throws -> Value {
            guard let c = current else { throw error("unexpected end of the JSON text") }
            switch c {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
            default: throw error("unexpected character \(byteDescription(c))")
            }
        }

        mutating func object(depth: Int) throws -> Value {
            guard depth <= HeaderJSON.maximumDepth else { throw error("nesting deeper than \(HeaderJSON.maximumDepth) levels") }
            position += 1  // {
            var pairs: [(key: String, value: Value)] = []
            skipWhitespace()
            if current == UInt8(ascii: "}") { position += 1; return .object(pairs) }
            while true {
                skipWhitespace()
                guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
                let key = try string()
                skipWhitespace()
                guard current == UInt8(ascii: ":") else { throw error("expected ':' after a key") }
                position += 1
                skipWhitespace()
                pairs.append((key, try value(depth: depth)))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"): position += 1; return .object(pairs)
                default: throw error("expected ',' or '}' in an object")
                }
            }
        }

        mutating func array(depth: Int) throws -> Value {
            guard depth <= HeaderJSON.maximumDepth else { throw error("nesting deeper than \(HeaderJSON.maximumDepth) levels") }
            position += 1  // [
            var items: [Value] = []
            skipWhitespace()
            if current == UInt8(ascii: "]") { position += 1; return .array(items) }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth))
                skipWhitespace()
                switch current {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"): position += 1; return .array(items)
                default: throw error("expected ',' or ']' in an array")
                }
            }
        }

        mutating func hexDigit() throws -> UInt32 {
            guard let c = current else { throw error("unexpected end inside a \\u escape") }
            position += 1
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(c - UInt8(ascii: "A") + 10)
            default: position -= 1; throw error("invalid hex digit \(byteDescription(c)) in a \\u escape")
            }
        }

        mutating func unicodeEscape() throws -> UInt32 {
            var v: UInt32 = 0
            for _ in 0..<4 { v = v << 4 | (try hexDigit()) }
            return v
        }

        mutating func string() throws -> String {
            position += 1  // opening quote
            var out: [UInt8] = []
            while true {
                guard let c = current else { throw error("unterminated string") }
                switch c {
                case UInt8(ascii: "\""):
                    position += 1
                    return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    position += 1
                    guard let e = current else { throw error("unterminated escape") }
                    position += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0C)
                    case UInt8(ascii: "n"): out.append(0x0A)
                    case UInt8(ascii: "r"): out.append(0x0D)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try unicodeEscape()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                                throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string")
                            }
                            position += 2
                            let low = try unicodeEscape()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("unpaired surrogate \\u\(String(scalar, radix: 16)) in a string")
                        }
                        guard let s = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                        out.append(contentsOf: Array(String(Character(s)).utf8))
                    default:
                        position -= 1
                        throw error("invalid escape \\\(byteDescription(e)) in a string")
                    }
                case 0x00..<0x20:
                    throw error("unescaped control character \(byteDescription(c)) in a string")
                default:
                    out.append(c)
                    position += 1
                }
            }
        }

        mutating func digits() -> Int {
            let start = position
            while let c = current, c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { position += 1 }
            return position - start
        }

        mutating func number() throws -> Number {
            let start = position
            let negative = current == UInt8(ascii: "-")
            if negative { position += 1 }
            let intStart = position
            guard let first = current, first >= UInt8(ascii: "0") && first <= UInt8(ascii: "9") else { throw error("expected a digit") }
            if first == UInt8(ascii: "0") {
                position += 1
                if let c = current, c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") { throw error("leading zero in a number") }
            } else {
                _ = digits()
            }
            let intEnd = position
            var isInteger = true
            if current == UInt8(ascii: ".") {
                position += 1
                guard digits() > 0 else { throw error("expected a digit after the decimal point") }
                isInteger = false
            }
            if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
                position += 1
                if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
                guard digits() > 0 else { throw error("expected a digit in the exponent") }
                isInteger = false
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard isInteger else { return Number(text: text, integer: nil, isIntegerSyntax: false) }
            // Exact value, accumulated negatively so that Int.min is representable.
            var v = 0
            var fits = true
            for c in bytes[intStart..<intEnd] {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.subtractingReportingOverflow(Int(c - UInt8(ascii: "0")))
                if o1 || o2 { fits = false; break }
                v = s
            }
            if fits && !negative {
                if v == Int.min { fits = false } else { v = -v }
            }
            return Number(text: text, integer: fits ? v : nil, isIntegerSyntax: true)
        }
    }
}

/// A byte as it can appear in a message: `'x'` when printable ASCII, else `0xNN`.
func byteDescription(_ c: UInt8) -> String {
    c >= 0x20 && c < 0x7F ? "'\(Character(Unicode.Scalar(c)))'" : "0x" + String(c, radix: 16, uppercase: true)
}

extension HeaderJSON.Value {
    /// A short rendering for error messages (long arrays and strings are cut).
    var summary: String {
        switch self {
        case .object(let pairs): return pairs.isEmpty ? "{}" : "{...}"
        case .array(let items):
            let shown = items.prefix(8).map(\.summary).joined(separator: ", ")
            return "[" + shown + (items.count > 8 ? ", ... (\(items.count) entries)" : "") + "]"
        case .string(let s): return "\"" + (s.count > 40 ? String(s.prefix(40)) + "..." : s) + "\""
        case .number(let n): return n.text.count > 40 ? String(n.text.prefix(40)) + "..." : n.text
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        }
    }
}
