import CrowdEngine
import Foundation

/// The pause control file `P/pause.json`, written by `crowdtrain peer pause` and removed by `peer resume`.
///
/// | key | type | meaning |
/// |---|---|---|
/// | `pausedAt` | number | Unix seconds of the pause command |
/// | `until` | number? | Unix seconds when the pause ends by itself (absent: until `peer resume`) |
///
/// The daemon reads it about twice a second; an expired or missing file means not paused.
public struct PauseFile: Codable, Sendable, Equatable {
    public var pausedAt: Double
    public var until: Double?

    public init(pausedAt: Double, until: Double? = nil) {
        self.pausedAt = pausedAt
        self.until = until
    }

    /// `P/pause.json`.
    public static func path(in paths: PeerPaths) -> String { paths.root + "/pause.json" }

    /// Writes the file atomically.
    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: path, mode: 0o644)
    }

    /// Reads the file; nil when absent. An unreadable file counts as an indefinite pause (the volunteer asked
    /// for something; resume removes it).
    public static func read(from path: String) -> PauseFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return (try? JSONDecoder().decode(PauseFile.self, from: data)) ?? PauseFile(pausedAt: 0, until: nil)
    }

    /// Removes the file (durably); true if there was one.
    @discardableResult
    public static func remove(at path: String) -> Bool {
        let existed = FileManager.default.fileExists(atPath: path)
        AtomicFileWriter.remove(path)
        return existed
    }

    /// When the pause ends: `.infinity` for an indefinite pause.
    public var pausedUntil: Double { until ?? .infinity }

    /// Parses a duration like `30s`, `15m`, `2h`, `1d` (a bare number is seconds) into seconds.
    /// - Throws: `PeerError` saying which forms are accepted.
    public static func parseDuration(_ text: String) throws -> Double {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        var number = Substring(t)
        var scale = 1.0
        if let last = t.last, let u = units[last] {
            number = t.dropLast()
            scale = u
        }
        guard !number.isEmpty, number.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let v = Double(number),
              v > 0, v.isFinite
        else {
            throw PeerError("duration '\(text)' must be a positive number with a unit: 30s, 15m, 2h or 1d")
        }
        return v * scale
    }
}
