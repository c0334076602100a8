import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

@testable import CrowdCoordinator

@Suite struct StoreTests {
    @Test func initCreatesTheCampaignAndRefusesToOverwriteIt() throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let paths = CampaignPaths(directory: tc.directory)
        let store = try SQLiteStore(path: paths.database)
        #expect(
            try store.appliedMigrations() == [
                "2026-11-26-initial", "2026-11-27-folded-round", "2026-12-05-credit-on-aggregation",
                "2026-12-07-bounded-rejections", "2026-12-08-verified-work", "2026-12-09-name-keys",
                "2026-12-10-lease-holder", "2026-12-11-removed-checkpoints",
            ])
        #expect(try store.integrityCheck() == "ok")
        #expect(try store.currentRound()?.number == 1)
        #expect(try store.evaluations().map(\.round) == [0])
        for key in [paths.caKey, paths.serverKey] {
            let mode = try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int
            #expect(mode == 0o600)
        }
        let pem = try String(contentsOfFile: paths.caCertificate, encoding: .utf8)
        #expect(pem.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(throws: CoordinatorError.self) {
            _ = try CampaignInitializer.create(
                directory: tc.directory, config: tc.config,
                data: .images(
                    train: TestCampaign.syntheticImages(count: 10, seed: 1),
                    evaluation: TestCampaign.syntheticImages(count: 10, seed: 2)),
                modelConfigJSON: Data("{}".utf8), shardSize: 5)
        }
        #expect(try store.currentRound()?.number == 1)  // untouched
    }

    @Test func invitesAreStoredAsHashesAndSingleUse() throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let tokens = try tc.invite(2)
        #expect(tokens.allSatisfy { $0.hasPrefix(CredentialFormat.invitePrefix) && $0.count == 7 + 43 })
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let raw = try Data(contentsOf: URL(fileURLWithPath: CampaignPaths(directory: tc.directory).database))
        #expect(raw.range(of: Data(tokens[0].utf8)) == nil)
        let first = try store.redeemInvite(
            hash: Secrets.hash(tokens[0]), peerID: "p1", name: try DisplayName("a"), credentialHash: "c1", at: 1)
        guard case .joined = first else {
            Issue.record("first redemption should join")
            return
        }
        #expect(
            try store.redeemInvite(
                hash: Secrets.hash(tokens[0]), peerID: "p2", name: try DisplayName("b"), credentialHash: "c2", at: 2)
                == .used)
        #expect(try store.revokeUnusedInvites(at: 3) == 1)
        #expect(
            try store.redeemInvite(
                hash: Secrets.hash(tokens[1]), peerID: "p3", name: try DisplayName("c"), credentialHash: "c3", at: 4)
                == .revoked)
        #expect(try store.count("peers") == 1)
    }

    @Test func ledgerIsAppendOnly() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let coordinator = try tc.open()
        let invite = try tc.invite(1)[0]
        let joined = try await coordinator.join(JoinRequest(invite: invite, name: "carol"))
        let peer = try await coordinator.authenticate(authorization: "Bearer \(joined.credential)")
        let lease = try #require(try await coordinator.lease(for: peer, request: LeaseRequest(threads: 1)).lease)
        let base = try await coordinator.modelBytes(version: lease.modelVersion)
        let n = await coordinator.currentParameters.count
        let receipt = try await coordinator.upload(
            leaseID: lease.leaseID, peer: peer,
            body: try envelope([Float](repeating: 0.001, count: n), lease: lease, base: base), trainLoss: 2.3)
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        // Credit is decided when the round closes, not on upload.
        #expect(receipt.status == "pending" && receipt.credit == 0)
        #expect(try store.count("ledger") == 0)
        #expect(try store.acceptedUpdate(leaseID: lease.leaseID)?.receipt == receipt)
        await coordinator.advanceAndTick(tc, seconds: 101)  // the round deadline closes it with one update
        #expect(try store.count("ledger") == 1)
        #expect(throws: (any Error).self) { try store.execute("UPDATE ledger SET gflop = 0") }
        #expect(throws: (any Error).self) { try store.execute("DELETE FROM ledger") }
        let outcome = try await coordinator.outcome(leaseID: lease.leaseID, peer: peer)
        #expect(outcome.status == "credited" && outcome.credit > 0)
        #expect(try store.ledgerTotals()[joined.peerID] == outcome.credit)
    }

    @Test func oneCoordinatorPerCampaignDirectory() throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let paths = CampaignPaths(directory: tc.directory)
        var first: CampaignLock? = try CampaignLock(paths: paths)
        #expect(throws: CoordinatorError.self) { _ = try CampaignLock(paths: paths) }
        #expect(first != nil)
        first = nil
        _ = try CampaignLock(paths: paths)
    }
}
