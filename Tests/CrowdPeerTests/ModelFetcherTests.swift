import CrowdClient
import CrowdCodec
import CrowdData
import CrowdProtocol
import Foundation
import NIOCore
import Synchronization
import Testing

@testable import CrowdPeer

/// A coordinator's distribution in miniature: versions, their signed manifests, chunks and deltas, served with
/// faults a hostile network or server could inject.
final class FaultySource: ModelSource, Sendable {
    enum Fault: Sendable, Equatable {
        /// Flip a byte of this blob.
        case corrupt(String)
        /// The connection drops once this many body bytes were served in all (since the counter's start).
        case cutAfter(Int)
        /// Answer every Range with the whole blob (200).
        case ignoreRange
    }

    struct State: Sendable {
        var manifests: [String: SignedManifest] = [:]
        var blobs: [String: Data] = [:]
        var faults: [Fault] = []
        var served = 0
        var blobCalls = 0
    }

    let state = Mutex(State())

    var served: Int { state.withLock { $0.served } }
    func set(_ faults: [Fault]) { state.withLock { $0.faults = faults; $0.served = 0 } }

    func manifest(version: String) async throws -> SignedManifest {
        guard let m = state.withLock({ $0.manifests[version] }) else {
            throw CoordinatorClientError(status: 404, code: "not_found", message: "no manifest")
        }
        return m
    }

    func blob(
        digest: String, from offset: Int, total: Int, begin: (Int) throws -> Void, chunk: (ByteBuffer) throws -> Void
    ) async throws {
        let (blob, faults) = state.withLock { s -> (Data?, [Fault]) in
            s.blobCalls += 1
            return (s.blobs[digest], s.faults)
        }
        guard var data = blob else { throw CoordinatorClientError(status: 404, code: "not_found", message: "no blob") }
        if faults.contains(.corrupt(digest)) { data[data.count / 2] ^= 0x55 }
        let start = faults.contains(.ignoreRange) ? 0 : offset
        try begin(start)
        var at = start
        while at < data.count {
            let n = min(65_536, data.count - at)
            var piece = ByteBuffer(bytes: data[at..<(at + n)])
            let already = state.withLock { $0.served }
            for case .cutAfter(let limit) in faults where already + n > limit {
                let keep = limit - already
                if keep > 0 { try chunk(piece.readSlice(length: keep)!) }
                state.withLock { $0.served += max(0, keep) }
                throw CoordinatorClientError(status: nil, code: "transport", message: "connection reset (test)")
            }
            try chunk(piece)
            at += n
            state.withLock { $0.served += n }
        }
    }
}

@Suite struct ModelFetcherTests {
    /// Three versions of a 700k-parameter model (2.8 MB: three chunks), each a grid step from the one before.
    struct World {
        let signer = ManifestSigner()
        var versions: [String] = []
        var bytes: [Data] = []
        let source = FaultySource()

        init(steps: Int = 2, parameters: Int = 700_000, unchangedMiddle: Bool = false, withDeltas: Bool = true) throws {
            var rng = SystemRandomNumberGenerator()
            var params = (0..<parameters).map { _ in Float.random(in: -0.1...0.1, using: &rng) }
            var manifests: [ModelManifest] = []
            var deltas: [ModelManifest.Delta] = []
            for round in 0...steps {
                if round > 0 {
                    var wanted = params
                    for i in wanted.indices {
                        let middle = i > parameters * 3 / 10 && i < parameters * 8 / 10
                        if !(unchangedMiddle && middle) { wanted[i] += Float.random(in: -1e-3...1e-3, using: &rng) }
                    }
                    let step = GridStep.nearest(from: params, to: wanted)
                    let next = step.apply(to: params)
                    let data = Self.checkpoint(next, round: round)
                    let delta = try ModelDelta.grid(
                        step, baseVersion: ContentDigest.bytes(bytes[round - 1]), targetVersion: ContentDigest.bytes(data),
                        targetPrefix: try Checkpoint.split(data).prefix)
                    let encoded = delta.encoded()
                    let digest = ContentDigest.hex(encoded)
                    source.state.withLock { $0.blobs[digest] = encoded }
                    deltas.append(.init(from: versions[round - 1], to: ContentDigest.hex(data), round: UInt64(round),
                                        digest: digest, bytes: encoded.count, encoding: "grid8"))
                    params = next
                    bytes.append(data)
                } else {
                    bytes.append(Self.checkpoint(params, round: 0))
                }
                let data = bytes[round]
                let version = ContentDigest.hex(data)
                versions.append(version)
                var chunks: [ModelManifest.Chunk] = []
                var offset = 0
                while offset < data.count {
                    let n = min(ModelManifest.chunkBytes, data.count - offset)
                    let piece = data[offset..<(offset + n)]
                    chunks.append(.init(digest: ContentDigest.hex(piece), offset: offset, bytes: n))
                    source.state.withLock { $0.blobs[ContentDigest.hex(piece)] = Data(piece) }
                    offset += n
                }
                manifests.append(ModelManifest(
                    campaign: "test", version: version, round: UInt64(round), bytes: data.count, chunks: chunks,
                    deltas: withDeltas ? deltas : []))
            }
            for m in manifests {
                let signed = try signer.sign(m)
                source.state.withLock { $0.manifests[m.version] = signed }
            }
        }

