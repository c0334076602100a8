import CrowdEngine

/// The optimizer a peer (or `crowdtrain train`) runs for its local steps.
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

    public init(
        kind: String = "sgd", lr: Float = 0.05, momentum: Float = 0.9, nesterov: Bool = false,
        weightDecay: Float = 0, beta1: Float = 0.9, beta2: Float = 0.99, eps: Float = 1e-8, gradClip: Float = 0
    ) {
        self.kind = kind; self.lr = lr; self.momentum = momentum; self.nesterov = nesterov
        self.weightDecay = weightDecay; self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.gradClip = gradClip
    }

    /// Builds the optimizer for `layout`.
    public func make(for layout: ParameterLayout) throws -> any Optimizer {
        switch kind {
        case "sgd": return SGD(count: layout.count, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
        case "adamw": return AdamW(layout: layout, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
        default: throw ConfigurationError("unknown optimizer '\(kind)'; use sgd or adamw")
        }
    }
}

/// A configuration value is invalid; the message says which and what to use instead.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}
