import Foundation

/// The SVG plot of `bench crowd`: speedup over one average peer against the crowd size, one line per strategy, both
/// axes logarithmic, with the line of perfect scaling (speedup = N) for reference. Runs that never reached the target
/// have no point.
public enum SpeedupPlot {
    public struct Series: Sendable {
        public var name: String
        public var points: [(peers: Int, speedup: Double)]
        public init(name: String, points: [(peers: Int, speedup: Double)]) {
            self.name = name
            self.points = points
        }
    }

    public static func svg(title: String, subtitle: String, series: [Series]) -> String {
        let width = 640.0, height = 420.0
        let left = 70.0, right = 150.0, top = 60.0, bottom = 60.0
        let allPeers = series.flatMap { $0.points.map(\.peers) }
        let maxN = Double(max(2, allPeers.max() ?? 2))
        let values = series.flatMap { $0.points.map(\.speedup) }.filter { $0 > 0 && $0.isFinite }
        let lowExp = floor(log10(min(values.min() ?? 1, 1) * 0.9))
        let highExp = ceil(log10(max(values.max() ?? 1, maxN) * 1.1))
        let xMax = log2(maxN)
        func x(_ n: Double) -> Double { left + (width - left - right) * log2(max(1, n)) / xMax }
        func y(_ s: Double) -> Double {
            top + (height - top - bottom) * (1 - (log10(s) - lowExp) / max(1e-9, highExp - lowExp))
        }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(Int(left))" y="24" font-size="15" font-weight="bold">\(escape(title))</text>
        <text x="\(Int(left))" y="42" fill="#555">\(escape(subtitle))</text>

        """
        // Axes and grid.
        var n = 1.0
        while n <= maxN {
            out += line(x(n), top, x(n), height - bottom, "#eee")
            out += text(x(n), height - bottom + 18, "\(Int(n))", anchor: "middle")
            n *= 2
        }
        var e = lowExp
        while e <= highExp {
            let v = pow(10, e)
            out += line(left, y(v), width - right, y(v), "#eee")
            out += text(left - 8, y(v) + 4, v >= 1 ? String(format: "%g×", v) : String(format: "%.2g×", v), anchor: "end")
            e += 1
        }
        out += line(left, height - bottom, width - right, height - bottom, "#333")
        out += line(left, top, left, height - bottom, "#333")
        out += text((left + width - right) / 2, height - 16, "peers (N)", anchor: "middle")
        out += "<text transform=\"translate(18 \(Int((top + height - bottom) / 2))) rotate(-90)\" text-anchor=\"middle\">speedup over one average peer</text>\n"
        // Perfect scaling.
        out += "<polyline fill=\"none\" stroke=\"#999\" stroke-dasharray=\"5 4\" points=\"\(fmt(x(1))),\(fmt(y(1))) \(fmt(x(maxN))),\(fmt(y(maxN)))\"/>\n"
        var legendY = top + 10
        out += text(width - right + 14, legendY + 4, "speedup = N", anchor: "start", fill: "#777")
        for (k, s) in series.enumerated() {
            let colour = colours[k % colours.count]
            let pts = s.points.filter { $0.speedup > 0 && $0.speedup.isFinite }.sorted { $0.peers < $1.peers }
            if pts.count > 1 {
                let coords = pts.map { "\(fmt(x(Double($0.peers)))),\(fmt(y($0.speedup)))" }.joined(separator: " ")
                out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(coords)\"/>\n"
            }
            for p in pts {
                out += "<circle cx=\"\(fmt(x(Double(p.peers))))\" cy=\"\(fmt(y(p.speedup)))\" r=\"3.5\" fill=\"\(colour)\"/>\n"
            }
            legendY += 20
            out += line(width - right + 10, legendY, width - right + 30, legendY, colour, widthPx: 2)
            out += text(width - right + 36, legendY + 4, s.name, anchor: "start")
        }
        out += "</svg>\n"
        return out
    }

    static func fmt(_ v: Double) -> String { String(format: "%.1f", v) }

    static func line(_ x1: Double, _ y1: Double, _ x2: Double, _ y2: Double, _ colour: String, widthPx: Double = 1) -> String {
        "<line x1=\"\(fmt(x1))\" y1=\"\(fmt(y1))\" x2=\"\(fmt(x2))\" y2=\"\(fmt(y2))\" stroke=\"\(colour)\" stroke-width=\"\(fmt(widthPx))\"/>\n"
    }

    static func text(_ x: Double, _ y: Double, _ s: String, anchor: String, fill: String = "#222") -> String {
        "<text x=\"\(fmt(x))\" y=\"\(fmt(y))\" text-anchor=\"\(anchor)\" fill=\"\(fill)\">\(escape(s))</text>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
