/// Coordinate-wise median: the middle of the K values, or the mean of the two middle values when K is even
/// (`NaiveAggregators.median`). Bit-identical to the naive twin.
///
/// Weights are ignored (as in `TrimmedMeanAggregator`). Cost: one read of the K updates and a sorting network
/// pruned to the one or two middle outputs.
public struct MedianAggregator: Aggregator {
    public init() {}

    /// The sorted positions the median reads for K values.
    static func middle(_ k: Int) -> Range<Int> { k % 2 == 1 ? (k / 2)..<(k / 2 + 1) : (k / 2 - 1)..<(k / 2 + 1) }

    public func aggregate(
        _ vectors: [UpdateSource], weights: [Double], into out: UnsafeMutableBufferPointer<Float>
    ) {
        precondition(!vectors.isEmpty, "aggregate needs at least one vector")
        precondition(vectors.allSatisfy { $0.count == out.count }, "vectors differ in length")
        let middle = Self.middle(vectors.count)
        let network = SortingNetwork(wires: vectors.count, keeping: middle)
        let o = out.baseAddress!
        CoordinateTile.sweep(vectors, count: out.count) { tile, start, count, _ in
            network.apply(tile)
            tile.writeRowMean(middle, divisor: Double(middle.count), to: o + start, count: count)
        }
    }
}
