import Foundation

// NOTE(1): atomic checkpoints. A checkpoint is a folder `step-000000123` of files plus a
// `manifest.json` that lists each file's size and SHA-256. It is written as
//   1. a fresh folder `.incomplete-step-000000123-PID`, each file written and fsynced, then the
//      manifest (written last, fsynced), then the folder itself fsynced;
//   2. one rename to `step-000000123` (the commit point), and an fsync of the parent folder;
//   3. older checkpoints beyond the newest `keep` removed (only after the new one is committed).
// A crash before the rename leaves an `.incomplete-*` folder that no reader looks at and the next
// write removes; a crash after it leaves a complete checkpoint. So at every instant the newest
// `step-*` folder is complete, and the previous one is kept until the new one is.
// Readers verify the manifest (its own checksum line, then every file's size and digest) before
// they trust a byte, and fall back to the next older checkpoint when one is damaged.

/// A folder of atomic, checksummed checkpoints (NOTE(1)). One writer at a time.
public struct CheckpointStore: Sendable {
    /// The folder that holds the `step-*` checkpoint folders.
    public let folder: String
    /// How many complete checkpoints are kept (the newest ones).
    public let keep: Int

    static let manifestName = "manifest.json"
    static let format = "fluxion-checkpoint-1"

    /// A store over `folder` that keeps the newest `keep` checkpoints (default 2); throws
    /// `invalidArgument` for `keep` below 1. Creates nothing until the first write.
    public init(folder: String, keep: Int = 2) throws {
        guard keep >= 1 else { throw FluxionError(.invalidArgument, "keep_checkpoints must be at least 1, got \(keep)") }
        self.folder = folder
        self.keep = keep
    }

    /// The folder name of the checkpoint of `step`.
    public static func name(step: Int) -> String { String(format: "step-%09d", step) }

    /// The folder of the checkpoint of `step`.
    public func path(step: Int) -> String { (folder as NSString).appendingPathComponent(Self.name(step: step)) }

