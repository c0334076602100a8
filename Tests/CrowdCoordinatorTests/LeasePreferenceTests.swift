import CrowdData
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

@testable import CrowdCoordinator

/// Lease preference: among the free slots of a round, a peer gets the one whose shards it holds
/// (`LeaseRequest.heldShards`), so it downloads less; the slots a round hands out do not change.
@Suite struct LeasePreferenceTests {
    // MARK: the state machine

    let sync = RoundStateMachine.Settings(peersPerRound: 4, minUpdates: 1, roundDeadlineSeconds: 100, leaseSeconds: 30)

    /// Issues a lease to `peer` with the given slot scores; returns the slot.
    @discardableResult
    func issue(_ m: inout RoundStateMachine, _ peer: String, now: Double = 1, overlap: ((Int) -> Int)? = nil) -> Int? {
        guard case .issue(let slot, let deadline) = m.requestLease(peerID: peer, now: now, overlap: overlap) else {
            return nil
        }
        m.leaseIssued(id: "L-\(peer)", peerID: peer, slot: slot, deadline: deadline)
        return slot
    }

    @Test func theMachineGivesTheSlotWithTheMostHeldShardsAndStillHandsOutEverySlot() {
        var m = RoundStateMachine(settings: sync, round: 1, openedAt: 0)
        #expect(issue(&m, "a", overlap: { $0 == 2 ? 1 : 0 }) == 2)
        #expect(m.slotsIssued == 3 && m.skippedSlots == [0, 1])
        // Equal scores: the lowest slot, skipped ones first.
        #expect(issue(&m, "b", overlap: { _ in 1 }) == 0)
        #expect(issue(&m, "c", overlap: { $0 == 3 ? 2 : ($0 == 1 ? 1 : 0) }) == 3)
        #expect(issue(&m, "d") == 1)
        #expect(m.skippedSlots.isEmpty && m.slotsIssued == 4)
        #expect(Set(m.openLeases.values.map(\.slot)) == [0, 1, 2, 3])
        guard case .wait(_, .roundFull) = m.requestLease(peerID: "e", now: 2, overlap: { _ in 5 }) else {
            Issue.record("a full round has no slot to prefer")
            return
        }
    }

    @Test func withoutScoresTheOldOrderIsKept() {
        var m = RoundStateMachine(settings: sync, round: 1, openedAt: 0)
        #expect(["a", "b", "c", "d"].map { issue(&m, $0) } == [0, 1, 2, 3])
        // A score that is the same everywhere (the peer holds nothing of this round) changes nothing either.
        var n = RoundStateMachine(settings: sync, round: 1, openedAt: 0)
        #expect(["a", "b", "c", "d"].map { issue(&n, $0, overlap: { _ in 0 }) } == [0, 1, 2, 3])
    }

    @Test func lapsedSlotsAreStillReissuedFirstAndPreferredAmongThemselves() {
        var m = RoundStateMachine(settings: sync, round: 1, openedAt: 0)
        for p in ["a", "b", "c"] { issue(&m, p, now: 0) }  // slots 0, 1, 2; slot 3 never issued
        _ = m.tick(now: 30)  // all three expire
        #expect(Set(m.freeSlots.keys) == [0, 1, 2])
        // A new peer holding slot 3's shards still gets a lapsed slot first (they are the round's unfinished work),
        // the lapsed one it holds most of.
        #expect(issue(&m, "x", now: 33, overlap: { [3: 5, 1: 2][$0] ?? 0 }) == 1)
        #expect(issue(&m, "y", now: 33) == 0)
    }

    @Test func asyncModePrefersAmongTheOpenSlotWindowOnly() {
        let settings = RoundStateMachine.Settings(
            peersPerRound: 3, minUpdates: 1, roundDeadlineSeconds: 100, leaseSeconds: 30, mode: .async, bufferSize: 2,
            maxStaleness: 2)
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        // Three open leases at most: the window is slots 0…2; a score for slot 7 cannot pull it forward.
        #expect(issue(&m, "a", overlap: { [7: 9, 2: 1][$0] ?? 0 }) == 2)
        #expect(issue(&m, "b", overlap: { $0 == 1 ? 1 : 0 }) == 1)
        #expect(issue(&m, "c", overlap: { $0 == 3 ? 1 : 0 }) == 0)  // the skipped slot 0 is the only one left
        _ = m.updateAccepted(leaseID: "L-b")
        #expect(issue(&m, "d", overlap: { $0 == 3 ? 1 : 0 }) == 3)
        #expect(m.skippedSlots.isEmpty)
    }

