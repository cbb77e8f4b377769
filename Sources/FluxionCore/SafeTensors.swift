import Foundation

/// The safetensors format (as written by Python's `safetensors`): an 8-byte little-endian header
/// length N, N bytes of JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
/// {string: string}}` (padded with spaces to a multiple of 8), then the tensor bytes, row-major,
/// little-endian. Fluxion reads and writes F32, F64 and I32.
public enum SafeTensors {
    static let dtypeNames: [DType: String] = [.float32: "F32", .float64: "F64", .int32: "I32"]

    /// Encodes named tensors (in the given order) and string metadata.
    public static func encode(_ tensors: [(name: String, value: Tensor)], metadata: [String: String] = [:]) throws -> Data {
        var header: [String: Any] = [:]
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var offset = 0
        var seen = Set<String>()
        for (name, t) in tensors {
            guard seen.insert(name).inserted else { throw FluxionError(.invalidArgument, tensor: name, "duplicate tensor name") }
            let bytes = t.count * t.dtype.byteSize
            header[name] = ["dtype": dtypeNames[t.dtype]!, "shape": t.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        while json.count % 8 != 0 { json.append(0x20) }
        var out = Data(capacity: 8 + json.count + offset)
        var n = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &n) { out.append(contentsOf: $0) }
        out.append(json)
        for (_, t) in tensors { out.append(t.rawBytes) }
        return out
    }

    /// Writes named tensors to `path` atomically.
    public static func write(_ tensors: [(name: String, value: Tensor)], metadata: [String: String] = [:], to path: String) throws {
        try FileIO.writeAtomically(encode(tensors, metadata: metadata), to: path)
    }

    /// A decoded file: tensors by name (in file order) and the metadata.
    public struct File {
        /// The tensor names, in file order.
        public var names: [String]
        /// The tensors by name.
        public var tensors: [String: Tensor]
        /// The `__metadata__` string map (empty when the file has none).
        public var metadata: [String: String]
        /// The tensor named `name`, or nil when the file has none.
        public subscript(_ name: String) -> Tensor? { tensors[name] }

        /// A file's contents as given (e.g. built in memory to compare or write).
        public init(names: [String], tensors: [String: Tensor], metadata: [String: String] = [:]) {
            self.names = names
            self.tensors = tensors
            self.metadata = metadata
        }

        /// The entries whose names start with `prefix`, with the prefix removed (e.g. a sub-model's
        /// parameters out of a larger state dict).
        public func entries(withPrefix prefix: String) -> File {
            // (tolerates a File built with names and tensors out of step: it is public and mutable)
            let pairs = names.filter { $0.hasPrefix(prefix) }.compactMap { name in
                tensors[name].map { (String(name.dropFirst(prefix.count)), $0) }
            }
            return File(names: pairs.map(\.0), tensors: Dictionary(pairs, uniquingKeysWith: { first, _ in first }),
                        metadata: metadata)
        }
    }

    /// The largest header accepted, in bytes (the limit of the reference `safetensors` reader).
    public static let maximumHeaderLength = 100_000_000

    /// Decodes safetensors bytes; `path` only names the source in errors.
    ///
    /// The file is validated as the reference (Rust) `safetensors` reader does, and every problem
    /// is a thrown `FluxionError` naming the file, the tensor where there is one, and the problem:
    /// the header is at most `maximumHeaderLength` bytes of UTF-8 JSON starting with `{`; each
    /// entry has a dtype, a shape of non-negative integers whose element and byte counts fit in
    /// `Int`, and `data_offsets` `[begin, end]` spanning exactly those bytes; sorted by offset, the
    /// tensors are contiguous from byte 0 and cover the whole body (no overlap, gap or trailing
    /// bytes). Keys may not repeat (top level, entries, `__metadata__`), and `__metadata__` maps
    /// strings to strings. Unknown keys inside an entry are ignored, as the reference reader does.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> File {
        guard data.count >= 8 else { throw FluxionError(.truncated, file: path, "file is \(data.count) bytes, shorter than the 8-byte header length") }
        let base = data.startIndex
        var headerLength: UInt64 = 0
        for i in 0..<8 { headerLength |= UInt64(data[base + i]) << (8 * UInt64(i)) }
        guard headerLength <= UInt64(maximumHeaderLength) else {
            throw FluxionError(.malformed, file: path, "header length \(headerLength) exceeds the format's limit of \(maximumHeaderLength) bytes")
        }
        let n = Int(headerLength)  // at most maximumHeaderLength: cannot trap
        guard n <= data.count - 8 else {
            throw FluxionError(.truncated, file: path, "header length \(headerLength) exceeds the \(data.count - 8) bytes after it")
        }
        let headerBytes = [UInt8](data[(base + 8)..<(base + 8 + n)])
        let bodyStart = base + 8 + n
        let bodyCount = data.count - 8 - n
        let header = try parseHeader(headerBytes, path: path)

        var file = File(names: [], tensors: [:], metadata: [:])
        var entries: [Entry] = []
        var seen = Set<String>()
        for (name, value) in header {
            guard seen.insert(name).inserted else {
                throw FluxionError(.malformed, file: path, tensor: name == "__metadata__" ? nil : name,
                                   name == "__metadata__" ? "__metadata__ appears twice in the header" : "the tensor appears twice in the header")
            }
            if name == "__metadata__" {
                file.metadata = try metadata(value, path: path)
            } else {
                entries.append(try entry(name, value, path: path))
            }
        }
        // In data order (ties by name, so the first problem reported is deterministic), the tensors
        // must follow each other from byte 0 and fill the body.
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        var position = 0
        var previous: Entry? = nil
        for e in entries {
            if e.begin < position, let previous {
                throw FluxionError(.malformed, file: path, tensor: e.name,
                                   "data_offsets [\(e.begin), \(e.end)] overlap tensor '\(previous.name)' (bytes \(previous.begin)..<\(previous.end))")
            }
            if e.begin > position {
                throw FluxionError(.malformed, file: path, tensor: e.name,
                                   "data_offsets [\(e.begin), \(e.end)] leave a gap: data bytes \(position)..<\(e.begin) belong to no tensor")
            }
            guard e.end <= bodyCount else {
                throw FluxionError(.truncated, file: path, tensor: e.name, "data ends at byte \(e.end) but the file holds \(bodyCount) data bytes")
            }
            position = e.end
            previous = e
        }
        guard position == bodyCount else {
            throw FluxionError(.malformed, file: path,
                               "the tensors cover \(position) of the \(bodyCount) data bytes: \(bodyCount - position) trailing bytes belong to no tensor")
        }
        for e in entries {
            // Checked above: 0 <= begin <= end <= bodyCount, end - begin == elements * byteSize, and
            // the shape's running product does not overflow (Tensor(rawBytes:) requires all three).
            let bytes = data.subdata(in: (bodyStart + e.begin)..<(bodyStart + e.end))
            file.tensors[e.name] = Tensor(rawBytes: bytes, shape: e.shape, dtype: e.dtype)
            file.names.append(e.name)
        }
        return file
    }

