import CrowdProtocol
import Foundation
import GRDB

extension SQLiteStore: StatsRepository {
    public func totals(now: Double, onlineWindow: Double, rateWindow: Double) throws -> CampaignTotals {
        try pool.read { db in
            var t = CampaignTotals()
            t.samplesTrained = try Int.fetchOne(db, sql: "SELECT COALESCE(SUM(samples), 0) FROM ledger") ?? 0
            t.creditTotal = try Double.fetchOne(db, sql: "SELECT COALESCE(SUM(gflop), 0) FROM ledger") ?? 0
            t.updatesAccepted = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM updates") ?? 0
            t.updatesRejected =
                try Int.fetchOne(
                    db, sql: "SELECT COALESCE(SUM(value), 0) FROM counters WHERE name LIKE ?",
                    arguments: [Self.rejectedCounterPrefix + "%"]) ?? 0
            t.bytesIn = try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'bytes_in'") ?? 0
            t.bytesOut = try Int.fetchOne(db, sql: "SELECT value FROM counters WHERE name = 'bytes_out'") ?? 0
            t.peersTotal = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM peers") ?? 0
            t.peersOnline =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM peers WHERE revoked_at IS NULL AND last_seen >= ?",
                    arguments: [now - onlineWindow]) ?? 0
            t.recentSamples =
                try Int.fetchOne(
                    db, sql: "SELECT COALESCE(SUM(samples), 0) FROM updates WHERE accepted_at >= ?",
                    arguments: [now - rateWindow]) ?? 0
            return t
        }
    }

    public func evaluations() throws -> [EvaluationRecord] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY round").map(Self.evaluation) }
    }

    public func evaluationPage(after: UInt64?, limit: Int) throws -> [EvaluationRecord] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM evaluations WHERE round > ? ORDER BY round LIMIT ?",
                arguments: [after.map { $0.sqlValue } ?? -1, limit]
            ).map(Self.evaluation)
        }
    }

    public func latestEvaluations(limit: Int) throws -> [EvaluationRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY round DESC LIMIT ?", arguments: [limit])
                .map(Self.evaluation).reversed()
        }
    }

    public func evaluationCount() throws -> Int {
        try pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM evaluations") ?? 0 }
    }

    public func peersSeen(since: Double) throws -> [String: Double] {
        try pool.read { db in
            var out: [String: Double] = [:]
            for row in try Row.fetchAll(
                db, sql: "SELECT id, last_seen FROM peers WHERE revoked_at IS NULL AND last_seen >= ?",
                arguments: [since])
            {
                out[row["id"]] = row["last_seen"]
            }
            return out
        }
    }

    public func acceptedSamples(since: Double) throws -> [(time: Double, samples: Int)] {
        try pool.read { db in
            try Row.fetchAll(
                db, sql: "SELECT accepted_at, samples FROM updates WHERE accepted_at >= ? ORDER BY accepted_at",
                arguments: [since]
            ).map { (time: $0["accepted_at"], samples: $0["samples"]) }
        }
    }

    static func evaluation(_ row: Row) -> EvaluationRecord {
        EvaluationRecord(
            round: UInt64(sql: row["round"]), version: row["version"], metric: row["metric"], value: row["value"],
            loss: row["loss"], samples: row["samples"])
    }

    public func contributors(top: Int) throws -> [ContributorRow] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.id, p.name, p.last_seen,
                        (SELECT COUNT(*) FROM ledger l WHERE l.peer_id = p.id) AS accepted,
                        p.rejected AS rejected,
                        (SELECT COALESCE(SUM(samples), 0) FROM ledger l WHERE l.peer_id = p.id) AS samples,
                        (SELECT COALESCE(SUM(gflop), 0) FROM ledger l WHERE l.peer_id = p.id) AS credit
                    FROM peers p ORDER BY credit DESC, samples DESC, p.created_at LIMIT ?
                    """, arguments: [top]
            ).map {
                ContributorRow(
                    name: $0["name"], peerID: $0["id"], acceptedUpdates: $0["accepted"],
                    rejectedUpdates: $0["rejected"],
                    samples: $0["samples"], credit: $0["credit"], lastSeen: $0["last_seen"])
            }
        }
    }

    public func addBytesOut(_ n: Int) throws {
        try pool.write { db in try Self.bump("bytes_out", by: n, db) }
    }

    public func ledgerTotals() throws -> [String: Double] {
        try pool.read { db in
            var out: [String: Double] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT peer_id, SUM(gflop) AS c FROM ledger GROUP BY peer_id") {
                out[row["peer_id"]] = row["c"]
            }
            return out
        }
    }
}
