import CrowdClient
import CrowdProtocol
import Foundation
import Testing

@testable import CrowdCoordinator
import CrowdData
import CrowdTestSupport

@Suite struct ExportTests {
    /// Two peers with accepted updates, one of whom also had an update refused, and a third who only
    /// had an update refused.
    func campaignWithContributions() async throws -> (TestCampaign, Coordinator, [String: Double]) {
        let tc = try TestCampaign.make { $0.peersPerRound = 3 }
        let coordinator = try tc.open()
        var peers: [PeerRecord] = []
        for (i, invite) in try tc.invite(3).enumerated() {
            let joined = try await coordinator.join(JoinRequest(invite: invite, name: ["ada", "bob", "eve"][i]))
            peers.append(try await coordinator.authenticate(authorization: "Bearer \(joined.credential)"))
        }
        let n = await coordinator.currentParameters.count
        var credited: [String: Double] = [:]
        var leases: [(PeerRecord, String)] = []
        for (i, peer) in peers.enumerated() {
            let lease = try #require(try await coordinator.lease(for: peer, request: LeaseRequest(threads: 1)).lease)
            let base = try await coordinator.modelBytes(version: lease.modelVersion)
            // Every peer first sends a corrupt body: refused, recorded, never credited.
            await #expect(throws: APIError.self) {
                _ = try await coordinator.upload(
                    leaseID: lease.leaseID, peer: peer, body: Data("junk".utf8), trainLoss: nil)
            }
            if i < 2 {
                let body = try envelope([Float](repeating: 0.001, count: n), lease: lease, base: base)
                let receipt = try await coordinator.upload(leaseID: lease.leaseID, peer: peer, body: body, trainLoss: 2)
                #expect(receipt.credit == 0 && receipt.status == "pending")  // credit comes with the aggregate
                leases.append((peer, lease.leaseID))
            }
        }
        await coordinator.advanceAndTick(tc, seconds: 101)  // the round deadline closes the round with two updates
        for (peer, leaseID) in leases {
            credited[peer.id, default: 0] += try await coordinator.outcome(leaseID: leaseID, peer: peer).credit
        }
        return (tc, coordinator, credited)
    }

    @Test func creditsMatchTheLedgerAndStats() async throws {
        let (tc, coordinator, credited) = try await campaignWithContributions()
        defer { tc.remove() }
        let out = NSTemporaryDirectory() + "crowdtrain-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try Self.export(tc.directory, to: out)

        let data = try #require(FileManager.default.contents(atPath: out + "/credits.json"))
        let credits = try JSONDecoder().decode(CampaignExporter.Credits.self, from: data)
        #expect(credits == result.credits)
        let ledger = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database).ledgerTotals()
        #expect(credits.contributors.count == 2)
        #expect(credits.contributors.map(\.name).sorted() == ["ada", "bob"])
        for c in credits.contributors {
            #expect(c.credit == ledger[c.peerID])
            #expect(c.credit == credited[c.peerID])
            #expect(c.rejectedUpdates == 1)
            #expect(c.acceptedUpdates == 1)
        }
        #expect(abs(credits.totalCredit - ledger.values.reduce(0, +)) < 1e-9)
        #expect(abs(credits.contributors.map(\.share).reduce(0, +) - 100) < 1e-9)
        #expect(credits.totalSamples == credits.contributors.map(\.samples).reduce(0, +))
        #expect(credits.acceptedUpdates == 2)
        // The peer whose only update was refused earns nothing and is not listed.
        #expect(!credits.contributors.contains { $0.name == "eve" })

        // The same figures as `crowdtrain stats --json` (GET /v1/stats).
        let stats = try await coordinator.stats(top: 100).contributors.filter { $0.acceptedUpdates > 0 }
        #expect(stats.map(\.peerID) == credits.contributors.map(\.peerID))
        #expect(stats.map(\.credit) == credits.contributors.map(\.credit))
        #expect(stats.map(\.samples) == credits.contributors.map(\.samples))

        // The model is a byte-exact copy of the current checkpoint with its recorded evaluation.
        let model = try #require(FileManager.default.contents(atPath: out + "/model.ckpt"))
        #expect(ContentDigest.hex(model) == (await coordinator.currentModelVersion))
        let evaluation = try JSONDecoder().decode(
            CampaignExporter.ExportedEvaluation.self,
            from: try #require(FileManager.default.contents(atPath: out + "/evaluation.json")))
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let recorded = try #require(try store.evaluations().last)
        #expect(evaluation.value == recorded.value && evaluation.metric == recorded.metric)
        let markdown = try #require(FileManager.default.contents(atPath: out + "/CREDITS.md"))
        #expect(String(decoding: markdown, as: UTF8.self).contains("| 1 | "))
    }

    @Test func refusesANonEmptyOutputAndADamagedCheckpoint() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let out = NSTemporaryDirectory() + "crowdtrain-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: out + "/keep.txt", contents: Data("x".utf8))
        #expect(throws: ClientSetupError.self) { try Self.export(tc.directory, to: out) }
        #expect(FileManager.default.contents(atPath: out + "/keep.txt") == Data("x".utf8))

        let paths = CampaignPaths(directory: tc.directory)
        let ckpt = paths.checkpoint(round: 0)
        var bytes = try #require(FileManager.default.contents(atPath: ckpt))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: ckpt))
        let fresh = out + "/fresh"
        let error = #expect(throws: CoordinatorError.self) {
            try Self.export(tc.directory, to: fresh)
        }
        #expect(error?.description.contains("SHA-256") == true)
        #expect(!FileManager.default.fileExists(atPath: fresh))
    }

    /// What `coordinator export` does with the operator API's answer.
    static func export(_ directory: String, to out: String) throws -> ExportBundle {
        let (bundle, model) = try CampaignExporter.bundle(directory: directory)
        _ = try ExportWriter.write(bundle, model: model, to: out)
        return bundle
    }
}
