import Foundation
import CrowdVerification
import GRDB

/// Recovery and audit queries: checkpoint fallback on start, and the read-only snapshot `CampaignAudit` checks.
///
/// Every query names its columns, so migrations that add columns do not change what it reads.
extension SQLiteStore {
    /// Every checkpoint record, newest round first.
    public func checkpoints() throws -> [CheckpointRecord] {
        try pool.read { db in try Self.checkpoints(db) }
    }

    static func checkpoints(_ db: Database) throws -> [CheckpointRecord] {
        try Row.fetchAll(
            db,
            sql:
                """
                SELECT version, round, path, bytes, created_at FROM checkpoints
                WHERE version NOT IN (SELECT version FROM removed_checkpoints) ORDER BY round DESC, created_at DESC
                """
        ).map(Self.checkpoint)
    }

    /// Gives up open round `round`, whose base checkpoint is unusable, and opens `round + 1` from `base`, in ONE
    /// transaction: every open lease expires (in async mode older rounds' too: their deltas were computed from lost
    /// models); its stored updates passed the upload checks and lost their round through the coordinator's fault,
    /// so the pending ones are credited now (`gflopPerSample` × samples; never folded into a model) and keep their
    /// ledger entries; the outer optimizer's state is dropped, so its momentum restarts from zero; the
    /// `checkpoint_fallbacks` counter is bumped.
    /// - Returns: the new round.
    func abandonRound(
        _ round: UInt64, restartFrom base: CheckpointRecord, nextSeed: UInt64, gflopPerSample: Double, at time: Double
    ) throws
        -> RoundRecord
    {
        try pool.write { db in
            let pending = try Row.fetchAll(
                db,
                sql: """
                    SELECT lease_id, peer_id, round, samples, receipt_id, norm FROM updates
                    WHERE status = 'pending' AND COALESCE(folded_round, round) = ?
                    """, arguments: [round.sqlValue])
            for row in pending {
                let samples: Int = row["samples"]
                let leaseID: String = row["lease_id"]
                let credit = Double(samples) * gflopPerSample
                try db.execute(
                    sql: "UPDATE updates SET status = 'credited', credit = ? WHERE lease_id = ?",
                    arguments: [credit, leaseID])
                try Self.insertLedger(
                    peerID: row["peer_id"], leaseID: leaseID, round: UInt64(sql: row["round"]), samples: samples,
                    gflop: credit, receiptID: row["receipt_id"], norm: row["norm"], clipScale: nil, at: time, db)
            }
            try db.execute(
                sql: "UPDATE leases SET status = 'expired' WHERE round <= ? AND status = 'open'",
                arguments: [round.sqlValue])
            try db.execute(
                sql: "UPDATE rounds SET closed_at = ? WHERE number = ? AND closed_at IS NULL",
                arguments: [time, round.sqlValue])
            guard db.changesCount == 1 else {
                throw CoordinatorError("round \(round) is not open; cannot abandon it")
            }
            try db.execute(sql: "DELETE FROM outer_state")
            try db.execute(
                sql: "INSERT INTO rounds (number, base_version, seed, opened_at) VALUES (?, ?, ?, ?)",
                arguments: [(round + 1).sqlValue, base.version, nextSeed.sqlValue, time])
            try Self.bump("checkpoint_fallbacks", by: 1, db)
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT * FROM rounds WHERE number = ?", arguments: [(round + 1).sqlValue])
            else { throw CoordinatorError("round \(round + 1) was not recorded") }
            return Self.round(row)
        }
    }

    /// A consistent snapshot (one read transaction) of what `CampaignAudit` checks.
    public func auditSnapshot() throws -> AuditSnapshot {
        try pool.read { db in try Self.auditSnapshot(db) }
    }