    @Test func restoreKnowsWhichSlotsWereSkipped() {
        let round = RoundRecord(
            number: 2, baseVersion: "v2", seed: 1, openedAt: 0, closedAt: nil, resultVersion: nil, updates: 0,
            samples: 0, leasesIssued: 3)
        let leases = [
            LeaseRecord(
                id: "L2", round: 2, peerID: "a", slot: 2, shardIDs: [], seed: 0, samples: 16, issuedAt: 1,
                deadline: 500, status: .open)
        ]
        var m = RoundStateMachine(settings: sync, restoring: round, leases: leases, finished: false, now: 10)
        #expect(m.slotsIssued == 3 && m.skippedSlots == [0, 1])
        #expect(["b", "c", "d"].map { issue(&m, $0, now: 11) } == [0, 1, 3])
    }

    // MARK: the coordinator

    /// A campaign of 4 shards of 60 images, 2 slots per round (so each round uses 2 of the 4 shards).
    static func campaign(_ configure: (inout CampaignConfig) -> Void = { _ in }) throws -> TestCampaign {
        try TestCampaign.make {
            $0.peersPerRound = 2
            configure(&$0)
        }
    }

    func lease(_ c: Coordinator, _ peer: PeerRecord, held: [String]?) async throws -> Lease {
        let r = try await c.lease(for: peer, request: LeaseRequest(threads: 1, heldShards: held))
        return try #require(r.lease, "no lease: \(r.reason ?? "-")")
    }

    @Test func theCoordinatorGivesAPeerTheSlotWhoseShardsItHolds() async throws {
        let tc = try Self.campaign()
        defer { tc.remove() }
        let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        let slot1 = await c.shardIDs(slot: 1)
        let first = try await lease(c, crowd.peers[0], held: slot1)
        #expect(first.shardIDs == slot1, "the peer holding slot 1's shard gets slot 1")
        #expect(first.shardBytes == [80 + 60 * 28 * 28 + 60])  // header and digest, pixels, labels
        let second = try await lease(c, crowd.peers[1], held: nil)
        #expect(second.shardIDs == (await c.shardIDs(slot: 0)), "the other slot is still handed out")
    }

