import CrowdEngine
import Foundation

/// One shard in a manifest.
public struct ShardEntry: Codable, Sendable, Equatable {
    /// Lowercase hex SHA-256 of the file bytes.
    public var id: String
    /// File name inside the shard directory (no path separators).
    public var file: String
    /// File size in bytes.
    public var bytes: Int
    /// Records: images, or bytes of text.
    public var records: Int

    public init(id: String, file: String, bytes: Int, records: Int) {
        self.id = id
        self.file = file
        self.bytes = bytes
        self.records = records
    }
}

/// `manifest.json` of a shard directory: the training shards and the held-out evaluation shard.
public struct ShardManifest: Codable, Sendable, Equatable {
    /// Current manifest format version.
    public static let currentFormatVersion = 1
    /// The manifest's file name inside a shard directory.
    public static let fileName = "manifest.json"

    /// Manifest format version (1).
    public var formatVersion: Int
    /// Workload name, e.g. `fmnist-mlp`, `kjv-gpt`.
    public var workload: String
    /// Training shards, in order.
    public var shards: [ShardEntry]
    /// The held-out evaluation set.
    public var evaluation: ShardEntry

    public init(formatVersion: Int = currentFormatVersion, workload: String, shards: [ShardEntry], evaluation: ShardEntry) {
        self.formatVersion = formatVersion
        self.workload = workload
        self.shards = shards
        self.evaluation = evaluation
    }

    /// Reads and validates `directory/manifest.json` (version, ids, safe file names, no duplicates).
    public static func load(directory: String) throws -> ShardManifest {
        let path = (directory as NSString).appendingPathComponent(fileName)
        guard let d = FileManager.default.contents(atPath: path) else {
            throw ShardError(
                shard: fileName, .badManifest, "cannot read \(path); create it with `crowdtrain shards make`")
        }
        let m: ShardManifest
        do {
            m = try JSONDecoder().decode(ShardManifest.self, from: d)
        } catch {
            throw ShardError(shard: fileName, .badManifest, "\(path) is not a valid manifest: \(error)")
        }
        try m.validate()
        return m
    }

    /// Checks the version, entry ids and file names.
    public func validate() throws {
        guard formatVersion == Self.currentFormatVersion else {
            throw ShardError(
                shard: Self.fileName, .badManifest,
                "manifest format version \(formatVersion) is not supported (this build reads \(Self.currentFormatVersion))")
        }
        var seen = Set<String>()
        for e in shards + [evaluation] {
            guard e.id.count == 64, e.id.allSatisfy({ $0.isHexDigit && !$0.isUppercase }) else {
                throw ShardError(shard: e.file, .badManifest, "manifest id '\(e.id)' is not a lowercase SHA-256 hex string")
            }
            guard !e.file.isEmpty, !e.file.contains("/"), !e.file.contains("\\"), e.file != ".", e.file != ".."
            else {
                throw ShardError(shard: e.file, .badManifest, "file name '\(e.file)' must be a plain name inside the directory")
            }
            guard e.bytes >= 0, e.records >= 0 else {
                throw ShardError(shard: e.file, .badManifest, "negative size or record count in the manifest")
            }
            guard seen.insert(e.file).inserted else {
                throw ShardError(shard: e.file, .badManifest, "file is listed twice in the manifest")
            }
        }
    }

    /// Writes `directory/manifest.json` atomically (sorted keys, pretty-printed).
    public func write(directory: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(self)
        try AtomicFile.write(data, to: (directory as NSString).appendingPathComponent(Self.fileName))
    }

    /// Reads one of this manifest's shards from `directory`, verifying its id, size and record count.
    public func read(_ entry: ShardEntry, directory: String) throws -> ShardPayload {
        let path = (directory as NSString).appendingPathComponent(entry.file)
        let p = try ShardFile.read(path: path, expectedID: entry.id)
        guard p.records == entry.records else {
            throw ShardError(
                shard: entry.file, .badManifest,
                "holds \(p.records) records but the manifest says \(entry.records); the shard is mislabelled")
        }
        return p
    }
}
