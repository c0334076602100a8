import CrowdEngine
import CrowdProtocol
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CrowdCodec
@testable import CrowdCoordinator
import CrowdData
import CrowdTestSupport

/// Every rejection: the right status and code, and nothing recorded (no update, no ledger entry).
@Suite struct APIRejectionTests {
    /// A campaign with one joined peer holding a lease, and the base model bytes.
    struct Fixture {
        let tc: TestCampaign
        let app: CoordinatorApp
        let invites: [String]
    }

    func withPeer(
        _ body: @Sendable (APIClient, TestCampaign, JoinResponse, Lease, Data, Int) async throws -> Void
    ) async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invite, "mallory")
            let lease = try await api.lease(peer.credential)
            let base = try await api.bytes(APIPath.model(lease.modelVersion), token: peer.credential)
            let n = try Checkpoint.decode(base).params.count
            try await body(api, tc, peer, lease, base, n)
        }
        #expect(try tc.count("updates") == 0)
        #expect(try tc.count("ledger") == 0)
    }

    @Test func inviteIsSingleUseAndMustBeKnown() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        #expect(try await app.coordinator.revokeInvites(RevokeInvitesRequest(token: invites[1])) == 1)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            _ = try await api.join(invites[0], "first")
            let reused = try await api.json(.post, APIPath.join, JoinRequest(invite: invites[0], name: "second"))
            expectRejected(reused, .conflict, .inviteUsed)
            let revoked = try await api.json(.post, APIPath.join, JoinRequest(invite: invites[1], name: "third"))
            expectRejected(revoked, .forbidden, .invalidInvite)
            let unknown = try await api.json(.post, APIPath.join, JoinRequest(invite: Secrets.newInvite(), name: "x"))
            expectRejected(unknown, .forbidden, .invalidInvite)
            let garbage = try await api.json(.post, APIPath.join, JoinRequest(invite: "hello", name: "x"))
            expectRejected(garbage, .forbidden, .invalidInvite)
            let badName = try await api.json(.post, APIPath.join, JoinRequest(invite: Secrets.newInvite(), name: " "))
            expectRejected(badName, .badRequest, .invalidName)
            let notJSON = try await api.call(.post, APIPath.join, body: Data("{".utf8))
            expectRejected(notJSON, .badRequest, .badRequest)
        }
        #expect(try tc.count("peers") == 1)
    }

    @Test func credentialsAreRequiredAndRevocable() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invite, "eve")
            let missing = try await api.json(.post, APIPath.lease, LeaseRequest(threads: 1))
            expectRejected(missing, .unauthorized, .unauthorized)
            let invalid = try await api.json(
                .post, APIPath.lease, LeaseRequest(threads: 1), token: Secrets.newCredential())
            expectRejected(invalid, .unauthorized, .unauthorized)
            let model = try await api.call(.get, APIPath.model(String(repeating: "0", count: 64)))
            expectRejected(model, .unauthorized, .unauthorized)
            #expect(try await app.coordinator.revokePeer(id: peer.peerID).revoked)
            let revoked = try await api.json(.post, APIPath.lease, LeaseRequest(threads: 1), token: peer.credential)
            expectRejected(revoked, .forbidden, .revoked)
            let notFound = try await api.call(.get, "/v1/nothing-here")
            expectRejected(notFound, .notFound, .notFound)
        }
        #expect(try tc.count("leases") == 0)
    }

    /// `POST /v1/outcomes` refuses what no daemon sends (too many ids, empty or huge ids, not JSON, no credential)
    /// and answers a well-formed request for ids the peer never uploaded with an empty list.
    @Test func outcomesRequestsAreBoundedAndAuthenticated() async throws {
        try await withPeer { api, _, peer, lease, _, _ in
            let many = OutcomesRequest(leaseIDs: (0...OutcomesRequest.maxLeases).map { "lease-\($0)" })
            expectRejected(
                try await api.json(.post, APIPath.outcomes, many, token: peer.credential), .badRequest, .badRequest)
            for id in ["", String(repeating: "x", count: 65)] {
                expectRejected(
                    try await api.json(.post, APIPath.outcomes, OutcomesRequest(leaseIDs: [id]), token: peer.credential),
                    .badRequest, .badRequest)
            }
            expectRejected(
                try await api.call(.post, APIPath.outcomes, token: peer.credential, body: Data("{".utf8)),
                .badRequest, .badRequest)
            expectRejected(
                try await api.json(.post, APIPath.outcomes, OutcomesRequest(leaseIDs: [lease.leaseID])),
                .unauthorized, .unauthorized)
            let none = try await api.json(
                .post, APIPath.outcomes, OutcomesRequest(leaseIDs: [lease.leaseID, "x"]), token: peer.credential)
            let decoded = try decode(OutcomesResponse.self, none)
            #expect(none.status == .ok && decoded.outcomes.isEmpty)
        }
    }

    @Test func corruptAndTruncatedUpdates() async throws {
        try await withPeer { api, _, peer, lease, base, n in
            let good = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
            expectRejected(
                try await api.upload(lease, Data((0..<500).map { UInt8($0 % 251) }), token: peer.credential),
                .unprocessableContent, .corruptUpdate)
            expectRejected(
                try await api.upload(lease, good.prefix(good.count / 2), token: peer.credential),
                .unprocessableContent, .corruptUpdate)
            var flipped = good
            flipped[flipped.count - 3] ^= 0x40
            expectRejected(
                try await api.upload(lease, flipped, token: peer.credential), .unprocessableContent, .corruptUpdate)
            expectRejected(
                try await api.upload(lease, Data(), token: peer.credential), .unprocessableContent, .corruptUpdate)
        }
    }

    @Test func mismatchedRoundBaseModelSchemaAndCount() async throws {
        try await withPeer { api, _, peer, lease, base, n in
            let v = [Float](repeating: 0.01, count: n)
            expectRejected(
                try await api.upload(
                    lease, try envelope(v, lease: lease, base: base, round: 7), token: peer.credential),
                .unprocessableContent, .wrongRound)
            expectRejected(
                try await api.upload(
                    lease, try envelope(v, lease: lease, base: base, baseModel: [UInt8](repeating: 9, count: 32)),
                    token: peer.credential),
                .unprocessableContent, .wrongBaseModel)
            expectRejected(
                try await api.upload(
                    lease, try envelope(v, lease: lease, base: base, schemaHash: 42), token: peer.credential),
                .unprocessableContent, .schemaMismatch)
            expectRejected(
                try await api.upload(
                    lease, try envelope(Array(v.dropLast()), lease: lease, base: base), token: peer.credential),
                .unprocessableContent, .elementCountMismatch)
        }
    }

    @Test func nonFiniteValues() async throws {
        try await withPeer { api, _, peer, lease, base, n in
            var v = [Float](repeating: 0.01, count: n)
            v[3] = .nan
            let raw = v.withUnsafeBytes { Array($0) }
            let header = EnvelopeHeader(
                schemaHash: lease.schemaHash, round: lease.round, baseModel: ContentDigest.bytes(base), codec: .fp32,
                elementCount: n)
            let body = UpdateEnvelope.assemble(header, rawSize: raw.count, payload: Zstd.frame(raw))
            expectRejected(
                try await api.upload(lease, body, token: peer.credential), .unprocessableContent, .nonFiniteValues)
        }
    }

    @Test func oversizedBody() async throws {
        try await withPeer { api, tc, peer, lease, _, _ in
            let limit = try tc.open().maxUpdateBytes
            let big = Data(count: limit + 1)
            expectRejected(try await api.upload(lease, big, token: peer.credential), .contentTooLarge, .bodyTooLarge)
            let json = Data(count: CoordinatorRoutes.maxJSONBytes + 10)
            expectRejected(
                try await api.call(.post, APIPath.lease, token: peer.credential, body: json), .contentTooLarge,
                .bodyTooLarge)
        }
    }

    @Test func staleLeaseAndOtherPeersLease() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let alice = try await api.join(invites[0], "alice")
            let bob = try await api.join(invites[1], "bob")
            // Identity claimed in a body is ignored: the lease belongs to the bearer (bob).
            let claim = Data("{\"threads\":1,\"peerID\":\"\(alice.peerID)\"}".utf8)
            let r = try await api.call(.post, APIPath.lease, token: bob.credential, body: claim)
            let lease = try #require(try decode(LeaseResponse.self, r).lease)
            let stored = try #require(
                try SQLiteStore(path: CampaignPaths(directory: tc.directory).database).lease(id: lease.leaseID))
            #expect(stored.peerID == bob.peerID)
            let base = try await api.bytes(APIPath.model(lease.modelVersion), token: bob.credential)
            let n = try Checkpoint.decode(base).params.count
            let body = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
            // Alice cannot upload bob's lease.
            expectRejected(try await api.upload(lease, body, token: alice.credential), .notFound, .noSuchLease)
            // After the lease deadline the upload is stale.
            tc.clock.advance(tc.config.leaseSeconds + 1)
            expectRejected(try await api.upload(lease, body, token: bob.credential), .conflict, .leaseExpired)
        }
        #expect(try tc.count("updates") == 0)
        #expect(try tc.count("ledger") == 0)
        #expect(try tc.count("rejections") == 2)
    }
}
