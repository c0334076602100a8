import CrowdProtocol
import CrowdTestSupport
import CrowdTraining
import Foundation
import Testing

@testable import CrowdCoordinator

/// Leases carry the campaign's learning-rate schedule position: the planned progress of all earlier rounds, so the
/// inner learning rate follows the whole campaign instead of restarting every lease.
@Suite struct LeaseScheduleTests {
    @Test func leasesOfLaterRoundsStartFurtherAlongTheSchedule() async throws {
        let tc = try TestCampaign.make {
            $0.inner.schedule = .cosine
            $0.peersPerRound = 2
            $0.localSteps = 2
            $0.batch = 8
            $0.goalSamples = 320  // 10 rounds of 2 leases × 2 steps × 8 images
        }
        defer { tc.remove() }
        let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 2)
        let first = try await crowd.lease(0)
        #expect(first.inner.schedule == LRSchedule(kind: .cosine, warmup: 0.05, floor: 0.1))
        #expect(first.progress == 0)
        #expect(abs((first.progressPerStep ?? 0) - 2.0 * 8 / 320) < 1e-12)
        try await crowd.upload(0, first, 0.01)
        try await crowd.upload(1, try await crowd.lease(1), 0.01)
        try await crowd.coordinator.tick()
        #expect(await crowd.coordinator.roundState.round == 2)
        let second = try await crowd.lease(0)
        #expect(abs((second.progress ?? -1) - 2.0 * 2 * 8 / 320) < 1e-12, "round 2 starts after round 1's 32 images")
    }

    @Test func aConstantScheduleSendsNoScheduleProgress() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let crowd = try await AsyncAggregationTests.Crowd.join(try tc.open(), tc, 1)
        let lease = try await crowd.lease(0)
        #expect(lease.inner.schedule == .constant && lease.progress == nil && lease.progressPerStep == nil)
        let json = String(decoding: try JSONEncoder().encode(lease), as: UTF8.self)
        #expect(!json.contains("progress"))
    }
}
