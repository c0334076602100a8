/// Proof that an update was received and stored; returned by `PUT /v1/updates/{leaseID}`.
///
/// Credit is granted when the update is accepted into an aggregate, not on upload: a new receipt says
/// `status: "pending"` and `credit: 0`; `GET /v1/updates/{leaseID}` returns the final `UpdateOutcome`.
/// A retry of a stored upload returns the same receipt (same `receiptID`); a lease is credited at most once.
public struct Receipt: Codable, Sendable, Equatable {
    /// Receipt identity (UUID string).
    public var receiptID: String
    /// The lease the update was for.
    public var leaseID: String
    /// Round the update was folded into.
    public var round: UInt64
    /// Samples credited (coordinator-assigned, never peer-claimed).
    public var samples: Int
    /// Credit granted so far in GFLOP (0 while pending): samples × the model's forward+backward FLOPs per sample / 1e9.
    public var credit: Double
    /// `pending` (credit is decided when the round is aggregated), or `credited` (receipts of coordinators that
    /// credited on upload, and stored outcomes). Optional on the wire.
    public var status: String?
    /// Acceptance time, Unix seconds.
    public var acceptedAt: Double
    /// SHA-256 hex of the upload body the coordinator stored; the peer checks it against what it sent.
    /// Optional on the wire (absent from coordinators before it was added).
    public var sha256: String?
    /// Verified work: the segment of the committed trajectory the peer must reveal
    /// (`PUT /v1/updates/{leaseID}/proof`) before `deadline`; nil when this update was not sampled for a challenge.
    public var challenge: UpdateChallenge?

    public init(
        receiptID: String, leaseID: String, round: UInt64, samples: Int, credit: Double, acceptedAt: Double,
        sha256: String? = nil, status: String? = nil
    ) {
        self.sha256 = sha256
        self.status = status
        self.receiptID = receiptID
        self.leaseID = leaseID
        self.round = round
        self.samples = samples
        self.credit = credit
        self.acceptedAt = acceptedAt
    }
}

/// A challenge of one segment of an update's committed trajectory (Docs/Protocol.md "Verified work").
public struct UpdateChallenge: Codable, Sendable, Equatable {
    /// Segment index: the peer reveals the states at leaves `segment` and `segment + 1` and the final state.
    public var segment: Int
    /// Unix seconds by which the proof must arrive; later, the update's credit is forfeited.
    public var deadline: Double

    public init(segment: Int, deadline: Double) {
        self.segment = segment
        self.deadline = deadline
    }
}

/// The coordinator's answer to a proof upload.
public struct ProofReceipt: Codable, Sendable, Equatable {
    public var leaseID: String
    /// `received` (verification runs in the background; `GET /v1/updates/{leaseID}` tells the result).
    public var status: String

    public init(leaseID: String, status: String) {
        self.leaseID = leaseID
        self.status = status
    }
}
