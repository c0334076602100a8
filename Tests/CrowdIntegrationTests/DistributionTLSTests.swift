import CrowdClient
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdPeer
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Logging
import Testing

/// Model distribution end to end over real TLS: a download cut at half resumes with `Range` in a new fetcher (a
/// killed daemon), the campaign's own daemon trains on the versions it rebuilds, and after a coordinator restart
/// between versions a peer holding the older one takes the round delta, signed with the key it pinned at join.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct DistributionTLSTests {
    @Test func aCutDownloadResumesAndAReturningPeerTakesTheDeltaAcrossARestart() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 2, localSteps: 4)
        defer { campaign.remove() }
        var coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let credential = try PeerCredential.read(from: campaign.peerDir(1) + "/credential.json")
        let key = try #require(credential.manifestKey)
        let verifier = try ManifestVerifier(publicKey: key)
        let v0 = await coordinator.app.coordinator.currentModelVersion
        let watcher = PeerPaths(root: campaign.peerDir(9))
        try watcher.create()
        let cache = ArtifactCache(paths: watcher)

        // A join cut at half the model; a new fetcher on the same directory downloads only the rest.
        var client = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: credential.secret)
        let total = try await client.manifest(version: v0)
        let size = try verifier.verify(total, version: v0).bytes
        let cut = CuttingSource(client, cutAfter: size / 2)
        await #expect(throws: CoordinatorClientError.self) {
            _ = try await ModelFetcher(cache: cache, verifier: verifier, campaign: "integration", source: cut).fetch(version: v0)
        }
        let resumed = try await ModelFetcher(cache: cache, verifier: verifier, campaign: "integration", source: client)
            .fetch(version: v0)
        #expect(ContentDigest.hex(resumed.data) == v0 && resumed.downloadedBytes == size - size / 2)

        // The campaign's daemon trains both rounds on what its fetcher rebuilds.
        var logger = Logger(label: "it.peer")
        logger.logLevel = .warning
        try await PeerDaemon(
            directory: campaign.peerDir(1),
            config: PeerRunConfig(threads: 1, exitWhenFinished: true, maxLeases: 2, maxWait: 0.1), logger: logger,
            output: { _ in }
        ).run()
        let kept = coordinator.app.coordinator.distribution.keptVersions
        #expect(kept.count == 3 && kept.first == v0, "\(kept)")
        let status = coordinator.app.coordinator.status()
        #expect(status.roundsCompleted == 2 && status.updatesAccepted == 2)

        // The watcher takes round 1's model now; the coordinator restarts; the watcher comes back for round 2.
        _ = try await ModelFetcher(cache: cache, verifier: verifier, campaign: "integration", source: client).fetch(version: kept[1])
        await client.shutdown()
        await coordinator.stop()
        coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        client = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: credential.secret)
        let back = try await ModelFetcher(cache: cache, verifier: verifier, campaign: "integration", source: client)
            .fetch(version: kept[2])
        await client.shutdown()
        await coordinator.stop()
        #expect(back.route == .deltas && ContentDigest.hex(back.data) == kept[2])
        #expect(back.downloadedBytes < size, "\(back.downloadedBytes) of \(size) bytes")
    }
}
