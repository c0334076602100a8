import CrowdClient
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation
import NIOCore
import Synchronization

/// Where a peer gets model versions (the coordinator's client; tests put hostile sources in between).
public protocol ModelSource: Sendable {
    /// The signed manifest of `version`.
    func manifest(version: String) async throws -> SignedManifest
    /// Blob `digest` from byte `offset` on (`CoordinatorClient.blob`).
    func blob(
        digest: String, from offset: Int, total: Int, begin: (Int) throws -> Void, chunk: (ByteBuffer) throws -> Void
    ) async throws
}

extension CoordinatorClient: ModelSource {}

/// A source whose connection drops once `cutAfter` body bytes have arrived in all (a cut line, a killed daemon):
/// what `bench distribution` and the tests of resumable downloads put in front of a real source.
public final class CuttingSource: ModelSource, Sendable {
    let base: any ModelSource
    let cutAfter: Int
    let count = Mutex(0)
    /// Body bytes handed on before the cut.
    public var delivered: Int { count.withLock { $0 } }

    public init(_ base: any ModelSource, cutAfter: Int) {
        self.base = base
        self.cutAfter = cutAfter
    }

    public func manifest(version: String) async throws -> SignedManifest { try await base.manifest(version: version) }

    public func blob(
        digest: String, from offset: Int, total: Int, begin: (Int) throws -> Void, chunk: (ByteBuffer) throws -> Void
    ) async throws {
        try await base.blob(digest: digest, from: offset, total: total, begin: begin) { piece in
            let keep = count.withLock { n -> Int in
                let k = min(piece.readableBytes, max(0, cutAfter - n))
                n += k
                return k
            }
            if keep > 0 { try chunk(piece.getSlice(at: piece.readerIndex, length: keep)!) }
            if keep < piece.readableBytes {
                throw CoordinatorClientError(status: nil, code: "transport", message: "connection cut after \(cutAfter) bytes")
            }
        }
    }
}

/// Fetches a model version with the fewest bytes (Docs/Protocol.md "Model distribution"):
///
/// 1. a cached version is used as it is (the cache checks its hash);
/// 2. otherwise the signed manifest is fetched and checked with the key pinned at join;
/// 3. the peer prices the two ways it can build the version: the round deltas from a version it holds, or the
///    manifest's chunks it lacks (a chunk it holds in a cached version is copied, after its hash is checked); it
///    takes the cheaper, bytes already downloaded counting as free;
/// 4. every blob downloads into `cache/partial/<digest>.part`, so a cut connection or a killed daemon resumes with
///    `Range` where it stopped (finished blobs stay there until the version is stored); a finished blob is checked
///    against its digest, and a damaged one is deleted;
/// 5. the rebuilt checkpoint must hash to the version, every intermediate delta target to its own: nothing
///    unverified reaches training.
///
/// A delta chain that fails (a damaged delta, a base gone from the cache) falls back to chunks in the same call.
public struct ModelFetcher: Sendable {
    /// How the version was built (logs, benchmarks, tests).
    public enum Route: String, Sendable, Equatable {
        case cache, chunks, deltas
    }

    /// A fetched version.
    public struct Fetched: Sendable {
        public var data: Data
        public var route: Route
        /// Bytes that came over the network in this call.
        public var downloadedBytes: Int
    }

    public let cache: ArtifactCache
    public let verifier: ManifestVerifier
    /// The campaign the peer joined (a manifest of another campaign is refused); nil: not checked.
    public let campaign: String?
    public let source: any ModelSource
    /// Called with every piece's size as it arrives (the daemon's byte counts and daily cap).
    public let onBytes: @Sendable (Int) -> Void
    /// A version the caller holds in memory, already verified (the daemon's previous model): a delta chain from it
    /// starts from these bytes instead of reading and hashing the cache's copy again.
    public var held: (version: String, bytes: Data)?

    public init(
        cache: ArtifactCache, verifier: ManifestVerifier, campaign: String?, source: any ModelSource,
        onBytes: @escaping @Sendable (Int) -> Void = { _ in }, held: (version: String, bytes: Data)? = nil
    ) {
        self.cache = cache; self.verifier = verifier; self.campaign = campaign; self.source = source
        self.onBytes = onBytes
        self.held = held
    }

