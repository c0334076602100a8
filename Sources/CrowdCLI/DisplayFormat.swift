import Foundation

/// Number formatting shared by `status`, `stats` and `demo`.
package enum DisplayFormat {
    /// 1234567 → "1,234,567".
    package static func grouped(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return n < 0 ? "-" + out : out
    }

    /// A bar of `width` cells filled to `fraction` (clamped to 0…1), with eighth-cell resolution.
    package static func progressBar(_ fraction: Double, width: Int = 30) -> String {
        let f = fraction.isFinite ? min(max(fraction, 0), 1) : 0
        let eighths = Int((f * Double(width * 8)).rounded())
        let full = eighths / 8
        let partial = eighths % 8
        let blocks = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"]
        var s = String(repeating: "█", count: full)
        if full < width {
            s += partial > 0 ? blocks[partial] : "░"
            s += String(repeating: "░", count: width - full - 1)
        }
        return "[" + s + "]"
    }

    /// Seconds as "42 s", "3 min 5 s", "2 h 10 min".
    package static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "–" }
        let s = Int(seconds.rounded())
        if s < 60 { return "\(s) s" }
        if s < 3600 { return "\(s / 60) min \(s % 60) s" }
        return "\(s / 3600) h \((s % 3600) / 60) min"
    }

    /// "12 s ago" relative to `now`, or "never".
    package static func ago(_ time: Double?, now: Double = Date().timeIntervalSince1970) -> String {
        guard let time else { return "never" }
        return duration(max(0, now - time)) + " ago"
    }

    package static func fixed(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }

    /// One JSON object per line with sorted keys (for `--json`).
    package static func jsonLine<T: Encodable>(_ value: T) throws -> String {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try enc.encode(value), as: UTF8.self)
    }
}
