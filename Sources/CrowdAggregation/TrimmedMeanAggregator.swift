/// Coordinate-wise trimmed mean: per coordinate, drop the `NaiveAggregators.trimCount(K, β)` smallest and
/// largest of the K values and average the rest, unweighted (`NaiveAggregators.trimmedMean`).
///
/// Weights are ignored: a weighted trimmed mean would let one peer claiming many samples (the coordinator
/// counts them, but a peer chooses its lease sizes) outweigh the trimming. Cost: one read of the K updates and a
/// pruned sorting network per coordinate (`SortingNetwork`), 16 coordinates per SIMD lane group.
public struct TrimmedMeanAggregator: Aggregator {
    /// The trimmed fraction β of each end, 0 ≤ β < 0.5.
    public let trim: Double

    public init(trim: Double = AggregatorKind.defaultTrim) {
        precondition(trim >= 0 && trim < 0.5, "trim fraction must be in [0, 0.5)")
        self.trim = trim
    }

    public func aggregate(
        _ vectors: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(!vectors.isEmpty, "aggregate needs at least one vector")
        precondition(vectors.allSatisfy { $0.count == out.count }, "vectors differ in length")
        let k = vectors.count
        let t = NaiveAggregators.trimCount(k, trim: trim)
        let middle = t..<(k - t)
        let network = SortingNetwork(wires: k, keeping: middle)
        let o = out.baseAddress!
        CoordinateTile.sweep(vectors, count: out.count) { tile, start, count, _ in
            network.apply(tile)
            tile.writeRowMean(middle, divisor: Double(middle.count), to: o + start, count: count)
        }
    }
}
