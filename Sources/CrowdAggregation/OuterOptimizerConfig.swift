import Foundation

/// The coordinator's outer optimizer, applied to the aggregated pseudo-gradient of a round.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `lr` | float | 0.7 | outer learning rate |
/// | `momentum` | float | 0.9 | outer momentum μ (0 disables) |
/// | `nesterov` | bool | true | Nesterov momentum |
/// | `fullStepUpdates` | float? | null | evidence for a full step, in fresh leases (see below); null: every step is full |
/// | `delayScaling` | bool | false | shrink the step and the momentum with the updates' staleness (see below) |
///
/// FedAvg is `lr 1, momentum 0` (θ becomes the weighted mean of the peers' models); DiLoCo is
/// `lr 0.7, momentum 0.9, nesterov true`.
///
/// **Evidence scaling.** An outer setting is tuned for the mean of some number of updates: lr 1 with momentum 0.8
/// amplifies the mean pseudo-gradient about 5×, which suits the mean of 3 split-batch leases but overshoots on one
/// lease's noisier delta. With `fullStepUpdates` = F, a step whose updates weigh Σwᵢ (samples/√(1 + staleness), see
/// `OuterOptimizerStrategy`) takes the pseudo-gradient scaled by min(1, Σwᵢ / (F × samples per lease)) into the
/// momentum and the step: a round closed by its deadline with one update of three, a campaign of one, or an async
/// buffer of stale updates moves the model in proportion to the evidence it has (the linear scaling rule of
/// large-batch SGD), and a full quorum of fresh leases is unchanged.
///
/// **Delay scaling.** A pseudo-gradient is a displacement toward where a peer's local training went from the model
/// it started on. Applied τ versions late, in directions the local steps already settled it repeats a move the model
/// has made, and with lr 1 the delayed iteration θₖ₊₁ = θₖ − η·(θₖ₋τ − θ*) is stable only for
/// η < 2 sin(π / (2(2τ + 1))) (1 at τ = 1, 0.35 at τ = 4); momentum adds more delay (asynchrony already acts as
/// momentum, Mitliagkas et al. 2016). With `delayScaling`, a step whose updates have weighted mean staleness τ̄ takes
/// the pseudo-gradient × 1/(1 + 2τ̄) with momentum μ/(1 + τ̄); sync steps (τ̄ = 0) are unchanged. Measured with
/// `bench crowd --strategies async` on fmnist-mlp (Docs/Scaling.md): without it async campaigns of 4–16 peers
/// oscillate (the probe check refuses the aggregate) and never reach 0.85; with it 2–8 peers do.
public struct OuterOptimizerConfig: Codable, Sendable, Equatable {
    public var lr: Float
    public var momentum: Float
    public var nesterov: Bool
    /// Fresh full leases whose mean earns the full step; nil disables evidence scaling.
    public var fullStepUpdates: Double?
    /// Shrinks steps from stale updates (async mode); false in files written before the key.
    public var delayScaling: Bool

    public init(
        lr: Float = 0.7, momentum: Float = 0.9, nesterov: Bool = true, fullStepUpdates: Double? = nil,
        delayScaling: Bool = false
    ) {
        self.lr = lr
        self.momentum = momentum
        self.nesterov = nesterov
        self.fullStepUpdates = fullStepUpdates
        self.delayScaling = delayScaling
    }

    enum CodingKeys: String, CodingKey { case lr, momentum, nesterov, fullStepUpdates, delayScaling }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lr = try c.decode(Float.self, forKey: .lr)
        momentum = try c.decode(Float.self, forKey: .momentum)
        nesterov = try c.decode(Bool.self, forKey: .nesterov)
        fullStepUpdates = try c.decodeIfPresent(Double.self, forKey: .fullStepUpdates)
        delayScaling = try c.decodeIfPresent(Bool.self, forKey: .delayScaling) ?? false
    }

    /// The factor applied to a pseudo-gradient whose updates weigh `weight` in all, with `leaseWeight` the weight of
    /// one fresh full lease: min(1, weight / (fullStepUpdates × leaseWeight)); 1 without evidence scaling.
    public func evidenceScale(weight: Double, leaseWeight: Double) -> Float {
        guard let f = fullStepUpdates, f > 0, leaseWeight > 0, weight.isFinite, weight >= 0 else { return 1 }
        return Float(min(1, weight / (f * leaseWeight)))
    }

    /// Refuses values the optimizer cannot use (a `campaign.json` edited by hand).
    public func validate() throws {
        guard lr > 0, lr.isFinite, momentum >= 0, momentum < 1 else {
            throw AggregationError("outer.lr must be positive and outer.momentum in [0, 1)")
        }
        if let f = fullStepUpdates, !(f > 0 && f.isFinite && f <= 1_000_000) {
            throw AggregationError("outer.fullStepUpdates must be a positive number of leases (or absent)")
        }
    }

    /// Federated averaging: the new model is the sample-weighted mean of the peers' models.
    public static let fedAvg = OuterOptimizerConfig(lr: 1, momentum: 0, nesterov: false)
    /// DiLoCo (Douillard et al. 2023): outer SGD, lr 0.7, Nesterov momentum 0.9.
    public static let diloco = OuterOptimizerConfig(lr: 0.7, momentum: 0.9, nesterov: true)

    /// Parses `fedavg`, `diloco` or `lr,momentum[,nesterov][,full=F][,delay]` (e.g. `0.5,0.9,nesterov`,
    /// `1,0.8,nesterov,full=3,delay`).
    public init(parsing text: String) throws {
        let refusal = AggregationError(
            "outer optimizer '\(text)' not understood; use fedavg, diloco or lr,momentum[,nesterov][,full=F][,delay]")
        switch text.lowercased() {
        case "fedavg": self = .fedAvg
        case "diloco": self = .diloco
        default:
            let parts = text.lowercased().split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count >= 2, parts.count <= 5, let lr = Float(parts[0]), let m = Float(parts[1]) else {
                throw refusal
            }
            var nesterov = false
            var full: Double?
            var delay = false
            for part in parts.dropFirst(2) {
                if part == "nesterov", !nesterov {
                    nesterov = true
                } else if part == "delay", !delay {
                    delay = true
                } else if part.hasPrefix("full="), full == nil, let f = Double(part.dropFirst(5)) {
                    full = f
                } else {
                    throw refusal
                }
            }
            self.init(lr: lr, momentum: m, nesterov: nesterov, fullStepUpdates: full, delayScaling: delay)
            do { try validate() } catch { throw refusal }
        }
    }
}
