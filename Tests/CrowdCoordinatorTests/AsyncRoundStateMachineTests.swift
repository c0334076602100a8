import CrowdProtocol
import Testing

@testable import CrowdCoordinator

/// Buffered asynchronous rounds (FedBuff) in the round state machine, with time passed in by hand.
@Suite struct AsyncRoundStateMachineTests {
    /// 3 open leases at most, K = 2, staleness window 1.
    let settings = RoundStateMachine.Settings(
        peersPerRound: 3, minUpdates: 1, roundDeadlineSeconds: 100, leaseSeconds: 30, mode: .async, bufferSize: 2,
        maxStaleness: 1)

    func issue(_ m: inout RoundStateMachine, _ peer: String, _ id: String, now: Double) {
        guard case .issue(let slot, let deadline) = m.requestLease(peerID: peer, now: now) else {
            Issue.record("expected a lease for \(peer)")
            return
        }
        m.leaseIssued(id: id, peerID: peer, slot: slot, deadline: deadline)
    }

    func close(_ m: inout RoundStateMachine, now: Double) {
        #expect(m.phase == .aggregating)
        m.roundClosed(finished: false, now: now)
    }

    @Test func bufferClosesAtKAndLeasesSurviveTheClose() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "a", "A1", now: 0)
        issue(&m, "b", "B1", now: 0)
        issue(&m, "slow", "S1", now: 0)
        // Every peer holds one lease; a fourth waits for a free place (peersPerRound caps open leases).
        guard case .wait(_, .roundFull) = m.requestLease(peerID: "d", now: 1) else {
            Issue.record("at most peersPerRound open leases")
            return
        }
        #expect(m.requestLease(peerID: "a", now: 1) == .existing(leaseID: "A1"))
        #expect(m.updateAccepted(leaseID: "A1") == [])
        // a asks again at once and gets a second lease of the same round (no waiting for the round to end).
        issue(&m, "a", "A2", now: 2)
        #expect(m.openLeases["A2"]?.round == 1 && m.openLeases["A2"]?.slot == 3)
        #expect(m.updateAccepted(leaseID: "B1") == [.aggregate(round: 1)])
        close(&m, now: 5)
        #expect(m.round == 2 && m.accepted == 0)
        // The slow peer's lease and a's second lease are still open, from round 1.
        #expect(m.openLeases.keys.sorted() == ["A2", "S1"])
        #expect(m.accepts(leaseID: "S1", round: 1, now: 6))
        #expect(m.staleness(leaseRound: 1) == 1)
        #expect(m.requestLease(peerID: "slow", now: 6) == .existing(leaseID: "S1"))
    }

    @Test func stalenessWindowRejectsAndExpiresOldLeases() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "slow", "S1", now: 0)
        issue(&m, "a", "A1", now: 0)
        issue(&m, "b", "B1", now: 0)
        _ = m.updateAccepted(leaseID: "A1")
        _ = m.updateAccepted(leaseID: "B1")
        close(&m, now: 1)  // round 2: S1 is 1 version old, still inside maxStaleness 1
        #expect(!m.isTooStale(leaseRound: 1) && m.accepts(leaseID: "S1", round: 1, now: 2))
        #expect(m.leasesKeptFromRoundAfterClose == 2)  // closing round 2 drops round-1 leases
        issue(&m, "a", "A2", now: 2)
        issue(&m, "b", "B2", now: 2)
        _ = m.updateAccepted(leaseID: "A2")
        _ = m.updateAccepted(leaseID: "B2")
        close(&m, now: 3)  // round 3: S1 would be 2 versions old
        #expect(m.isTooStale(leaseRound: 1))
        #expect(m.openLeases["S1"] == nil)
        #expect(!m.accepts(leaseID: "S1", round: 1, now: 4))
        // The peer is free to ask for fresh work.
        #expect(m.requestLease(peerID: "slow", now: 4) == .issue(slot: 0, deadline: 34))
    }

    @Test func deadlinesStillExpireAndTheRoundDeadlineClosesAPartialBuffer() {
        var m = RoundStateMachine(settings: settings, round: 1, openedAt: 0)
        issue(&m, "a", "A1", now: 0)
        issue(&m, "b", "B1", now: 10)
        #expect(m.tick(now: 30) == [.expireLeases(["A1"])])
        #expect(!m.accepts(leaseID: "A1", round: 1, now: 30))
        _ = m.updateAccepted(leaseID: "B1")
        #expect(m.tick(now: 99) == [])
        #expect(m.tick(now: 100) == [.aggregate(round: 1)])
    }

    @Test func restoreKeepsOpenLeasesOfOlderRoundsInsideTheWindow() {
        let round = RoundRecord(
            number: 5, baseVersion: "v5", seed: 1, openedAt: 50, closedAt: nil, resultVersion: nil, updates: 1,
            samples: 16, leasesIssued: 2)
        func lease(_ id: String, round: UInt64, slot: Int, _ status: LeaseRecord.Status) -> LeaseRecord {
            LeaseRecord(
                id: id, round: round, peerID: "p-\(id)", slot: slot, shardIDs: [], seed: 0, samples: 16, issuedAt: 50,
                deadline: 500, status: status)
        }
        let leases = [
            lease("old", round: 3, slot: 0, .open),  // 2 versions old: outside maxStaleness 1
            lease("prev", round: 4, slot: 1, .open),  // 1 version old: kept
            lease("cur0", round: 5, slot: 0, .accepted),
            lease("cur1", round: 5, slot: 1, .open),
        ]
        let m = RoundStateMachine(
            settings: settings, restoring: round, leases: leases, buffered: 1, finished: false, now: 60)
        #expect(m.round == 5 && m.phase == .collecting && m.accepted == 1 && m.slotsIssued == 2)
        #expect(m.openLeases.keys.sorted() == ["cur1", "prev"])
        #expect(m.openLeases["prev"]?.round == 4)
        #expect(m.accepts(leaseID: "prev", round: 4, now: 61))
        // A buffer already full at the crash resumes by aggregating.
        let full = RoundStateMachine(
            settings: settings, restoring: round, leases: leases, buffered: 2, finished: false, now: 60)
        #expect(full.phase == .aggregating)
    }

    @Test func syncModeIsUnchangedByTheAsyncKnobs() {
        let sync = RoundStateMachine.Settings(
            peersPerRound: 2, minUpdates: 1, roundDeadlineSeconds: 100, leaseSeconds: 30)
        #expect(sync.closingCount == 2 && !sync.isAsync)
        var m = RoundStateMachine(settings: sync, round: 1, openedAt: 0)
        issue(&m, "a", "A1", now: 0)
        issue(&m, "b", "B1", now: 0)
        _ = m.updateAccepted(leaseID: "A1")
        _ = m.updateAccepted(leaseID: "B1")
        m.roundClosed(finished: false, now: 1)
        #expect(m.openLeases.isEmpty && m.isTooStale(leaseRound: 1))
    }
}
