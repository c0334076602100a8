import CrowdProtocol
import Foundation

/// A registered volunteer.
public struct PeerRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Double
    public var lastSeen: Double?
    public var revokedAt: Double?
    /// Verified work: when and why the credential was suspended (nil: not suspended).
    public var suspendedAt: Double? = nil
    public var suspension: String? = nil
    /// Consecutive clean verifications (sets the challenge rate).
    public var auditClean: Int = 0
    /// SHA-256 hex of the inner-optimizer state the peer's last stored update ended with.
    public var innerState: String? = nil
}

/// A lease as stored: who got which work in which round.
public struct LeaseRecord: Sendable, Equatable {
    public enum Status: String, Sendable { case open, accepted, expired }
    public var id: String
    public var round: UInt64
    public var peerID: String
    /// Lease index within the round (0, 1, …): picks the shard range.
    public var slot: Int
    public var shardIDs: [String]
    public var seed: UInt64
    /// Coordinator-assigned weight and credit basis.
    public var samples: Int
    public var issuedAt: Double
    public var deadline: Double
    public var status: Status
    /// Verified work: the inner-optimizer state digest (hex) the lease allows the peer to continue from.
    public var innerState: String? = nil
}

/// An accepted update, exactly as folded into its round.
public struct AcceptedUpdateRecord: Sendable, Equatable {
    public var receipt: Receipt
    public var peerID: String
    /// Body size.
    public var bytes: Int
    /// SHA-256 hex of the envelope bytes (the same body retried gets the same receipt).
    public var sha256: String
    public var trainLoss: Double?
    /// The envelope bytes (decoded again at aggregation).
    public var envelope: Data
    /// Round whose aggregation this update joins: the lease's round in sync mode, the round collecting at
    /// acceptance in async mode. nil = the lease's round.
    public var foldedRound: UInt64? = nil
    /// ‖Δ‖₂ of the decoded update (screened at upload).
    public var norm: Double? = nil
    /// SHA-256 hex of the decoded values' bytes: the same values under another lease or round are a replay.
    public var valuesSHA256: String? = nil
    /// Count-sketch of the decoded update (`UpdateSketch`), for copy detection in later rounds.
    public var sketch: Data? = nil
    /// `pending` until the round is aggregated, then `credited` or `no_credit`.
    public var status: String = "pending"
    /// Why no credit (`ExclusionReason` raw value).
    public var reason: String? = nil
    /// Clip factor applied at aggregation.
    public var clipScale: Double? = nil
    /// Verified work: the envelope's commitment block (128 bytes), the challenge, and the verification state
    /// (`unchallenged`, `challenged`, `verified`, `failed`, `unanswered`; nil when the campaign does not verify).
    public var commitment: Data? = nil
    public var challenge: UpdateChallenge? = nil
    public var verification: String? = nil
}

/// Verification states of an update (`updates.verification`).
public enum VerificationState {
    public static let unchallenged = "unchallenged"
    public static let challenged = "challenged"
    public static let verified = "verified"
    public static let failed = "failed"
    public static let unanswered = "unanswered"
}

/// One verification as recorded (`coordinator audit`'s evidence).
public struct VerificationRecord: Sendable, Equatable {
    public var leaseID: String
    public var peerID: String
    public var round: UInt64
    public var segment: Int
    /// `first` or `second` (the independent re-execution before any penalty).
    public var verifier: String
    public var result: String
    /// The `VerificationReport` as JSON.
    public var report: String
    public var createdAt: Double
}

/// What settling held credit did (`settleHeld`).
public struct SettleResult: Sendable, Equatable {
    /// GFLOP moved to the ledger.
    public var released: Double = 0
    /// Updates whose challenge went unanswered.
    public var unanswered: [String] = []
}

/// The defence's decision for one folded update, written when its round closes.
public struct UpdateDecision: Sendable, Equatable {
    public var leaseID: String
    /// Credited (joined the aggregate) or not.
    public var credited: Bool
    /// `ExclusionReason` raw value when not credited.
    public var reason: String?
    public var norm: Double?
    public var clipScale: Double?
    /// GFLOP granted (0 unless credited).
    public var credit: Double
    /// Count-sketch of the update when credited (remembered for copy detection).
    public var sketch: Data?

    public init(
        leaseID: String, credited: Bool, reason: String?, norm: Double?, clipScale: Double?, credit: Double,
        sketch: Data? = nil
    ) {
        self.leaseID = leaseID
        self.credited = credited
        self.reason = reason
        self.norm = norm
        self.clipScale = clipScale
        self.credit = credit
        self.sketch = sketch
    }
}

/// An accepted update as aggregation reads it.
public struct FoldedUpdate: Sendable, Equatable {
    /// Round the lease was issued in: the envelope was computed from that round's base model.
    public var leaseRound: UInt64
    public var samples: Int
    public var envelope: Data
    public var leaseID: String = ""
    public var peerID: String = ""
    /// Verification state (`VerificationState`); credit of an update not yet verified is held.
    public var verification: String? = nil
}

/// A round. Round 0 is the initial model (closed at init); round n ≥ 1 trains from `baseVersion`.
public struct RoundRecord: Sendable, Equatable {
    public var number: UInt64
    public var baseVersion: String
    public var seed: UInt64
    public var openedAt: Double
    public var closedAt: Double?
    public var resultVersion: String?
    public var updates: Int
    public var samples: Int
    public var leasesIssued: Int
}

/// A global model checkpoint written by the coordinator.
public struct CheckpointRecord: Sendable, Equatable {
    /// SHA-256 hex of the file bytes.
    public var version: String
    public var round: UInt64
    /// Path relative to the campaign directory.
    public var path: String
    public var bytes: Int
    public var createdAt: Double
}

/// A held-out evaluation of the model produced by a round.
public struct EvaluationRecord: Sendable, Equatable {
    public var round: UInt64
    public var version: String
    public var metric: String
    public var value: Double
    public var loss: Double
    public var samples: Int

    /// The public form (`/v1/status`, `/v1/evaluations`).
    public var point: EvaluationPoint { EvaluationPoint(round: round, metric: metric, value: value, loss: loss) }
}

/// Outcome of redeeming an invite.
public enum InviteRedemption: Sendable, Equatable {
    case joined(PeerRecord)
    case unknown
    case used
    case revoked
    /// A peer of the campaign already has a name with the same `DisplayName.key`; the invite was not used.
    /// `suggestion` is a numbered variant that is still free.
    case nameTaken(suggestion: String?)
}

/// Campaign-wide totals for `/v1/status`.
public struct CampaignTotals: Sendable, Equatable {
    public var samplesTrained: Int = 0
    public var updatesAccepted: Int = 0
    public var updatesRejected: Int = 0
    public var bytesIn: Int = 0
    public var bytesOut: Int = 0
    public var peersTotal: Int = 0
    public var peersOnline: Int = 0
    /// Samples accepted within the recent window.
    public var recentSamples: Int = 0
    public var creditTotal: Double = 0
}
