import CrowdProtocol
import Testing

@testable import CrowdCoordinator

@Suite struct RoundStateMachineTests {
    let settings = RoundStateMachine.Settings(
        peersPerRound: 2, minUpdates: 1, roundDeadlineSeconds: 100, leaseSeconds: 30)

    func issue(_ m: inout RoundStateMachine, _ peer: String, _ id: String, now: Double) {
        guard case .issue(let slot, let deadline) = m.requestLease(peerID: peer, now: now) else {
            Issue.record("expected a lease for \(peer)")
            return
        }
        m.leaseIssued(id: id, peerID: peer, slot: slot, deadline: deadline)
    }

    @Test func leasesUpToQuorumThenRoundFull() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        #expect(m.requestLease(peerID: "a", now: 1) == .issue(slot: 0, deadline: 31))
        m.leaseIssued(id: "L0", peerID: "a", slot: 0, deadline: 31)
        #expect(m.requestLease(peerID: "a", now: 2) == .existing(leaseID: "L0"))
        #expect(m.requestLease(peerID: "b", now: 2) == .issue(slot: 1, deadline: 32))
        m.leaseIssued(id: "L1", peerID: "b", slot: 1, deadline: 32)
        guard case .wait(_, .roundFull) = m.requestLease(peerID: "c", now: 3) else {
            Issue.record("third peer should wait")
            return
        }
    }

    @Test func quorumAggregatesAndOpensNextRound() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "a", "L0", now: 1)
        issue(&m, "b", "L1", now: 1)
        #expect(m.accepts(leaseID: "L0", round: 1, now: 5))
        #expect(!m.accepts(leaseID: "L0", round: 2, now: 5))
        #expect(m.updateAccepted(leaseID: "L0") == [])
        #expect(!m.accepts(leaseID: "L0", round: 1, now: 6))  // already accepted: no longer open
        #expect(m.updateAccepted(leaseID: "L1") == [.aggregate(round: 1)])
        #expect(m.phase == .aggregating)
        guard case .wait(_, .aggregating) = m.requestLease(peerID: "c", now: 7) else {
            Issue.record("no leases while aggregating")
            return
        }
        m.roundClosed(finished: false, now: 10)
        #expect(m.round == 2 && m.phase == .collecting && m.accepted == 0)
        #expect(m.requestLease(peerID: "a", now: 11) == .issue(slot: 0, deadline: 41))
    }

    @Test func expiredLeaseFreesItsSlotAndIsStale() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "a", "L0", now: 0)
        issue(&m, "b", "L1", now: 10)
        #expect(m.tick(now: 29) == [])
        #expect(m.tick(now: 30) == [.expireLeases(["L0"])])
        #expect(!m.accepts(leaseID: "L0", round: 1, now: 30))
        // The expired slot 0 (same shards, same seed) is reissued to the next requester.
        #expect(m.requestLease(peerID: "c", now: 31) == .issue(slot: 0, deadline: 61))
    }

    @Test func lapsedSlotPrefersAnotherPeerThenFallsBackToTheSamePeer() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "a", "L0", now: 0)
        issue(&m, "b", "L1", now: 0)
        _ = m.updateAccepted(leaseID: "L1")
        #expect(m.tick(now: 30) == [.expireLeases(["L0"])])
        #expect(m.freeSlots[0]?.lapsedBy == "a")
        // The peer that let it lapse waits a moment; another peer (b, done with its own slot) gets it at once.
        guard case .wait(_, .roundFull) = m.requestLease(peerID: "a", now: 30.5) else {
            Issue.record("the lapsing peer should wait while the slot is held for others")
            return
        }
        #expect(m.requestLease(peerID: "b", now: 30.5) == .issue(slot: 0, deadline: 60.5))
        // Nobody else came: after the hold the same peer may take it again.
        #expect(
            m.requestLease(peerID: "a", now: 30 + RoundStateMachine.reissueHoldSeconds)
                == .issue(slot: 0, deadline: 60 + RoundStateMachine.reissueHoldSeconds))
        m.leaseIssued(id: "L2", peerID: "b", slot: 0, deadline: 60.5)
        #expect(m.freeSlots.isEmpty && m.slotsIssued == 2)
        #expect(m.updateAccepted(leaseID: "L2") == [.aggregate(round: 1)])
    }

    @Test func leaseDurationComesFromTheCaller() {
        let m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        #expect(m.requestLease(peerID: "a", now: 5, duration: 12) == .issue(slot: 0, deadline: 17))
    }

    @Test func deadlineClosesWithMinimumOrExtends() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "a", "L0", now: 0)
        #expect(m.tick(now: 100) == [.expireLeases(["L0"]), .extendDeadline(round: 1, until: 200)])
        #expect(m.phase == .collecting)
        issue(&m, "b", "L1", now: 150)
        _ = m.updateAccepted(leaseID: "L1")
        #expect(m.tick(now: 199) == [])
        #expect(m.tick(now: 200) == [.aggregate(round: 1)])
        m.roundClosed(finished: true, now: 201)
        #expect(m.phase == .finished)
        guard case .wait(_, .campaignFinished) = m.requestLease(peerID: "a", now: 202) else {
            Issue.record("finished campaigns hand out no work")
            return
        }
    }

    @Test func restoresFromStoredRecords() {
        let round = RoundRecord(
            number: 4, baseVersion: "v", seed: 1, openedAt: 50, closedAt: nil, resultVersion: nil, updates: 1,
            samples: 16, leasesIssued: 3)
        func lease(_ id: String, _ slot: Int, _ status: LeaseRecord.Status) -> LeaseRecord {
            LeaseRecord(
                id: id, round: 4, peerID: "p\(slot)", slot: slot, shardIDs: [], seed: 0, samples: 16, issuedAt: 50,
                deadline: 80, status: status)
        }
        let m = RoundStateMachine(
            settings: settings, restoring: round,
            leases: [lease("A", 0, .accepted), lease("B", 1, .open), lease("C", 2, .expired)], finished: false, now: 60)
        #expect(m.round == 4 && m.accepted == 1 && m.slotsIssued == 3)
        #expect(m.openLeases.keys.sorted() == ["B"])
        #expect(m.freeSlots[2] == .init(lapsedBy: "p2", since: 80))  // C's slot will be reissued
        #expect(m.accepts(leaseID: "B", round: 4, now: 70))
        #expect(!m.accepts(leaseID: "C", round: 4, now: 70))
    }
}
