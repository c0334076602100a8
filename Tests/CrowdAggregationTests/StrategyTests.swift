import Foundation
import Testing

@testable import CrowdAggregation

/// AggregationMath and OuterOptimizerStrategy (moved from CrowdCoordinatorTests), with every aggregator.
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

    @Test func evidenceScalingShrinksStepsFromFewerOrStalerUpdates() throws {
        // lr 1, μ 0.5 (heavy ball), full step at 3 leases of 10 samples. One fresh update: g × 1/3 into the momentum
        // and the step.
        let config = OuterOptimizerConfig(lr: 1, momentum: 0.5, nesterov: false, fullStepUpdates: 3)
        var s = OuterOptimizerStrategy(config: config, parameterCount: 1, leaseWeight: 10)
        let one = s.aggregate(params: [0], updates: [WeightedUpdate(delta: [3], samples: 10)])
        #expect(close(one, [-1]))
        #expect(close(s.momentum, [1]))
        // Three fresh updates: the full step (v = 0.5·1 + 2 = 2.5).
        let three = s.aggregate(params: one, updates: (0..<3).map { _ in WeightedUpdate(delta: [2], samples: 10) })
        #expect(close(three, [-3.5]))
        // More than the full evidence never enlarges the step: 6 updates = the same as 3.
        var a = OuterOptimizerStrategy(config: config, parameterCount: 1, leaseWeight: 10)
        var b = a
        let six = a.aggregate(params: [0], updates: (0..<6).map { _ in WeightedUpdate(delta: [2], samples: 10) })
        let full = b.aggregate(params: [0], updates: (0..<3).map { _ in WeightedUpdate(delta: [2], samples: 10) })
        #expect(six == full && close(six, [-2]))
        // Staleness counts as less evidence: 3 updates 3 versions stale weigh 3 × 10/2 = 15 of 30.
        var stale = OuterOptimizerStrategy(config: config, parameterCount: 1, leaseWeight: 10)
        let out = stale.aggregate(
            params: [0], updates: (0..<3).map { _ in WeightedUpdate(delta: [2], samples: 10, staleness: 3) })
        #expect(close(out, [-1]))
        #expect(stale.config.evidenceScale(weight: 15, leaseWeight: stale.leaseWeight) == 0.5)
        // The control: the same single update without evidence scaling takes the full step.
        var control = OuterOptimizerStrategy(
            config: OuterOptimizerConfig(lr: 1, momentum: 0.5, nesterov: false), parameterCount: 1, leaseWeight: 10)
        #expect(close(control.aggregate(params: [0], updates: [WeightedUpdate(delta: [3], samples: 10)]), [-3]))
    }

    @Test func delayScalingShrinksStaleStepsAndTheirMomentum() {
        // lr 1, μ 0.6 heavy ball with delay scaling. Mean staleness τ̄ = 1: g × 1/3, μ 0.3.
        let config = OuterOptimizerConfig(lr: 1, momentum: 0.6, nesterov: false, delayScaling: true)
        var s = OuterOptimizerStrategy(config: config, parameterCount: 1)
        let first = s.step(params: [0], gradient: [3], weight: 1, staleness: 1)
        #expect(close(first, [-1]) && close(s.momentum, [1]))
        let second = s.step(params: first, gradient: [3], weight: 1, staleness: 1)
        #expect(close(second, [-2.3]))  // v = 0.3·1 + 1
        // Fresh steps are untouched: v = 0.6·1.3 + 3.
        let fresh = s.step(params: second, gradient: [3], weight: 1, staleness: 0)
        #expect(close(fresh, [-6.08]))
        // Through the aggregate: updates 1 and 3 versions stale, equal samples, weigh 1/√2 and 1/2: τ̄ = 1.828…/1.207….
        var a = OuterOptimizerStrategy(config: config, parameterCount: 1)
        let w1 = 1 / 2.0.squareRoot()
        let w3 = 0.5
        let tau = (w1 * 1 + w3 * 3) / (w1 + w3)
        let out = a.aggregate(
            params: [0], updates: [WeightedUpdate(delta: [2], samples: 1, staleness: 1),
                WeightedUpdate(delta: [2], samples: 1, staleness: 3)])
        #expect(close(out, [Float(-2 / (1 + 2 * tau))]))
        // The control: the same stale steps without delay scaling are full steps.
        var control = OuterOptimizerStrategy(
            config: OuterOptimizerConfig(lr: 1, momentum: 0.6, nesterov: false), parameterCount: 1)
        #expect(close(control.step(params: [0], gradient: [3], weight: 1, staleness: 1), [-3]))
    }

    @Test func outerSettingsParseAndRefuseBadValues() throws {
        let parsed = try OuterOptimizerConfig(parsing: "1,0.8,nesterov,full=3")
        #expect(parsed == OuterOptimizerConfig(lr: 1, momentum: 0.8, nesterov: true, fullStepUpdates: 3))
        #expect(
            try OuterOptimizerConfig(parsing: "1,0.8,delay,full=2.5,nesterov")
                == OuterOptimizerConfig(lr: 1, momentum: 0.8, nesterov: true, fullStepUpdates: 2.5, delayScaling: true))
        #expect(try OuterOptimizerConfig(parsing: "0.5,0.9") == OuterOptimizerConfig(lr: 0.5, momentum: 0.9, nesterov: false))
        #expect(try OuterOptimizerConfig(parsing: "DiLoCo") == .diloco)
        for bad in ["1", "0,0.5", "1,1", "1,-0.1", "1,0.8,full=0", "1,0.8,full=x", "1,0.8,nesterov,nesterov", "1,0.8,sgd",
            "1,0.8,nesterov,full=3,extra", "1,0.8,delay,delay", "nan,0.5"]
        {
            #expect(throws: AggregationError.self, "\(bad)") { try OuterOptimizerConfig(parsing: bad) }
        }
        // A campaign file written before the key keeps full steps.
        let old = try JSONDecoder().decode(
            OuterOptimizerConfig.self, from: Data(#"{"lr": 1, "momentum": 0.8, "nesterov": true}"#.utf8))
        #expect(old.fullStepUpdates == nil && !old.delayScaling && old.evidenceScale(weight: 1, leaseWeight: 10) == 1)
        let written = try JSONEncoder().encode(parsed)
        #expect(try JSONDecoder().decode(OuterOptimizerConfig.self, from: written) == parsed)
        #expect(throws: AggregationError.self) {
            try OuterOptimizerConfig(lr: 1, momentum: 0.5, nesterov: false, fullStepUpdates: -1).validate()
        }
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
        #expect(WeightedUpdate.stalenessScale(0) == 1)
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

    @Test func l2NormDotAndCosine() {
        #expect(AggregationMath.l2Norm([3, 4]) == 5)
        #expect(AggregationMath.l2Norm([]) == 0)
        // Odd lengths reach the scalar tail of the 4-way unrolled loop.
        let x: [Float] = [1, -2, 3, -4, 5, -6, 7]
        #expect(AggregationMath.l2Norm(x) == Double(140).squareRoot())
        // Accumulated in Double: no overflow where a Float sum of squares would be +∞.
        let huge = [Float](repeating: 3e38, count: 9)
        #expect(abs(AggregationMath.l2Norm(huge) / (3 * Double(Float(3e38))) - 1) < 1e-12)
        let y: [Float] = [2, 1, 0.5, 1, -1, 0, 3]
        let d = x.withUnsafeBufferPointer { a in y.withUnsafeBufferPointer { b in AggregationMath.dot(a, b) } }
        #expect(d == 13.5)  // 2 − 2 + 1.5 − 4 − 5 + 0 + 21
        #expect(abs(AggregationMath.cosine(x, x) - 1) < 1e-12)
        #expect(abs(AggregationMath.cosine(x, x.map { -2 * $0 }) + 1) < 1e-12)
        #expect(AggregationMath.cosine([1, 0], [0, 5]) == 0)
        #expect(AggregationMath.cosine([0, 0], [1, 2]) == 0)  // a zero vector has no direction
        #expect(abs(AggregationMath.cosine(x, y) - d / (AggregationMath.l2Norm(x) * AggregationMath.l2Norm(y))) < 1e-12)
    }

    /// The pointer `weightedMean` over lengths around its 4096-value block, against the naive mean.
    @Test(arguments: [1, 4095, 4096, 4097, 9001])
    func pointerWeightedMeanMatchesTheNaiveMean(n: Int) {
        let x = AggregatorTestSupport.updates(5, n, seed: 2)
        let w: [Double] = [1, 0.5, 3, 2, 0.25]
        var out = [Float](repeating: .nan, count: n)
        func go(_ i: Int, _ ptrs: [UnsafeBufferPointer<Float>]) {
            if i < x.count { return x[i].withUnsafeBufferPointer { go(i + 1, ptrs + [$0]) } }
            out.withUnsafeMutableBufferPointer { AggregationMath.weightedMean(ptrs, weights: w, into: $0) }
        }
        go(0, [])
        let want = NaiveAggregators.mean(x, weights: w)
        let scale = AggregatorTestSupport.maxMagnitude(x)
        #expect(AggregatorTestSupport.firstMismatch(out, want) { 1e-6 * scale[$0] } == nil)
        #expect(close(AggregationMath.weightedMean(x, weights: w), out, 0))
    }

    /// Every aggregator inside the outer optimizer: FedAvg (lr 1, μ 0) gives θ − aggregate(Δ) with the
    /// strategy's weights (samples/√(1 + staleness)); DiLoCo's first step is θ − 0.7·(1 + 0.9)·aggregate(Δ).
    @Test(arguments: AggregatorKind.all)
    func outerStrategyWithEachAggregator(kind: AggregatorKind) {
        let n = 70
        let deltas = AggregatorTestSupport.updates(6, n, seed: 4)
        let updates = deltas.enumerated().map { i, d in WeightedUpdate(delta: d, samples: 10 * (i + 1), staleness: i % 3) }
        let theta = AggregatorTestSupport.updates(1, n, seed: 8)[0]
        let g = AggregatorTestSupport.naive(kind, deltas, weights: updates.map(\.weight))
        var fedAvg = OuterOptimizerStrategy(config: .fedAvg, aggregator: kind, parameterCount: n)
        let next = fedAvg.aggregate(params: theta, updates: updates)
        #expect(close(next, zip(theta, g).map { $0 - $1 }, 1e-4), "\(kind)")
        var diloco = OuterOptimizerStrategy(config: .diloco, aggregator: kind, parameterCount: n)
        let stepped = diloco.aggregate(params: theta, updates: updates)
        #expect(close(stepped, zip(theta, g).map { $0 - 0.7 * 1.9 * $1 }, 1e-4), "\(kind)")
        #expect(close(diloco.momentum, g, 1e-4))
        // One update ×1e30 among six: every robust aggregator keeps the step finite and small, the mean does not.
        var attacked = updates
        attacked[2].delta = attacked[2].delta.map { $0 * 1e30 }
        var s = OuterOptimizerStrategy(config: .fedAvg, aggregator: kind, parameterCount: n)
        let moved = s.aggregate(params: theta, updates: attacked)
        let step = zip(moved, theta).map { abs($0 - $1) }.max()!
        if kind.isRobust {
            #expect(step < 100, "\(kind) moved θ by \(step)")
        } else {
            #expect(step > 1e20)
        }
    }
}
