import CrowdEngine
import CrowdProtocol
import Foundation
import GRDB

extension SQLiteStore: RoundRepository {
    static func round(_ row: Row) -> RoundRecord {
        RoundRecord(
            number: UInt64(sql: row["number"]), baseVersion: row["base_version"], seed: UInt64(sql: row["seed"]),
            openedAt: row["opened_at"], closedAt: row["closed_at"], resultVersion: row["result_version"],
            updates: row["updates"], samples: row["samples"], leasesIssued: row["leases_issued"])
    }

    static func checkpoint(_ row: Row) -> CheckpointRecord {
        CheckpointRecord(
            version: row["version"], round: UInt64(sql: row["round"]), path: row["path"], bytes: row["bytes"],
            createdAt: row["created_at"])
    }

    static func lease(_ row: Row) -> LeaseRecord {
        let ids = (try? JSONDecoder().decode([String].self, from: Data((row["shard_ids"] as String).utf8))) ?? []
        return LeaseRecord(
            id: row["id"], round: UInt64(sql: row["round"]), peerID: row["peer_id"], slot: row["slot"], shardIDs: ids,
            seed: UInt64(sql: row["seed"]), samples: row["samples"], issuedAt: row["issued_at"],
            deadline: row["deadline"], status: LeaseRecord.Status(rawValue: row["status"]) ?? .expired,
            innerState: row["inner_state"])
    }

    static func update(_ row: Row) -> AcceptedUpdateRecord {
        let receipt = Receipt(
            receiptID: row["receipt_id"], leaseID: row["lease_id"], round: UInt64(sql: row["round"]),
            samples: row["samples"], credit: row["credit"], acceptedAt: row["accepted_at"], sha256: row["sha256"])
        let folded: Int64? = row["folded_round"]
        var r = AcceptedUpdateRecord(
            receipt: receipt, peerID: row["peer_id"], bytes: row["bytes"], sha256: row["sha256"],
            trainLoss: row["train_loss"], envelope: row["envelope"], foldedRound: folded.map { UInt64(sql: $0) })
        r.norm = row["norm"]
        r.valuesSHA256 = row["values_sha256"]
        r.status = row["status"]
        r.reason = row["reason"]
        r.clipScale = row["clip_scale"]
        r.commitment = row["commitment"]
        r.verification = row["verification"]
        if let segment: Int = row["challenge_segment"], let deadline: Double = row["challenge_deadline"] {
            r.challenge = UpdateChallenge(segment: segment, deadline: deadline)
        }
        r.receipt.status = r.status
        r.receipt.challenge = r.challenge
        return r
    }

