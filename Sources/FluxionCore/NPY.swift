import Foundation

/// NumPy's `.npy` format, version 1.0: magic `\x93NUMPY`, version bytes, a little-endian UInt16
/// header length, a Python-literal header `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
/// padded with spaces and a newline to a multiple of 64 bytes, then the data (C order).
public enum NPY {
    static let descriptors: [DType: String] = [.float32: "<f4", .float64: "<f8", .int32: "<i4"]

    public static func encode(_ t: Tensor) -> Data {
        let shape = t.shape.isEmpty ? "()" : (t.shape.count == 1 ? "(\(t.shape[0]),)" : "(" + t.shape.map(String.init).joined(separator: ", ") + ")")
        var header = "{'descr': '\(descriptors[t.dtype]!)', 'fortran_order': False, 'shape': \(shape), }"
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
        let n = UInt16(header.utf8.count)
        out.append(contentsOf: [UInt8(n & 0xff), UInt8(n >> 8)])
        out.append(contentsOf: Array(header.utf8))
        out.append(t.rawBytes)
        return out
    }

    public static func write(_ t: Tensor, to path: String) throws {
        try FileIO.writeAtomically(encode(t), to: path)
    }

    public static func decode(_ data: Data, path: String = "<memory>") throws -> Tensor {
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10 else { throw FluxionError(.truncated, file: path, "file is \(data.count) bytes, shorter than the .npy preamble") }
        guard bytes[0] == 0x93, Array(bytes[1...5]) == Array("NUMPY".utf8) else { throw FluxionError(.malformed, file: path, "not a .npy file (bad magic)") }
        let major = bytes[6]
        let (lengthBytes, start): (Int, Int) = major == 1 ? (2, 10) : (4, 12)
        guard major >= 1 && major <= 3, data.count >= start else { throw FluxionError(.malformed, file: path, "unsupported .npy version \(major)") }
        var headerLength = 0
        for i in 0..<lengthBytes { headerLength |= Int(bytes[8 + i]) << (8 * i) }
        guard data.count >= start + headerLength else { throw FluxionError(.truncated, file: path, "header of \(headerLength) bytes runs past the end of the file") }
        let header = String(decoding: data.subdata(in: start..<(start + headerLength)), as: UTF8.self)
        func field(_ key: String) -> String? {
            guard let r = header.range(of: "'\(key)':") else { return nil }
            return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
        }
        guard let d = field("descr"), let q = d.dropFirst().firstIndex(of: "'") else { throw FluxionError(.malformed, file: path, "header has no descr") }
        let descr = String(d[d.index(after: d.startIndex)..<q])
        guard let dtype = descriptors.first(where: { $0.value == descr || $0.value.replacingOccurrences(of: "<", with: "|") == descr })?.key else {
            throw FluxionError(.malformed, file: path, "unsupported dtype '\(descr)' (Fluxion reads <f4, <f8, <i4)")
        }
        if let f = field("fortran_order"), f.hasPrefix("True") { throw FluxionError(.malformed, file: path, "Fortran-order arrays are not supported") }
        guard let s = field("shape"), let open = s.firstIndex(of: "("), let close = s.firstIndex(of: ")") else {
            throw FluxionError(.malformed, file: path, "header has no shape")
        }
        let shape = try s[s.index(after: open)..<close].split(separator: ",").map { part -> Int in
            guard let v = Int(part.trimmingCharacters(in: .whitespaces)), v >= 0 else { throw FluxionError(.malformed, file: path, "invalid shape \(s[open...close])") }
            return v
        }
        let bytesNeeded = shape.reduce(1, *) * dtype.byteSize
        let body = data.count - start - headerLength
        guard body >= bytesNeeded else { throw FluxionError(.truncated, file: path, "data holds \(body) bytes, shape \(shape) of \(descr) needs \(bytesNeeded)") }
        return Tensor(rawBytes: data.subdata(in: (start + headerLength)..<(start + headerLength + bytesNeeded)), shape: shape, dtype: dtype)
    }

    public static func read(_ path: String) throws -> Tensor {
        try decode(FileIO.read(path), path: path)
    }
}
