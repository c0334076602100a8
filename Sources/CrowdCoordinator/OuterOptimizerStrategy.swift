/// Sample-weighted mean of the pseudo-gradients followed by an outer SGD step (DiLoCo).
///
/// FedAvg is the configuration lr 1, momentum 0: θ − mean(θ − θᵢ) = mean(θᵢ).
///
/// Stale updates (async mode) weigh `wᵢ = samplesᵢ/√(1 + sᵢ)` in the mean: `g = Σ wᵢ·Δᵢ / Σ wᵢ`.
/// With every sᵢ = 0 this is exactly the synchronous sample-weighted mean. (Scaling the numerator only, as
/// FedBuff does, shortens every step that contains a stale update; measured on Fashion-MNIST with
/// `bench async` that cost about 1 point of accuracy at equal samples, so staleness only re-weights.)
public struct OuterOptimizerStrategy: Strategy {
    public let config: OuterOptimizerConfig
    /// Outer momentum buffer, same length as the parameters (zeros when fresh).
    public private(set) var momentum: [Float]

    public init(config: OuterOptimizerConfig, parameterCount: Int) {
        self.config = config
        self.momentum = [Float](repeating: 0, count: parameterCount)
    }

    public mutating func aggregate(params: [Float], updates: [WeightedUpdate]) -> [Float] {
        let weights = updates.map { Double($0.samples) * $0.scale }
        let g = AggregationMath.weightedMean(updates.map(\.delta), weights: weights)
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
            throw CoordinatorError(
                "stored outer optimizer state has \(state.count) values, the model \(momentum.count)")
        }
        momentum = state
    }
}
