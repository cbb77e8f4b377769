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
        public var names: [String]
        public var tensors: [String: Tensor]
        public var metadata: [String: String]
        public subscript(_ name: String) -> Tensor? { tensors[name] }

        public init(names: [String], tensors: [String: Tensor], metadata: [String: String] = [:]) {
            self.names = names
            self.tensors = tensors
            self.metadata = metadata
        }

        /// The entries whose names start with `prefix`, with the prefix removed (e.g. a sub-model's
        /// parameters out of a larger state dict).
        public func entries(withPrefix prefix: String) -> File {
            let kept = names.filter { $0.hasPrefix(prefix) }
            return File(names: kept.map { String($0.dropFirst(prefix.count)) },
                        tensors: Dictionary(uniqueKeysWithValues: kept.map { (String($0.dropFirst(prefix.count)), tensors[$0]!) }),
                        metadata: metadata)
        }
    }

    /// Decodes safetensors bytes; `path` only names the source in errors.
    public static func decode(_ data: Data, path: String = "<memory>") throws -> File {
        guard data.count >= 8 else { throw FluxionError(.truncated, file: path, "file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).withUnsafeBytes { raw -> UInt64 in
            var v: UInt64 = 0
            withUnsafeMutableBytes(of: &v) { $0.copyMemory(from: raw) }
            return UInt64(littleEndian: v)
        }
        guard headerLength <= UInt64(data.count - 8) else {
            throw FluxionError(.truncated, file: path, "header length \(headerLength) exceeds the \(data.count - 8) bytes after it")
        }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw FluxionError(.malformed, file: path, "header is not a JSON object")
        }
        let body = data.subdata(in: (8 + Int(headerLength))..<data.count)
        var file = File(names: [], tensors: [:], metadata: [:])
        if let meta = header["__metadata__"] {
            guard let m = meta as? [String: String] else { throw FluxionError(.malformed, file: path, "__metadata__ must map strings to strings") }
            file.metadata = m
        }
        var entries: [(String, Int)] = []
        // Entries in data order (then by name), so the first problem reported is deterministic.
        let ordered = header.filter { $0.key != "__metadata__" }.sorted { a, b in
            let oa = ((a.value as? [String: Any])?["data_offsets"] as? [Any])?.first.flatMap { ($0 as? NSNumber)?.intValue } ?? 0
            let ob = ((b.value as? [String: Any])?["data_offsets"] as? [Any])?.first.flatMap { ($0 as? NSNumber)?.intValue } ?? 0
            return oa != ob ? oa < ob : a.key < b.key
        }
        for (name, value) in ordered {
            guard let info = value as? [String: Any], let dtypeName = info["dtype"] as? String,
                  let shapeAny = info["shape"] as? [Any], let offsetsAny = info["data_offsets"] as? [Any],
                  offsetsAny.count == 2 else {
                throw FluxionError(.malformed, file: path, tensor: name, "entry needs dtype, shape and two data_offsets")
            }
            guard let dtype = dtypeNames.first(where: { $0.value == dtypeName })?.key else {
                throw FluxionError(.malformed, file: path, tensor: name, "unsupported dtype \(dtypeName) (Fluxion reads F32, F64, I32)")
            }
            let shape = try shapeAny.map { v -> Int in
                guard let i = (v as? NSNumber)?.intValue, i >= 0 else { throw FluxionError(.malformed, file: path, tensor: name, "invalid shape \(shapeAny)") }
                return i
            }
            let offsets = try offsetsAny.map { v -> Int in
                guard let i = (v as? NSNumber)?.intValue, i >= 0 else { throw FluxionError(.malformed, file: path, tensor: name, "invalid data_offsets \(offsetsAny)") }
                return i
            }
            let expected = shape.reduce(1, *) * dtype.byteSize
            guard offsets[1] >= offsets[0], offsets[1] - offsets[0] == expected else {
                throw FluxionError(.malformed, file: path, tensor: name, "data_offsets \(offsets) span \(offsets[1] - offsets[0]) bytes but shape \(shape) of \(dtypeName) needs \(expected)")
            }
            guard offsets[1] <= body.count else {
                throw FluxionError(.truncated, file: path, tensor: name, "data ends at byte \(offsets[1]) but the file holds \(body.count) data bytes")
            }
            file.tensors[name] = Tensor(rawBytes: body.subdata(in: offsets[0]..<offsets[1]), shape: shape, dtype: dtype)
            entries.append((name, offsets[0]))
        }
        file.names = entries.sorted { $0.1 < $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }.map(\.0)
        return file
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
