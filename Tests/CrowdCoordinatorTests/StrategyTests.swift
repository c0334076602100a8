import Testing

@testable import CrowdCoordinator
import CrowdAggregation

/// The coordinator's side of aggregation: seeded shard assignment and the staleness scale it re-exports. The
/// aggregation math and `OuterOptimizerStrategy` are tested in CrowdAggregationTests/StrategyTests.swift.
@Suite struct StrategyTests {
    @Test func coordinatorStalenessScaleIsTheAggregationOne() {
        #expect(AggregationConfig.stalenessScale(0) == 1)
        #expect(AggregationConfig.stalenessScale(3) == 0.5)
        #expect(AggregationConfig.stalenessScale(-2) == 1)  // negative staleness counts as fresh
    }

    @Test func shardAssignmentIsDistinctPerSlotAndSeeded() {
        let a = (0..<3).flatMap { SeedMixer.shards(slot: $0, perLease: 2, count: 6, roundSeed: 42) }
        #expect(Set(a).count == 6)
        #expect(
            SeedMixer.shards(slot: 1, perLease: 2, count: 6, roundSeed: 42)
                == SeedMixer.shards(slot: 1, perLease: 2, count: 6, roundSeed: 42))
        #expect(SeedMixer.permutation(50, seed: 1) != SeedMixer.permutation(50, seed: 2))
    }
}
