import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation
import Logging
import Synchronization

/// The coordinator's side of model distribution (Docs/Protocol.md "Model distribution"): for every version it
/// keeps, the signed manifest (1 MiB content-addressed chunks of the checkpoint, and the round deltas that lead
/// to it), and the immutable blobs — chunks and deltas — served by digest with ETag and Range.
///
/// Read without the coordinator actor (a thousand peers fetching chunks do not queue behind aggregation): the
/// index sits behind a mutex, and blob bytes are read from the files by offset.
///
/// Files: `D/deltas/round-NNNNNN.delta` (the delta into round N's model) and `D/manifests/<version>.json` (the
/// unsigned manifest, so a restart does not hash every kept checkpoint again). Both are written atomically after
/// the round's commit; a crash before that leaves the round without a delta (peers take chunks) and its manifest
/// is rebuilt from the checkpoint at the next start.
public final class ModelDistribution: Sendable {
    /// Where a blob's bytes are.
    public struct Blob: Sendable, Equatable {
        public var path: String
        public var offset: Int
        public var bytes: Int
    }

    /// One kept version.
    struct Version: Sendable {
        var record: CheckpointRecord
        var manifest: ModelManifest
        var signed: SignedManifest
    }

    struct State: Sendable {
        /// Kept versions, oldest first.
        var versions: [Version] = []
        /// Deltas by target version.
        var deltas: [String: (delta: ModelManifest.Delta, path: String)] = [:]
        var blobs: [String: Blob] = [:]
        /// Blobs already read whole and found to hash to their digest.
        var verified: Set<String> = []
    }

    let paths: CampaignPaths
    let campaign: String
    let signer: ManifestSigner
    let keep: Int
    let logger: Logger
    let state = Mutex(State())

    /// The public key peers pin at join.
    public var publicKey: String { signer.publicKey }

    init(paths: CampaignPaths, campaign: String, signer: ManifestSigner, keep: Int, logger: Logger) {
        self.paths = paths
        self.campaign = campaign
        self.signer = signer
        self.keep = keep
        self.logger = logger
    }

    // MARK: signing key

    /// The campaign's manifest signing key (`D/manifest-signing.key`, 32 raw bytes, mode 0600), created if the
    /// campaign predates it (its peers then join again to pin it).
    static func loadOrCreateKey(paths: CampaignPaths, logger: Logger) throws -> ManifestSigner {
        let fm = FileManager.default
        if !fm.fileExists(atPath: paths.manifestKey) {
            let signer = ManifestSigner()
            try AtomicFile.write(signer.rawRepresentation, to: paths.manifestKey, mode: 0o600)
            logger.notice(
                "created the manifest signing key (this campaign predates signed manifests: its peers must join again)",
                metadata: ["file": "\(paths.manifestKey)"])
            return signer
        }
        if let attributes = try? fm.attributesOfItem(atPath: paths.manifestKey),
           let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0
        {
            throw CoordinatorError(
                "\(paths.manifestKey) is readable by other users (mode \(String(mode, radix: 8))); "
                    + "run `chmod 600 \(paths.manifestKey)`")
        }
        guard let data = fm.contents(atPath: paths.manifestKey), data.count == 32,
              let signer = try? ManifestSigner(rawRepresentation: data)
        else {
            throw CoordinatorError(
                "\(paths.manifestKey) is not a 32-byte Ed25519 key; restore it from a backup (deleting it makes a "
                    + "new key, and every peer must then join again)")
        }
        return signer
    }

    /// The distribution of an opening campaign: its key, its directories, its kept versions indexed.
    static func open(
        paths: CampaignPaths, config: CampaignConfig, store: any CoordinatorRepository, current: String,
        currentBytes: Data, logger: Logger
    ) throws -> ModelDistribution {
        let fm = FileManager.default
        try fm.createDirectory(atPath: paths.manifests, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: paths.deltas, withIntermediateDirectories: true)
        let distribution = ModelDistribution(
            paths: paths, campaign: config.name, signer: try loadOrCreateKey(paths: paths, logger: logger),
            keep: config.distribution.keepVersions, logger: logger)
        try distribution.load(records: try store.checkpoints(), current: current, currentBytes: currentBytes)
        return distribution
    }

    // MARK: building

    /// The chunks of checkpoint `bytes`.
    static func chunks(of bytes: Data) -> [ModelManifest.Chunk] {
        var out: [ModelManifest.Chunk] = []
        var offset = 0
        while offset < bytes.count {
            let n = min(ModelManifest.chunkBytes, bytes.count - offset)
            let start = bytes.startIndex + offset
            out.append(.init(digest: ContentDigest.hex(bytes[start..<(start + n)]), offset: offset, bytes: n))
            offset += n
        }
        return out
    }

