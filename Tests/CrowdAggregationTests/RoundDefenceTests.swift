import Foundation
import Synchronization
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

    /// K up to 9, and lengths below one tile (37), of several tiles with a remainder (1000) and exact tiles (256).
    @Test(arguments: [3, 4, 5, 8, 9], [37, 256, 1000])
    func leaveOneOutCosinesMatchTheNaiveDefinition(k: Int, n: Int) {
        let x = (0..<k).map { Self.random(n, seed: UInt64($0 + 1)) }
        let fast = RoundDefence.leaveOneOutMedianCosines(x)
        for i in 0..<k {
            var others = x
            others.remove(at: i)
            let med = NaiveAggregators.median(others)
            #expect(abs(fast[i] - AggregationMath.cosine(x[i], med)) < 1e-6, "k \(k) n \(n) i \(i)")
        }
    }

    /// The sketch is its definition: bucket h(i) mod 2048, sign h's top bit, sums in Double (the branch-free loop
    /// must not change one bit of it: sketches stored by earlier rounds are compared with new ones).
    @Test func sketchEqualsItsDefinitionBitForBit() {
        let x = Self.random(10_007, seed: 5)
        var acc = [Double](repeating: 0, count: UpdateSketch.dimension)
        for (i, v) in x.enumerated() {
            let h = UpdateSketch.mix(UInt64(i))
            acc[Int(h % UInt64(UpdateSketch.dimension))] += (h >> 63) == 0 ? Double(v) : -Double(v)
        }
        #expect(UpdateSketch(x).values == acc.map { Float($0) })
    }

    /// `land` (the coordinator's grid step) maps the step's target to what is published: the probe judges the
    /// landed parameters, the result is them, and with the base loss known the round costs one probe evaluation.
    /// Control: a landing that wrecks the model is refused by the same probe (the round keeps θ).
    @Test func theProbeJudgesTheLandedModelOncePerRound() {
        let n = 300
        let common = Self.random(n, seed: 3)
        let candidates = (0..<4).map { i in
            RoundDefence.Candidate(delta: zip(common, Self.random(n, seed: UInt64(i + 40))).map { $0 + 0.3 * $1 }, weight: 1)
        }
        let params = [Float](repeating: 0, count: n)
        let calls = Mutex(0)
        let probe: ([Float]) -> Double = { p in
            calls.withLock { $0 += 1 }
            return p.reduce(0) { $0 + Double($1 * $1) }
        }
        let landed: ([Float]) -> [Float] = { t in t.map { ($0 * 16).rounded() / 16 } }
        var strategy = OuterOptimizerStrategy(config: .init(lr: 0.5, momentum: 0, nesterov: false), aggregator: .mean, parameterCount: n)
        let defence = RoundDefence(config: DefenceConfig())
        let result = defence.run(
            params: params, candidates: candidates, strategy: &strategy, history: NormHistory(capacity: 64), probe: probe,
            knownBaseProbeLoss: 100, land: landed)
        #expect(result.stepped && calls.withLock { $0 } == 1)
        #expect(result.params == landed(result.params) && result.params.contains { $0 != 0 })
        #expect(result.probeLoss == probe(result.params))
        #expect(result.sketches.count == 4 && result.sketches.allSatisfy { $0 != nil })
        #expect(result.sketches[0] == UpdateSketch(candidates[0].delta))

        var control = OuterOptimizerStrategy(config: .init(lr: 0.5, momentum: 0, nesterov: false), aggregator: .mean, parameterCount: n)
        let wrecked = defence.run(
            params: params, candidates: candidates, strategy: &control, history: NormHistory(capacity: 64), probe: probe,
            knownBaseProbeLoss: 1e-3, land: { $0.map { _ in 10 } })
        #expect(!wrecked.stepped && wrecked.params == params)
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
