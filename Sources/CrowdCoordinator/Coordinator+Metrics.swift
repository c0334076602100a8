import Foundation

extension Coordinator {
    /// `GET /metrics`: brings the counters up to the running totals and renders the Prometheus text (no table scan,
    /// no wait for the actor).
    public nonisolated func metricsText() -> String {
        metrics.sync(status: status(), rejections: board.rejectionCounts)
        return metrics.render()
    }
}
