import GRDB

/// Aggregates only the metrics endpoint needs.
public protocol MetricsRepository: Sendable {
    /// Rejected uploads per reason code.
    func rejectionCounts() throws -> [String: Int]
}

extension SQLiteStore: MetricsRepository {
    public func rejectionCounts() throws -> [String: Int] {
        try pool.read { db in
            var out: [String: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT code, COUNT(*) AS n FROM rejections GROUP BY code") {
                out[row["code"]] = row["n"]
            }
            return out
        }
    }
}
