import GRDB

/// Aggregates only the metrics endpoint needs.
public protocol MetricsRepository: Sendable {
    /// Rejected uploads per reason code.
    func rejectionCounts() throws -> [String: Int]
}

extension SQLiteStore: MetricsRepository {
    /// `counters` rows `rejected:<code>` hold the rejection totals; the `rejections` table keeps only the newest
    /// `rejectionRowsKept` rows as evidence (a flood of bad requests cannot grow the database).
    static let rejectedCounterPrefix = "rejected:"
    /// Rows of evidence kept in `rejections` by default.
    public static let defaultRejectionRowsKept = 10_000

    public func rejectionCounts() throws -> [String: Int] {
        try pool.read { db in
            var out: [String: Int] = [:]
            let prefix = Self.rejectedCounterPrefix
            for row in try Row.fetchAll(
                db, sql: "SELECT name, value FROM counters WHERE name LIKE ?", arguments: [prefix + "%"])
            {
                let name: String = row["name"]
                out[String(name.dropFirst(prefix.count))] = row["value"]
            }
            return out
        }
    }
}
