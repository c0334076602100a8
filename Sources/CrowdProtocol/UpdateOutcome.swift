/// What became of an uploaded update: `GET /v1/updates/{leaseID}` (the uploading peer only).
///
/// `status` is `pending` until the update's round is aggregated, then `credited` (it joined the aggregate and
/// earned `credit`) or `no_credit` with a stable `reason` code and a sentence saying why:
/// `non_finite`, `update_norm_too_large`, `tiny_update`, `copied_update`, `no_progress`, `unusable_aggregate`,
/// `corrupt_update`.
public struct UpdateOutcome: Codable, Sendable, Equatable {
    public var leaseID: String
    /// Round the update was folded into.
    public var round: UInt64
    /// `pending`, `credited` or `no_credit`.
    public var status: String
    /// Credit granted in GFLOP (0 unless credited).
    public var credit: Double
    /// Samples credited (0 unless credited).
    public var samples: Int
    /// Why no credit (stable code), nil otherwise.
    public var reason: String?
    /// The reason in words.
    public var explanation: String?
    /// ‖Δ‖₂ as uploaded, once known.
    public var norm: Double?
    /// Clipping factor applied before aggregation (1 = not clipped), once aggregated.
    public var clipScale: Double?
    /// Verified work: `unchallenged`, `challenged`, `verified`, `failed` or `unanswered` (nil without verification).
    public var verification: String?
    /// Credit computed at aggregation and held (status `held`), in GFLOP.
    public var heldCredit: Double?

    public init(
        leaseID: String, round: UInt64, status: String, credit: Double, samples: Int, reason: String? = nil,
        explanation: String? = nil, norm: Double? = nil, clipScale: Double? = nil
    ) {
        self.leaseID = leaseID
        self.round = round
        self.status = status
        self.credit = credit
        self.samples = samples
        self.reason = reason
        self.explanation = explanation
        self.norm = norm
        self.clipScale = clipScale
    }

    public static let pending = "pending"
    public static let credited = "credited"
    public static let noCredit = "no_credit"
    /// Aggregated; the credit is held until the update is verified or its audit window passes.
    public static let held = "held"
    /// Held credit that was lost: the peer failed a verification, or left its challenge unanswered.
    public static let forfeited = "forfeited"
}

/// `POST /v1/outcomes`: the leases whose outcomes a peer asks for (its own; at most `maxLeases`).
public struct OutcomesRequest: Codable, Sendable, Equatable {
    /// Most lease ids in one request (a daemon keeps 10 receipts).
    public static let maxLeases = 32
    public var leaseIDs: [String]
    public init(leaseIDs: [String]) { self.leaseIDs = leaseIDs }
}

/// The answer to `POST /v1/outcomes`: one outcome per requested lease this peer stored an update for, in request
/// order; ids of other peers' leases, unknown ids and repeats are left out (the same 404 as `GET` would say).
public struct OutcomesResponse: Codable, Sendable, Equatable {
    public var outcomes: [UpdateOutcome]
    public init(outcomes: [UpdateOutcome]) { self.outcomes = outcomes }
}
