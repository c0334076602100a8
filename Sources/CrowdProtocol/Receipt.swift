/// Proof that an update was accepted and credited; returned by `PUT /v1/updates/{leaseID}`.
///
/// A retry of an accepted upload returns the same receipt (same `receiptID`); a lease is
/// credited at most once.
public struct Receipt: Codable, Sendable, Equatable {
    /// Receipt identity (UUID string).
    public var receiptID: String
    /// The lease the update was for.
    public var leaseID: String
    /// Round the update was folded into.
    public var round: UInt64
    /// Samples credited (coordinator-assigned, never peer-claimed).
    public var samples: Int
    /// Credit in GFLOP: samples × the model's forward+backward FLOPs per sample / 1e9.
    public var credit: Double
    /// Acceptance time, Unix seconds.
    public var acceptedAt: Double
    /// SHA-256 hex of the upload body the coordinator stored; the peer checks it against what it sent.
    /// Optional on the wire (absent from coordinators before it was added).
    public var sha256: String?

    public init(
        receiptID: String, leaseID: String, round: UInt64, samples: Int, credit: Double, acceptedAt: Double,
        sha256: String? = nil
    ) {
        self.sha256 = sha256
        self.receiptID = receiptID
        self.leaseID = leaseID
        self.round = round
        self.samples = samples
        self.credit = credit
        self.acceptedAt = acceptedAt
    }
}
