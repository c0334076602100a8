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
