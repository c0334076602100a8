import CrowdEngine
import CrowdProtocol
import Foundation
import GRDB

/// Verified work: challenges, proofs, evidence, held credit and suspension (Docs/Protocol.md "Verified work").
public protocol VerificationRepository: Sendable {
    /// Records that the proof of a challenged update arrived (the proof itself goes to the verifier in memory);
    /// false when the update is not awaiting one.
    func recordProof(leaseID: String, at time: Double) throws -> Bool
    /// In ONE transaction: records the verification's evidence; when `final`, sets the update's verification state
    /// (`verified` or `failed`; a failed update keeps `proof` as evidence), moves a held verified update's credit to
    /// the ledger, and updates the peer's audit record (clean + 1, or 0). Returns the GFLOP released.
    func recordVerification(_ v: VerificationRecord, final: Bool, passed: Bool, proof: Data?, at time: Double) throws
        -> Double
    /// Proofs received but never verified (the coordinator stopped first): not the peers' doing, so those updates
    /// are treated as unchallenged (the audit window decides). Returns how many.
    func waiveInterruptedVerifications() throws -> Int
    /// In ONE transaction: suspends the peer, forfeits its held credit and drops its updates not yet aggregated
    /// (`no_credit`, reason `cheater`). Returns the update ids affected.
    func suspendPeer(id: String, reason: String, at time: Double) throws -> [String]
    /// In ONE transaction: marks challenges past their deadline without a proof `unanswered` (forfeiting held credit,
    /// resetting the peer's record), and moves to the ledger the held credit of updates that are verified, or
    /// unchallenged and folded into a round at least `windowRounds` before `closedRound` (all, when `finished`).
    func settleHeld(closedRound: UInt64, windowRounds: Int, finished: Bool, now: Double) throws -> SettleResult
    /// The newest `limit` verifications (all peers, or one), newest first.
    func verifications(peerID: String?, limit: Int) throws -> [VerificationRecord]
    /// Counts of updates by verification state.
    func verificationCounts() throws -> [String: Int]
}

