import CrowdProtocol
import Foundation
import Testing

@testable import CrowdCoordinator
import CrowdAggregation
import CrowdTestSupport

/// Leases and buffered asynchronous aggregation through the coordinator (tiny MLP, in-process, manual clock).
@Suite struct AsyncAggregationTests {
    /// Joined peers of one coordinator.
    struct Crowd {
        let coordinator: Coordinator
        let peers: [PeerRecord]

        static func join(_ c: Coordinator, _ tc: TestCampaign, _ n: Int) async throws -> Crowd {
            var peers: [PeerRecord] = []
            for (i, invite) in try tc.invite(n).enumerated() {
                let joined = try await c.join(JoinRequest(invite: invite, name: "p\(i)"))
                peers.append(try await c.authenticate(authorization: "Bearer \(joined.credential)"))
            }
            return Crowd(coordinator: c, peers: peers)
        }

        func lease(_ i: Int, hint: Double? = nil) async throws -> Lease {
            let request = LeaseRequest(threads: 1, samplesPerSecond: hint)
            let r = try await coordinator.lease(for: peers[i], request: request)
            return try #require(r.lease, "peer \(i) got no lease: \(r.reason ?? "-")")
        }

        /// Uploads a constant Δ = `value` for `lease`, encoded against the lease's own base model.
        @discardableResult
        func upload(_ i: Int, _ lease: Lease, _ value: Float) async throws -> Receipt {
            let base = try await coordinator.modelBytes(version: lease.modelVersion)
            let n = await coordinator.currentParameters.count
            let body = try envelope([Float](repeating: value, count: n), lease: lease, base: base)
            return try await coordinator.upload(leaseID: lease.leaseID, peer: peers[i], body: body, trainLoss: nil)
        }
    }

    static func asyncCampaign(k: Int, staleness: Int, peers: Int = 3, outer: OuterOptimizerConfig = .diloco)
        throws -> TestCampaign
    {
        try TestCampaign.make {
            $0.peersPerRound = peers
            $0.aggregation = AggregationConfig(mode: .async, bufferSize: k, maxStaleness: staleness)
            $0.outer = outer
        }
    }

    func code(of error: any Error) -> APIErrorCode? { (error as? APIError)?.code }

    @Test func updateBeyondMaxStalenessIsRejectedWithoutCredit() async throws {
        let tc = try Self.asyncCampaign(k: 1, staleness: 1, peers: 2)
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        let slow = try await crowd.lease(1)
        try await crowd.upload(0, try await crowd.lease(0), 0.01)
        try await c.tick()
        #expect(await c.roundState.round == 2)
        // One version old: still wanted.
        #expect(await c.roundState.accepts(leaseID: slow.leaseID, round: 1, now: tc.clock.now()))
        try await crowd.upload(0, try await crowd.lease(0), 0.01)
        try await c.tick()
        #expect(await c.roundState.round == 3)
        let ledger = try tc.count("ledger")
        do {
            try await crowd.upload(1, slow, 0.01)
            Issue.record("an update 2 versions old must be refused with maxStaleness 1")
        } catch {
            #expect(code(of: error) == .staleUpdate)
            #expect("\(error)".contains("maxStaleness"))
        }
        #expect(try tc.count("ledger") == ledger)
        #expect(try tc.count("updates") == ledger)
        #expect(try tc.count("rejections") == 1)
        // The slow peer simply gets fresh work from the current model.
        let fresh = try await crowd.lease(1)
        #expect(fresh.round == 3 && fresh.leaseID != slow.leaseID)
        #expect(fresh.modelVersion == (await c.currentModelVersion))
    }

    @Test func staleUpdatesAreDownWeightedUnderTheNesterovOuterStep() async throws {
        let tc = try Self.asyncCampaign(k: 2, staleness: 4)
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 3)
        let c = crowd.coordinator
        let theta0 = await c.currentParameters
        let a1 = try await crowd.lease(0)
        let b1 = try await crowd.lease(1)
        let c1 = try await crowd.lease(2)
        try await crowd.upload(0, a1, 0.01)
        try await crowd.upload(1, b1, 0.02)
        try await c.tick()
        #expect(await c.roundState.round == 2)
        // Round 2's buffer: a fresh update from round 2's model and the slow peer's from round 1 (s = 1).
        let a2 = try await crowd.lease(0)
        #expect(a2.round == 2 && a2.modelVersion != c1.modelVersion)
        try await crowd.upload(0, a2, 0.04)
        let receipt = try await crowd.upload(2, c1, 0.03)
        #expect(receipt.round == 1 && receipt.samples == 16)
        try await c.tick()
        #expect(await c.roundState.round == 3)