    /// A peer holding the shards of both free slots takes the one no other peer holds, leaving the other to the peer
    /// that holds only that one; the control without the other peer's holdings known takes the lowest slot.
    @Test func aPeerHoldingBothSlotsLeavesTheContestedOneToThePeerThatHoldsOnlyIt() async throws {
        for knownOther in [true, false] {
            let tc = try Self.campaign()
            defer { tc.remove() }
            let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 2)
            let c = crowd.coordinator
            let slot0 = await c.shardIDs(slot: 0), slot1 = await c.shardIDs(slot: 1)
            if knownOther { await c.rememberHoldings(of: crowd.peers[1].id, Set(slot0)) }
            let first = try await lease(c, crowd.peers[0], held: slot0 + slot1)
            #expect(first.shardIDs == (knownOther ? slot1 : slot0), "knownOther \(knownOther)")
            let second = try await lease(c, crowd.peers[1], held: slot0)
            // With the contention known, the second peer trains on a shard it holds; without, it must download one.
            #expect(second.shardIDs == (knownOther ? slot0 : slot1), "knownOther \(knownOther)")
            // Holder counts follow each peer's latest list.
            #expect(await c.holdersOfShard == Dictionary(uniqueKeysWithValues: (slot0 + slot1).map { ($0, slot0.contains($0) ? 2 : 1) }))
            await c.rememberHoldings(of: crowd.peers[1].id, [])
            #expect(await c.holdersOfShard == Dictionary(uniqueKeysWithValues: (slot0 + slot1).map { ($0, 1) }))
        }
    }

    /// Sybils listing many shards cannot grow the remembered holdings past their bound: the memory starts over.
    @Test func rememberedHoldingsStayWithinTheirBound() async throws {
        let tc = try Self.campaign()
        defer { tc.remove() }
        let c = try tc.open()
        let limit = Coordinator.heldEntriesLimit
        await c.rememberHoldings(of: "x", Set((0..<(limit - 10)).map { "x\($0)" }))
        #expect(await c.heldEntries == limit - 10)
        await c.rememberHoldings(of: "y", Set((0..<20).map { "y\($0)" }))
        let (entries, holders, peers) = await (c.heldEntries, c.holdersOfShard.count, c.heldByPeer.keys.sorted())
        #expect(entries == 20 && holders == 20 && peers == ["y"])
    }

    @Test func asyncCampaignsPreferTooAndKeepLeasingAfterAClose() async throws {
        let tc = try Self.campaign { $0.aggregation = AggregationConfig(mode: .async, bufferSize: 1, maxStaleness: 2) }
        defer { tc.remove() }
        let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        let slot1 = await c.shardIDs(slot: 1)
        let first = try await lease(c, crowd.peers[0], held: slot1)
        #expect(first.shardIDs == slot1)
        try await crowd.upload(0, first, 0.01)  // K = 1: the round closes, the next one opens
        try await c.tick()
        #expect(await c.roundState.round == 2)
        let next = await c.shardIDs(slot: 1)
        let second = try await lease(c, crowd.peers[1], held: next)
        #expect(second.round == 2 && second.shardIDs == next)
        #expect(try await lease(c, crowd.peers[0], held: nil).shardIDs == (await c.shardIDs(slot: 0)))
    }

    @Test func withoutAHeldListTheCoordinatorKeepsTheOldOrder() async throws {
        let tc = try Self.campaign()
        defer { tc.remove() }
        let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        #expect(try await lease(c, crowd.peers[0], held: nil).shardIDs == (await c.shardIDs(slot: 0)))
        #expect(try await lease(c, crowd.peers[1], held: []).shardIDs == (await c.shardIDs(slot: 1)))
    }

    @Test func hostileHeldListsAreRefusedOrIgnored() async throws {
        let tc = try Self.campaign()
        defer { tc.remove() }
        let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        let peer = crowd.peers[0]
        func refusal(_ held: [String]) async -> APIError? {
            do {
                _ = try await c.lease(for: peer, request: LeaseRequest(threads: 1, heldShards: held))
                return nil
            } catch {
                return error as? APIError
            }
        }
        let slot1 = await c.shardIDs(slot: 1)
        let tooLong = await refusal(Array(repeating: slot1[0], count: LeaseRequest.maxHeldShards + 1))
        #expect(tooLong?.code == .badRequest)
        #expect(tooLong?.message.contains("at most \(LeaseRequest.maxHeldShards)") == true)
        let junk = await refusal(slot1 + ["../../etc/passwd"])
        #expect(junk?.code == .badRequest && junk?.message.contains("heldShards[1] is not a shard id") == true)
        #expect(await refusal([String(repeating: "A", count: 64)])?.code == .badRequest)  // uppercase: not an id
        #expect(await c.roundState.openLeases.isEmpty, "a refused request leases nothing")
        // Well-formed ids of no shard of this campaign (the evaluation shard included) are ignored: the old order.
        let evaluation = try ShardManifestFixture.evaluationID(tc)
        let unknown = (0..<LeaseRequest.maxHeldShards - 1).map { String(format: "%064x", $0) } + [evaluation]
        #expect(try await lease(c, peer, held: unknown).shardIDs == (await c.shardIDs(slot: 0)))
    }

    @Test func overHTTPTheHeldListIsDecodedAndATooLongOneIsABadRequest() async throws {
        let tc = try Self.campaign()
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(1)
        try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invites[0], "held")
            let slot1 = await app.coordinator.shardIDs(slot: 1)
            let r = try await api.json(
                .post, APIPath.lease, LeaseRequest(threads: 1, heldShards: slot1), token: peer.credential)
            #expect(r.status == .ok)
            let lease = try #require(try decode(LeaseResponse.self, r).lease)
            #expect(lease.shardIDs == slot1)
            let long = try await api.json(
                .post, APIPath.lease, LeaseRequest(threads: 1, heldShards: Array(repeating: slot1[0], count: 600)),
                token: peer.credential)
            expectRejected(long, .badRequest, .badRequest)
        }
    }
}

/// The evaluation shard's id of a test campaign (read from its manifest).
enum ShardManifestFixture {
    static func evaluationID(_ tc: TestCampaign) throws -> String {
        try ShardManifest.load(directory: CampaignPaths(directory: tc.directory).shards).evaluation.id
    }
}
