import Foundation
import Testing

@testable import CrowdAggregation

/// The defence's pure pieces: leave-one-out agreement, the fallback, the undefended control, the upload screen.
@Suite struct RoundDefenceTests {
    static func random(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
        var s = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<n).map { _ in
            s ^= s << 13
            s ^= s >> 7
            s ^= s << 17
            return (Float(s % 20001) / 10000 - 1) * scale
        }
    }

    @Test(arguments: [3, 4, 5, 8, 9])
    func leaveOneOutCosinesMatchTheNaiveDefinition(k: Int) {
        let x = (0..<k).map { Self.random(37, seed: UInt64($0 + 1)) }
        let fast = RoundDefence.leaveOneOutMedianCosines(x)
        for i in 0..<k {
            var others = x
            others.remove(at: i)
            let med = NaiveAggregators.median(others)
            #expect(abs(fast[i] - AggregationMath.cosine(x[i], med)) < 1e-6, "k \(k) i \(i)")
        }
    }

    /// Honest updates share a direction; noise of the same norm does not, and is left out.
    @Test func noiseDisagreesWithTheRoundAndIsExcluded() {
        let n = 5000
        let common = Self.random(n, seed: 99)
        var candidates = (0..<5).map { i in
            RoundDefence.Candidate(
                delta: zip(common, Self.random(n, seed: UInt64(i + 10))).map { $0 + 0.8 * $1 }, weight: 1)
        }
        let honestNorm = AggregationMath.l2Norm(candidates[0].delta)
        var noise = Self.random(n, seed: 777)
        AggregationMath.scale(&noise, by: Float(honestNorm / AggregationMath.l2Norm(noise)))
        candidates.append(.init(delta: noise, weight: 1))
        var strategy = OuterOptimizerStrategy(config: .fedAvg, aggregator: .mean, parameterCount: n)
        let r = RoundDefence(config: .standard).run(
            params: [Float](repeating: 0, count: n), candidates: candidates, strategy: &strategy,
            history: NormHistory(capacity: 64))
        #expect(r.verdicts.prefix(5).allSatisfy { $0.isAggregated })
        #expect(r.verdicts[5].reason == .noProgress)
        #expect(r.stepped)
    }

    @Test func anUnusableAggregateFallsBackAndFinallyKeepsTheModel() {
        let n = 64
        let params = [Float](repeating: 1, count: n)
        let huge = (0..<n).map { Float(3e38) * ($0 % 2 == 0 ? 1 : -1) }
        var strategy = OuterOptimizerStrategy(config: .diloco, aggregator: .mean, parameterCount: n)
        let before = strategy.momentum
        // A probe whose loss explodes away from θ = 1.
        let probe: ([Float]) -> Double = { p in p.reduce(0.0) { $0 + Double(($1 - 1) * ($1 - 1)) } + 1 }
        let r = RoundDefence(config: .standard).run(
            params: params, candidates: [.init(delta: huge, weight: 1)], strategy: &strategy,
            history: NormHistory(capacity: 64), probe: probe)
        #expect(!r.stepped && r.params == params)
        #expect(r.verdicts[0].reason == .unusableAggregate)
        #expect(strategy.momentum == before)  // no step, no momentum change
        // The undefended control applies it anyway: this is the damage the defence prevents.
        var control = OuterOptimizerStrategy(config: .diloco, aggregator: .mean, parameterCount: n)
        let c = RoundDefence(config: .off).run(
            params: params, candidates: [.init(delta: huge, weight: 1)], strategy: &control,
            history: NormHistory(capacity: 64), probe: probe)
        #expect(c.stepped && !AggregationMath.allFinite(c.params))
    }

    @Test func theUploadScreenRefusesHugeNormsOnceTheHistoryIsTrusted() {
        let v = [Float](repeating: 1, count: 100)  // norm 10
        var history = NormHistory(capacity: 64)
        #expect(UploadScreen.check(v.map { $0 * 1000 }, config: .standard, history: history) == .success(10_000))
        for _ in 0..<DefenceConfig.minHistory { history.append(10) }
        #expect(UploadScreen.check(v, config: .standard, history: history) == .success(10))
        #expect(UploadScreen.check(v.map { $0 * 51 }, config: .standard, history: history) == .failure(.normTooLarge))
        var capped = DefenceConfig.standard
        capped.maxNorm = 5
        #expect(UploadScreen.check(v, config: capped, history: NormHistory(capacity: 8)) == .failure(.normTooLarge))
        var bad = v
        bad[3] = .infinity
        #expect(UploadScreen.check(bad, config: .standard, history: history) == .failure(.nonFinite))
    }

    @Test func theHistoryIsARingAndItsMedianTheReference() {
        var h = NormHistory(capacity: 8)
        for x in [5.0, 1, 3, 2, 4, 6, 7] { h.append(x) }
        #expect(h.reference == nil)  // 7 < minHistory
        h.append(8)
        #expect(h.reference == 4.5)
        h.append(100)  // evicts 5
        #expect(h.norms.count == 8 && h.reference == 5)
        h.append(.nan)
        h.append(0)
        #expect(h.norms.count == 8)
        #expect(NormHistory.lowerMedian([1, 100]) == 1)
    }

    @Test func theDefenceConfigRoundTripsAndNamesBadKeys() throws {
        let data = try JSONEncoder().encode(DefenceConfig.standard)
        #expect(try JSONDecoder().decode(DefenceConfig.self, from: data) == .standard)
        #expect(try JSONDecoder().decode(DefenceConfig.self, from: Data("{}".utf8)) == .standard)
        var c = DefenceConfig.standard
        c.agreementFraction = 1.5
        #expect { try c.validate() } throws: { "\($0)".contains("agreementFraction") }
        #expect(throws: AggregationError.self) { try DefenceConfig.off.validate() }
    }

    @Test func sketchesSeeRescaledCopiesAndNotUnrelatedUpdates() {
        let a = Self.random(20000, seed: 1)
        let b = Self.random(20000, seed: 2)
        #expect(abs(UpdateSketch(a).cosine(UpdateSketch(a.map { $0 * -0.3 })) + 1) < 1e-6)
        #expect(abs(UpdateSketch(a).cosine(UpdateSketch(b))) < 0.15)
    }
}
