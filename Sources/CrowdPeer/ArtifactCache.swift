import CrowdCodec
import CrowdData
import CrowdEngine
import Foundation

/// Content-addressed cache of downloaded models and shards under `P/cache`, bounded in bytes.
///
/// Both are named by the SHA-256 of their bytes, so the cache verifies every file on the way in
/// and on the way out: a corrupted file is deleted and downloaded again, never used. Shards arrive compressed
/// (`CompressedShard`) and are kept inflated, so a cached shard is checked by hashing it, nothing else.
///
/// **Bound.** The files together stay within `limitBytes` (`cacheBytes` in peer.json): after each download the
/// least recently used files are deleted — use is the file's modification time, renewed by every `get` — except the
/// files of the lease in progress (`keeping`), which stay even if they alone exceed the bound.
public struct ArtifactCache: Sendable {
    /// What a cache entry holds.
    public enum Kind: String, Sendable {
        case model, shard
    }

    public let paths: PeerPaths
    /// Models kept on disk (older versions are deleted first, whatever the byte bound).
    public var keptModels: Int
    /// Most bytes of models and shards kept together (`PeerSettings.cacheBytes`).
    public var limitBytes: Int

    public init(paths: PeerPaths, keptModels: Int = 3, limitBytes: Int = PeerSettings.defaultCacheBytes) {
        self.paths = paths
        self.keptModels = keptModels
        self.limitBytes = limitBytes
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

    /// The cached bytes of `digest`, verified; `nil` (and the bad file removed) if absent or corrupt. A hit renews the
    /// file's place in the LRU order.
    public func get(_ kind: Kind, _ digest: String) -> Data? {
        guard Self.isDigest(digest) else { return nil }
        let p = path(kind, digest)
        guard let data = FileManager.default.contents(atPath: p) else { return nil }
        guard ContentDigest.hex(data) == digest else {
            AtomicFileWriter.remove(p)
            return nil
        }
        try? FileManager.default.setAttributes([.modificationDate: Date()], ofItemAtPath: p)
        return data
    }

    /// Verifies `data` against `digest`, stores it atomically, then trims the cache to its bound.
    /// - Parameter keeping: digests never evicted now (the model and shards of the lease in progress).
    /// - Parameter digestVerified: the caller has just checked that `data` hashes to `digest` (`ModelFetcher`
    ///   does, for every version it rebuilds): not hashed a second time.
    /// - Throws: `PeerError` if the bytes do not hash to `digest` (a broken download or a lying server).
    public func put(
        _ kind: Kind, _ digest: String, _ data: Data, keeping: Set<String> = [], digestVerified: Bool = false
    ) throws {
        guard Self.isDigest(digest) else { throw PeerError("\(kind.rawValue) id '\(digest)' is not a SHA-256 hex digest") }
        let actual = digestVerified ? digest : ContentDigest.hex(data)
        guard actual == digest else {
            throw PeerError("downloaded \(kind.rawValue) \(digest.prefix(12))… hashes to \(actual.prefix(12))…: corrupted in transit; it will be fetched again")
        }
        try AtomicFileWriter.write(data, to: path(kind, digest), mode: 0o644)
        if kind == .model { pruneModels(keeping: digest) }
        trim(keeping: keeping.union([digest]))
    }

    /// A verified artifact and the bytes its download cost (0 from the cache).
    public struct Fetched: Sendable {
        public var data: Data
        public var downloadedBytes: Int
    }

    /// The verified bytes of `digest`: from the cache, or downloaded, inflated (shards), verified and stored.
    ///
    /// - Parameters:
    ///   - expectedBytes: a shard's uncompressed size from the lease (the hard bound of its inflation); nil for
    ///     models, or for leases that do not say (then `CompressedShard.maxFileBytes`).
    ///   - keeping: digests the trim after the download must keep (the lease in progress).
    ///   - download: fetches the bytes as they travel (a shard's zstd frame, a model's checkpoint).
    /// - Throws: `PeerError` for a body that does not inflate within its bound or does not hash to `digest` (it is
    ///   not stored; the next try downloads again), or what `download` throws.
    public func fetch(
        _ kind: Kind, _ digest: String, expectedBytes: Int? = nil, keeping: Set<String> = [],
        download: () async throws -> Data
    ) async throws -> Fetched {
        if let cached = get(kind, digest) { return Fetched(data: cached, downloadedBytes: 0) }
        guard Self.isDigest(digest) else {
            throw PeerError("the lease names \(kind.rawValue) '\(digest)', not a SHA-256 digest")
        }
        let body = try await download()
        let data: Data
        switch kind {
        case .model:
            data = body
        case .shard:
            do {
                data = try CompressedShard.decode(body, expectedBytes: expectedBytes)
            } catch let error as CodecError {
                throw PeerError("shard \(digest.prefix(12))… from the coordinator is refused: \(error.message); it "
                    + "will be fetched again (if this repeats, the coordinator or something between is damaging it)")
            }
        }
        try put(kind, digest, data, keeping: keeping)
        return Fetched(data: data, downloadedBytes: body.count)
    }

    /// Ids of the cached shards, most recently used first, at most `limit` (the `heldShards` of a lease request).
    public func heldShards(limit: Int) -> [String] {
        entries().filter { $0.kind == .shard }.sorted { $0.used > $1.used }.prefix(max(0, limit)).map(\.digest)
    }

    /// One cached file.
    struct Entry {
        var kind: Kind
        var digest: String
        var path: String
        var bytes: Int
        var used: Date
    }

    /// Every cached model and shard file (names that are not digests, e.g. temporary files, are not entries).
    func entries() -> [Entry] {
        let fm = FileManager.default
        var out: [Entry] = []
        for (kind, dir, suffix) in [(Kind.model, paths.modelCache, ".ckpt"), (Kind.shard, paths.shardCache, ".shard")] {
            for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] where name.hasSuffix(suffix) {
                let digest = String(name.dropLast(suffix.count))
                guard Self.isDigest(digest) else { continue }
                let p = dir + "/" + name
                guard let attributes = try? fm.attributesOfItem(atPath: p) else { continue }
                let bytes = (attributes[.size] as? NSNumber)?.intValue ?? 0
                let used = attributes[.modificationDate] as? Date ?? .distantPast
                out.append(Entry(kind: kind, digest: digest, path: p, bytes: bytes, used: used))
            }
        }
        return out
    }

