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
            t.updatesRejected = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM rejections") ?? 0
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
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM evaluations ORDER BY round").map {
                EvaluationRecord(
                    round: UInt64(sql: $0["round"]), version: $0["version"], metric: $0["metric"], value: $0["value"],
                    loss: $0["loss"], samples: $0["samples"])
            }
        }
    }

    public func contributors(top: Int) throws -> [ContributorRow] {
        try pool.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT p.id, p.name, p.last_seen,
                        (SELECT COUNT(*) FROM ledger l WHERE l.peer_id = p.id) AS accepted,
                        (SELECT COUNT(*) FROM rejections r WHERE r.peer_id = p.id) AS rejected,
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
