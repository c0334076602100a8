@testable import CrowdAggregation

/// Seeded inputs and comparisons shared by the aggregator tests.
enum AggregatorTestSupport {
    /// K vectors of n values: a shared direction plus per-vector noise, each vector with its own scale
    /// (0.25…4), and built-in ties: coordinate 0 is 1.0 in every vector and, for K ≥ 4, the last vector is an
    /// exact copy of the first (equal distances for the nearest-neighbour tie rule).
    static func updates(_ k: Int, _ n: Int, seed: UInt64) -> [[Float]] {
        var rng = SplitMix64(seed: seed &+ UInt64(k) &* 1000 &+ UInt64(n))
        let shared = (0..<n).map { _ in rng.nextSymmetric() }
        var x: [[Float]] = (0..<k).map { _ in
            let scale = 0.25 * Float(1 << Int(rng.next() % 5))
            return (0..<n).map { j in (shared[j] + 2 * rng.nextSymmetric()) * scale }
        }
        for i in 0..<k { x[i][0] = 1 }
        if k >= 4 { x[k - 1] = x[0] }
        return x
    }

    /// The aggregate of `kind` by the naive twin.
    static func naive(_ kind: AggregatorKind, _ x: [[Float]], weights w: [Double]) -> [Float] {
        switch kind {
        case .mean: NaiveAggregators.mean(x, weights: w)
        case .trimmedMean(let t): NaiveAggregators.trimmedMean(x, trim: t)
        case .median: NaiveAggregators.median(x)
        case .centeredClip(let r): NaiveAggregators.centeredClip(x, weights: w, radius: r)
        case .nnmTrimmedMean(let t): NaiveAggregators.nnmTrimmedMean(x, trim: t)
        }
    }

    /// Weights 1, 2, 3, 1, 2, 3, …
    static func weights(_ k: Int) -> [Double] { (0..<k).map { Double(1 + $0 % 3) } }

    /// Index and values of the first coordinate where |a − b| > tol(j), nil when all agree.
    static func firstMismatch(_ a: [Float], _ b: [Float], tol: (Int) -> Float) -> (Int, Float, Float)? {
        precondition(a.count == b.count)
        for j in a.indices where !(abs(a[j] - b[j]) <= tol(j)) { return (j, a[j], b[j]) }
        return nil
    }

    /// max over vectors of |xᵢ[j]| for every j.
    static func maxMagnitude(_ x: [[Float]]) -> [Float] {
        (0..<x[0].count).map { j in x.map { abs($0[j]) }.max()! }
    }
}
