import Foundation

extension Coordinator {
    /// `GET /metrics`: syncs the database-derived counters and renders the Prometheus text.
    public func metricsText() throws -> String {
        metrics.sync(status: try status(), rejections: try store.rejectionCounts())
        return metrics.render()
    }
}
