import Foundation

// NOTE(1): durability. `FileIO.writeAtomically` is the one atomic-write helper of the project:
// the bytes go to a temporary file in the same folder, which is fsynced, renamed over the target
// and followed by an fsync of the folder, so that after a crash at any instant `path` holds either
// the old contents or the new ones, never a mixture, and a completed write survives a power loss.
// (On macOS `fsync` only reaches the drive's cache; `F_FULLFSYNC` reaches the platter.)

/// Whole-file reads and durable, atomic writes shared by every file the library writes.
public enum FileIO {
    /// The contents of `path`; a missing or unreadable file throws an error naming it.
    public static func read(_ path: String) throws -> Data {
        guard FileManager.default.fileExists(atPath: path) else {
            throw FluxionError(.io, file: path, "no such file")
        }
        do { return try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FluxionError(.io, file: path, "cannot read: \(error.localizedDescription)")
        }
    }

    /// Writes `data` to `path` atomically and durably (NOTE(1)): an interrupted write never leaves
    /// a half-written file under `path`, and no temporary file is left behind on failure.
    public static func writeAtomically(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent().path
        let temporary = (folder as NSString).appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        do {
            do { try writeDurably(data, to: temporary) } catch let e as FluxionError {
                throw FluxionError(e.kind, file: path, e.message)   // name the file the caller asked for
            }
            guard rename(temporary, path) == 0 else {
                throw FluxionError(.io, file: path, "cannot rename the temporary file into place (\(String(cString: strerror(errno))))")
            }
            try synchronizeFolder(folder)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Creates (or truncates) `path`, writes `data` and fsyncs the file before closing it.
    public static func writeDurably(_ data: Data, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw FluxionError(.io, file: path, "cannot create: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FluxionError(.io, file: path, "cannot write: \(String(cString: strerror(errno)))")
                }
                offset += n
            }
        }
        try synchronize(fd, path)
    }

    /// fsyncs a folder, so that the names created, renamed or removed in it are durable.
    public static func synchronizeFolder(_ folder: String) throws {
        let fd = open(folder.isEmpty ? "." : folder, O_RDONLY)
        guard fd >= 0 else { throw FluxionError(.io, file: folder, "cannot open the folder to sync it: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try synchronize(fd, folder)
    }

    static func synchronize(_ fd: Int32, _ path: String) throws {
        #if canImport(Darwin)
        if fcntl(fd, F_FULLFSYNC) == 0 { return }
        #endif
        guard fsync(fd) == 0 else { throw FluxionError(.io, file: path, "fsync failed: \(String(cString: strerror(errno)))") }
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
