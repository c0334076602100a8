import CrowdEngine
import CrowdProtocol

extension InnerOptimizerConfig {
    /// Builds the optimizer for `layout`.
    public func make(for layout: ParameterLayout) throws -> any Optimizer {
        switch kind {
        case "sgd": return SGD(count: layout.count, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
        case "adamw": return AdamW(layout: layout, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay)
        default: throw ConfigurationError("unknown optimizer '\(kind)'; use sgd or adamw")
        }
    }
}
