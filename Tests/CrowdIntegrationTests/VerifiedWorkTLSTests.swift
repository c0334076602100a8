import CrowdClient
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import CrowdTestSupport
import CrowdVerification
import Foundation
import Testing

/// The verified-work attack over real TLS: a credentialed peer trains a shard it was not leased, commits to that
/// trajectory and answers its challenge through `PUT /v1/updates/{id}/proof`; it is caught, its next request is
/// refused `suspended` (403), and it earns nothing. The control campaign without verification credits it.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct VerifiedWorkTLSTests {
    func attack(verify: Bool) async throws -> (ledger: Double, refused: APIErrorCode?, lines: [String]) {
        var v = VerificationConfig()
        v.enabled = verify
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 3, localSteps: 6, verification: v)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let credential = try await PeerEnrollment.join(
            coordinator: coordinator.url, caPEM: campaign.caPEM, invite: try campaign.invites(1)[0], name: "mallory",
            directory: campaign.peerDir(1))
        let client = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: credential.secret)
        var refused: APIErrorCode?
        do {
            let lease = try #require(try await client.lease(LeaseRequest(threads: 1)).lease)
            let checkpoint = try Checkpoint.decode(try await client.model(version: lease.modelVersion))
            let manifest = try ShardManifest.load(directory: CampaignPaths(directory: campaign.coordinatorDir).shards)
            let other = try #require(manifest.shards.first { !lease.shardIDs.contains($0.id) })
            // Not leased to it, so the coordinator refuses to serve it; the cheater kept it from an earlier lease.
            await #expect(throws: CoordinatorClientError.self) { _ = try await client.shard(id: other.id) }
            let kept = try #require(
                FileManager.default.contents(
                    atPath: CampaignPaths(directory: campaign.coordinatorDir).shards + "/" + other.file))
            let wrong = try ShardFile.decode(kept, name: other.id, expectedID: other.id)
            let x = try LeaseProgram.execute(
                lease: lease, checkpoint: checkpoint, shards: [wrong], segmentSteps: lease.verification?.segmentSteps ?? 2)
            var header = EnvelopeHeader(
                schemaHash: lease.schemaHash, round: lease.round, baseModel: hexBytes(lease.modelVersion),
                codec: try CodecSpec(parsing: lease.codec), elementCount: x.delta.count)
            header.commitment = verify ? x.trajectory?.commitment(samples: lease.samples) : nil
            var feedback = ErrorFeedback(count: x.delta.count)
            let receipt = try await client.putUpdate(
                leaseID: lease.leaseID, envelope: try feedback.encode(x.delta, header: header), trainLoss: nil)
            if verify {
                let challenge = try #require(receipt.challenge)
                let proof = try #require(x.trajectory?.proof(segment: challenge.segment))
                let ack = try await client.putProof(leaseID: lease.leaseID, proof: proof.encoded())
                #expect(ack.status == "received")
            } else {
                #expect(receipt.challenge == nil)
            }
            await coordinator.app.coordinator.waitForEvaluations()
            _ = try await client.lease(LeaseRequest(threads: 1))
        } catch let e as CoordinatorClientError {
            refused = e.apiCode
        }
        await client.shutdown()
        await coordinator.app.coordinator.waitForEvaluations()
        await coordinator.stop()
        let store = try SQLiteStore(path: CampaignPaths(directory: campaign.coordinatorDir).database)
        let report = try CampaignAudit.run(directory: campaign.coordinatorDir, acknowledged: [])
        #expect(report.ok, "\(report.violations)")
        if verify {
            #expect(report.suspended.count == 1 && report.suspended[0].name == "mallory")
            #expect(report.evidence.map(\.verifier).sorted() == ["first", "second"], "\(report.evidence)")
        }
        return (try store.ledgerTotals().values.reduce(0, +), refused, report.evidence.map(\.result))
    }

    @Test func aWrongShardCheaterIsCaughtOverTLSAndTheControlIsCredited() async throws {
        let defended = try await attack(verify: true)
        #expect(defended.refused == .suspended)
        #expect(defended.ledger == 0)
        #expect(defended.lines == ["replay_mismatch", "replay_mismatch"])
        let control = try await attack(verify: false)
        #expect(control.refused == nil)
        #expect(control.ledger > 0, "without verification the wrong-shard update is credited")
    }
}
