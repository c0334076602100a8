import Testing

@testable import CrowdAggregation

/// Huge and extreme values: parity with the naive twins when some updates carry ±3e38 or ±1e30 (in one tile
/// only, so fast and exact tiles mix, or everywhere), and the robustness each aggregator promises against
/// f < K/2 attackers.
@Suite struct AggregatorOutlierTests {
    typealias S = AggregatorTestSupport

    enum Placement: CaseIterable { case oneTile, everywhere }

    /// `honest` seeded updates followed by `f` attackers whose values are ±`magnitude` (alternating sign by
    /// attacker when `mixedSigns`) on the coordinates of `placement`, honest-looking elsewhere.
    static func attacked(
        honest h: Int, f: Int, n: Int, magnitude: Float, mixedSigns: Bool, placement: Placement, seed: UInt64 = 5
    ) -> [[Float]] {
        let x = S.updates(h + f, n, seed: seed)
        var out = Array(x.prefix(h))
        for a in 0..<f {
            var v = x[h + a]
            let sign: Float = mixedSigns && a % 2 == 1 ? -1 : 1
            let range = placement == .oneTile ? 64..<Swift.min(n, 128) : 0..<n
            for j in range { v[j] = sign * magnitude }
            out.append(v)
        }
        return out
    }

    static let cases: [(k: Int, f: Int)] = [(4, 1), (7, 3), (16, 3), (16, 7), (17, 4), (32, 8), (33, 16), (64, 16)]

    @Test(arguments: [Float.greatestFiniteMagnitude, 3e38, 1e30], Placement.allCases)
    func parityWithOutliers(magnitude: Float, placement: Placement) {
        for (k, f) in Self.cases {
            for mixed in [false, true] {
                let x = Self.attacked(honest: k - f, f: f, n: 150, magnitude: magnitude, mixedSigns: mixed,
                                      placement: placement)
                let w = S.weights(k)
                let honestScale = S.maxMagnitude(Array(x.prefix(k - f)))
                let beta = Double(f) / Double(k) + 1e-9
                let kinds: [(AggregatorKind, Float)] = [
                    (.median, 0), (.trimmedMean(trim: beta), 1e-6), (.centeredClip(radius: nil), 2e-5),
                    (.nnmTrimmedMean(trim: beta), 2e-5),
                ]
                for (kind, rel) in kinds {
                    let fast = kind.make().aggregate(x, weights: w)
                    let slow = S.naive(kind, x, weights: w)
                    let bad = S.firstMismatch(fast, slow) { rel * honestScale[$0] + 1e-6 * abs(slow[$0]) }
                    #expect(bad == nil, "\(kind) K \(k) f \(f) mixed \(mixed): \(bad.map { "\($0)" } ?? "")")
                    #expect(fast.allSatisfy { $0.isFinite }, "\(kind) K \(k) f \(f)")
                }
            }
        }
    }

    /// Median, trimmed mean and NNM with β ≥ f/K stay inside the honest values' range at every coordinate;
    /// centered clipping stays within a few honest radii (median distance of an honest update to the honest mean)
    /// of the honest mean; the mean is dragged out.
    @Test(arguments: [Float(1e30), -1e30, 3e38])
    func robustAggregatorsResistFewerThanHalfAttackers(magnitude: Float) {
        for (k, f) in Self.cases {
            for mixed in [false, true] {
                let x = Self.attacked(honest: k - f, f: f, n: 130, magnitude: magnitude, mixedSigns: mixed,
                                      placement: .everywhere)
                let honest = Array(x.prefix(k - f))
                let w = [Double](repeating: 1, count: k)
                let lo = (0..<130).map { j in honest.map { $0[j] }.min()! }
                let hi = (0..<130).map { j in honest.map { $0[j] }.max()! }
                let beta = Double(f) / Double(k) + 1e-9
                for kind in [AggregatorKind.median, .trimmedMean(trim: beta), .nnmTrimmedMean(trim: beta)] {
                    let g = kind.make().aggregate(x, weights: w)
                    let outside = (0..<130).first { !(g[$0] >= lo[$0] && g[$0] <= hi[$0]) }
                    #expect(outside == nil, "\(kind) K \(k) f \(f) mixed \(mixed) left the honest range at \(outside ?? -1)")
                }
                let honestMean = NaiveAggregators.mean(honest, weights: [Double](repeating: 1, count: k - f))
                let radii = honest.map { distance($0, honestMean) }.sorted()
                let cc = AggregatorKind.centeredClip(radius: nil).make().aggregate(x, weights: w)
                // Measured: ≤ 0.75 radii for f ≤ K/4, up to 5.5 for f = 16 of 33 (τ grows as f nears K/2).
                let bound = (4 * f <= k ? 1.5 : 8) * radii[radii.count / 2]
                #expect(distance(cc, honestMean) <= bound, "centered clip K \(k) f \(f) mixed \(mixed)")
                let mean = AggregatorKind.mean.make().aggregate(x, weights: w)
                if !mixed || f % 2 == 1 {  // equal-weight ±attackers in pairs cancel in the mean
                    #expect(mean.contains { abs($0) > 1e20 }, "the mean should break, K \(k) f \(f)")
                }
            }
        }
    }

    /// Centered clipping uses the weights; the order statistics ignore them.
    @Test func weightsMatterOnlyWhereDocumented() {
        let x = S.updates(7, 90, seed: 11)
        let even = [Double](repeating: 1, count: 7)
        let skewed: [Double] = [50, 1, 1, 1, 1, 1, 1]
        for kind in [AggregatorKind.median, .trimmedMean(trim: 0.25), .nnmTrimmedMean(trim: 0.25)] {
            #expect(kind.make().aggregate(x, weights: even) == kind.make().aggregate(x, weights: skewed), "\(kind)")
        }
        let cc = AggregatorKind.centeredClip(radius: nil).make()
        #expect(cc.aggregate(x, weights: even) != cc.aggregate(x, weights: skewed))
    }

    func distance(_ a: [Float], _ b: [Float]) -> Double {
        zip(a, b).reduce(0.0) { $0 + (Double($1.0) - Double($1.1)) * (Double($1.0) - Double($1.1)) }.squareRoot()
    }
}
