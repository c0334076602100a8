import CrowdProtocol
import Foundation
import Testing

@testable import CrowdCoordinator

/// Rounds without waiting (issue 15): a lease request held by long-poll is answered as soon as the round it waits
/// for opens, not at the next re-ask; the work signal loses no wake-up.
@Suite struct LongPollTests {
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
        #expect((immediate.retryAfter ?? 0) >= 1, "the re-ask hint this test outruns")
        // ... with one, B's request is held until A's upload closes the round.
        let held = Task {
            let r = try await CoordinatorRoutes.longPollLease(
                coordinator, peer: peerB, request: LeaseRequest(threads: 1, waitSeconds: 10))
            return (r, ContinuousClock.now)
        }
        try await Task.sleep(for: .milliseconds(150))
        #expect(coordinator.work.waiting == 1)
        let base = try await coordinator.modelBytes(version: lease.modelVersion)
        let n = await coordinator.currentParameters.count
        let body = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
        let uploaded = ContinuousClock.now
        _ = try await coordinator.upload(leaseID: lease.leaseID, peer: peerA, body: body, trainLoss: 1)
        let (response, answered) = try await held.value
        let next = try #require(response.lease, "\(response)")
        #expect(next.round == lease.round + 1)
        // The round-full hint would re-ask 0.85 s after the upload; the signal answers at the round's close.
        #expect(answered - uploaded < .milliseconds(600), "answered \(answered - uploaded) after the upload")
    }

    @Test func theWorkSignalWakesWaitersTimesOutAndClosesForGood() async throws {
        let signal = WorkSignal()
        let seen = signal.generation
        signal.signal()  // before the wait: must not be lost
        let start = ContinuousClock.now
        await signal.wait(after: seen, timeout: .seconds(5))
        #expect(ContinuousClock.now - start < .seconds(1))

        let timed = ContinuousClock.now
        await signal.wait(after: signal.generation, timeout: .milliseconds(100))
        #expect(ContinuousClock.now - timed >= .milliseconds(90))

        let now = signal.generation
        let waiter = Task { await signal.wait(after: now, timeout: .seconds(30)) }
        try await Task.sleep(for: .milliseconds(50))
        #expect(signal.waiting == 1)
        signal.close()
        await waiter.value
        let after = ContinuousClock.now
        await signal.wait(after: signal.generation, timeout: .seconds(30))
        #expect(ContinuousClock.now - after < .seconds(1), "a closed signal does not hold waits")
        #expect(signal.waiting == 0)
    }
}