        static func checkpoint(_ params: [Float], round: Int) -> Data {
            try! Checkpoint(kind: "mlp", schemaHash: 7, configJSON: Data("{}".utf8), metadata: ["round": "\(round)"],
                            params: params).encoded()
        }
    }

    let paths: PeerPaths

    init() throws {
        paths = PeerPaths(root: NSTemporaryDirectory() + "crowdpeer-fetch-\(UInt64.random(in: 0...UInt64.max))")
        try paths.create()
    }

    func fetcher(_ world: World, key: String? = nil) throws -> ModelFetcher {
        ModelFetcher(
            cache: ArtifactCache(paths: paths, limitBytes: 1 << 30),
            verifier: try ManifestVerifier(publicKey: key ?? world.signer.publicKey), campaign: "test",
            source: world.source)
    }

    @Test func aJoinTakesChunksAndAReturnTakesTheDeltasBitForBit() async throws {
        let world = try World()
        let join = try await fetcher(world).fetch(version: world.versions[0])
        #expect(join.route == .chunks && join.data == world.bytes[0] && join.downloadedBytes == world.bytes[0].count)
        // Back after one round: the delta, at most 30 % of a full download.
        let one = try await fetcher(world).fetch(version: world.versions[1])
        #expect(one.route == .deltas && ContentDigest.hex(one.data) == world.versions[1])
        #expect(Double(one.downloadedBytes) <= 0.30 * Double(world.bytes[1].count), "\(one.downloadedBytes) bytes")
        // v0 evicted: from v1, one more delta; a fresh peer would take chunks.
        let two = try await fetcher(world).fetch(version: world.versions[2])
        #expect(two.route == .deltas && two.data == world.bytes[2])
        let again = try await fetcher(world).fetch(version: world.versions[2])
        #expect(again.route == .cache && again.downloadedBytes == 0)
    }

