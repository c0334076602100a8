import Testing

@testable import CrowdCoordinator
import CrowdAggregation

@Suite struct StrategyTests {
    func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-5) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tol }
    }

    @Test func weightedMeanUsesTheWeights() {
        let m = AggregationMath.weightedMean([[1, 1, -2], [3, 3, 2]], weights: [1, 3])
        #expect(close(m, [2.5, 2.5, 1]))
    }

    @Test func fedAvgIsTheSampleWeightedMeanOfThePeersModels() {
        let theta: [Float] = [0.5, -1, 2]
        let peers: [[Float]] = [[1, 0, 2], [0, -2, 1], [0.5, 1, 3]]
        let samples = [10, 30, 60]
        var s = OuterOptimizerStrategy(config: .fedAvg, parameterCount: 3)
        let updates = zip(peers, samples).map { p, n in
            WeightedUpdate(delta: zip(theta, p).map { $0 - $1 }, samples: n)
        }
        let out = s.aggregate(params: theta, updates: updates)
        let expected = (0..<3).map { i in
            Float(zip(peers, samples).reduce(0.0) { $0 + Double($1.0[i]) * Double($1.1) } / 100)
        }
        #expect(close(out, expected))
        #expect(s.exportState().isEmpty)  // momentum 0 keeps no state
    }

    @Test func nesterovOuterStepMatchesHandComputedValues() throws {
        // lr 0.7, μ 0.9. Step 1: v = g1; θ −= 0.7·(g1 + 0.9·g1) = 1.33·g1.
        // Step 2: v = 0.9·g1 + g2; θ −= 0.7·(g2 + 0.9·v).
        var s = OuterOptimizerStrategy(config: .diloco, parameterCount: 2)
        let t1 = s.aggregate(params: [1, -2], updates: [WeightedUpdate(delta: [0.5, 1], samples: 7)])
        #expect(close(t1, [0.335, -3.33]))
        let t2 = s.aggregate(params: t1, updates: [WeightedUpdate(delta: [1, 0], samples: 3)])
        #expect(close(t2, [-1.2785, -3.897]))
        #expect(close(s.exportState(), [1.45, 0.9]))

        var restored = OuterOptimizerStrategy(config: .diloco, parameterCount: 2)
        try restored.restoreState(s.exportState())
        #expect(restored.momentum == s.momentum)
        #expect(throws: AggregationError.self) { try restored.restoreState([1, 2, 3]) }
    }

    @Test func staleUpdatesWeighOneOverSquareRootOfOnePlusStaleness() {
        // FedAvg (lr 1, μ 0): θ' = θ − g with g = Σ wᵢΔᵢ / Σ wᵢ, wᵢ = samplesᵢ/√(1+sᵢ).
        var s = OuterOptimizerStrategy(config: .fedAvg, parameterCount: 1)
        let out = s.aggregate(
            params: [0],
            updates: [
                WeightedUpdate(delta: [1], samples: 10), WeightedUpdate(delta: [4], samples: 20, staleness: 3),
            ])
        // w = 10 and 20/2 = 10: g = (1 + 4) / 2.
        #expect(close(out, [-2.5]))
        #expect(abs(WeightedUpdate(delta: [], samples: 1, staleness: 8).scale - 1.0 / 3) < 1e-12)
        #expect(AggregationConfig.stalenessScale(0) == 1)
    }

    @Test func plainMomentumWithoutNesterov() {
        var p: [Float] = [0]
        var v: [Float] = [0]
        AggregationMath.outerStep(params: &p, gradient: [1], momentum: &v, lr: 0.5, mu: 0.5, nesterov: false)
        AggregationMath.outerStep(params: &p, gradient: [1], momentum: &v, lr: 0.5, mu: 0.5, nesterov: false)
        // v1 = 1, p1 = -0.5; v2 = 1.5, p2 = -1.25
        #expect(close(p, [-1.25]) && close(v, [1.5]))
    }

    @Test func finiteCheck() {
        #expect(AggregationMath.allFinite([1, 2, 3]))
        #expect(!AggregationMath.allFinite([1, .nan]))
        #expect(!AggregationMath.allFinite([.infinity]))
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
