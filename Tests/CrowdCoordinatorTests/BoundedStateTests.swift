import CrowdProtocol
import CrowdTestSupport
import Foundation
import Testing

@testable import CrowdCoordinator

/// What a flood leaves behind (issue 15): rejection totals are counters, the evidence table is capped, the rate
/// limiter's memory is bounded, and status comes from running totals that match the database.
@Suite struct BoundedStateTests {
    @Test func rejectionsKeepExactCountersAndACappedEvidenceTable() throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database, rejectionRowsKept: 100)
        for k in 0..<250 {
            try store.recordRejection(
                peerID: nil, leaseID: "lease-\(k)", code: k.isMultiple(of: 5) ? "corrupt_update" : "no_such_lease",
                bytes: 10, at: Double(k))
        }
        #expect(try store.count("rejections") == 100)
        #expect(try store.rejectionCounts() == ["corrupt_update": 50, "no_such_lease": 200])
        let totals = try store.totals(now: 0, onlineWindow: 0, rateWindow: 0)
        #expect(totals.updatesRejected == 250 && totals.bytesIn == 2500)
        // The newest rows are the ones kept.
        #expect(try store.auditSnapshot().refusedLeases.contains("lease-249"))
        #expect(try !store.auditSnapshot().refusedLeases.contains("lease-0"))
    }

    @Test func tokenBucketsAdmitTheBurstThenTheRateAndStayBounded() {
        let buckets = TokenBuckets(rate: 2, burst: 5, capacity: 1000)
        let admitted = (0..<20).filter { _ in buckets.take("a", now: 100) == nil }.count
        #expect(admitted == 5)
        let wait = buckets.take("a", now: 100)
        #expect(wait.map { abs($0 - 0.5) < 1e-9 } == true, "\(String(describing: wait))")
        #expect(buckets.take("a", now: 100.5) == nil && buckets.take("a", now: 100.5) != nil)
        #expect(buckets.take("b", now: 100) == nil, "another key has its own bucket")
        for k in 0..<50_000 { _ = buckets.take("forged-\(k)", now: 200 + Double(k) * 0.001) }
        #expect(buckets.count <= 1000, "a flood of keys grew the table to \(buckets.count)")
    }

    @Test func requestLimiterRefusesWithRetryAfterAndExemptsLoopbackOnlyWhenAsked() throws {
        var limits = TransportLimits.standard
        limits.ipRequestsPerSecond = 1
        limits.ipBurst = 3
        limits.joinsPerMinute = 1
        limits.joinBurst = 2
        let clock = ManualClock()
        let limiter = RequestLimiter(limits: limits, metrics: CoordinatorMetrics(), now: { clock.now() })
        try limiter.admit(ip: "203.0.113.9", isJoin: true, authorization: nil)
        try limiter.admit(ip: "203.0.113.9", isJoin: true, authorization: nil)
        do {
            try limiter.admit(ip: "203.0.113.9", isJoin: true, authorization: nil)
            Issue.record("a third join within the burst of 2 was admitted")
        } catch let e as APIError {
            #expect(e.code == .rateLimited && e.status == .tooManyRequests && (e.retryAfter ?? 0) >= 1)
        }
        #expect(throws: APIError.self) { try limiter.admit(ip: "203.0.113.9", isJoin: false, authorization: nil) }
        try limiter.admit(ip: "198.51.100.1", isJoin: false, authorization: nil)
        clock.advance(1)
        try limiter.admit(ip: "203.0.113.9", isJoin: false, authorization: nil)

        limits.exemptLoopback = true
        let exempt = RequestLimiter(limits: limits, metrics: CoordinatorMetrics(), now: { clock.now() })
        for _ in 0..<50 { try exempt.admit(ip: "127.0.0.1", isJoin: false, authorization: nil) }
        #expect(throws: APIError.self) {
            for _ in 0..<50 { try exempt.admit(ip: "192.0.2.1", isJoin: false, authorization: nil) }
        }
    }

    @Test func statusComesFromRunningTotalsThatMatchTheDatabaseAfterARestart() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let coordinator = try tc.open()
        let invite = try tc.invite()[0]
        _ = try await coordinator.join(JoinRequest(invite: invite, name: "a"))
        _ = await coordinator.rejected(.corruptUpdate, "x", peerID: nil, leaseID: nil, bytes: 7)
        let live = coordinator.status()
        #expect(live.peersTotal == 1 && live.peersOnline == 1 && live.updatesRejected == 1)
        #expect(live.evaluations.map(\.round) == [0] && live.evaluationsTotal == 1)
        let reopened = try tc.open().status()
        #expect(reopened.peersTotal == live.peersTotal && reopened.updatesRejected == live.updatesRejected)
        #expect(reopened.bytesIn == live.bytesIn && reopened.samplesTrained == live.samplesTrained)
    }
}
