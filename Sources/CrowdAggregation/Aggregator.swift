/// Turns a round's pseudo-gradients into one pseudo-gradient: the pure, stateless half of a `Strategy`.
///
/// Every implementation has a naive twin in `NaiveAggregators` and a parity test. Inputs are `K ≥ 1`
/// buffers of the same length `n`; `weights` has one positive entry per buffer (samples/√(1+staleness)).
/// Robust aggregators document how (or whether) they use the weights.
public protocol Aggregator: Sendable {
    /// Writes the aggregate of `sources` (fp32 values or int8 codes, `UpdateSource`) into `out` (`out.count == n`).
    func aggregate(_ sources: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>)
}

extension Aggregator {
    /// Writes the aggregate of fp32 `vectors` into `out`.
    public func aggregate(
        _ vectors: [UnsafeBufferPointer<Float>], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        aggregate(vectors.sources, weights: weights, into: out)
    }

    /// Convenience over arrays (tests, small inputs).
    public func aggregate(_ vectors: [[Float]], weights: [Double]) -> [Float] {
        precondition(!vectors.isEmpty, "aggregate needs at least one vector")
        let n = vectors[0].count
        precondition(vectors.allSatisfy { $0.count == n }, "vectors differ in length")
        var out = [Float](repeating: 0, count: n)
        withBufferPointers(vectors) { ptrs in
            out.withUnsafeMutableBufferPointer { aggregate(ptrs, weights: weights, into: $0) }
        }
        return out
    }
}

/// Runs `body` with a buffer pointer into each of `vectors` (valid only inside `body`).
func withBufferPointers<R>(_ vectors: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) -> R) -> R {
    func nest(_ i: Int, _ acc: [UnsafeBufferPointer<Float>]) -> R {
        if i == vectors.count { return body(acc) }
        return vectors[i].withUnsafeBufferPointer { nest(i + 1, acc + [$0]) }
    }
    return nest(0, [])
}

/// The sample-weighted mean Σ wᵢ·xᵢ / Σ wᵢ (FedAvg, DiLoCo). Not robust: one update can move it anywhere.
public struct MeanAggregator: Aggregator {
    public init() {}

    public func aggregate(_ sources: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>) {
        AggregationMath.weightedMean(sources, weights: weights, into: out)
    }
}