    /// The steps of the committed checkpoints, newest first (their contents are not verified).
    public func steps() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5)), step >= 0, name == Self.name(step: step) else { return nil }
            return step
        }.sorted(by: >)
    }

    /// Writes the checkpoint of `step` atomically and durably, then prunes to the newest `keep`.
    /// `files` are (name, bytes); a checkpoint of the same step already present is replaced.
    public func write(step: Int, files: [(name: String, data: Data)]) throws {
        guard step >= 0 else { throw FluxionError(.invalidArgument, file: folder, "checkpoint step must be non-negative, got \(step)") }
        var seen = Set<String>()
        for (name, _) in files {
            guard Self.isPlainName(name), name != Self.manifestName, seen.insert(name).inserted else {
                throw FluxionError(.invalidArgument, file: folder, "invalid or repeated checkpoint file name '\(name)'")
            }
        }
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw FluxionError(.io, file: folder, "cannot create the checkpoint folder: \(error.localizedDescription)")
        }
        removeLeftovers()
        let incomplete = (folder as NSString).appendingPathComponent(".incomplete-\(Self.name(step: step))-\(getpid())")
        do { try FileManager.default.createDirectory(atPath: incomplete, withIntermediateDirectories: false) } catch {
            throw FluxionError(.io, file: incomplete, "cannot create: \(error.localizedDescription)")
        }
        do {
            var entries: [Manifest.Entry] = []
            for (name, data) in files {
                try FileIO.writeDurably(data, to: (incomplete as NSString).appendingPathComponent(name))
                entries.append(Manifest.Entry(name: name, bytes: data.count, sha256: SHA256.hexDigest(data)))
            }
            let manifest = Manifest(format: Self.format, step: step, files: entries)
            try FileIO.writeDurably(manifest.encoded(), to: (incomplete as NSString).appendingPathComponent(Self.manifestName))
            try FileIO.synchronizeFolder(incomplete)
            let final = path(step: step)
            var replaced: String? = nil
            if FileManager.default.fileExists(atPath: final) {
                // A damaged checkpoint of this step (the run fell back past it): set it aside first,
                // since rename does not replace a non-empty folder.
                let aside = (folder as NSString).appendingPathComponent(".replaced-\(Self.name(step: step))-\(getpid())")
                guard rename(final, aside) == 0 else {
                    throw FluxionError(.io, file: final, "cannot move the old checkpoint aside (\(String(cString: strerror(errno))))")
                }
                replaced = aside
            }
            guard rename(incomplete, final) == 0 else {
                throw FluxionError(.io, file: final, "cannot commit the checkpoint (\(String(cString: strerror(errno))))")
            }
            try FileIO.synchronizeFolder(folder)
            if let replaced { try? FileManager.default.removeItem(atPath: replaced) }
        } catch {
            try? FileManager.default.removeItem(atPath: incomplete)
            throw error
        }
        for old in steps().dropFirst(keep) { try? FileManager.default.removeItem(atPath: path(step: old)) }
        try FileIO.synchronizeFolder(folder)
    }

    /// Removes what interrupted writes left (`.incomplete-*`, `.replaced-*`).
    func removeLeftovers() {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        where name.hasPrefix(".incomplete-") || name.hasPrefix(".replaced-") {
            try? FileManager.default.removeItem(atPath: (folder as NSString).appendingPathComponent(name))
        }
    }

    /// The verified files of one checkpoint.
    public struct Checkpoint: Sendable {
        /// A checkpoint's files as given (e.g. verified by `read(step:)`, or built in memory).
        public init(step: Int, folder: String, files: [String: Data]) {
            self.step = step; self.folder = folder; self.files = files
        }
        /// The training step the checkpoint records.
        public let step: Int
        /// The checkpoint's folder (names files in error messages).
        public let folder: String
        /// The file contents by name, each verified against the manifest.
        public let files: [String: Data]
        /// The full path of the file `name` inside the checkpoint's folder.
        public func path(_ name: String) -> String { (folder as NSString).appendingPathComponent(name) }
        /// The bytes of `name`; a file the checkpoint lacks throws an error naming it.
        public func data(_ name: String) throws -> Data {
            guard let d = files[name] else { throw FluxionError(.io, file: path(name), "missing from the checkpoint") }
            return d
        }
    }

    /// Reads and verifies the checkpoint of `step`: the manifest's own checksum, its step, and
    /// every listed file's size and SHA-256. A problem throws an error naming the damaged file.
    public func read(step: Int) throws -> Checkpoint {
        let dir = path(step: step)
        let manifestPath = (dir as NSString).appendingPathComponent(Self.manifestName)
        let manifest = try Manifest.decode(FileIO.read(manifestPath), path: manifestPath)
        guard manifest.step == step else {
            throw FluxionError(.malformed, file: manifestPath, "records step \(manifest.step), but the folder is step \(step)")
        }
        var files: [String: Data] = [:]
        for entry in manifest.files {
            let file = (dir as NSString).appendingPathComponent(entry.name)
            let size = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? nil
            guard let size else { throw FluxionError(.io, file: file, "missing (listed in the manifest)") }
            guard size == entry.bytes else {
                throw FluxionError(.truncated, file: file, "is \(size) bytes, the manifest records \(entry.bytes)")
            }
            let data = try FileIO.read(file)
            guard data.count == entry.bytes, SHA256.hexDigest(data) == entry.sha256 else {
                throw FluxionError(.malformed, file: file, "checksum mismatch (the file is damaged)")
            }
            files[entry.name] = data
        }
        return Checkpoint(step: step, folder: dir, files: files)
    }

    /// The result of the newest checkpoint that verifies and that `open` accepts, newest first.
    /// Each damaged checkpoint passed over adds a one-line notice to `notices`. With no checkpoint
    /// at all, or none intact, throws an error that names each problem.
    public func newest<T>(notices: inout [String], _ open: (Checkpoint) throws -> T) throws -> T {
        let all = steps()
        guard !all.isEmpty else { throw FluxionError(.io, file: folder, "no checkpoint (the run has not saved one yet)") }
        var problems: [String] = []
        for step in all {
            do {
                let result = try open(read(step: step))
                if !problems.isEmpty {
                    notices.append("skipped \(problems.count) damaged checkpoint\(problems.count == 1 ? "" : "s") (\(problems.joined(separator: "; "))); using \(Self.name(step: step))")
                }
                return result
            } catch {
                problems.append("\(error)")
            }
        }
        throw FluxionError(.malformed, file: folder, "no intact checkpoint: " + problems.joined(separator: "; "))
    }

    static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix(".") && !name.contains("/") && !name.contains("\0") && name.utf8.count <= 200
    }

    /// `manifest.json`: one line of JSON, then `sha256 <digest of that line>`.
    public struct Manifest: Codable, Equatable, Sendable {
        /// One listed file: its name, size in bytes and SHA-256 digest.
        public struct Entry: Codable, Equatable, Sendable {
            /// The file's name inside the checkpoint folder.
            public var name: String
            /// The file's size in bytes.
            public var bytes: Int
            /// The file's SHA-256 digest, lowercase hex.
            public var sha256: String
        }
        /// The format tag, `fluxion-checkpoint-1`.
        public var format: String
        /// The training step of the checkpoint.
        public var step: Int
        /// The checkpoint's files (the manifest itself not among them).
        public var files: [Entry]

        /// The manifest as written: sorted-key JSON on one line, then `sha256 <digest of that line>`.
        public func encoded() throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let body = try encoder.encode(self)
            return body + Data("\nsha256 \(SHA256.hexDigest(body))\n".utf8)
        }

        /// Parses and checks a manifest (its checksum line, format, names, sizes, digests' form).
        public static func decode(_ data: Data, path: String) throws -> Manifest {
            let lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            guard lines.count == 3, lines[2].isEmpty, lines[1].starts(with: Data("sha256 ".utf8)) else {
                throw FluxionError(.malformed, file: path, "not a checkpoint manifest (expected a JSON line and a sha256 line)")
            }
            let body = Data(lines[0])
            guard Data(lines[1]).dropFirst(7) == Data(SHA256.hexDigest(body).utf8) else {
                throw FluxionError(.malformed, file: path, "checksum mismatch (the manifest is damaged)")
            }
            let manifest: Manifest
            do { manifest = try JSONDecoder().decode(Manifest.self, from: body) } catch {
                throw FluxionError(.malformed, file: path, "not a valid manifest (\(error))")
            }
            guard manifest.format == CheckpointStore.format else { throw FluxionError(.malformed, file: path, "unknown format '\(manifest.format)' (expected \(CheckpointStore.format))") }
            var seen = Set<String>()
            for entry in manifest.files {
                guard isPlainName(entry.name), entry.name != manifestName, seen.insert(entry.name).inserted else {
                    throw FluxionError(.malformed, file: path, "invalid or repeated file name '\(entry.name)'")
                }
                guard entry.bytes >= 0, entry.sha256.utf8.count == 64 else {
                    throw FluxionError(.malformed, file: path, "invalid size or checksum for '\(entry.name)'")
                }
            }
            return manifest
        }
    }
}