    /// Indexes the kept versions at start-up: `records` are the recorded checkpoints, newest first (one per
    /// version; files that are gone are skipped). Reads manifests from `D/manifests` when they match, else hashes the
    /// checkpoint; indexes the deltas whose files name the right base and target.
    func load(records: [CheckpointRecord], current: String, currentBytes: Data) throws {
        var seen = Set<String>()
        var kept: [CheckpointRecord] = []
        for r in records where seen.insert(r.version).inserted {
            guard kept.count < keep - 1 || r.version == current || kept.contains(where: { $0.version == current })
            else { continue }
            kept.append(r)
            if kept.count == keep { break }
        }
        // Newest first, by round (a fallback may serve an older round's model: it is kept whatever its age).
        kept.sort { $0.round > $1.round }
        var versions: [Version] = []
        for record in kept.reversed() {
            let manifest: ModelManifest
            if let m = Self.readManifest(paths.manifest(version: record.version)), m.version == record.version,
               m.bytes == record.bytes, m.problem() == nil
            {
                manifest = m
            } else {
                let bytes: Data
                if record.version == current {
                    bytes = currentBytes
                } else {
                    guard let b = FileManager.default.contents(atPath: paths.join(record.path)),
                          ContentDigest.hex(b) == record.version
                    else { continue }
                    bytes = b
                }
                manifest = ModelManifest(
                    campaign: campaign, version: record.version, round: record.round, bytes: bytes.count,
                    chunks: Self.chunks(of: bytes), deltas: [])
                try? Self.writeManifest(manifest, to: paths.manifest(version: record.version))
            }
            versions.append(Version(record: record, manifest: manifest, signed: try signer.sign(manifest)))
        }
        // Deltas: the file of round r must join the kept version before it to r's.
        var deltas: [String: (ModelManifest.Delta, String)] = [:]
        for (previous, next) in zip(versions, versions.dropFirst()) {
            let path = paths.delta(round: next.record.round)
            guard let data = FileManager.default.contents(atPath: path),
                  let delta = try? ModelDelta.decode(data),
                  Hex.lowercase(delta.base) == previous.record.version, Hex.lowercase(delta.target) == next.record.version
            else { continue }
            deltas[next.record.version] = (
                .init(
                    from: previous.record.version, to: next.record.version, round: next.record.round,
                    digest: ContentDigest.hex(data), bytes: data.count, encoding: delta.encoding.name),
                path
            )
        }
        state.withLock { s in
            s = State()
            s.versions = versions
            s.deltas = deltas
        }
        try resign()
        logger.info(
            "model distribution indexed",
            metadata: ["versions": "\(versions.count)", "deltas": "\(deltas.count)", "keep": "\(keep)"])
    }

    /// Adds the model of a closed round (after its commit): writes its delta (from the previous version, if any)
    /// and manifest, signs, and drops the versions beyond `keep` from the index.
    /// - Returns: the versions dropped (their checkpoint files may now be removed).
    @discardableResult
    func publish(record: CheckpointRecord, bytes: Data, delta: ModelDelta?) throws -> [CheckpointRecord] {
        let manifest = ModelManifest(
            campaign: campaign, version: record.version, round: record.round, bytes: bytes.count,
            chunks: Self.chunks(of: bytes), deltas: [])
        try Self.writeManifest(manifest, to: paths.manifest(version: record.version))
        var deltaEntry: (ModelManifest.Delta, String)?
        if let delta {
            let data = delta.encoded()
            let path = paths.delta(round: record.round)
            try AtomicFile.write(data, to: path, mode: 0o644)
            deltaEntry = (
                .init(
                    from: Hex.lowercase(delta.base), to: record.version, round: record.round,
                    digest: ContentDigest.hex(data), bytes: data.count, encoding: delta.encoding.name),
                path
            )
        }
        let signed = try signer.sign(manifest)
        let dropped: [Version] = state.withLock { s in
            s.versions.removeAll { $0.record.version == record.version }
            s.versions.append(Version(record: record, manifest: manifest, signed: signed))
            if let deltaEntry { s.deltas[record.version] = deltaEntry }
            let excess = max(0, s.versions.count - keep)
            let dropped = Array(s.versions.prefix(excess))
            s.versions.removeFirst(excess)
            return dropped
        }
        for v in dropped {
            let removed = state.withLock { s -> (ModelManifest.Delta, String)? in s.deltas.removeValue(forKey: v.record.version) }
            if let removed { AtomicFile.remove(removed.1) }
            AtomicFile.remove(paths.manifest(version: v.record.version))
        }
        // The oldest kept version's delta came from a dropped one: no peer can use it any more.
        let orphan = state.withLock { s -> String? in
            guard let first = s.versions.first, let d = s.deltas[first.record.version],
                  !s.versions.contains(where: { $0.record.version == d.delta.from })
            else { return nil }
            s.deltas.removeValue(forKey: first.record.version)
            return d.path
        }
        if let orphan { AtomicFile.remove(orphan) }
        try resign()
        return dropped.map(\.record)
    }

