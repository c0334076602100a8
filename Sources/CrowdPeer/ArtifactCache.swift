import CrowdData
import CrowdEngine
import Foundation

/// Content-addressed cache of downloaded models and shards under `P/cache`.
///
/// Both are named by the SHA-256 of their bytes, so the cache verifies every file on the way in
/// and on the way out: a corrupted file is deleted and downloaded again, never used.
public struct ArtifactCache: Sendable {
    /// What a cache entry holds.
    public enum Kind: String, Sendable {
        case model, shard
    }

    public let paths: PeerPaths
    /// Models kept on disk (older versions are deleted; shards are kept, they do not change).
    public var keptModels: Int

    public init(paths: PeerPaths, keptModels: Int = 3) {
        self.paths = paths
        self.keptModels = keptModels
    }

    /// Whether `name` looks like a SHA-256 hex digest (guards the file names built from remote input).
    public static func isDigest(_ name: String) -> Bool {
        name.utf8.count == 64 && name.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    func path(_ kind: Kind, _ digest: String) -> String {
        switch kind {
        case .model: return paths.modelCache + "/\(digest).ckpt"
        case .shard: return paths.shardCache + "/\(digest).shard"
        }
    }

    /// The cached bytes of `digest`, verified; `nil` (and the bad file removed) if absent or corrupt.
    public func get(_ kind: Kind, _ digest: String) -> Data? {
        guard Self.isDigest(digest) else { return nil }
        let p = path(kind, digest)
        guard let data = FileManager.default.contents(atPath: p) else { return nil }
        guard ContentDigest.hex(data) == digest else {
            AtomicFileWriter.remove(p)
            return nil
        }
        return data
    }

    /// Verifies `data` against `digest` and stores it atomically.
    /// - Throws: `PeerError` if the bytes do not hash to `digest` (a broken download or a lying server).
    public func put(_ kind: Kind, _ digest: String, _ data: Data) throws {
        guard Self.isDigest(digest) else { throw PeerError("\(kind.rawValue) id '\(digest)' is not a SHA-256 hex digest") }
        let actual = ContentDigest.hex(data)
        guard actual == digest else {
            throw PeerError("downloaded \(kind.rawValue) \(digest.prefix(12))… hashes to \(actual.prefix(12))…: corrupted in transit; it will be fetched again")
        }
        try AtomicFileWriter.write(data, to: path(kind, digest), mode: 0o644)
        if kind == .model { pruneModels(keeping: digest) }
    }

    /// Deletes the oldest model files beyond `keptModels`, never `keeping`.
    func pruneModels(keeping: String) {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: paths.modelCache) else { return }
        let files = names.filter { $0.hasSuffix(".ckpt") }.map { paths.modelCache + "/" + $0 }
        guard files.count > keptModels else { return }
        let dated = files.map { p -> (String, Date) in
            let d = (try? fm.attributesOfItem(atPath: p)[.modificationDate] as? Date) ?? .distantPast
            return (p, d)
        }.sorted { $0.1 < $1.1 }
        for (p, _) in dated.prefix(files.count - keptModels) where !p.hasSuffix("/\(keeping).ckpt") {
            try? fm.removeItem(atPath: p)
        }
    }
}