    public func currentRound() throws -> RoundRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rounds ORDER BY number DESC LIMIT 1").map(Self.round)
        }
    }

    public func round(_ number: UInt64) throws -> RoundRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM rounds WHERE number = ?", arguments: [number.sqlValue])
                .map(Self.round)
        }
    }

    public func checkpoint(version: String) throws -> CheckpointRecord? {
        try pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT * FROM checkpoints WHERE version = ? AND version NOT IN (SELECT version FROM removed_checkpoints)",
                arguments: [version]
            ).map(Self.checkpoint)
        }
    }

    /// The oldest round whose base checkpoint must stay on disk: the lease round of an update still waiting for
    /// its proof or verifier, or of a checkpoint not yet evaluated; nil when nothing waits.
    public func oldestRoundStillNeeded() throws -> UInt64? {
        try pool.read { db in
            let challenged = try Int64.fetchOne(db, sql: "SELECT MIN(round) FROM updates WHERE verification = 'challenged'")
            let unevaluated = try Int64.fetchOne(
                db,
                sql: """
                    SELECT MIN(c.round) FROM checkpoints c
                    WHERE NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.version = c.version)
                      AND c.version NOT IN (SELECT version FROM removed_checkpoints)
                    """)
            return [challenged, unevaluated].compactMap { $0 }.min().map { UInt64(sql: $0) }
        }
    }

    /// Records that the checkpoint files of `versions` were removed (retention); they are no longer listed.
    public func markCheckpointsRemoved(_ versions: [String], at time: Double) throws {
        guard !versions.isEmpty else { return }
        try pool.write { db in
            for v in versions {
                try db.execute(
                    sql: "INSERT OR IGNORE INTO removed_checkpoints (version, removed_at) VALUES (?, ?)",
                    arguments: [v, time])
            }
        }
    }

    static func insert(_ c: CheckpointRecord, _ db: Database) throws {
        try db.execute(
            sql: "INSERT OR REPLACE INTO checkpoints (version, round, path, bytes, created_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [c.version, c.round.sqlValue, c.path, c.bytes, c.createdAt])
    }

    static func insert(_ e: EvaluationRecord, _ db: Database, at time: Double) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO evaluations (round, version, metric, value, loss, samples, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [e.round.sqlValue, e.version, e.metric, e.value, e.loss, e.samples, time])
    }

    public func bootstrap(initial: CheckpointRecord, evaluation: EvaluationRecord, round1Seed: UInt64, at time: Double)
        throws
    {
        try pool.write { db in
            guard try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rounds") == 0 else {
                throw CoordinatorError("the database already holds rounds; refusing to bootstrap it again")
            }
            try Self.insert(initial, db)
            try db.execute(
                sql: """
                    INSERT INTO rounds (number, base_version, seed, opened_at, closed_at, result_version)
                    VALUES (0, ?, 0, ?, ?, ?)
                    """, arguments: [initial.version, time, time, initial.version])
            try Self.insert(evaluation, db, at: time)
            try db.execute(
                sql: "INSERT INTO rounds (number, base_version, seed, opened_at) VALUES (1, ?, ?, ?)",
                arguments: [initial.version, round1Seed.sqlValue, time])
        }
    }

    public func insertLease(_ l: LeaseRecord) throws {
        let ids = String(decoding: try JSONEncoder().encode(l.shardIDs), as: UTF8.self)
        try pool.write { db in
            try db.execute(
                sql: """
                    INSERT INTO leases (id, round, peer_id, slot, shard_ids, seed, samples, issued_at, deadline, status,
                                        inner_state)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    l.id, l.round.sqlValue, l.peerID, l.slot, ids, l.seed.sqlValue, l.samples, l.issuedAt, l.deadline,
                    l.status.rawValue, l.innerState,
                ])
            try db.execute(
                sql: "UPDATE rounds SET leases_issued = MAX(leases_issued, ?) WHERE number = ?",
                arguments: [l.slot + 1, l.round.sqlValue])
        }
    }

    public func lease(id: String) throws -> LeaseRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM leases WHERE id = ?", arguments: [id]).map(Self.lease)
        }
    }

    public func leases(round: UInt64) throws -> [LeaseRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM leases WHERE round = ? ORDER BY slot", arguments: [round.sqlValue])
                .map(Self.lease)
        }
    }

    public func leasesForRestore(round: UInt64, openSince: UInt64) throws -> [LeaseRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT * FROM leases WHERE round = ? OR (status = 'open' AND round >= ? AND round < ?)
                    ORDER BY round, slot
                    """, arguments: [round.sqlValue, openSince.sqlValue, round.sqlValue]
            ).map(Self.lease)
        }
    }

    public func holdsLeasedShard(peerID: String, shardID: String) throws -> Bool {
        try pool.read { db in
            let lists = try String.fetchAll(
                db, sql: "SELECT shard_ids FROM leases WHERE peer_id = ? AND status = 'open'", arguments: [peerID])
            return lists.contains { list in
                ((try? JSONDecoder().decode([String].self, from: Data(list.utf8))) ?? []).contains(shardID)
            }
        }
    }

    public func markLeasesExpired(ids: [String]) throws {
        guard !ids.isEmpty else { return }
        try pool.write { db in
            for id in ids {
                try db.execute(
                    sql: "UPDATE leases SET status = 'expired' WHERE id = ? AND status = 'open'", arguments: [id])
            }
        }
    }

    public func acceptedUpdate(leaseID: String) throws -> AcceptedUpdateRecord? {
        try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM updates WHERE lease_id = ?", arguments: [leaseID]).map(Self.update)
        }
    }

    public func accept(_ u: AcceptedUpdateRecord, bytesIn: Int) throws {
        let folded = u.foldedRound ?? u.receipt.round
        try pool.write { db in
            let r = u.receipt
            try db.execute(
                sql: """
                    INSERT INTO updates (lease_id, round, peer_id, samples, bytes, sha256, train_loss, envelope,
                                         receipt_id, credit, accepted_at, folded_round, status, norm, values_sha256,
                                         sketch, commitment, challenge_segment, challenge_deadline, verification)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    r.leaseID, r.round.sqlValue, u.peerID, r.samples, u.bytes, u.sha256, u.trainLoss, u.envelope,
                    r.receiptID, r.credit, r.acceptedAt, folded.sqlValue, u.status, u.norm, u.valuesSHA256, u.sketch,
                    u.commitment, u.challenge?.segment, u.challenge?.deadline, u.verification,
                ])
            if let commitment = u.commitment, commitment.count == 128 {
                // The next lease of this peer may continue from the inner state this update ended with.
                let end = Array(commitment[commitment.startIndex + 64..<commitment.startIndex + 96])
                try db.execute(
                    sql: "UPDATE peers SET inner_state = ? WHERE id = ?", arguments: [Hex.lowercase(end), u.peerID])
            }
            if u.status == UpdateOutcome.credited {
                try Self.insertLedger(
                    peerID: u.peerID, leaseID: r.leaseID, round: r.round, samples: r.samples, gflop: r.credit,
                    receiptID: r.receiptID, norm: u.norm, clipScale: u.clipScale, at: r.acceptedAt, db)
            }
            try db.execute(sql: "UPDATE leases SET status = 'accepted' WHERE id = ?", arguments: [r.leaseID])
            try db.execute(
                sql: "UPDATE rounds SET updates = updates + 1, samples = samples + ? WHERE number = ?",
                arguments: [r.samples, folded.sqlValue])
            try Self.bump("bytes_in", by: bytesIn, db)
            try db.execute(
                sql: "UPDATE peers SET last_seen = MAX(COALESCE(last_seen, 0), ?) WHERE id = ?",
                arguments: [r.acceptedAt, u.peerID])
        }
    }

    static func insertLedger(
        peerID: String, leaseID: String, round: UInt64, samples: Int, gflop: Double, receiptID: String,
        norm: Double?, clipScale: Double?, at time: Double, _ db: Database
    ) throws {
        try db.execute(
            sql: """
                INSERT INTO ledger (peer_id, lease_id, round, samples, gflop, receipt_id, created_at, norm, clip_scale)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [peerID, leaseID, round.sqlValue, samples, gflop, receiptID, time, norm, clipScale])
    }

    public func hasUpdate(valuesSHA256: String) throws -> String? {
        try pool.read { db in
            try String.fetchOne(
                db, sql: "SELECT lease_id FROM updates WHERE values_sha256 = ? LIMIT 1", arguments: [valuesSHA256])
        }
    }

    public func recentCredited(limit: Int) throws -> [(norm: Double, sketch: Data?)] {
        let rows: [NormSketch] = try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT norm, sketch FROM updates WHERE status = 'credited' AND norm IS NOT NULL
                    ORDER BY accepted_at DESC LIMIT ?
                    """, arguments: [limit]
            ).map { NormSketch(norm: $0["norm"], sketch: $0["sketch"]) }
        }
        return rows.reversed().map { ($0.norm, $0.sketch) }
    }

    public func broadcastSketch() throws -> Data? {
        try pool.read { db in try Data.fetchOne(db, sql: "SELECT broadcast_sketch FROM outer_state WHERE id = 1") }
    }

    public func foldedUpdates(round: UInt64) throws -> [FoldedUpdate] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT round, samples, envelope, lease_id, peer_id, verification FROM updates
                    WHERE folded_round = ? AND status = 'pending'
                    ORDER BY accepted_at, rowid
                    """, arguments: [round.sqlValue]
            ).map {
                FoldedUpdate(
                    leaseRound: UInt64(sql: $0["round"]), samples: $0["samples"], envelope: $0["envelope"],
                    leaseID: $0["lease_id"], peerID: $0["peer_id"], verification: $0["verification"])
            }
        }
    }

    public func foldedCount(round: UInt64) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT COUNT(*) FROM updates WHERE folded_round = ?", arguments: [round.sqlValue]) ?? 0
        }
    }

    public func recentThroughput(peerID: String, last: Int) throws -> Double? {
        let sums: [Double] = try pool.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT SUM(samples) AS s, SUM(seconds) AS t FROM (
                            SELECT u.samples AS samples, u.accepted_at - l.issued_at AS seconds
                            FROM updates u JOIN leases l ON l.id = u.lease_id
                            WHERE u.peer_id = ? ORDER BY u.accepted_at DESC LIMIT ?)
                        """, arguments: [peerID, last])
            else { return [] }
            let s: Double? = row["s"]
            let t: Double? = row["t"]
            return [s ?? 0, t ?? 0]
        }
        guard sums.count == 2, sums[0] > 0, sums[1] > 0 else { return nil }
        return sums[0] / sums[1]
    }

    public func recordRejection(peerID: String?, leaseID: String?, code: String, bytes: Int, at time: Double)
        throws
    {
        try pool.write { db in
            try db.execute(
                sql: "INSERT INTO rejections (peer_id, lease_id, code, bytes, created_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [peerID, leaseID, code, bytes, time])
            try db.execute(
                sql: "DELETE FROM rejections WHERE id <= ?", arguments: [db.lastInsertedRowID - Int64(rejectionRowsKept)])
            try Self.bump(Self.rejectedCounterPrefix + code, by: 1, db)
            if let peerID {
                try db.execute(sql: "UPDATE peers SET rejected = rejected + 1 WHERE id = ?", arguments: [peerID])
            }
            try Self.bump("bytes_in", by: bytes, db)
        }
    }

    public func closeRound(
        _ round: UInt64, checkpoint: CheckpointRecord, outerState: Data,
        nextSeed: UInt64, openNext: Bool, expireOpenLeasesBefore: UInt64, decisions: [UpdateDecision],
        broadcastSketch: Data?, at time: Double
    ) throws {
        try pool.write { db in
            try Self.insert(checkpoint, db)
            for d in decisions {
                try db.execute(
                    sql: """
                        UPDATE updates SET status = CASE
                                WHEN ? = 0 THEN 'no_credit'
                                WHEN verification IS NULL OR verification = 'verified' THEN 'credited'
                                ELSE 'held' END,
                            reason = ?, norm = COALESCE(?, norm), clip_scale = ?, credit = ?,
                            sketch = COALESCE(?, sketch)
                        WHERE lease_id = ? AND status = 'pending'
                        """,
                    arguments: [
                        d.credited ? 1 : 0, d.reason, d.norm, d.clipScale, d.credit, d.sketch, d.leaseID,
                    ])
                guard db.changesCount == 1, d.credited else { continue }
                // Credit that verification still holds (`held`) reaches the ledger in `settleHeld`.
                guard
                    let row = try Row.fetchOne(
                        db,
                        sql: "SELECT peer_id, round, samples, receipt_id FROM updates WHERE lease_id = ? AND status = 'credited'",
                        arguments: [d.leaseID])
                else { continue }
                try Self.insertLedger(
                    peerID: row["peer_id"], leaseID: d.leaseID, round: UInt64(sql: row["round"]),
                    samples: row["samples"], gflop: d.credit, receiptID: row["receipt_id"], norm: d.norm,
                    clipScale: d.clipScale, at: time, db)
            }
            try db.execute(
                sql: "UPDATE rounds SET closed_at = ?, result_version = ? WHERE number = ? AND closed_at IS NULL",
                arguments: [time, checkpoint.version, round.sqlValue])
            guard db.changesCount == 1 else { throw CoordinatorError("round \(round) is not open; cannot close it") }
            try db.execute(
                sql: "UPDATE leases SET status = 'expired' WHERE round < ? AND status = 'open'",
                arguments: [max(expireOpenLeasesBefore, openNext ? 0 : round + 1).sqlValue])
            try db.execute(
                sql: "INSERT OR REPLACE INTO outer_state (id, round, momentum, broadcast_sketch) VALUES (1, ?, ?, ?)",
                arguments: [round.sqlValue, outerState, broadcastSketch])
            if openNext {
                try db.execute(
                    sql: "INSERT INTO rounds (number, base_version, seed, opened_at) VALUES (?, ?, ?, ?)",
                    arguments: [(round + 1).sqlValue, checkpoint.version, nextSeed.sqlValue, time])
            }
        }
    }

    public func insertEvaluation(_ evaluation: EvaluationRecord, at time: Double) throws {
        try pool.write { db in try Self.insert(evaluation, db, at: time) }
    }

    public func roundsAwaitingEvaluation(limit: Int) throws -> [CheckpointRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT c.version, r.number AS round, c.path, c.bytes, c.created_at
                    FROM rounds r JOIN checkpoints c ON c.version = r.result_version
                    WHERE r.number > 0 AND r.closed_at IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM evaluations e WHERE e.round = r.number)
                    ORDER BY r.number DESC LIMIT ?
                    """, arguments: [limit]
            ).map(Self.checkpoint)
        }
    }

    public func outerState() throws -> (round: UInt64, momentum: Data)? {
        let s: AcceptedEnvelope? = try pool.read { db in
            try Row.fetchOne(db, sql: "SELECT round, momentum FROM outer_state WHERE id = 1")
                .map { AcceptedEnvelope(samples: Int($0["round"] as Int64), envelope: $0["momentum"]) }
        }
        return s.map { (UInt64($0.samples), $0.envelope) }
    }

    static func bump(_ name: String, by n: Int, _ db: Database) throws {
        try db.execute(
            sql: "INSERT INTO counters (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            arguments: [name, n, n])
    }
}

/// A credited update's norm and sketch (Sendable row image).
struct NormSketch: Sendable {
    var norm: Double
    var sketch: Data?
}

/// A row image (kept small and Sendable).
struct AcceptedEnvelope: Sendable {
    var samples: Int
    var envelope: Data
}