    static func auditSnapshot(_ db: Database) throws -> AuditSnapshot {
        // Async aggregation folds an update into `folded_round` (added by a later migration); before, into `round`.
        let hasFolded = try db.columns(in: "updates").contains { $0.name == "folded_round" }
        let folded = hasFolded ? "COALESCE(folded_round, round)" : "round"
        // Credit on aggregation added `status`; before, every stored update was credited on upload.
        let hasStatus = try db.columns(in: "updates").contains { $0.name == "status" }
        let status = hasStatus ? "status" : "'credited'"
        let updates = try Row.fetchAll(
            db,
            sql: """
                SELECT lease_id, round, \(folded) AS folded, peer_id, samples, sha256, receipt_id, credit,
                    \(status) AS status
                FROM updates ORDER BY lease_id
                """
        ).map {
            AuditSnapshot.Update(
                leaseID: $0["lease_id"], round: UInt64(sql: $0["round"]),
                foldedRound: UInt64(sql: $0["folded"]),
                peerID: $0["peer_id"], samples: $0["samples"], sha256: $0["sha256"],
                receiptID: $0["receipt_id"],
                credit: $0["credit"], status: $0["status"])
        }
        let ledger = try Row.fetchAll(
            db,
            sql: "SELECT id, peer_id, lease_id, round, samples, gflop, receipt_id FROM ledger ORDER BY id"
        ).map {
            AuditSnapshot.LedgerEntry(
                id: $0["id"], peerID: $0["peer_id"], leaseID: $0["lease_id"],
                round: UInt64(sql: $0["round"]),
                samples: $0["samples"], gflop: $0["gflop"], receiptID: $0["receipt_id"])
        }
        let leases = try Row.fetchAll(
            db,
            sql:
                "SELECT id, round, peer_id, samples, issued_at, status FROM leases ORDER BY issued_at, id"
        ).map {
            AuditSnapshot.Lease(
                id: $0["id"], round: UInt64(sql: $0["round"]), peerID: $0["peer_id"],
                samples: $0["samples"],
                issuedAt: $0["issued_at"], status: $0["status"])
        }
        let rounds = try Row.fetchAll(
            db,
            sql:
                "SELECT number, base_version, closed_at, result_version, updates, samples FROM rounds ORDER BY number"
        ).map {
            AuditSnapshot.Round(
                number: UInt64(sql: $0["number"]), baseVersion: $0["base_version"],
                closedAt: $0["closed_at"],
                resultVersion: $0["result_version"], updates: $0["updates"], samples: $0["samples"])
        }
        let refused = try String.fetchAll(
            db,
            sql: "SELECT DISTINCT lease_id FROM rejections WHERE lease_id IS NOT NULL ORDER BY lease_id")
        let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check").joined(separator: "; ")
        var snapshot = AuditSnapshot(
            updates: updates, ledger: ledger, leases: leases, rounds: rounds,
            checkpoints: try checkpoints(db),
            refusedLeases: refused, integrity: integrity)
        if try db.tableExists("verifications") {
            snapshot.suspended = try Row.fetchAll(
                db, sql: "SELECT id, name, suspended_at, suspension FROM peers WHERE suspended_at IS NOT NULL ORDER BY suspended_at"
            ).map {
                CampaignAudit.Suspension(
                    peerID: $0["id"], name: $0["name"], suspendedAt: $0["suspended_at"], reason: $0["suspension"] ?? "")
            }
            snapshot.evidence = try Row.fetchAll(
                db, sql: "SELECT * FROM verifications WHERE result != 'verified' ORDER BY id DESC LIMIT ?",
                arguments: [CampaignAudit.Report.maxListed]
            ).map {
                let report = try? JSONDecoder().decode(VerificationReport.self, from: Data(($0["report"] as String).utf8))
                return CampaignAudit.Evidence(
                    leaseID: $0["lease_id"], peerID: $0["peer_id"], round: UInt64(sql: $0["round"]),
                    segment: $0["segment"], verifier: $0["verifier"], result: $0["result"],
                    detail: report?.detail ?? "", at: $0["created_at"])
            }
            for row in try Row.fetchAll(
                db, sql: "SELECT verification, COUNT(*) AS n FROM updates WHERE verification IS NOT NULL GROUP BY verification")
            {
                snapshot.verification[row["verification"]] = row["n"]
            }
        }
        return snapshot
    }

    /// Opens the database at `path` read-only (no migrations, no writes) and takes one consistent snapshot.
    /// Safe while a coordinator is serving the campaign (WAL readers do not block the writer).
    public static func readOnlySnapshot(path: String) throws -> AuditSnapshot {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CoordinatorError("no database at \(path); is this a campaign directory?")
        }
        var config = Configuration()
        config.readonly = true
        config.busyMode = .timeout(10)
        do {
            let queue = try DatabaseQueue(path: path, configuration: config)
            return try queue.read { db in try auditSnapshot(db) }
        } catch let error as CoordinatorError {
            throw error
        } catch {
            throw CoordinatorError("cannot read the database \(path): \(error)")
        }
    }
}

/// The rows `CampaignAudit` checks, read in one transaction (Sendable images, no envelopes).
public struct AuditSnapshot: Sendable {
    public struct Update: Sendable, Equatable {
        public var leaseID: String
        /// The lease's round (what the receipt names).
        public var round: UInt64
        /// The round whose aggregation it joins (counted in that round's `updates`/`samples`).
        public var foldedRound: UInt64
        public var peerID: String
        public var samples: Int
        public var sha256: String
        public var receiptID: String
        public var credit: Double
        /// `pending`, `credited` or `no_credit`.
        public var status: String = "credited"
    }

    public struct LedgerEntry: Sendable, Equatable {
        public var id: Int64
        public var peerID: String
        public var leaseID: String
        public var round: UInt64
        public var samples: Int
        public var gflop: Double
        public var receiptID: String
    }

    public struct Lease: Sendable, Equatable {
        public var id: String
        public var round: UInt64
        public var peerID: String
        public var samples: Int
        public var issuedAt: Double
        public var status: String
    }

    public struct Round: Sendable, Equatable {
        public var number: UInt64
        public var baseVersion: String
        public var closedAt: Double?
        public var resultVersion: String?
        public var updates: Int
        public var samples: Int
    }

    public var updates: [Update]
    public var ledger: [LedgerEntry]
    public var leases: [Lease]
    public var rounds: [Round]
    /// Newest round first.
    public var checkpoints: [CheckpointRecord]
    /// Leases with at least one refused upload (the peer delivered; the coordinator said no, e.g. too stale).
    public var refusedLeases: [String]
    /// `PRAGMA integrity_check` lines joined (`ok` when healthy).
    public var integrity: String
    /// Verified work: suspended peers, the evidence of failed verifications (newest first), and the updates per
    /// verification state (empty for databases from before verification).
    public var suspended: [CampaignAudit.Suspension] = []
    public var evidence: [CampaignAudit.Evidence] = []
    public var verification: [String: Int] = [:]
}