    /// The verified checkpoint bytes of `version`, stored in the cache.
    /// - Parameter keeping: digests the cache's trim keeps (the lease in progress).
    /// - Throws: `PeerError` for a manifest that fails its signature or a build that does not hash to `version`
    ///   (nothing is stored; the next call starts again from what is verified); what `source` throws.
    public func fetch(version: String, keeping: Set<String> = []) async throws -> Fetched {
        if let cached = cache.get(.model, version) { return Fetched(data: cached, route: .cache, downloadedBytes: 0) }
        guard ArtifactCache.isDigest(version) else {
            throw PeerError("the lease names model '\(version)', not a SHA-256 digest")
        }
        let signed = try await source.manifest(version: version)
        let manifest: ModelManifest
        do {
            manifest = try verifier.verify(signed, version: version, campaign: campaign)
        } catch let error as CodecError {
            throw PeerError("model \(version.prefix(12))…: \(error.message)")
        }
        let counter = Counter()
        try? FileManager.default.createDirectory(atPath: paths.partial, withIntermediateDirectories: true)
        let plan = self.plan(manifest)
        removeStalePartials(except: Set(manifest.chunks.map(\.digest) + manifest.deltas.map(\.digest)))
        if let chain = plan.deltas, plan.deltaCost < plan.chunkCost {
            do {
                // Each step of `build` checks its result against its `to`; the chain must end at this version.
                guard chain.deltas.last?.to == manifest.version else {
                    throw PeerError("model \(version.prefix(12))…'s manifest has a delta chain that ends elsewhere")
                }
                let data = try await build(from: chain.base, deltas: chain.deltas, counter: counter)
                try store(data, manifest: manifest, keeping: keeping)
                return Fetched(data: data, route: .deltas, downloadedBytes: counter.value)
            } catch is PeerError {
                // A damaged delta or a base that left the cache: chunks still get there.
            } catch let error as CoordinatorClientError where error.status == 404 {
                // The coordinator pruned the delta since the manifest was read: so do chunks.
            }
        }
        let data = try await assemble(manifest, counter: counter)
        try store(data, manifest: manifest, keeping: keeping)
        return Fetched(data: data, route: .chunks, downloadedBytes: counter.value)
    }

    var paths: PeerPaths { cache.paths }

    // MARK: planning

    /// The two ways to the version and what each would download.
    struct Plan {
        var deltas: (base: String, deltas: [ModelManifest.Delta])?
        var deltaCost: Int
        var chunkCost: Int
    }

    func plan(_ manifest: ModelManifest) -> Plan {
        let held = heldChunks()
        let chunkCost = manifest.chunks.reduce(0) { sum, c in
            held[c.digest] != nil ? sum : sum + max(0, c.bytes - partialBytes(c.digest))
        }
        var best: (base: String, deltas: [ModelManifest.Delta])?
        var bestCost = Int.max
        for model in cache.entries() where model.kind == .model {
            guard let chain = manifest.deltas(from: model.digest) else { continue }
            let cost = chain.reduce(0) { $0 + max(0, $1.bytes - partialBytes($1.digest)) }
            if cost < bestCost { best = (model.digest, Array(chain)); bestCost = cost }
        }
        return Plan(deltas: best, deltaCost: bestCost, chunkCost: chunkCost)
    }

    /// Chunks of the cached models (from the manifests stored beside them): digest → (model file, offset, bytes).
    func heldChunks() -> [String: (path: String, offset: Int, bytes: Int)] {
        var out: [String: (String, Int, Int)] = [:]
        for model in cache.entries() where model.kind == .model {
            guard let data = FileManager.default.contents(atPath: paths.modelManifest(model.digest)),
                  let m = try? JSONDecoder().decode(ModelManifest.self, from: data), m.version == model.digest
            else { continue }
            for c in m.chunks { out[c.digest] = (model.path, c.offset, c.bytes) }
        }
        return out
    }

    // MARK: building

    /// Applies `deltas` to the cached `base`, checking every version on the way.
    func build(from base: String, deltas: [ModelManifest.Delta], counter: Counter) async throws -> Data {
        let kept = held.flatMap { $0.version == base ? $0.bytes : nil }
        guard var bytes = kept ?? cache.get(.model, base) else { throw PeerError("the base model \(base.prefix(12))… left the cache") }
        for d in deltas {
            let blob = try await download(digest: d.digest, bytes: d.bytes, counter: counter)
            do {
                let delta = try ModelDelta.decode(blob)
                guard Hex.lowercase(delta.base) == d.from, Hex.lowercase(delta.target) == d.to else {
                    throw PeerError("delta \(d.digest.prefix(12))… joins other versions than its manifest says")
                }
                // `bytes` hash to d.from: the verified cache entry, or the previous step's checked result.
                let (_, params) = try Checkpoint.split(bytes, path: "model \(d.from.prefix(12))", digestVerified: true)
                bytes = Checkpoint.assemble(prefix: delta.prefix, params: try delta.apply(to: params))
            } catch let error as PeerError {
                throw error
            } catch {
                throw PeerError("delta \(d.digest.prefix(12))… does not apply: \(error)")
            }
            guard ContentDigest.hex(bytes) == d.to else {
                throw PeerError("delta \(d.digest.prefix(12))… rebuilt a model that does not hash to \(d.to.prefix(12))…")
            }
        }
        return bytes
    }

