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
import Logging
import ServiceLifecycle
import Testing

/// A coordinator and peers over real TLS on 127.0.0.1, in one process, with bounded time.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct NetworkTests {
    /// Joins `count` peers and runs their daemons until each finished `leases` leases or the campaign ended.
    func runPeers(_ campaign: LiveCampaign, _ coordinator: RunningCoordinator, invites: [String], leases: Int, first: Int = 1)
        async throws -> [Lines]
    {
        var outputs: [Lines] = []
        for (k, invite) in invites.enumerated() {
            let i = first + k
            if !FileManager.default.fileExists(atPath: PeerPaths(root: campaign.peerDir(i)).credential) {
                _ = try await PeerEnrollment.join(
                    coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invite, name: "peer-\(i)",
                    directory: campaign.peerDir(i))
            }
            outputs.append(Lines())
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (k, out) in outputs.enumerated() {
                let daemon = PeerDaemon(
                    directory: campaign.peerDir(first + k),
                    config: PeerRunConfig(threads: 1, backoffBase: 0.05, backoffCap: 0.5, exitWhenFinished: true,
                                          maxLeases: leases, seed: UInt64(k), maxWait: 0.1),
                    output: { out.append($0) })
                group.addTask { try await daemon.run() }
            }
            try await group.waitForAll()
        }
        return outputs
    }

    @Test func peersCompleteRoundsAndTheModelImproves() async throws {
        let campaign = try LiveCampaign(peersPerRound: 2, rounds: 3)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let lines = try await runPeers(campaign, coordinator, invites: try campaign.invites(2), leases: 3)
        await coordinator.app.coordinator.waitForEvaluations()  // evaluation runs after the round commits
        let status = try await coordinator.app.coordinator.status()
        let stats = try await coordinator.app.coordinator.stats(top: 10)
        await coordinator.stop()

        #expect(status.roundsCompleted == 3 && status.finished)
        #expect(status.updatesAccepted == 6 && status.updatesRejected == 0)
        let accuracy = status.evaluations.map(\.value)
        #expect(accuracy.count == 4, "\(accuracy)")
        #expect(accuracy.last! > accuracy.first! + 0.1, "test accuracy did not improve: \(accuracy)")
        #expect(stats.contributors.count == 2 && stats.contributors.allSatisfy { $0.acceptedUpdates == 3 })
        // Verified work over TLS: new peers' updates are all challenged; the daemons answered and every proof checked.
        let store = try SQLiteStore(path: CampaignPaths(directory: campaign.coordinatorDir).database)
        let verification = try store.verificationCounts()
        #expect(verification == [VerificationState.verified: 6], "\(verification)")
        // Each was re-executed and passed: none waived because the coordinator's own inputs failed (the last round's
        // proofs arrive after the campaign finished, when the current model is no longer that round's base).
        let evidence = try store.verifications(peerID: nil, limit: 100)
        #expect(evidence.count == 6 && evidence.allSatisfy { $0.verifier == "first" && $0.result == VerificationReport.verified }, "\(evidence.map { ($0.verifier, $0.result) })")
        for (k, out) in lines.enumerated() {
            let peer = PeerPaths(root: campaign.peerDir(k + 1))
            let s = try #require(PeerStatus.read(from: peer.status))
            #expect(s.state == .stopped && s.lifetime.accepted == 3 && s.lifetime.bytesUp > 0)
            // The daemon reports its memory (here the test process's: the daemons run in it).
            #expect((s.memory?.rssMB ?? 0) > 0 && (s.memory?.peakRSSMB ?? 0) >= (s.memory?.rssMB ?? 0))
            #expect(out.all.filter { $0.contains("accepted") }.count == 3, "\(out.all)")
            // Credit is decided at aggregation; the daemon learns it before asking for its next lease.
            #expect(s.lifetime.credited >= 1 && s.lifetime.uncredited == 0, "\(s.lifetime)")
            #expect(out.all.contains { $0.contains("credited") && $0.contains("GFLOP") }, "\(out.all)")
            #expect(s.lifetime.credit > 0)
            let receipts = try String(contentsOfFile: peer.receipts, encoding: .utf8).split(separator: "\n")
            #expect(receipts.count == 3)
            #expect(!FileManager.default.fileExists(atPath: peer.pending))
            #expect(try ResidualFile.read(from: peer.residual) != nil)
        }
    }

    @Test func restartedCoordinatorContinuesFromItsDatabase() async throws {
        let campaign = try LiveCampaign(peersPerRound: 2, rounds: 4)
        defer { campaign.remove() }
        let invites = try campaign.invites(2)
        var coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        _ = try await runPeers(campaign, coordinator, invites: invites, leases: 2)
        // The last upload's reply comes before its round closes: settle the queued close first.
        await coordinator.app.coordinator.waitForEvaluations()
        let before = try await coordinator.app.coordinator.status()
        await coordinator.stop()
        #expect(before.roundsCompleted == 2)

        // Same address: the peers' credentials name it.
        coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir, port: coordinator.port)
        let reopened = try await coordinator.app.coordinator.status()
        #expect(reopened.roundsCompleted == 2 && reopened.modelVersion == before.modelVersion)
        #expect(reopened.updatesAccepted == before.updatesAccepted && reopened.peersTotal == 2)
        // The same peers (same credentials) finish the campaign against the restarted coordinator.
        _ = try await runPeers(campaign, coordinator, invites: invites, leases: 2)
        await coordinator.app.coordinator.waitForEvaluations()
        let after = try await coordinator.app.coordinator.status()
        await coordinator.stop()
        #expect(after.roundsCompleted == 4 && after.finished && after.updatesAccepted == 8)
        #expect(after.evaluations.count == 5)
    }

    @Test func plaintextHTTPIsRefusedAndRecordsNothing() async throws {
        let campaign = try LiveCampaign()
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let invite = try campaign.invites(1)[0]
        // The client refuses to send anything over http://.
        #expect(throws: ClientSetupError.self) {
            _ = try CoordinatorClient(baseURL: "http://127.0.0.1:\(coordinator.port)", caPEM: campaign.caPEM)
        }
        // A plaintext request to the TLS port gets no HTTP answer.
        let plain = try await PlainHTTP.post(
            port: coordinator.port, path: APIPath.join, body: #"{"invite":"\#(invite)","name":"plain"}"#)
        #expect(!plain.hasPrefix("HTTP/1.1 2"), "plaintext got an HTTP success: \(plain.prefix(80))")
        let status = try await coordinator.app.coordinator.status()
        #expect(status.peersTotal == 0)
        // The invite is still unused: the plaintext attempt recorded nothing.
        let joined = try await PeerEnrollment.join(
            coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invite, name: "tls", directory: campaign.peerDir(1))
        #expect(joined.name == "tls")
        await coordinator.stop()
    }

    @Test func aClientTrustingAnotherCAIsRefused() async throws {
        let campaign = try LiveCampaign()
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let invite = try campaign.invites(1)[0]
        let other = try CertificateAuthority.generate(campaign: "impostor", publicNames: ["127.0.0.1", "localhost"])
        await #expect(throws: CoordinatorClientError.self) {
            _ = try await PeerEnrollment.join(
                coordinator: coordinator.url, caPEM: Array(other.caCertificatePEM.utf8), invite: invite, name: "x",
                directory: campaign.peerDir(1), connectTimeoutSeconds: 2)
        }
        #expect(!FileManager.default.fileExists(atPath: PeerPaths(root: campaign.peerDir(1)).credential))
        #expect(try await coordinator.app.coordinator.status().peersTotal == 0)
        _ = try await PeerEnrollment.join(
            coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invite, name: "ok", directory: campaign.peerDir(2))
        #expect(try await coordinator.app.coordinator.status().peersTotal == 1)
        await coordinator.stop()
    }

    @Test func gracefulShutdownStopsTheDaemonCleanly() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 1000)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let peer = PeerPaths(root: campaign.peerDir(1))
        var logger = Logger(label: "it.peer")
        logger.logLevel = .warning
        let daemon = PeerDaemon(
            directory: campaign.peerDir(1), config: PeerRunConfig(threads: 1, maxWait: 0.1), logger: logger,
            output: { _ in })
        let group = ServiceGroup(services: [daemon], logger: logger)
        let task = Task { try await group.run() }
        // Wait (bounded) until the daemon has contributed, as SIGTERM would typically arrive mid-run.
        let deadline = Date().addingTimeInterval(30)
        while (PeerStatus.read(from: peer.status)?.lifetime.accepted ?? 0) < 2 && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        await group.triggerGracefulShutdown()
        try await task.value
        let status = try #require(PeerStatus.read(from: peer.status))
        await coordinator.stop()
        #expect(status.lifetime.accepted >= 2)
        #expect(status.state == .stopped)
        #expect(!FileManager.default.fileExists(atPath: peer.pending))
    }

    @Test func aFinishedUpdateIsResentWithItsLeaseIDAfterACrash() async throws {
        // The daemon writes pending.bin before uploading. Crash window: the coordinator accepted the
        // update, the peer died before recording it. On restart the update is re-sent under the same
        // lease id and must be neither lost nor counted twice.
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 2)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        let invite = try campaign.invites(1)[0]
        let credential = try await PeerEnrollment.join(
            coordinator: coordinator.url, caPEM: campaign.caPEM, invite: invite, name: "crashy",
            directory: campaign.peerDir(1))
        let peer = PeerPaths(root: campaign.peerDir(1))
        let client = try CoordinatorClient(baseURL: coordinator.url, caPEM: campaign.caPEM, secret: credential.secret)
        let firstReceipt: Receipt
        do {
            let lease = try #require(try await client.lease(LeaseRequest(threads: 1)).lease)
            let checkpoint = try Checkpoint.decode(try await client.model(version: lease.modelVersion))
            var shards: [ShardPayload] = []
            for id in lease.shardIDs {
                shards.append(try ShardFile.decode(try await client.shard(id: id), name: id, expectedID: id))
            }
            let work = try #require(try LeaseTrainer.train(lease: lease, checkpoint: checkpoint, shards: shards))
            var feedback = ErrorFeedback(count: work.delta.count)
            var header = EnvelopeHeader(
                schemaHash: work.schemaHash, round: lease.round, baseModel: hexBytes(lease.modelVersion),
                codec: try CodecSpec(parsing: lease.codec), elementCount: work.delta.count)
            header.commitment = work.trajectory?.commitment(samples: lease.samples)
            let envelope = try feedback.encode(work.delta, header: header)
            let pending = PendingUpdate(
                info: .init(
                    leaseID: lease.leaseID, round: lease.round, modelVersion: lease.modelVersion,
                    schemaHash: work.schemaHash, samples: lease.samples, loss: work.run.meanLoss,
                    trainSeconds: work.run.seconds, deadline: lease.deadline, finishedAt: 0),
                envelope: envelope, residualAfter: feedback.residual)
            try pending.write(to: peer.pending)
            firstReceipt = try await client.putUpdate(leaseID: lease.leaseID, envelope: envelope, trainLoss: nil)
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
        // "Restart": the daemon finds pending.bin and re-sends it before asking for new work.
        _ = try await runPeers(campaign, coordinator, invites: [invite], leases: 1)
        let status = try await coordinator.app.coordinator.status()
        await coordinator.stop()
        #expect(status.updatesAccepted == 1, "the re-sent update was counted twice")
        let receipts = try String(contentsOfFile: peer.receipts, encoding: .utf8).split(separator: "\n")
        #expect(receipts.count == 1)
        #expect(receipts.first.map { $0.contains(firstReceipt.receiptID) } == true, "a different receipt came back")
        #expect(!FileManager.default.fileExists(atPath: peer.pending))
        #expect(try ResidualFile.read(from: peer.residual)?.afterLease == firstReceipt.leaseID)
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = hex.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}