extension SQLiteStore: VerificationRepository {
    public func recordProof(leaseID: String, at time: Double) throws -> Bool {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE updates SET proof_at = ? WHERE lease_id = ? AND verification = 'challenged' AND proof_at IS NULL",
                arguments: [time, leaseID])
            return db.changesCount == 1
        }
    }

    public func waiveInterruptedVerifications() throws -> Int {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE updates SET verification = 'unchallenged' WHERE verification = 'challenged' AND proof_at IS NOT NULL")
            return db.changesCount
        }
    }


    public func recordVerification(_ v: VerificationRecord, final: Bool, passed: Bool, proof: Data?, at time: Double)
        throws -> Double
    {
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO verifications (lease_id, peer_id, round, segment, verifier, result, report, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [v.leaseID, v.peerID, v.round.sqlValue, v.segment, v.verifier, v.result, v.report, time])
            guard final else { return 0 }
            try db.execute(
                sql: """
                    UPDATE updates SET verification = ?, proof = ?
                    WHERE lease_id = ? AND verification = 'challenged'
                    """,
                arguments: [passed ? VerificationState.verified : VerificationState.failed, passed ? nil : proof, v.leaseID])
            // A clean first verification raises the record; a failure, or a pass only after a disputed first
            // verification, resets it (the peer is audited as new again); a waived check changes nothing.
            if v.verifier != "waived" {
                try db.execute(
                    sql: "UPDATE peers SET audit_clean = CASE WHEN ? = 1 THEN audit_clean + 1 ELSE 0 END WHERE id = ?",
                    arguments: [passed && v.verifier == "first" ? 1 : 0, v.peerID])
            }
            guard passed else { return 0 }
            return try Self.release(where: "lease_id = ? AND status = 'held'", [v.leaseID], at: time, db)
        }
    }

    /// Moves the held updates matching `condition` to `credited` and appends their ledger entries; returns GFLOP.
    static func release(where condition: String, _ arguments: StatementArguments, at time: Double, _ db: Database)
        throws -> Double
    {
        let rows = try Row.fetchAll(
            db,
            sql: "SELECT lease_id, peer_id, round, samples, receipt_id, credit, norm, clip_scale FROM updates WHERE \(condition)",
            arguments: arguments)
        var total = 0.0
        for row in rows {
            let id: String = row["lease_id"]
            try db.execute(
                sql: "UPDATE updates SET status = 'credited' WHERE lease_id = ? AND status = 'held'", arguments: [id])
            guard db.changesCount == 1 else { continue }
            let credit: Double = row["credit"]
            try insertLedger(
                peerID: row["peer_id"], leaseID: id, round: UInt64(sql: row["round"]), samples: row["samples"],
                gflop: credit, receiptID: row["receipt_id"], norm: row["norm"], clipScale: row["clip_scale"], at: time,
                db)
            total += credit
        }
        return total
    }

    public func suspendPeer(id: String, reason: String, at time: Double) throws -> [String] {
        try pool.write { db in
            try db.execute(
                sql: "UPDATE peers SET suspended_at = COALESCE(suspended_at, ?), suspension = COALESCE(suspension, ?), audit_clean = 0 WHERE id = ?",
                arguments: [time, reason, id])
            let affected = try String.fetchAll(
                db, sql: "SELECT lease_id FROM updates WHERE peer_id = ? AND status IN ('pending', 'held')",
                arguments: [id])
            try db.execute(
                sql: "UPDATE updates SET status = 'forfeited', reason = 'cheater' WHERE peer_id = ? AND status = 'held'",
                arguments: [id])
            try db.execute(
                sql: "UPDATE updates SET status = 'no_credit', reason = 'cheater' WHERE peer_id = ? AND status = 'pending'",
                arguments: [id])
            try db.execute(
                sql: "UPDATE leases SET status = 'expired' WHERE peer_id = ? AND status = 'open'", arguments: [id])
            return affected
        }
    }

    public func settleHeld(closedRound: UInt64, windowRounds: Int, finished: Bool, now: Double) throws -> SettleResult {
        try pool.write { db in
            var result = SettleResult()
            let late = try Row.fetchAll(
                db,
                sql: """
                    SELECT lease_id, peer_id FROM updates
                    WHERE verification = 'challenged' AND proof_at IS NULL AND challenge_deadline < ?
                    """, arguments: [now])
            for row in late {
                let id: String = row["lease_id"]
                try db.execute(
                    sql: "UPDATE updates SET verification = 'unanswered' WHERE lease_id = ?", arguments: [id])
                try db.execute(
                    sql: "UPDATE updates SET status = 'forfeited', reason = 'unverified' WHERE lease_id = ? AND status = 'held'",
                    arguments: [id])
                try db.execute(
                    sql: "UPDATE updates SET status = 'no_credit', reason = 'unverified' WHERE lease_id = ? AND status = 'pending'",
                    arguments: [id])
                try db.execute(sql: "UPDATE peers SET audit_clean = 0 WHERE id = ?", arguments: [row["peer_id"] as String])
                result.unanswered.append(id)
            }
            let before = Int64(clamping: Int64(bitPattern: closedRound) - Int64(windowRounds))
            result.released = try Self.release(
                where: """
                    status = 'held' AND (verification = 'verified' OR (verification = 'unchallenged'
                        AND (? = 1 OR folded_round <= ?)))
                    """, [finished ? 1 : 0, before], at: now, db)
            return result
        }
    }

    public func verifications(peerID: String?, limit: Int) throws -> [VerificationRecord] {
        try pool.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: peerID == nil
                    ? "SELECT * FROM verifications ORDER BY id DESC LIMIT ?"
                    : "SELECT * FROM verifications WHERE peer_id = ? ORDER BY id DESC LIMIT ?",
                arguments: peerID.map { [$0, limit] } ?? [limit])
            return rows.map(Self.verification)
        }
    }

    static func verification(_ row: Row) -> VerificationRecord {
        VerificationRecord(
            leaseID: row["lease_id"], peerID: row["peer_id"], round: UInt64(sql: row["round"]), segment: row["segment"],
            verifier: row["verifier"], result: row["result"], report: row["report"], createdAt: row["created_at"])
    }


    public func verificationCounts() throws -> [String: Int] {
        try pool.read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT verification, COUNT(*) AS n FROM updates WHERE verification IS NOT NULL GROUP BY verification")
            {
                out[row["verification"]] = row["n"]
            }
            return out
        }
    }
}