    /// The checkpoint from its chunks: held ones copied (hash checked), missing ones downloaded.
    func assemble(_ manifest: ModelManifest, counter: Counter) async throws -> Data {
        let held = heldChunks()
        var out = Data()
        out.reserveCapacity(manifest.bytes)
        for c in manifest.chunks {
            if let h = held[c.digest], let local = Self.read(path: h.path, offset: h.offset, bytes: h.bytes),
               ContentDigest.hex(local) == c.digest
            {
                out.append(local)
                continue
            }
            out.append(try await download(digest: c.digest, bytes: c.bytes, counter: counter))
        }
        guard ContentDigest.hex(out) == manifest.version else {
            throw PeerError(
                "the chunks of model \(manifest.version.prefix(12))… do not hash to it (a manifest and its chunks "
                    + "disagree); it will be fetched again")
        }
        return out
    }

    /// Blob `digest` of `bytes` bytes: resumed from its partial file (a complete one costs nothing), completed and
    /// checked. The file stays in `partial/` until the version is stored.
    func download(digest: String, bytes: Int, counter: Counter) async throws -> Data {
        let part = paths.partialFile(digest)
        let fm = FileManager.default
        var have = (try? fm.attributesOfItem(atPath: part)[.size] as? NSNumber)?.intValue ?? 0
        if have > bytes {
            AtomicFileWriter.remove(part)
            have = 0
        }
        if have < bytes {
            if !fm.fileExists(atPath: part), !fm.createFile(atPath: part, contents: nil) {
                throw PeerError("cannot create \(part); check the peer directory's permissions and free space")
            }
            guard let handle = FileHandle(forWritingAtPath: part) else {
                throw PeerError("cannot write \(part); check the peer directory's permissions and free space")
            }
            defer { try? handle.close() }
            let onBytes = self.onBytes
            let offset = have
            try await source.blob(
                digest: digest, from: offset, total: bytes,
                begin: { start in
                    do {
                        try handle.truncate(atOffset: UInt64(start))
                        try handle.seekToEnd()
                    } catch { throw PartialFileError(path: part, underlying: error) }
                },
                chunk: { piece in
                    do { try handle.write(contentsOf: Data(piece.readableBytesView)) } catch {
                        throw PartialFileError(path: part, underlying: error)
                    }
                    counter.add(piece.readableBytes)
                    onBytes(piece.readableBytes)
                })
        }
        guard let data = fm.contents(atPath: part), data.count == bytes else {
            throw PeerError(
                "blob \(digest.prefix(12))… ended early (\((try? fm.attributesOfItem(atPath: part)[.size] as? NSNumber)?.intValue ?? 0) of \(bytes) bytes); the next try resumes")
        }
        guard ContentDigest.hex(data) == digest else {
            AtomicFileWriter.remove(part)
            throw PeerError(
                "blob \(digest.prefix(12))… does not hash to its name: corrupted in transit; it is deleted and will "
                    + "be fetched again")
        }
        // Kept until the version is stored: a cut in a later blob must not cost this one again.
        return data
    }

    /// Stores a verified version (`build` and `assemble` checked it hashes to `manifest.version`) and its manifest
    /// (which names its chunks for later versions).
    func store(_ data: Data, manifest: ModelManifest, keeping: Set<String>) throws {
        try cache.put(.model, manifest.version, data, keeping: keeping, digestVerified: true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFileWriter.write(try encoder.encode(manifest), to: paths.modelManifest(manifest.version), mode: 0o644)
        removeStalePartials(except: [])
    }

    /// Bytes already in the partial file of `digest`.
    func partialBytes(_ digest: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: paths.partialFile(digest))[.size] as? NSNumber)?.intValue ?? 0
    }

    /// Deletes partial downloads of blobs this version does not use (a version the peer will not need again).
    func removeStalePartials(except keep: Set<String>) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: paths.partial)) ?? [] {
            let digest = name.hasSuffix(".part") ? String(name.dropLast(5)) : name
            if !keep.contains(digest) { AtomicFileWriter.remove(paths.partial + "/" + name) }
        }
    }

    static func read(path: String, offset: Int, bytes: Int) -> Data? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard (try? handle.seek(toOffset: UInt64(offset))) != nil, let data = try? handle.read(upToCount: bytes),
              data.count == bytes
        else { return nil }
        return data
    }

    /// Bytes downloaded by one fetch.
    final class Counter: Sendable {
        let total = Mutex(0)
        func add(_ n: Int) { total.withLock { $0 += n } }
        var value: Int { total.withLock { $0 } }
    }
}

/// The partial file of a download could not be written (a full disk, a removed directory).
struct PartialFileError: PeerSideError, CustomStringConvertible {
    var path: String
    var underlying: any Error
    var description: String { "cannot write \(path) (\(underlying)); free disk space or check the peer directory" }
}
