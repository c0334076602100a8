import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

@testable import CrowdCoordinator

/// Rounds without waiting (issue 15): a lease request held by long-poll is answered as soon as the round it waits
/// for opens, not at the next re-ask; the work signal loses no wake-up.
///
/// Nothing here bounds a time from above: the suite runs beside CPU-heavy suites that can hold the cooperative pool
/// for many seconds. Each check is made so that only the behaviour under test can pass it.
@Suite(.timeLimit(.minutes(5))) struct LongPollTests {
    @Test func aHeldLeaseRequestIsAnsweredWhenTheRoundClosesNotAtItsNextPoll() async throws {
        let tc = try TestCampaign.make { $0.peersPerRound = 1 }
        defer { tc.remove() }
        let coordinator = try tc.open()
        let a = try await coordinator.join(JoinRequest(invite: try tc.invite(1)[0], name: "a"))
        let b = try await coordinator.join(JoinRequest(invite: try tc.invite(1)[0], name: "b"))
        let peerA = try await coordinator.authenticate(authorization: "Bearer \(a.credential)")
        let peerB = try await coordinator.authenticate(authorization: "Bearer \(b.credential)")
        let lease = try #require(try await coordinator.lease(for: peerA, request: LeaseRequest(threads: 1)).lease)

        // Without a wait, B is told to come back (the round is full) ...
        let immediate = try await CoordinatorRoutes.longPollLease(
            coordinator, peer: peerB, request: LeaseRequest(threads: 1))
        #expect(immediate.lease == nil && immediate.reason == LeaseWaitReason.roundFull.rawValue)
        // ... with one, B's request is held until A's upload closes the round. Its re-ask and its hold are set to
        // 10 minutes, past the suite's time limit: only the work signal can hand it the lease.
        let held = Task {
            let r = try await CoordinatorRoutes.longPollLease(
                coordinator, peer: peerB, request: LeaseRequest(threads: 1, waitSeconds: 600), recheck: .seconds(600),
                cap: 600)
            return (r, ContinuousClock.now)
        }
        try await Self.eventually { coordinator.work.waiting == 1 }
        let base = try await coordinator.modelBytes(version: lease.modelVersion)
        let n = await coordinator.currentParameters.count
        let body = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
        _ = try await coordinator.upload(leaseID: lease.leaseID, peer: peerA, body: body, trainLoss: 1)
        let (response, _) = try await held.value
        let next = try #require(response.lease, "\(response)")
        #expect(next.round == lease.round + 1)
    }


    @Test func theWorkSignalWakesWaitersTimesOutAndClosesForGood() async throws {
        let signal = WorkSignal()
        let seen = signal.generation
        signal.signal()  // before the wait: must not be lost
        #expect(await signal.wait(after: seen, timeout: .seconds(600)) == .signalled)

        let timed = ContinuousClock.now
        #expect(await signal.wait(after: signal.generation, timeout: .milliseconds(100)) == .timedOut)
        #expect(ContinuousClock.now - timed >= .milliseconds(90))

        let now = signal.generation
        let waiter = Task { await signal.wait(after: now, timeout: .seconds(600)) }
        try await Self.eventually { signal.waiting == 1 }
        signal.close()
        #expect(await waiter.value == .closed)
        #expect(await signal.wait(after: signal.generation, timeout: .seconds(600)) == .closed)
        #expect(signal.waiting == 0)
    }

    /// Polls `condition` every 10 ms for up to 5 minutes.
    static func eventually(_ condition: () -> Bool) async throws {
        let end = ContinuousClock.now + .seconds(300)
        while !condition() && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
        #expect(condition(), "condition not met")
    }
}
