extension AggregatorKind {
    /// The fast aggregator this kind names (each has its naive twin in `NaiveAggregators` and a parity test).
    public func make() -> any Aggregator {
        switch self {
        case .mean: MeanAggregator()
        case .trimmedMean(let t): TrimmedMeanAggregator(trim: t)
        case .median: MedianAggregator()
        case .centeredClip(let radius): CenteredClippingAggregator(radius: radius)
        case .nnmTrimmedMean(let t): NearestNeighborMixingAggregator(trim: t)
        }
    }
}
