/// The held-out metric of the global model after a round.
public struct EvaluationPoint: Codable, Sendable, Equatable {
    /// Round whose aggregated model was evaluated (round 0 = the initial model).
    public var round: UInt64
    /// `test_accuracy` (images) or `val_loss` (text).
    public var metric: String
    /// The metric's value.
    public var value: Double
    /// Mean held-out loss (both workloads), when known.
    public var loss: Double?

    public init(round: UInt64, metric: String, value: Double, loss: Double? = nil) {
        self.round = round
        self.metric = metric
        self.value = value
        self.loss = loss
    }
}
