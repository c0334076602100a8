import CrowdData
import CrowdProtocol
import CrowdTestSupport
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@testable import CrowdCoordinator

/// The operator API (`/v1/admin/…`): who may call it, what each call does, and the attacks it closes.
@Suite struct OperatorAPITests {
    static func operatorToken(_ tc: TestCampaign) throws -> String {
        try String(contentsOfFile: CampaignPaths(directory: tc.directory).operatorToken, encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func initWritesAPrivateOperatorToken() throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let path = CampaignPaths(directory: tc.directory).operatorToken
        let mode = try #require(
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue)
        #expect(mode & 0o777 == 0o600)
        #expect(try Self.operatorToken(tc).hasPrefix(CredentialFormat.operatorPrefix))
        // A token readable by others stops the coordinator from starting, with the fix in the message.
        chmod(path, 0o644)
        let error = #expect(throws: CoordinatorError.self) { _ = try tc.open() }
        #expect(error?.description.contains("chmod 600") == true)
    }

    @Test func everyOperatorRouteRefusesAnythingButTheOperatorToken() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        let op = try Self.operatorToken(tc)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invites[0], "peer")
            let routes: [(HTTPRequest.Method, String, Data?)] = [
                (.post, OperatorAPI.invites, try JSONEncoder().encode(InviteRequest(count: 1))),
                (.post, OperatorAPI.revokeInvites, try JSONEncoder().encode(RevokeInvitesRequest(allUnused: true))),
                (.post, OperatorAPI.revokePeer(peer.peerID), nil),
                (.post, OperatorAPI.audit, try JSONEncoder().encode(AuditRequest(receipts: []))),
                (.get, OperatorAPI.export, nil),
                (.get, OperatorAPI.checkpoint(await app.coordinator.currentModelVersion), nil),
                (.get, OperatorAPI.settings, nil),
                (.patch, OperatorAPI.settings, try JSONEncoder().encode(CampaignSettingsChange(goalSamples: 5))),
            ]
            let wrong: [String?] = [
                nil, peer.credential, invites[1], Secrets.token(prefix: CredentialFormat.operatorPrefix),
                op + "x", String(op.dropLast()),
            ]
            for (method, path, body) in routes {
                for token in wrong {
                    let r = try await api.call(method, path, token: token, body: body)
                    #expect(r.status == .unauthorized, "\(method) \(path) with \(token?.prefix(8) ?? "nothing")")
                    #expect(errorCode(r) == APIErrorCode.unauthorized.rawValue)
                }
            }
            // Nothing above changed anything: the unused invite and the peer are as they were.
            #expect(try await api.json(.post, APIPath.join, JoinRequest(invite: invites[1], name: "second")).status == .ok)
            let lease = try await api.json(.post, APIPath.lease, LeaseRequest(threads: 1), token: peer.credential)
            #expect(lease.status == .ok)
            #expect(try await api.call(.get, OperatorAPI.settings, token: op).status == .ok)
        }
        #expect(try await app.coordinator.settings().goalSamples == tc.config.goalSamples)
    }

    @Test func invitesRevocationAndSettingsThroughTheAPI() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let op = try Self.operatorToken(tc)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let made = try await api.json(.post, OperatorAPI.invites, InviteRequest(count: 3, note: "lab"), token: op)
            let tokens = try decode(InviteResponse.self, made).tokens
            #expect(tokens.count == 3 && Set(tokens).count == 3)
            #expect(tokens.allSatisfy { $0.hasPrefix(CredentialFormat.invitePrefix) })
            let tooMany = try await api.json(.post, OperatorAPI.invites, InviteRequest(count: 10_001), token: op)
            #expect(tooMany.status == .badRequest)
            _ = try await api.join(tokens[0], "ada")
            let one = try await api.json(.post, OperatorAPI.revokeInvites, RevokeInvitesRequest(token: tokens[1]), token: op)
            #expect(try decode(RevokeInvitesResponse.self, one).revoked == 1)
            let used = try await api.json(.post, OperatorAPI.revokeInvites, RevokeInvitesRequest(token: tokens[0]), token: op)
            #expect(try decode(RevokeInvitesResponse.self, used).revoked == 0)
            let rest = try await api.json(.post, OperatorAPI.revokeInvites, RevokeInvitesRequest(allUnused: true), token: op)
            #expect(try decode(RevokeInvitesResponse.self, rest).revoked == 1)
            let both = try await api.json(
                .post, OperatorAPI.revokeInvites, RevokeInvitesRequest(token: tokens[2], allUnused: true), token: op)
            #expect(both.status == .badRequest)
            let revoked = try await api.json(.post, APIPath.join, JoinRequest(invite: tokens[2], name: "x"))
            #expect(errorCode(revoked) == APIErrorCode.invalidInvite.rawValue)
            let unknown = try await api.call(.post, OperatorAPI.revokePeer("no-such-peer"), token: op)
            #expect(unknown.status == .notFound)

            // Settings: a bad value changes nothing; a good one is applied and written to campaign.json.
            let bad = try await api.json(
                .patch, OperatorAPI.settings, CampaignSettingsChange(goalSamples: 5, leaseSeconds: -1), token: op)
            #expect(bad.status == .badRequest)
            #expect(try CampaignConfig.load(paths: CampaignPaths(directory: tc.directory)).goalSamples == 1_000_000)
            let good = try await api.json(
                .patch, OperatorAPI.settings,
                CampaignSettingsChange(goalSamples: 5_000, maxRounds: 7, roundDeadlineSeconds: 30), token: op)
            let s = try decode(CampaignSettings.self, good)
            #expect(s.goalSamples == 5_000 && s.maxRounds == 7 && s.roundDeadlineSeconds == 30 && s.leaseSeconds == 50)
            let saved = try CampaignConfig.load(paths: CampaignPaths(directory: tc.directory))
            #expect(saved.goalSamples == 5_000 && saved.maxRounds == 7 && saved.roundDeadlineSeconds == 30)
            let status = try await api.status()
            #expect(status.goalSamples == 5_000 && status.maxRounds == 7)
            let unlimited = try await api.json(.patch, OperatorAPI.settings, CampaignSettingsChange(maxRounds: 0), token: op)
            #expect(try decode(CampaignSettings.self, unlimited).maxRounds == nil)
        }
        #expect(await app.coordinator.roundState.settings.roundDeadlineSeconds == 30)
    }

    /// The attack from outside: a peer holding the only slot of a round is revoked, and the next peer was told
    /// `round_full` until the revoked peer's lease expired. Control: revoking in the database alone (what the
    /// offline `coordinator revoke` did) leaves the slot held.
    @Test func revokingAPeerFreesItsRoundSlotAtOnce() async throws {
        for defended in [false, true] {
            let tc = try TestCampaign.make { $0.peersPerRound = 1 }
            defer { tc.remove() }
            let app = try tc.app()
            let invites = try tc.invite(2)
            let op = try Self.operatorToken(tc)
            try await app.application.test(.router) { client in
                let api = APIClient(client: client)
                let eve = try await api.join(invites[0], "eve")
                let ada = try await api.join(invites[1], "ada")
                _ = try await api.lease(eve.credential)
                let before = try decode(
                    LeaseResponse.self,
                    try await api.json(.post, APIPath.lease, LeaseRequest(threads: 1), token: ada.credential))
                #expect(before.lease == nil && before.reason == LeaseWaitReason.roundFull.rawValue)
                if defended {
                    let r = try await api.call(.post, OperatorAPI.revokePeer(eve.peerID), token: op)
                    let body = try decode(RevokePeerResponse.self, r)
                    #expect(body.revoked && body.leasesFreed == 1)
                } else {
                    let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
                    #expect(try store.revokePeer(id: eve.peerID, at: tc.clock.now()))
                }
                let after = try decode(
                    LeaseResponse.self,
                    try await api.json(.post, APIPath.lease, LeaseRequest(threads: 1), token: ada.credential))
                if defended {
                    #expect(after.lease != nil, "the revoked peer's slot went to the next peer")
                } else {
                    #expect(after.lease == nil && after.reason == LeaseWaitReason.roundFull.rawValue)
                }
                let again = try await api.json(.post, APIPath.lease, LeaseRequest(threads: 1), token: eve.credential)
                #expect(errorCode(again) == APIErrorCode.revoked.rawValue)
            }
            if defended {
                // The lease row ended with the credential (a restart restores the same picture).
                let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
                let open = try await store.pool.read { db in
                    try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM leases WHERE status = 'open'") ?? 0
                }
                #expect(open == 1)  // ada's
            }
        }
    }

    /// Peers fetch only the training shards of their open leases; the evaluation shard never leaves the coordinator.
    /// Control: the stored shard itself is readable by the coordinator, so the refusal is the route's doing.
    @Test func onlyLeasedTrainingShardsAreServed() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        let manifest = try ShardManifest.load(directory: CampaignPaths(directory: tc.directory).shards)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invite, "peer")
            let early = try await api.call(.get, APIPath.shard(manifest.shards[0].id), token: peer.credential)
            #expect(early.status == .forbidden && errorCode(early) == APIErrorCode.shardNotLeased.rawValue)
            let lease = try await api.lease(peer.credential)
            for id in lease.shardIDs {
                #expect(try await api.call(.get, APIPath.shard(id), token: peer.credential).status == .ok)
            }
            let others = manifest.shards.map(\.id).filter { !lease.shardIDs.contains($0) }
            #expect(!others.isEmpty)
            for id in others + [manifest.evaluation.id] {
                let r = try await api.call(.get, APIPath.shard(id), token: peer.credential)
                #expect(r.status == .forbidden && errorCode(r) == APIErrorCode.shardNotLeased.rawValue)
            }
            #expect(try await app.coordinator.storedShard(manifest.evaluation.id).count > 0)
        }
    }
}
