import Foundation

extension Coordinator {
    /// `GET /`: the dashboard HTML from the same read models as `/v1/status` and `/v1/stats`.
    public func dashboardHTML(topContributors: Int = 20, recentRounds: Int = 10) throws -> String {
        var status = status()
        let history = try store.evaluations()
        status.evaluations = history.map(\.point)  // the chart draws the whole history
        let evaluations = history.filter { $0.round > 0 }.suffix(recentRounds).reversed()
        let rows = try evaluations.map { e in
            let r = try store.round(e.round)
            return DashboardPage.RoundRow(
                round: e.round, updates: r?.updates ?? 0, samples: r?.samples ?? 0, value: e.value, loss: e.loss,
                closedAt: r?.closedAt)
        }
        return DashboardPage(
            status: status, contributors: try stats(top: topContributors).contributors, recentRounds: rows
        ).render()
    }
}
