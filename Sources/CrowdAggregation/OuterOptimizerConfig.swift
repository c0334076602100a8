import Foundation

/// The coordinator's outer optimizer, applied to the aggregated pseudo-gradient of a round.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `lr` | float | 0.7 | outer learning rate |
/// | `momentum` | float | 0.9 | outer momentum μ (0 disables) |
/// | `nesterov` | bool | true | Nesterov momentum |
///
/// FedAvg is `lr 1, momentum 0` (θ becomes the weighted mean of the peers' models); DiLoCo is
/// `lr 0.7, momentum 0.9, nesterov true`.
public struct OuterOptimizerConfig: Codable, Sendable, Equatable {
    public var lr: Float
    public var momentum: Float
    public var nesterov: Bool

    public init(lr: Float = 0.7, momentum: Float = 0.9, nesterov: Bool = true) {
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
    }

    /// Federated averaging: the new model is the sample-weighted mean of the peers' models.
    public static let fedAvg = OuterOptimizerConfig(lr: 1, momentum: 0, nesterov: false)
    /// DiLoCo (Douillard et al. 2023): outer SGD, lr 0.7, Nesterov momentum 0.9.
    public static let diloco = OuterOptimizerConfig(lr: 0.7, momentum: 0.9, nesterov: true)

    /// Parses `fedavg`, `diloco` or `lr,momentum[,nesterov]` (e.g. `0.5,0.9,nesterov`).
    public init(parsing text: String) throws {
        switch text.lowercased() {
        case "fedavg": self = .fedAvg
        case "diloco": self = .diloco
        default:
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count >= 2, let lr = Float(parts[0]), let m = Float(parts[1]), lr > 0, lr.isFinite,
                m >= 0, m < 1
            else {
                throw AggregationError(
                    "outer optimizer '\(text)' not understood; use fedavg, diloco or lr,momentum[,nesterov]")
            }
            self.init(lr: lr, momentum: m, nesterov: parts.count > 2 && parts[2] == "nesterov")
        }
    }
}
