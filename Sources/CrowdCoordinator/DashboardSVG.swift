import Foundation

/// A server-rendered SVG line chart (no scripts): the evaluation metric across rounds.
struct DashboardSVG {
    /// (round, value) points in round order.
    var points: [(x: Double, y: Double)]
    var metric: String
    var width: Double = 880
    var height: Double = 280

    func render() -> String {
        let left = 56.0, right = 16.0, top = 16.0, bottom = 36.0
        let plotW = width - left - right, plotH = height - top - bottom
        let xs = points.map(\.x), ys = points.map(\.y)
        let xMin = xs.min() ?? 0, xMax = max(xs.max() ?? 1, xMin + 1)
        var yMin = ys.min() ?? 0, yMax = ys.max() ?? 1
        if yMax - yMin < 1e-9 {
            yMin -= 0.5
            yMax += 0.5
        }
        let pad = (yMax - yMin) * 0.05
        yMin -= pad
        yMax += pad
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * plotW }
        func py(_ y: Double) -> Double { top + (1 - (y - yMin) / (yMax - yMin)) * plotH }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        func label(_ v: Double) -> String { String(format: abs(yMax - yMin) < 10 ? "%.3f" : "%.1f", v) }

        var svg = """
            <svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(f(width)) \(f(height))" \
            role="img" preserveAspectRatio="xMidYMid meet" \
            aria-label="\(HTMLEscape.text(metric)) across rounds">
            <rect x="\(f(left))" y="\(f(top))" width="\(f(plotW))" height="\(f(plotH))" fill="#fbfcfe" \
            stroke="#d0d7e2"/>

            """
        for i in 0...4 {
            let v = yMin + (yMax - yMin) * Double(i) / 4
            let y = py(v)
            svg += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + plotW))\" y2=\"\(f(y))\" "
            svg += "stroke=\"#e6ebf2\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\" class=\"ax\">\(label(v))</text>\n"
        }
        let ticks = Set(stride(from: 0, to: points.count, by: max(1, points.count / 8)).map { $0 } + [points.count - 1])
        for i in ticks.sorted() where i >= 0 {
            let x = px(points[i].x)
            svg += "<text x=\"\(f(x))\" y=\"\(f(top + plotH + 16))\" text-anchor=\"middle\" class=\"ax\">"
            svg += "\(Int(points[i].x))</text>\n"
        }
        svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(height - 4))\" text-anchor=\"middle\" class=\"ax\">"
        svg += "round</text>\n"
        if points.isEmpty {
            svg += "<text x=\"\(f(left + plotW / 2))\" y=\"\(f(top + plotH / 2))\" text-anchor=\"middle\">"
            svg += "no evaluations yet</text>\n"
        } else {
            let path = points.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            svg += "<polyline class=\"line\" fill=\"none\" stroke=\"#2563eb\" stroke-width=\"2.5\" "
            svg += "points=\"\(path)\"/>\n"
            for p in points {
                svg += "<circle cx=\"\(f(px(p.x)))\" cy=\"\(f(py(p.y)))\" r=\"3.5\" fill=\"#2563eb\">"
                svg += "<title>round \(Int(p.x)): \(String(format: "%.4f", p.y))</title></circle>\n"
            }
        }
        svg += "</svg>"
        return svg
    }
}
