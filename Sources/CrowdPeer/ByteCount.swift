import Foundation

/// Human-readable byte counts for progress lines and tables (SI: 1 kB = 1000 B).
public enum ByteCount {
    public static func format(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b < 1000 { return "\(bytes) B" }
        if b < 1e6 { return String(format: "%.1f kB", b / 1e3) }
        if b < 1e9 { return String(format: "%.2f MB", b / 1e6) }
        return String(format: "%.2f GB", b / 1e9)
    }
}