    @Test func aCorruptChunkIsDeletedNotStoredAndFetchedAgain() async throws {
        let world = try World()
        let manifest = try ManifestVerifier(publicKey: world.signer.publicKey)
            .verify(try await world.source.manifest(version: world.versions[0]), version: world.versions[0])
        world.source.set([.corrupt(manifest.chunks[1].digest)])
        await #expect {
            _ = try await fetcher(world).fetch(version: world.versions[0])
        } throws: { "\($0)".contains("does not hash to its name") }
        #expect(ArtifactCache(paths: paths).get(.model, world.versions[0]) == nil)
        #expect(!FileManager.default.fileExists(atPath: paths.partialFile(manifest.chunks[1].digest)))
        world.source.set([])
        #expect(try await fetcher(world).fetch(version: world.versions[0]).data == world.bytes[0])
    }

    @Test func aManifestSignedByAnotherKeyIsRefusedBeforeAnyBlob() async throws {
        let world = try World()
        // The peer pinned another coordinator's key (or someone between re-signed the manifest).
        await #expect {
            _ = try await fetcher(world, key: ManifestSigner().publicKey).fetch(version: world.versions[0])
        } throws: { "\($0)".contains("not signed by the coordinator's key") }
        #expect(world.source.served == 0 && world.source.state.withLock { $0.blobCalls } == 0)
    }

    @Test func aCutDownloadResumesWhereItStoppedAcrossARestart() async throws {
        let world = try World()
        let total = world.bytes[0].count
        // The connection drops at half the model: a truncated body.
        world.source.set([.cutAfter(total / 2)])
        await #expect(throws: CoordinatorClientError.self) { _ = try await fetcher(world).fetch(version: world.versions[0]) }
        let before = world.source.served
        #expect(before == total / 2)
        // A new fetcher (the daemon restarted): it asks only for the rest.
        world.source.set([])
        let resumed = try await fetcher(world).fetch(version: world.versions[0])
        #expect(resumed.data == world.bytes[0] && world.source.served == resumed.downloadedBytes)
        let extra = before + resumed.downloadedBytes - total
        print("resume: cut at \(before) of \(total) bytes; re-downloaded \(extra) bytes")
        #expect(extra == 0 && resumed.downloadedBytes == total - before)
    }

    @Test func aServerThatIgnoresRangeStillYieldsTheModel() async throws {
        let world = try World()
        world.source.set([.cutAfter(300_000)])
        await #expect(throws: CoordinatorClientError.self) { _ = try await fetcher(world).fetch(version: world.versions[0]) }
        world.source.set([.ignoreRange])
        #expect(try await fetcher(world).fetch(version: world.versions[0]).data == world.bytes[0])
    }

    @Test func aCorruptDeltaFallsBackToChunks() async throws {
        let world = try World(steps: 1)
        _ = try await fetcher(world).fetch(version: world.versions[0])
        let manifest = try ManifestVerifier(publicKey: world.signer.publicKey)
            .verify(try await world.source.manifest(version: world.versions[1]), version: world.versions[1])
        world.source.set([.corrupt(manifest.deltas[0].digest)])
        let fetched = try await fetcher(world).fetch(version: world.versions[1])
        #expect(fetched.route == .chunks && fetched.data == world.bytes[1])
    }

    /// The daemon's previous model, held in memory (`ModelFetcher.held`), is the base of the next delta: with the
    /// cache's copy damaged the delta route still applies (control: without `held` the damaged copy is refused and
    /// the fetcher falls back to chunks).
    @Test func aHeldBaseIsUsedForTheDeltaInsteadOfTheCachedCopy() async throws {
        let world = try World(steps: 1)
        _ = try await fetcher(world).fetch(version: world.versions[0])
        let cached = paths.modelCache + "/\(world.versions[0]).ckpt"
        var damaged = try Data(contentsOf: URL(fileURLWithPath: cached))
        damaged[damaged.count / 2] ^= 0x01
        try damaged.write(to: URL(fileURLWithPath: cached))

        var withHeld = try fetcher(world)
        withHeld.held = (world.versions[0], world.bytes[0])
        let fetched = try await withHeld.fetch(version: world.versions[1])
        #expect(fetched.route == .deltas && fetched.data == world.bytes[1])

        // Control: the same damage, no held bytes, a fresh directory state for v1.
        AtomicFileWriter.remove(paths.modelCache + "/\(world.versions[1]).ckpt")
        try damaged.write(to: URL(fileURLWithPath: cached))
        let control = try await fetcher(world).fetch(version: world.versions[1])
        #expect(control.route == .chunks && control.data == world.bytes[1])
    }

    @Test func chunksThePeerHoldsAreCopiedNotDownloaded() async throws {
        let world = try World(steps: 1, unchangedMiddle: true, withDeltas: false)
        _ = try await fetcher(world).fetch(version: world.versions[0])
        let fetched = try await fetcher(world).fetch(version: world.versions[1])
        #expect(fetched.route == .chunks && fetched.data == world.bytes[1])
        // Three chunks; the middle one did not change.
        #expect(fetched.downloadedBytes == world.bytes[1].count - ModelManifest.chunkBytes, "\(fetched.downloadedBytes)")
    }

    @Test func aDaemonWhoseCredentialPredatesSignedManifestsRefusesToStartAndSaysWhy() async throws {
        let credential = PeerCredential(
            coordinator: "https://127.0.0.1:1", peerID: "p", secret: "ct_peer_x", name: "alice", campaign: "test",
            joinedAt: 0)
        try credential.write(to: paths.credential)
        await #expect {
            try await PeerDaemon(directory: paths.root, config: PeerRunConfig(threads: 1), output: { _ in }).run()
        } throws: { "\($0)".contains("has no manifest key") && "\($0)".contains("join again") }
        var garbled = credential
        garbled.manifestKey = "AAAA"
        try garbled.write(to: paths.credential)
        await #expect {
            try await PeerDaemon(directory: paths.root, config: PeerRunConfig(threads: 1), output: { _ in }).run()
        } throws: { "\($0)".contains("not an Ed25519 public key") }
    }
}
