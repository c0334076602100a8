/// Why an update earned nothing (stable snake_case raw values: they travel in receipts and the ledger).
public enum ExclusionReason: String, Error, Sendable, Codable, CaseIterable {
    /// A value is NaN or infinite.
    case nonFinite = "non_finite"
    /// The L2 norm is above the campaign's bound (`defence.maxNorm`, or `rejectMultiplier` × the reference).
    case normTooLarge = "update_norm_too_large"
    /// The norm is below `tinyFraction` × the reference: no work was done (zero, or near-zero noise).
    case tinyUpdate = "tiny_update"
    /// (Almost) the same direction as an earlier update of this round, a recent round, or the broadcast model change.
    case copiedUpdate = "copied_update"
    /// The update does not point where the round's updates point (noise, wrong data, sabotage).
    case noProgress = "no_progress"
    /// The aggregate with this update was unusable (non-finite or exploding loss); it was re-aggregated without it.
    case unusableAggregate = "unusable_aggregate"
    /// A stored update no longer decodes (e.g. written by an older coordinator under other rules).
    case corrupt = "corrupt_update"

    /// One sentence for receipts and `peer status`.
    public var explanation: String {
        switch self {
        case .nonFinite: "the update contains NaN or infinite values"
        case .normTooLarge: "the update is far larger than the campaign accepts"
        case .tinyUpdate: "the update is (almost) zero: no training progress was found in it"
        case .copiedUpdate: "the update repeats an earlier update or the broadcast model change"
        case .noProgress: "the update does not point where the round's other updates point (no training progress found in it)"
        case .unusableAggregate: "the round's aggregate with this update was unusable, so it was left out"
        case .corrupt: "the stored update could not be decoded"
        }
    }
}

/// What the round's defence decided for one candidate update.
public struct UpdateVerdict: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        /// Aggregated, so credited.
        case aggregated
        /// Left out of the aggregate and earns nothing.
        case excluded(ExclusionReason)
    }

    public var outcome: Outcome
    /// ‖Δ‖₂ as uploaded.
    public var norm: Double
    /// Factor applied by clipping (1 = not clipped).
    public var clipScale: Double
    /// Cosine with the coordinate-wise median of the round's clipped survivors (nil when not computed).
    public var agreement: Double?

    public init(outcome: Outcome, norm: Double, clipScale: Double = 1, agreement: Double? = nil) {
        self.outcome = outcome
        self.norm = norm
        self.clipScale = clipScale
        self.agreement = agreement
    }

    public var isAggregated: Bool { outcome == .aggregated }

    /// The reason when excluded.
    public var reason: ExclusionReason? {
        if case .excluded(let r) = outcome { return r }
        return nil
    }
}
