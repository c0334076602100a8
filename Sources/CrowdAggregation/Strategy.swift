/// One peer's pseudo-gradient Δ = θ_start − θ_end with its coordinator-assigned weight (samples).
public struct WeightedUpdate: Sendable {
    public var delta: [Float]
    public var samples: Int
    /// Model versions between the update's base and the model it is applied to (0 in sync mode).
    public var staleness: Int

    public init(delta: [Float], samples: Int, staleness: Int = 0) {
        self.delta = delta
        self.samples = samples
        self.staleness = staleness
    }

    /// The staleness scale 1/√(1 + s) (1 when fresh).
    public var scale: Double { Self.stalenessScale(staleness) }

    /// The weight in a round's mean: samples / √(1 + staleness).
    public var weight: Double { Double(samples) * scale }

    /// The weight multiplier 1/√(1 + s) of an update `staleness` versions old.
    public static func stalenessScale(_ staleness: Int) -> Double { 1 / (1 + Double(max(0, staleness))).squareRoot() }
}

/// How a round's updates become the next global model (Flower's `Strategy`).
///
/// Implementations hold their optimizer state (e.g. momentum) and must be able to export and
/// restore it, so a restarted coordinator continues exactly.
public protocol Strategy: Sendable {
    /// Returns the new global parameters from `params` and the round's `updates` (at least one).
    mutating func aggregate(params: [Float], updates: [WeightedUpdate]) -> [Float]
    /// Serialized optimizer state (stored in SQLite with the round).
    func exportState() -> [Float]
    /// Restores the state written by `exportState`; an empty array means "fresh".
    mutating func restoreState(_ state: [Float]) throws
}
