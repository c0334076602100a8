/// An aggregator's pseudo-gradient followed by an outer SGD step (DiLoCo).
///
/// FedAvg is the configuration `mean`, lr 1, momentum 0: θ − mean(θ − θᵢ) = mean(θᵢ).
///
/// Stale updates (async mode) weigh `wᵢ = samplesᵢ/√(1 + sᵢ)` in the mean: `g = Σ wᵢ·Δᵢ / Σ wᵢ`.
/// With every sᵢ = 0 this is exactly the synchronous sample-weighted mean. (Scaling the numerator only, as
/// FedBuff does, shortens every step that contains a stale update; measured on Fashion-MNIST with
/// `bench async` that cost about 1 point of accuracy at equal samples, so staleness only re-weights.)
/// Robust aggregators receive the same weights and document how they use them.
public struct OuterOptimizerStrategy: Strategy {
    public let config: OuterOptimizerConfig
    /// How the round's pseudo-gradients are combined.
    public let aggregator: AggregatorKind
    /// Outer momentum buffer, same length as the parameters (zeros when fresh).
    public private(set) var momentum: [Float]

    public init(config: OuterOptimizerConfig, aggregator: AggregatorKind = .mean, parameterCount: Int) {
        self.config = config
        self.aggregator = aggregator
        self.momentum = [Float](repeating: 0, count: parameterCount)
    }

    public mutating func aggregate(params: [Float], updates: [WeightedUpdate]) -> [Float] {
        let g = aggregator.make().aggregate(updates.map(\.delta), weights: updates.map(\.weight))
        return step(params: params, gradient: g)
    }

    /// The outer step alone, from an already aggregated pseudo-gradient `g`.
    public mutating func step(params: [Float], gradient g: [Float]) -> [Float] {
        var p = params
        AggregationMath.outerStep(
            params: &p, gradient: g, momentum: &momentum, lr: config.lr, mu: config.momentum,
            nesterov: config.nesterov)
        return p
    }

    public func exportState() -> [Float] { config.momentum == 0 ? [] : momentum }

    public mutating func restoreState(_ state: [Float]) throws {
        if state.isEmpty {
            momentum = [Float](repeating: 0, count: momentum.count)
            return
        }
        guard state.count == momentum.count else {
            throw AggregationError(
                "stored outer optimizer state has \(state.count) values, the model \(momentum.count)")
        }
        momentum = state
    }
}