    /// Total bytes of the cached models and shards.
    public var totalBytes: Int { entries().reduce(0) { $0 + $1.bytes } }

    /// Deletes the least recently used files until the cache fits `limitBytes`, never one of `keeping`.
    /// - Returns: the digests deleted.
    @discardableResult
    public func trim(keeping: Set<String>) -> [String] {
        let all = entries()
        var total = all.reduce(0) { $0 + $1.bytes }
        guard total > limitBytes else { return [] }
        var evicted: [String] = []
        for e in all.sorted(by: { $0.used < $1.used }) where !keeping.contains(e.digest) {
            guard total > limitBytes else { break }
            remove(e)
            total -= e.bytes
            evicted.append(e.digest)
        }
        return evicted
    }

    /// Deletes the oldest model files beyond `keptModels`, never `keeping`.
    func pruneModels(keeping: String) {
        let models = entries().filter { $0.kind == .model }
        guard models.count > keptModels else { return }
        for e in models.sorted(by: { $0.used < $1.used }).prefix(models.count - keptModels) where e.digest != keeping {
            remove(e)
        }
    }

    /// Deletes a cached file (a model with its manifest).
    func remove(_ e: Entry) {
        AtomicFileWriter.remove(e.path)
        if e.kind == .model { AtomicFileWriter.remove(paths.modelManifest(e.digest)) }
    }
}
