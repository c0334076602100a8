import CrowdProtocol
import Foundation

/// The public campaign page at `GET /`: server-rendered HTML with inline CSS and an inline SVG chart.
///
/// No scripts, no external resources (works offline); it reloads itself every `refreshSeconds`.
/// Every string from outside the coordinator (peer names, the metric name) is escaped with `HTMLEscape`.
struct DashboardPage {
    /// One closed round for the "recent rounds" table.
    struct RoundRow: Sendable {
        var round: UInt64
        var updates: Int
        var samples: Int
        var value: Double
        var loss: Double
        var closedAt: Double?
    }

    var status: CampaignStatus
    var contributors: [ContributorRow]
    var recentRounds: [RoundRow]
    var refreshSeconds = 10

    func render() -> String {
        let s = status
        let e = HTMLEscape.text
        let metric = s.latestEvaluation?.metric ?? "metric"
        let percent = max(0, min(100, s.percentFunded))
        let chart = DashboardSVG(
            points: s.evaluations.map { (x: Double($0.round), y: $0.value) }, metric: metric
        ).render()
        let state = s.finished ? "finished" : "round \(s.round) open"
        var html = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="refresh" content="\(refreshSeconds)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(e(s.name)) · CrowdTrain</title>
            <style>\(Self.css)</style></head>
            <body><main>
            <header><h1>\(e(s.name))</h1><p class="sub">\(e(s.workload)) · \(e(state)) · \
            model <code>\(e(String(s.modelVersion.prefix(12))))</code></p></header>
            <section class="card">
            <div class="funded"><strong>\(String(format: "%.1f", percent))% funded</strong> · \
            \(Self.count(s.samplesTrained)) of \(Self.count(s.goalSamples)) samples trained</div>
            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax="100" \
            aria-valuenow="\(String(format: "%.1f", percent))"><div class="fill" \
            style="width:\(String(format: "%.2f", percent))%"></div></div>
            <div class="kpis">
            \(Self.kpi("backers", "\(s.peersTotal)"))
            \(Self.kpi("peers online", "\(s.peersOnline)"))
            \(Self.kpi("throughput", "\(Self.count(Int(s.samplesPerSecond.rounded()))) samples/s"))
            \(Self.kpi("rounds completed", "\(s.roundsCompleted)"))
            \(Self.kpi(e(metric), s.latestEvaluation.map { String(format: "%.4f", $0.value) } ?? "–"))
            \(Self.kpi("ETA", Self.eta(s)))
            \(Self.kpi("updates accepted / rejected", "\(s.updatesAccepted) / \(s.updatesRejected)"))
            </div></section>
            <section class="card"><h2>\(e(metric)) across rounds</h2>
            \(chart)
            </section>
            <section class="card"><h2>Contributors</h2>
            <table class="leaderboard"><thead><tr><th>#</th><th>name</th><th class="n">credit (GFLOP)</th>\
            <th class="n">share</th><th class="n">samples</th><th class="n">accepted</th><th class="n">rejected</th>\
            </tr></thead><tbody>

            """
        let totalCredit = contributors.reduce(0) { $0 + $1.credit }
        for (i, c) in contributors.enumerated() {
            let share = totalCredit > 0 ? 100 * c.credit / totalCredit : 0
            html += "<tr class=\"contributor\"><td>\(i + 1)</td><td>\(e(c.name))</td>"
            html += "<td class=\"n\">\(String(format: "%.3f", c.credit))</td>"
            html += "<td class=\"n\">\(String(format: "%.1f", share))%</td>"
            html += "<td class=\"n\">\(Self.count(c.samples))</td>"
            html += "<td class=\"n\">\(c.acceptedUpdates)</td><td class=\"n\">\(c.rejectedUpdates)</td></tr>\n"
        }
        if contributors.isEmpty { html += "<tr><td colspan=\"7\">no contributors yet</td></tr>\n" }
        html += """
            </tbody></table></section>
            <section class="card"><h2>Recent rounds</h2>
            <table><thead><tr><th>round</th><th class="n">updates</th><th class="n">samples</th>\
            <th class="n">\(e(metric))</th><th class="n">loss</th><th>closed (UTC)</th></tr></thead><tbody>

            """
        for r in recentRounds {
            html += "<tr class=\"round\"><td>\(r.round)</td><td class=\"n\">\(r.updates)</td>"
            html += "<td class=\"n\">\(Self.count(r.samples))</td>"
            html += "<td class=\"n\">\(String(format: "%.4f", r.value))</td>"
            html += "<td class=\"n\">\(String(format: "%.4f", r.loss))</td><td>\(Self.time(r.closedAt))</td></tr>\n"
        }
        if recentRounds.isEmpty { html += "<tr><td colspan=\"6\">no rounds closed yet</td></tr>\n" }
        html += """
            </tbody></table></section>
            <footer>CrowdTrain coordinator · refreshes every \(refreshSeconds) s · \
            <a href="/v1/status">status JSON</a> · <a href="/v1/stats">stats JSON</a> · \
            <a href="/metrics">metrics</a></footer>
            </main></body></html>

            """
        return html
    }

    static func kpi(_ label: String, _ value: String) -> String {
        "<div class=\"kpi\"><div class=\"v\">\(HTMLEscape.text(value))</div><div class=\"l\">\(label)</div></div>"
    }

    static func count(_ n: Int) -> String {
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        f.usesGroupingSeparator = true
        return f.string(from: NSNumber(value: n)) ?? "\(n)"
    }

    static func eta(_ s: CampaignStatus) -> String {
        if s.finished { return "done" }
        guard let t = s.etaSeconds, t.isFinite else { return "–" }
        if t < 120 { return "\(Int(t)) s" }
        if t < 7200 { return "\(Int(t / 60)) min" }
        return String(format: "%.1f h", t / 3600)
    }

    static func time(_ t: Double?) -> String {
        guard let t else { return "–" }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return f.string(from: Date(timeIntervalSince1970: t))
    }

    static let css = """
        body{margin:0;background:#f1f4f9;color:#1c2430;font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif}
        main{max-width:980px;margin:0 auto;padding:20px}
        h1{margin:0;font-size:28px}h2{margin:0 0 10px;font-size:17px}.sub{margin:4px 0 14px;color:#5b6778}
        .card{background:#fff;border:1px solid #dde3ec;border-radius:10px;padding:16px 18px;margin-bottom:16px}
        .funded{margin-bottom:8px}
        .progress{height:22px;background:#e4e9f1;border-radius:11px;overflow:hidden}
        .progress .fill{height:100%;background:linear-gradient(90deg,#16a34a,#22c55e);min-width:2px}
        .kpis{display:flex;flex-wrap:wrap;gap:10px;margin-top:14px}
        .kpi{flex:1 1 120px;background:#f7f9fc;border-radius:8px;padding:8px 10px}
        .kpi .v{font-size:19px;font-weight:600}.kpi .l{color:#5b6778;font-size:12px}
        .chart{display:block;width:100%;height:auto}.chart .ax{font-size:11px;fill:#5b6778}
        table{width:100%;border-collapse:collapse}th,td{padding:5px 8px;border-bottom:1px solid #eef1f5;text-align:left}
        th{font-size:12px;color:#5b6778;font-weight:600}.n{text-align:right;font-variant-numeric:tabular-nums}
        footer{color:#7a8594;font-size:12px;text-align:center}footer a{color:#2563eb}
        """
}
