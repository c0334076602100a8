import CrowdProtocol
import Foundation

/// A registered volunteer.
public struct PeerRecord: Sendable, Equatable {
    public var id: String
    public var name: String
    public var createdAt: Double
    public var lastSeen: Double?
    public var revokedAt: Double?
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
}

/// An accepted update as aggregation reads it.
public struct FoldedUpdate: Sendable, Equatable {
    /// Round the lease was issued in: the envelope was computed from that round's base model.
    public var leaseRound: UInt64
    public var samples: Int
    public var envelope: Data
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
}

/// Outcome of redeeming an invite.
public enum InviteRedemption: Sendable, Equatable {
    case joined(PeerRecord)
    case unknown
    case used
    case revoked
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
