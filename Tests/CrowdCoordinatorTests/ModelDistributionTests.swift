import CrowdCodec
import CrowdData
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CrowdCoordinator

/// The coordinator's model distribution: every round publishes a signed manifest and a delta that rebuilds the new
/// model bit for bit; blobs are served with ETag and Range; old versions are removed beyond `keepVersions`; a
/// restart between versions indexes the same versions under the same key.
@Suite struct ModelDistributionTests {
    /// Runs `rounds` rounds of two synthetic updates through the API; returns the pinned key.
    static func run(_ app: CoordinatorApp, _ tc: TestCampaign, rounds: Int) async throws -> String {
        let invites = try tc.invite(2)
        return try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let a = try await api.join(invites[0], "alice")
            let b = try await api.join(invites[1], "bob")
            #expect(a.manifestKey == b.manifestKey && a.manifestKey == app.coordinator.distribution.publicKey)
            for r in 0..<rounds {
                let la = try await api.lease(a.credential)
                let lb = try await api.lease(b.credential)
                let base = try await api.bytes(APIPath.model(la.modelVersion), token: a.credential)
                let n = try Checkpoint.decode(base).params.count
                var rng = SystemRandomNumberGenerator()
                for (lease, token) in [(la, a.credential), (lb, b.credential)] {
                    let values = (0..<n).map { _ in Float.random(in: -0.01...0.01, using: &rng) * Float(r + 1) }
                    #expect(try await api.upload(lease, try envelope(values, lease: lease, base: base), token: token).status == .ok)
                }
                await app.coordinator.tickLogged()
                await app.coordinator.waitForEvaluations()
            }
            return a.manifestKey
        }
    }

    @Test func everyRoundPublishesASignedManifestAndADeltaThatRebuildsItBitForBit() async throws {
        let tc = try TestCampaign.make { $0.distribution.keepVersions = 3 }
        defer { tc.remove() }
        let app = try tc.app()
        let key = try await Self.run(app, tc, rounds: 4)
        let distribution = app.coordinator.distribution
        let verifier = try ManifestVerifier(publicKey: key)
        let kept = distribution.keptVersions
        #expect(kept.count == 3)
        let current = await app.coordinator.currentModelVersion
        #expect(kept.last == current)
        let manifest = try verifier.verify(try #require(distribution.manifest(version: current)), version: current, campaign: "test campaign")
        // Two deltas lead to the current version from the oldest kept one; each rebuilds its target exactly.
        #expect(manifest.deltas.map(\.to) == Array(kept.dropFirst()) && manifest.deltas.allSatisfy { $0.encoding == "grid8" })
        var bytes = try Data(contentsOf: URL(fileURLWithPath: tc.directory + "/checkpoints/round-000002.ckpt"))
        #expect(ContentDigest.hex(bytes) == kept[0])
        for d in manifest.deltas {
            let blob = try #require(distribution.blob(digest: d.digest))
            let data = try ModelDistribution.read(blob, range: 0..<blob.bytes)
            #expect(ContentDigest.hex(data) == d.digest)
            let delta = try ModelDelta.decode(data)
            bytes = Checkpoint.assemble(prefix: delta.prefix, params: try delta.apply(to: try Checkpoint.split(bytes).params))
            #expect(ContentDigest.hex(bytes) == d.to)
            #expect(Double(d.bytes) < 0.30 * Double(manifest.bytes), "delta \(d.bytes) of \(manifest.bytes) bytes")
        }
        // The chunks tile the checkpoint.
        let served = try manifest.chunks.map { try ModelDistribution.read(try #require(distribution.blob(digest: $0.digest)), range: 0..<$0.bytes) }
        #expect(ContentDigest.hex(served.reduce(Data(), +)) == current)

        // Retention: rounds 0 and 1 are gone from disk and from the listings; asking for them says why.
        for round in [0, 1] {
            #expect(!FileManager.default.fileExists(atPath: tc.directory + "/checkpoints/round-00000\(round).ckpt"))
        }
        #expect(FileManager.default.fileExists(atPath: tc.directory + "/checkpoints/round-000002.ckpt"))
        #expect(try tc.count("removed_checkpoints") == 2)
        let store = try SQLiteStore(path: tc.directory + "/coordinator.sqlite")
        #expect(try store.checkpoints().map(\.round) == [4, 3, 2])
        let removed = try #require(try store.checkpoint(version: kept[0])).round == 2
        #expect(removed)
    }

    @Test func aRestartBetweenVersionsServesTheSameVersionsUnderTheSameKey() async throws {
        let tc = try TestCampaign.make { $0.distribution.keepVersions = 4 }
        defer { tc.remove() }
        let app = try tc.app()
        let key = try await Self.run(app, tc, rounds: 2)
        let before = app.coordinator.distribution.keptVersions
        let current = await app.coordinator.currentModelVersion
        let reopened = try tc.open()
        #expect(reopened.distribution.publicKey == key)
        #expect(reopened.distribution.keptVersions == before)
        let manifest = try ManifestVerifier(publicKey: key).verify(
            try #require(reopened.distribution.manifest(version: current)), version: current)
        #expect(manifest.deltas.count == 2 && manifest.deltas.allSatisfy { reopened.distribution.blob(digest: $0.digest) != nil })
        // A manifest file damaged while it was down is rebuilt from the checkpoint.
        try Data("{".utf8).write(to: URL(fileURLWithPath: tc.directory + "/manifests/\(current).json"))
        let again = try tc.open()
        #expect(again.distribution.plainManifest(version: current) == manifest)
    }

    @Test func blobsAnswerETagRangeAndNotModified() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        let version = await app.coordinator.currentModelVersion
        let checkpoint = try Data(contentsOf: URL(fileURLWithPath: tc.directory + "/checkpoints/round-000000.ckpt"))
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invite, "alice")
            // No credential, no manifest.
            #expect(try await api.call(.get, APIPath.manifest(version)).status == .unauthorized)
            let signed = try decode(SignedManifest.self, try await api.call(.get, APIPath.manifest(version), token: peer.credential))
            let manifest = try ManifestVerifier(publicKey: peer.manifestKey).verify(signed, version: version)
            let chunk = manifest.chunks[0]
            func get(_ headers: HTTPFields) async throws -> TestResponse {
                var h = headers
                h[.authorization] = "Bearer \(peer.credential)"
                return try await client.execute(uri: APIPath.blob(chunk.digest), method: .get, headers: h, body: nil)
            }
            let whole = try await get([:])
            #expect(whole.status == .ok && whole.headers[.eTag] == "\"\(chunk.digest)\"" && whole.headers[.acceptRanges] == "bytes")
            #expect(Data(whole.body.readableBytesView) == checkpoint.prefix(chunk.bytes))
            let part = try await get([.range: "bytes=100-"])
            #expect(part.status == .partialContent && part.headers[.contentRange] == "bytes 100-\(chunk.bytes - 1)/\(chunk.bytes)")
            #expect(Data(part.body.readableBytesView) == checkpoint[100..<chunk.bytes])
            let middle = try await get([.range: "bytes=10-19"])
            #expect(middle.status == .partialContent && Data(middle.body.readableBytesView) == checkpoint[10..<20])
            let suffix = try await get([.range: "bytes=-5"])
            #expect(Data(suffix.body.readableBytesView) == checkpoint[(chunk.bytes - 5)..<chunk.bytes])
            let past = try await get([.range: "bytes=\(chunk.bytes)-"])
            #expect(past.status == .rangeNotSatisfiable && past.headers[.contentRange] == "bytes */\(chunk.bytes)")
            // Several ranges or another unit: ignored, the whole blob (RFC 9110).
            #expect(try await get([.range: "bytes=0-1,5-6"]).status == .ok)
            #expect(try await get([.range: "lines=1-2"]).status == .ok)
            #expect(try await get([.ifNoneMatch: "\"\(chunk.digest)\""]).status == .notModified)
            // An unknown digest is a 404 with a hint, not a file read.
            let unknown = try await client.execute(
                uri: APIPath.blob(String(repeating: "0", count: 64)), method: .get,
                headers: [.authorization: "Bearer \(peer.credential)"], body: nil)
            expectRejected(unknown, .notFound, .notFound)
            let traversal = try await client.execute(
                uri: "/v1/blobs/..%2F..%2Fcoordinator.sqlite", method: .get,
                headers: [.authorization: "Bearer \(peer.credential)"], body: nil)
            #expect(traversal.status == .notFound)
        }
    }

    @Test func aChunkOfADamagedCheckpointFileIsNotServedUnderItsName() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        let version = await app.coordinator.currentModelVersion
        let path = tc.directory + "/checkpoints/round-000000.ckpt"
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[200] ^= 0x40  // a bit rotted on the coordinator's disk after start-up
        try bytes.write(to: URL(fileURLWithPath: path))
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invite, "alice")
            let signed = try decode(SignedManifest.self, try await api.call(.get, APIPath.manifest(version), token: peer.credential))
            let chunk = try ManifestVerifier(publicKey: peer.manifestKey).verify(signed, version: version).chunks[0]
            for range in [nil, "bytes=0-9"] {
                var headers: HTTPFields = [.authorization: "Bearer \(peer.credential)"]
                if let range { headers[.range] = range }
                let r = try await client.execute(uri: APIPath.blob(chunk.digest), method: .get, headers: headers, body: nil)
                expectRejected(r, .internalServerError, .internalError)
            }
        }
    }

    @Test func rangeHeadersParseAsRFC9110Says() {
        typealias R = DistributionRoutes
        #expect(R.parseRange(nil, length: 10) == .whole)
        #expect(R.parseRange("bytes=0-", length: 10) == .part(0..<10))
        #expect(R.parseRange("bytes=3-5", length: 10) == .part(3..<6))
        #expect(R.parseRange("bytes=3-500", length: 10) == .part(3..<10))
        #expect(R.parseRange("bytes=-4", length: 10) == .part(6..<10))
        #expect(R.parseRange("bytes=-40", length: 10) == .part(0..<10))
        #expect(R.parseRange("bytes=10-", length: 10) == .unsatisfiable)
        #expect(R.parseRange("bytes=-0", length: 10) == .unsatisfiable)
        #expect(R.parseRange("bytes=5-3", length: 10) == .whole)
        #expect(R.parseRange("bytes=a-3", length: 10) == .whole)
        #expect(R.parseRange("bytes=99999999999999999999-", length: 10) == .whole)
        #expect(R.parseRange("bytes=1-2,4-5", length: 10) == .whole)
    }

    @Test func keepVersionsMustCoverTheStalestAcceptedUpdate() {
        var config = CampaignConfig(workload: .fmnistMLP)
        config.distribution.keepVersions = 1
        #expect(throws: CoordinatorError.self) { try config.validate() }
        config.distribution.keepVersions = 2
        #expect(throws: Never.self) { try config.validate() }
        config.aggregation = AggregationConfig(mode: .async, maxStaleness: 4)
        #expect(throws: CoordinatorError.self) { try config.validate() }
        config.distribution.keepVersions = 6
        #expect(throws: Never.self) { try config.validate() }
    }
}
