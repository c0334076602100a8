/// An aggregator's pseudo-gradient followed by an outer SGD step (DiLoCo).
///
/// FedAvg is the configuration `mean`, lr 1, momentum 0: θ − mean(θ − θᵢ) = mean(θᵢ).
///
/// Stale updates (async mode) weigh `wᵢ = samplesᵢ/√(1 + sᵢ)` in the mean: `g = Σ wᵢ·Δᵢ / Σ wᵢ`.
/// With every sᵢ = 0 this is exactly the synchronous sample-weighted mean. (Scaling the numerator only, as
/// FedBuff does, shortens every step that contains a stale update; measured on Fashion-MNIST with
/// `bench async` and DiLoCo's outer step that cost about 1 point of accuracy at equal samples, so the weights only
/// re-weight.) The step itself follows staleness only with `config.delayScaling` (OuterOptimizerConfig).
/// Robust aggregators receive the same weights and document how they use them.
public struct OuterOptimizerStrategy: Strategy {
    public let config: OuterOptimizerConfig
    /// How the round's pseudo-gradients are combined.
    public let aggregator: AggregatorKind
    /// Outer momentum buffer, same length as the parameters (zeros when fresh).
    public private(set) var momentum: [Float]
    /// Aggregation weight of one fresh full lease (its samples), the unit of `config.fullStepUpdates`.
    public let leaseWeight: Double

    /// - Parameter leaseWeight: the weight of one fresh full lease (samples per lease); used only when
    ///   `config.fullStepUpdates` is set.
    public init(
        config: OuterOptimizerConfig, aggregator: AggregatorKind = .mean, parameterCount: Int, leaseWeight: Double = 1
    ) {
        self.config = config
        self.aggregator = aggregator
        self.momentum = [Float](repeating: 0, count: parameterCount)
        self.leaseWeight = leaseWeight
    }

    public mutating func aggregate(params: [Float], updates: [WeightedUpdate]) -> [Float] {
        let weights = updates.map(\.weight)
        let g = aggregator.make().aggregate(updates.map(\.delta), weights: weights)
        let (total, delay) = Self.evidence(weights: weights, staleness: updates.map(\.staleness))
        return step(params: params, gradient: g, weight: total, staleness: delay)
    }

    /// The total weight of a step's updates and their weighted mean staleness τ̄ (0 without weight): what
    /// `step(params:gradient:weight:staleness:)` scales by.
    public static func evidence(weights: [Double], staleness: [Int]) -> (weight: Double, staleness: Double) {
        let total = weights.reduce(0, +)
        guard total > 0 else { return (total, 0) }
        return (total, zip(weights, staleness).reduce(0.0) { $0 + $1.0 * Double($1.1) } / total)
    }

    /// The outer step alone, from an already aggregated pseudo-gradient `g` of updates weighing `weight` in all
    /// (nil: a full step) whose weighted mean staleness is `staleness`. With `config.fullStepUpdates` set, `g` enters
    /// the momentum and the step scaled by `config.evidenceScale` (OuterOptimizerConfig, "Evidence scaling"); with
    /// `config.delayScaling`, also by 1/(1 + 2τ̄), and the momentum is μ/(1 + τ̄) ("Delay scaling").
    public mutating func step(params: [Float], gradient g: [Float], weight: Double? = nil, staleness: Double = 0)
        -> [Float]
    {
        var p = params
        var scale = weight.map { config.evidenceScale(weight: $0, leaseWeight: leaseWeight) } ?? 1
        var mu = config.momentum
        if config.delayScaling, staleness > 0 {
            scale *= Float(1 / (1 + 2 * staleness))
            mu *= Float(1 / (1 + staleness))
        }
        AggregationMath.outerStep(
            params: &p, gradient: g, momentum: &momentum, lr: config.lr, mu: mu, nesterov: config.nesterov,
            gradientScale: scale)
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