    /// One validated header entry.
    private struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    /// The header's top-level pairs, in file order.
    private static func parseHeader(_ bytes: [UInt8], path: String) throws -> [(key: String, value: HeaderJSON.Value)] {
        if let bad = firstInvalidUTF8(bytes) {
            throw FluxionError(.malformed, file: path, "header is not valid UTF-8 (byte \(bad) of the header)")
        }
        guard bytes.first == UInt8(ascii: "{") else {
            throw FluxionError(.malformed, file: path, "header is not a JSON object (it must start with '{')")
        }
        let value: HeaderJSON.Value
        do { value = try HeaderJSON.parse(bytes) } catch let e as HeaderJSON.SyntaxError {
            throw FluxionError(.malformed, file: path, "header is not a JSON object (\(e.description))")
        }
        guard case .object(let pairs) = value else { throw FluxionError(.malformed, file: path, "header is not a JSON object") }
        return pairs
    }

    private static func metadata(_ value: HeaderJSON.Value, path: String) throws -> [String: String] {
        if case .null = value { return [:] }
        guard case .object(let pairs) = value else { throw FluxionError(.malformed, file: path, "__metadata__ must map strings to strings, got \(value.summary)") }
        var out: [String: String] = [:]
        for (key, v) in pairs {
            guard case .string(let s) = v else {
                throw FluxionError(.malformed, file: path, "__metadata__ must map strings to strings: \"\(key)\" is \(v.summary)")
            }
            guard out.updateValue(s, forKey: key) == nil else {
                throw FluxionError(.malformed, file: path, "__metadata__ has the key \"\(key)\" twice")
            }
        }
        return out
    }

