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
    /// Learning-rate schedule over the campaign's progress: `const` (absent = const) or `cosine`, with its
    /// `warmup` and `floor` fractions (`CrowdTraining.LRSchedule`).
    public var schedule: String?
    public var warmup: Double?
    public var floor: Double?
    /// Campaign progress (fraction of its planned training units) at this lease's first step, and how much one
    /// step of this lease advances it (the round's updates run side by side). Step `t` trains at
    /// `schedule(progress + t × progressPerStep) × lr`.
    public var progress: Double?
    public var progressPerStep: Double?
    /// Keep the inner optimizer's state from this peer's previous lease (DiLoCo); absent = a fresh optimizer.
    public var keepState: Bool?

    public init(
        kind: String = "sgd", lr: Float = 0.05, momentum: Float = 0.9, nesterov: Bool = false,
        weightDecay: Float = 0, beta1: Float = 0.9, beta2: Float = 0.99, eps: Float = 1e-8, gradClip: Float = 0,
        schedule: String? = nil, warmup: Double? = nil, floor: Double? = nil, progress: Double? = nil,
        progressPerStep: Double? = nil, keepState: Bool? = nil
    ) {
        self.keepState = keepState
        self.schedule = schedule
        self.warmup = warmup
        self.floor = floor
        self.progress = progress
        self.progressPerStep = progressPerStep
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
