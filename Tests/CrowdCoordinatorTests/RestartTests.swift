import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

@testable import CrowdCoordinator

/// A coordinator reopened on the same directory continues the interrupted round from the database.
@Suite struct RestartTests {
    @Test func restartMidRoundKeepsAcceptedUpdatesAndReceipts() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let invites = try tc.invite(2)
        let first = try tc.open()
        var peers: [PeerRecord] = []
        var leases: [Lease] = []
        for (i, invite) in invites.enumerated() {
            let joined = try await first.join(JoinRequest(invite: invite, name: "p\(i)"))
            let peer = try await first.authenticate(authorization: "Bearer \(joined.credential)")
            peers.append(peer)
            leases.append(try #require(try await first.lease(for: peer, request: LeaseRequest(threads: 1)).lease))
        }
        let base = try await first.modelBytes(version: leases[0].modelVersion)
        let n = await first.currentParameters.count
        let bodies = try leases.map { try envelope([Float](repeating: 0.01, count: n), lease: $0, base: base) }
        let receipt = try await first.upload(leaseID: leases[0].leaseID, peer: peers[0], body: bodies[0], trainLoss: nil)

        // "Crash": a new coordinator on the same directory.
        let second = try tc.open()
        let state = await second.roundState
        #expect(state.round == 1 && state.accepted == 1 && state.openLeases.keys.sorted() == [leases[1].leaseID])
        // The acknowledged upload is still acknowledged, with the same receipt.
        #expect(try await second.upload(leaseID: leases[0].leaseID, peer: peers[0], body: bodies[0], trainLoss: nil) == receipt)
        // The other peer's lease, issued before the restart, still completes the round.
        _ = try await second.upload(leaseID: leases[1].leaseID, peer: peers[1], body: bodies[1], trainLoss: nil)
        try await second.tick()
        #expect(await second.roundState.round == 2)
        #expect(try tc.count("ledger") == 2)
        #expect(try tc.count("updates") == 2)
    }
}

/// The campaign lock: a second coordinator is refused with the holder's pid; the lock dies with its holder.
@Suite struct CampaignLockTests {
    @Test func aSecondCoordinatorIsRefusedNamingTheHolder() throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let paths = CampaignPaths(directory: tc.directory)
        var held: CampaignLock? = try CampaignLock(paths: paths)
        do {
            _ = try CampaignLock(paths: paths)
            Issue.record("a second lock was granted")
        } catch let error as CoordinatorError {
            #expect(error.description.contains("(pid \(ProcessInfo.processInfo.processIdentifier))"))
            #expect(error.description.contains("is already serving \(paths.directory)"))
        }
        #expect(held != nil)
        held = nil
        #expect(throws: Never.self) { _ = try CampaignLock(paths: paths) }
    }

    @Test func aMissingDirectoryIsNamed() {
        let paths = CampaignPaths(directory: NSTemporaryDirectory() + "crowdtrain-none-\(UUID().uuidString)")
        #expect {
            _ = try CampaignLock(paths: paths)
        } throws: { error in
            "\(error)".contains("no campaign directory \(paths.directory)")
        }
    }
}
