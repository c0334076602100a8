extension AggregatorKind {
    /// The aggregator this kind names.
    public func make() -> any Aggregator {
        switch self {
        case .mean: MeanAggregator()
        default: NaiveBackedAggregator(kind: self)
        }
    }
}

/// Runs the naive twin over copies of the inputs. Correct for any kind; the fast aggregators replace it.
struct NaiveBackedAggregator: Aggregator {
    let kind: AggregatorKind

    func aggregate(_ vectors: [UnsafeBufferPointer<Float>], weights: [Double], into out: UnsafeMutableBufferPointer<Float>) {
        let x = vectors.map { Array($0) }
        let r: [Float]
        switch kind {
        case .mean: r = NaiveAggregators.mean(x, weights: weights)
        case .trimmedMean(let t): r = NaiveAggregators.trimmedMean(x, trim: t)
        case .median: r = NaiveAggregators.median(x)
        case .centeredClip(let radius): r = NaiveAggregators.centeredClip(x, weights: weights, radius: radius)
        case .nnmTrimmedMean(let t): r = NaiveAggregators.nnmTrimmedMean(x, trim: t)
        }
        for i in 0..<out.count { out[i] = r[i] }
    }
}
