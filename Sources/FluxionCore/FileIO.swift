import Foundation

/// Whole-file reads and atomic writes shared by the tensor file formats.
enum FileIO {
    static func read(_ path: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FluxionError(.io, file: path, "no such file")
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FluxionError(.io, file: path, "cannot read: \(error.localizedDescription)")
        }
    }

    /// Writes to a temporary file in the same folder and renames it into place, so an interrupted
    /// write never leaves a half-written file under `path`.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).tmp-\(ProcessInfo.processInfo.processIdentifier)")
        do {
            try data.write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                throw FluxionError(.io, file: path, "cannot rename temporary file into place (errno \(errno))")
            }
        } catch let e as FluxionError {
            try? FileManager.default.removeItem(at: temporary)
            throw e
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw FluxionError(.io, file: path, "cannot write: \(error.localizedDescription)")
        }
    }
}

extension Tensor {
    /// The raw little-endian bytes of the elements.
    var rawBytes: Data {
        withExtendedLifetime(storage) { Data(bytes: storage.pointer, count: count * dtype.byteSize) }
    }

    /// A tensor from raw little-endian bytes (count must match).
    init(rawBytes: Data, shape: [Int], dtype: DType) {
        self.init(uninitializedShape: shape, dtype: dtype)
        precondition(rawBytes.count == count * dtype.byteSize)
        let dst = storage.pointer
        rawBytes.withUnsafeBytes { src in
            if let base = src.baseAddress, src.count > 0 { dst.copyMemory(from: base, byteCount: src.count) }
        }
    }
}