        // By hand, DiLoCo (lr 0.7, μ 0.9, Nesterov), equal samples:
        let g1 = (0.01 + 0.02) / 2.0
        let v1 = g1
        let w = 1 / 2.0.squareRoot()  // the stale update's weight relative to the fresh one (same samples)
        let g2 = (0.04 + w * 0.03) / (1 + w)
        let v2 = 0.9 * v1 + g2
        let step = 0.7 * (g1 + 0.9 * v1) + 0.7 * (g2 + 0.9 * v2)
        let theta2 = await c.currentParameters
        #expect(zip(theta0, theta2).allSatisfy { abs(Double($0) - step - Double($1)) < 1e-5 })
        // The same updates without the staleness scale would give a visibly different model.
        let unscaled = 0.7 * (g1 + 0.9 * v1) + 0.7 * (0.035 + 0.9 * (0.9 * v1 + 0.035))
        #expect(abs(unscaled - step) > 5e-4)
        #expect(try tc.count("ledger") == 4)
    }

    @Test func restartMidBufferKeepsFoldedUpdatesAndOlderOpenLeases() async throws {
        let tc = try Self.asyncCampaign(k: 2, staleness: 2)
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 3)
        let first = crowd.coordinator
        let slow = try await crowd.lease(2)
        try await crowd.upload(0, try await crowd.lease(0), 0.01)
        try await crowd.upload(1, try await crowd.lease(1), 0.01)
        try await first.tick()
        let a2 = try await crowd.lease(0)
        let receipt = try await crowd.upload(0, a2, 0.02)  // round 2's buffer: 1 of 2

        // "Crash": a new coordinator on the same directory.
        let second = try tc.open()
        let state = await second.roundState
        #expect(state.round == 2 && state.accepted == 1 && state.phase == .collecting)
        #expect(state.openLeases[slow.leaseID]?.round == 1)
        let again = Crowd(coordinator: second, peers: crowd.peers)
        #expect(try await again.upload(0, a2, 0.02) == receipt)  // the acknowledged upload stays acknowledged
        #expect(try await again.lease(2) == slow)  // the slow peer resumes the same lease, same base model
        try await again.upload(2, slow, 0.03)
        try await second.tick()
        #expect(await second.roundState.round == 3)
        #expect(try tc.count("ledger") == 4)
        #expect(try tc.count("updates") == 4)
    }

    @Test func expiredSyncSlotIsReissuedToAnotherPeerAndTheLateUploadGetsNoCredit() async throws {
        let tc = try TestCampaign.make()  // sync, 2 per round, leaseSeconds 50
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        let lapsing = try await crowd.lease(0)
        try await crowd.upload(1, try await crowd.lease(1), 0.01)
        tc.clock.advance(51)
        try await c.tick()
        let reissued = try await crowd.lease(1)
        #expect(reissued.round == 1 && reissued.leaseID != lapsing.leaseID)
        #expect(reissued.shardIDs == lapsing.shardIDs && reissued.seed == lapsing.seed)
        do {
            try await crowd.upload(0, lapsing, 0.01)
            Issue.record("a late upload must be refused")
        } catch {
            #expect(code(of: error) == .leaseExpired)
        }
        #expect(try tc.count("ledger") == 0)  // credit is granted when the round closes, not on upload
        try await crowd.upload(1, reissued, 0.01)
        try await c.tick()
        #expect(await c.roundState.round == 2)
        #expect(try tc.count("ledger") == 2)
    }

    @Test func deadlinesFollowMeasuredThroughputThenTheHint() async throws {
        let tc = try TestCampaign.make()  // 16 samples per lease, leaseSeconds 50, min 30, factor 3, allowance 10
        defer { tc.remove() }
        let crowd = try await Crowd.join(try tc.open(), tc, 2)
        let c = crowd.coordinator
        let start = tc.clock.now()
        // No history, no hint: the full leaseSeconds.
        let first = try await crowd.lease(0)
        #expect(abs(first.deadline - (start + 50)) < 1e-6)
        // A hint of 4 samples/s: 3 × 16 / 4 + 10 = 22 s, raised to the 30 s minimum.
        let hinted = try await crowd.lease(1, hint: 4)
        #expect(abs(hinted.deadline - (start + 30)) < 1e-6)
        tc.clock.advance(8)
        try await crowd.upload(0, first, 0.01)  // measured: 16 samples in 8 s = 2 samples/s
        try await crowd.upload(1, hinted, 0.01)
        try await c.tick()
        // Measured beats the (optimistic) hint: 3 × 16 / 2 + 10 = 34 s.
        let next = try await crowd.lease(0, hint: 1000)
        #expect(abs(next.deadline - (tc.clock.now() + 34)) < 1e-6)
    }
}