    /// Rebuilds every kept manifest's delta chain and signature, and the blob index.
    func resign() throws {
        let snapshot = state.withLock { $0 }
        var versions = snapshot.versions
        var blobs: [String: Blob] = [:]
        for i in versions.indices {
            var chain: [ModelManifest.Delta] = []
            var at = versions[i].record.version
            while chain.count < keep - 1, let d = snapshot.deltas[at] {
                chain.append(d.delta)
                at = d.delta.from
            }
            var m = versions[i].manifest
            m.deltas = chain.reversed()
            if m != versions[i].manifest || versions[i].signed.manifest.isEmpty {
                versions[i].manifest = m
                versions[i].signed = try signer.sign(m)
            }
            let path = paths.join(versions[i].record.path)
            for c in m.chunks where blobs[c.digest] == nil {
                blobs[c.digest] = Blob(path: path, offset: c.offset, bytes: c.bytes)
            }
        }
        for (_, d) in snapshot.deltas { blobs[d.delta.digest] = Blob(path: d.path, offset: 0, bytes: d.delta.bytes) }
        state.withLock { s in
            s.versions = versions
            s.blobs = blobs
            s.verified.formIntersection(blobs.keys)
        }
    }

    // MARK: serving

    /// The signed manifest of `version`, nil when the version is not kept.
    public func manifest(version: String) -> SignedManifest? {
        state.withLock { s in s.versions.last { $0.record.version == version }?.signed }
    }

    /// The manifest itself (tests, benchmarks).
    public func plainManifest(version: String) -> ModelManifest? {
        state.withLock { s in s.versions.last { $0.record.version == version }?.manifest }
    }

    /// Where blob `digest` is, nil when it is not a chunk or delta of a kept version.
    public func blob(digest: String) -> Blob? {
        state.withLock { $0.blobs[digest] }
    }

    /// Versions kept, oldest first.
    public var keptVersions: [String] { state.withLock { $0.versions.map(\.record.version) } }

    /// Reads `range` of blob `digest` from its file. The first time a blob is served it is read whole and checked
    /// against its digest (a chunk of a damaged checkpoint is never served under its name: a peer would only refuse
    /// it and ask again); later reads trust that check.
    public func read(_ blob: Blob, digest: String, range: Range<Int>) throws -> Data {
        if !state.withLock({ $0.verified.contains(digest) }) {
            let whole = try Self.read(blob, range: 0..<blob.bytes)
            guard ContentDigest.hex(whole) == digest else {
                logger.error(
                    "a blob's file does not hash to its name; not served (restore the file from a backup)",
                    metadata: ["blob": "\(digest)", "file": "\(blob.path)", "offset": "\(blob.offset)"])
                throw APIError(.internalError, "blob \(digest.prefix(16)) is damaged on the coordinator's disk")
            }
            state.withLock { _ = $0.verified.insert(digest) }
            if range == 0..<blob.bytes { return whole }
        }
        return try Self.read(blob, range: range)
    }

    /// Reads `range` of `blob` from its file, unchecked.
    public static func read(_ blob: Blob, range: Range<Int>) throws -> Data {
        guard let handle = FileHandle(forReadingAtPath: blob.path) else {
            throw APIError(.notFound, "this blob's file is gone (the version was removed); fetch the current manifest")
        }
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(blob.offset + range.lowerBound))
        let data = try handle.read(upToCount: range.count) ?? Data()
        guard data.count == range.count else {
            throw APIError(.internalError, "the blob's file is shorter than its manifest says")
        }
        return data
    }

    // MARK: files

    static func readManifest(_ path: String) -> ModelManifest? {
        FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(ModelManifest.self, from: $0) }
    }

    static func writeManifest(_ m: ModelManifest, to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try enc.encode(m), to: path, mode: 0o644)
    }
}
