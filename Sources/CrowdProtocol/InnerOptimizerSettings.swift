/// The optimizer a peer runs for its local steps, as sent in a `Lease`.
///
/// Field-for-field copy of `CrowdTraining.InnerOptimizerConfig` (this module depends only on
/// Foundation). `kind` is `sgd` or `adamw`.
public struct InnerOptimizerSettings: Codable, Sendable, Equatable {
    public var kind: String
    public var lr: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var gradClip: Float

    public init(
        kind: String = "sgd", lr: Float = 0.05, momentum: Float = 0.9, nesterov: Bool = false,
        weightDecay: Float = 0, beta1: Float = 0.9, beta2: Float = 0.99, eps: Float = 1e-8, gradClip: Float = 0
    ) {
        self.kind = kind
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.gradClip = gradClip
    }
}