    private static func entry(_ name: String, _ value: HeaderJSON.Value, path: String) throws -> Entry {
        func fail(_ message: String) -> FluxionError { FluxionError(.malformed, file: path, tensor: name, message) }
        guard case .object(let pairs) = value else { throw fail("entry must be an object with dtype, shape and data_offsets, got \(value.summary)") }
        var fields: [String: HeaderJSON.Value] = [:]
        for (key, v) in pairs {
            guard fields.updateValue(v, forKey: key) == nil else { throw fail("entry has the key \"\(key)\" twice") }
        }
        guard let dtypeValue = fields["dtype"] else { throw fail("entry needs dtype, shape and two data_offsets (no dtype)") }
        guard let shapeValue = fields["shape"] else { throw fail("entry needs dtype, shape and two data_offsets (no shape)") }
        guard let offsetsValue = fields["data_offsets"] else { throw fail("entry needs dtype, shape and two data_offsets (no data_offsets)") }
        guard case .string(let dtypeName) = dtypeValue else { throw fail("dtype must be a string, got \(dtypeValue.summary)") }
        guard let dtype = dtypeNames.first(where: { $0.value == dtypeName })?.key else {
            let shown = dtypeName.count > 40 ? String(dtypeName.prefix(40)) + "..." : dtypeName
            throw fail("unsupported dtype \(shown) (Fluxion reads F32, F64, I32)")
        }
        guard case .array(let shapeItems) = shapeValue else { throw fail("shape must be an array of integers, got \(shapeValue.summary)") }
        let shape = try shapeItems.map { try nonNegativeInteger($0, what: "shape", in: shapeValue, fail) }
        guard case .array(let offsetItems) = offsetsValue, offsetItems.count == 2 else {
            throw fail("data_offsets must be two integers [begin, end], got \(offsetsValue.summary)")
        }
        let begin = try nonNegativeInteger(offsetItems[0], what: "data_offsets", in: offsetsValue, fail)
        let end = try nonNegativeInteger(offsetItems[1], what: "data_offsets", in: offsetsValue, fail)
        guard end >= begin else { throw fail("data_offsets [\(begin), \(end)] end before they begin") }
        let byteCount = try SafeTensors.byteCount(shape: shape, dtype: dtype) { fail("shape \(shapeValue.summary) of \(dtypeName) " + $0) }
        guard end - begin == byteCount else {
            throw fail("data_offsets [\(begin), \(end)] span \(end - begin) bytes but shape \(shapeValue.summary) of \(dtypeName) needs \(byteCount)")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    private static func nonNegativeInteger(_ v: HeaderJSON.Value, what: String, in whole: HeaderJSON.Value,
                                           _ fail: (String) -> FluxionError) throws -> Int {
        guard case .number(let number) = v, number.isIntegerSyntax else {
            throw fail("\(what) \(whole.summary) has a non-integer entry \(v.summary)")
        }
        guard !number.text.hasPrefix("-") || number.integer == 0 else {
            throw fail("\(what) \(whole.summary) has a negative entry \(v.summary)")
        }
        guard let i = number.integer else { throw fail("\(what) \(whole.summary) has an entry too large for Int: \(v.summary)") }
        return i
    }

    /// The offset of the first byte that is not part of valid UTF-8, or nil.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var offset = 0
        while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let scalar): offset += scalar.count
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }

    /// The byte count of a tensor of `shape`, computed as `Tensor` does (a running product of the
    /// axis sizes, then times the element size), or a thrown error when any step overflows `Int`.
    static func byteCount(shape: [Int], dtype: DType, _ fail: (String) -> FluxionError) throws -> Int {
        var elements = 1
        for d in shape {
            let (p, overflow) = elements.multipliedReportingOverflow(by: d)
            guard !overflow else { throw fail("has more elements than fit in Int") }
            elements = p
        }
        let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("needs more bytes than fit in Int (\(elements) elements)") }
        return bytes
    }

    /// Reads a safetensors file.
    public static func read(_ path: String) throws -> File {
        try decode(FileIO.read(path), path: path)
    }
}

extension ParameterTree {
    /// Saves the parameters under their PyTorch-style names (a `state_dict` as safetensors).
    public func save(to path: String, metadata: [String: String] = [:]) throws {
        try SafeTensors.write(namedParameters, metadata: metadata, to: path)
    }

    /// Replaces every parameter by the tensor of the same name in `file`. Every parameter must be
    /// present with the same shape and dtype; with `strict`, the file may hold no other tensors.
    public mutating func load(from file: SafeTensors.File, path: String = "<memory>", strict: Bool = true) throws {
        var error: FluxionError? = nil
        var used = Set<String>()
        visitParameters(prefix: "") { name, t in
            guard error == nil else { return }
            guard let v = file.tensors[name] else {
                error = FluxionError(.missingTensor, file: path, tensor: name, "missing from the file (model expects \(t.dtype) \(t.shape))")
                return
            }
            guard v.shape == t.shape else {
                error = FluxionError(.shapeMismatch, file: path, tensor: name, "file has shape \(v.shape), model expects \(t.shape)")
                return
            }
            guard v.dtype == t.dtype else {
                error = FluxionError(.dtypeMismatch, file: path, tensor: name, "file has dtype \(v.dtype), model expects \(t.dtype)")
                return
            }
            used.insert(name)
            t = v
        }
        if let error { throw error }
        if strict, let extra = file.names.first(where: { !used.contains($0) }) {
            throw FluxionError(.unexpectedTensor, file: path, tensor: extra, "in the file but not in the model")
        }
    }

    /// Loads parameters from a safetensors file (see `load(from:path:strict:)`).
    public mutating func load(from path: String, strict: Bool = true) throws {
        try load(from: SafeTensors.read(path), path: path, strict: strict)
    }
}
