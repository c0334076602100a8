/// The optimizer a peer (or `crowdtrain train`) runs for its local steps: the campaign's `inner` key, the lease's
/// `inner` field (Docs/Protocol.md) and what `train` uses — one type for all three.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `kind` | `sgd` \| `adamw` | `sgd` | optimizer |
/// | `lr` | float | 0.05 | learning rate (peak, for schedules) |
/// | `momentum` | float | 0.9 | SGD momentum |
/// | `nesterov` | bool | false | SGD Nesterov momentum |
/// | `weightDecay` | float | 0 | SGD L2 / AdamW decoupled decay (≥ 2-D tensors) |
/// | `beta1`, `beta2`, `eps` | float | 0.9, 0.99, 1e-8 | AdamW |
/// | `gradClip` | float | 0 | global grad-norm clip; 0 disables |
/// | `keepState` | bool | true | peers keep the optimizer's state (momentum, Adam moments) from lease to lease, as DiLoCo workers do |
/// | `schedule` | object | `{"kind": "const"}` | learning rate over the campaign's progress (`LRSchedule`: `kind` `const` \| `cosine`, `warmup` 0.05, `floor` 0.1) |
public struct InnerOptimizerConfig: Codable, Sendable, Equatable {
    public var kind: String
    public var lr: Float
    public var momentum: Float
    public var nesterov: Bool
    public var weightDecay: Float
    public var beta1: Float
    public var beta2: Float
    public var eps: Float
    public var gradClip: Float
    public var schedule: LRSchedule
    public var keepState: Bool

    public init(
        kind: String = "sgd", lr: Float = 0.05, momentum: Float = 0.9, nesterov: Bool = false,
        weightDecay: Float = 0, beta1: Float = 0.9, beta2: Float = 0.99, eps: Float = 1e-8, gradClip: Float = 0,
        schedule: LRSchedule = .constant, keepState: Bool = true
    ) {
        self.keepState = keepState
        self.kind = kind; self.lr = lr; self.momentum = momentum; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.gradClip = gradClip
        self.schedule = schedule
    }

    enum CodingKeys: String, CodingKey {
        case kind, lr, momentum, nesterov, weightDecay, beta1, beta2, eps, gradClip, schedule, keepState
    }

    /// Every key is optional and defaults as in the table, so campaign files written before a key existed load.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = InnerOptimizerConfig()
        self.init(
            kind: try c.decodeIfPresent(String.self, forKey: .kind) ?? d.kind,
            lr: try c.decodeIfPresent(Float.self, forKey: .lr) ?? d.lr,
            momentum: try c.decodeIfPresent(Float.self, forKey: .momentum) ?? d.momentum,
            nesterov: try c.decodeIfPresent(Bool.self, forKey: .nesterov) ?? d.nesterov,
            weightDecay: try c.decodeIfPresent(Float.self, forKey: .weightDecay) ?? d.weightDecay,
            beta1: try c.decodeIfPresent(Float.self, forKey: .beta1) ?? d.beta1,
            beta2: try c.decodeIfPresent(Float.self, forKey: .beta2) ?? d.beta2,
            eps: try c.decodeIfPresent(Float.self, forKey: .eps) ?? d.eps,
            gradClip: try c.decodeIfPresent(Float.self, forKey: .gradClip) ?? d.gradClip,
            schedule: try c.decodeIfPresent(LRSchedule.self, forKey: .schedule) ?? d.schedule,
            keepState: try c.decodeIfPresent(Bool.self, forKey: .keepState) ?? d.keepState)
    }
}
