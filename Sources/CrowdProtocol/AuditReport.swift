/// What `coordinator audit` reports (`POST /v1/admin/audit`; Docs/Operations.md, "Audit").

/// One broken invariant.
public struct AuditViolation: Sendable, Equatable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// An acknowledged receipt whose lease has no accepted update.
        case missingReceipt = "missing_receipt"
        /// The database holds a different receipt id, round, samples, SHA-256 or peer for the lease.
        case receiptMismatch = "receipt_mismatch"
        /// A lease or receipt credited more than once.
        case duplicateCredit = "duplicate_credit"
        /// Credit without an accepted update.
        case ledgerWithoutUpdate = "ledger_without_update"
        /// A credited update without its ledger entry.
        case updateWithoutLedger = "update_without_ledger"
        /// An update of a closed round whose credit was never decided.
        case undecidedUpdate = "undecided_update"
        /// Ledger entry and update (or lease) disagree on peer, round, samples, receipt or credit.
        case ledgerMismatch = "ledger_mismatch"
        /// A peer's ledger total differs from the credit recomputed from its updates.
        case creditMismatch = "credit_mismatch"
        /// A round's counters differ from the updates folded into it.
        case foldMismatch = "fold_mismatch"
        /// `PRAGMA integrity_check` is not ok.
        case integrity
        /// The current checkpoint does not verify.
        case checkpoint
    }

    public var kind: Kind
    public var detail: String
    public var description: String { "\(kind.rawValue): \(detail)" }

    public init(kind: Kind, detail: String) {
        self.kind = kind
        self.detail = detail
    }
}

/// A peer suspended after its work failed verification.
public struct AuditSuspension: Sendable, Codable, Equatable {
    public var peerID: String
    public var name: String
    public var suspendedAt: Double
    public var reason: String

    public init(peerID: String, name: String, suspendedAt: Double, reason: String) {
        self.peerID = peerID
        self.name = name
        self.suspendedAt = suspendedAt
        self.reason = reason
    }
}

/// One failed verification (or a false claim refused at upload): what was checked and what it found.
public struct AuditEvidence: Sendable, Codable, Equatable {
    public var leaseID: String
    public var peerID: String
    public var round: UInt64
    /// The challenged segment (-1: the upload's claims).
    public var segment: Int
    /// `upload`, `first` or `second`.
    public var verifier: String
    public var result: String
    public var detail: String
    public var at: Double

    public init(
        leaseID: String, peerID: String, round: UInt64, segment: Int, verifier: String, result: String,
        detail: String, at: Double
    ) {
        self.leaseID = leaseID
        self.peerID = peerID
        self.round = round
        self.segment = segment
        self.verifier = verifier
        self.result = result
        self.detail = detail
        self.at = at
    }
}

/// What the audit found.
public struct AuditReport: Sendable, Codable, Equatable {
    public var receiptsChecked = 0
    public var updates = 0
    public var ledgerEntries = 0
    public var peers = 0
    public var rounds = 0
    public var checkpoints = 0
    /// `PRAGMA integrity_check` output.
    public var integrity = ""
    /// The checkpoint the current round needs (path relative to the campaign).
    public var currentCheckpoint = ""
    /// Violations per kind (`Violation.Kind` raw values; kinds without violations are absent).
    public var counts: [String: Int] = [:]
    /// The first violations, described (at most `maxListed`).
    public var violations: [AuditViolation] = []
    /// Older checkpoints that no longer verify (path: reason); informational.
    public var damagedHistory: [String] = []
    /// Verified work (informational; not violations): suspended peers, the evidence of failed
    /// verifications (newest first, at most `maxListed`), and updates per verification state.
    public var suspended: [AuditSuspension] = []
    public var evidence: [AuditEvidence] = []
    public var verification: [String: Int] = [:]

    public static let maxListed = 50

    public init() {}

    /// True when every invariant holds.
    public var ok: Bool { counts.isEmpty }

    /// Acknowledged receipts missing from the database or recorded differently.
    public var lostAcknowledged: Int { count(.missingReceipt) + count(.receiptMismatch) }

    /// Credit recorded more than once or without an update.
    public var doubleCounted: Int { count(.duplicateCredit) + count(.ledgerWithoutUpdate) }

    public func count(_ kind: AuditViolation.Kind) -> Int { counts[kind.rawValue] ?? 0 }

    public mutating func add(_ kind: AuditViolation.Kind, _ detail: String) {
        counts[kind.rawValue, default: 0] += 1
        if violations.count < Self.maxListed {
            violations.append(AuditViolation(kind: kind, detail: detail))
        }
    }
}

