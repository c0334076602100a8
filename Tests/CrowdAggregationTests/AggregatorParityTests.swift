import Testing

@testable import CrowdAggregation

/// Every fast aggregator against its naive twin (`NaiveAggregators`) on seeded inputs, for many K and for
/// lengths that are not multiples of the tile width (64) or of any SIMD width.
///
/// Tolerances: the median is bit-identical (same Float values, same (a + b)/2 in Double). The trimmed mean sums
/// the same multiset in Double in another order: 1e-6 × the coordinate's largest |value|. Centered clipping
/// and NNM take their distances from Float partial sums (relative error ≲ 1e-6): 2e-5 × the coordinate's
/// largest |value| (the inputs here have no outlier, so that is the updates' own scale).
@Suite struct AggregatorParityTests {
    typealias S = AggregatorTestSupport

    static let ks = [1, 2, 3, 4, 7, 16, 17, 32, 33, 64]
    static let lengths = [1, 63, 65, 301]

    func check(_ kind: AggregatorKind, k: Int, n: Int, relative: Float, seed: UInt64 = 1) {
        let x = S.updates(k, n, seed: seed)
        let w = S.weights(k)
        let fast = kind.make().aggregate(x, weights: w)
        let slow = S.naive(kind, x, weights: w)
        let scale = S.maxMagnitude(x)
        let bad = S.firstMismatch(fast, slow) { relative * scale[$0] }
        #expect(bad == nil, "\(kind) K \(k) n \(n): coordinate \(bad.map { "\($0.0): fast \($0.1), naive \($0.2)" } ?? "")")
    }

    @Test(arguments: ks, lengths)
    func medianIsBitIdentical(k: Int, n: Int) { check(.median, k: k, n: n, relative: 0) }

    @Test(arguments: ks, lengths)
    func trimmedMean(k: Int, n: Int) {
        for trim in [0, 0.1, 0.25, 0.49] { check(.trimmedMean(trim: trim), k: k, n: n, relative: 1e-6) }
    }

    @Test(arguments: ks, lengths)
    func centeredClipping(k: Int, n: Int) {
        check(.centeredClip(radius: nil), k: k, n: n, relative: 2e-5)
        check(.centeredClip(radius: 0.5), k: k, n: n, relative: 2e-5)
        check(.centeredClip(radius: 1e6), k: k, n: n, relative: 2e-5)
    }

    @Test(arguments: ks, lengths)
    func nearestNeighbourMixing(k: Int, n: Int) {
        for trim in [0, 0.1, 0.25, 0.4] { check(.nnmTrimmedMean(trim: trim), k: k, n: n, relative: 2e-5) }
    }

    @Test func longVectorsAcrossManyTiles() {
        for kind in AggregatorKind.all { check(kind, k: 9, n: 64 * 40 + 13, relative: kind == .median ? 0 : 2e-5) }
    }

    /// The same updates given through the pointer API write exactly what the array API returns.
    @Test func pointerAndArrayAPIsAgree() {
        let x = S.updates(5, 130, seed: 3)
        for kind in AggregatorKind.all {
            let a = kind.make().aggregate(x, weights: S.weights(5))
            var out = [Float](repeating: .nan, count: 130)
            x[0].withUnsafeBufferPointer { p0 in
                x[1].withUnsafeBufferPointer { p1 in
                    x[2].withUnsafeBufferPointer { p2 in
                        x[3].withUnsafeBufferPointer { p3 in
                            x[4].withUnsafeBufferPointer { p4 in
                                out.withUnsafeMutableBufferPointer {
                                    kind.make().aggregate([p0, p1, p2, p3, p4], weights: S.weights(5), into: $0)
                                }
                            }
                        }
                    }
                }
            }
            #expect(a == out, "\(kind)")
        }
    }

    /// With one update every aggregator returns it unchanged.
    @Test func oneUpdateIsReturnedExactly() {
        let x = S.updates(1, 77, seed: 9)
        for kind in AggregatorKind.all { #expect(kind.make().aggregate(x, weights: [2]) == x[0], "\(kind)") }
    }

    /// Exact ties in NNM distances are broken by index, as in the naive twin: x₁ and x₂ are both at distance 1
    /// from x₀, K − f = 2, so x₀ mixes with x₁ (the lower index), not with x₂.
    @Test func nnmTieRuleMatches() {
        let x: [[Float]] = [[0, 0, 0], [1, 0, 0], [-1, 0, 0]]
        let kind = AggregatorKind.nnmTrimmedMean(trim: 0.4)
        #expect(NaiveAggregators.trimCount(3, trim: 0.4) == 1)
        let fast = kind.make().aggregate(x, weights: [1, 1, 1])
        // Mixed rows: x₀ → (x₀ + x₁)/2 = 0.5, x₁ → (x₁ + x₀)/2 = 0.5, x₂ → (x₂ + x₀)/2 = −0.5; trimmed mean 0.5.
        #expect(fast == [0.5, 0, 0])
        #expect(fast == S.naive(kind, x, weights: [1, 1, 1]))
    }
}
