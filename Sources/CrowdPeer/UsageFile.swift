import Foundation

/// The daily data cap's counter, `P/usage.json`, so a restart does not reset the day's traffic.
///
/// | key | type | meaning |
/// |---|---|---|
/// | `dayStart` | number | Unix seconds of the local midnight that started the counted day |
/// | `bytes` | int | bytes up plus down counted since then |
///
/// Written atomically after each counted transfer; a file of an earlier day counts as zero (the policy
/// rolls the day at local midnight), a damaged or missing one as a fresh day.
public struct UsageFile: Codable, Sendable, Equatable {
    public var dayStart: Double
    public var bytes: Int

    public init(dayStart: Double, bytes: Int) {
        self.dayStart = dayStart
        self.bytes = bytes
    }

    /// `P/usage.json`.
    public static func path(in paths: PeerPaths) -> String { paths.root + "/usage.json" }

    /// Writes the file atomically (temp, fsync, rename, fsync dir).
    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try AtomicFileWriter.write(try enc.encode(self), to: path, mode: 0o644)
    }

    /// Reads the file; nil when absent or unreadable.
    public static func read(from path: String) -> UsageFile? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let usage = try? JSONDecoder().decode(UsageFile.self, from: data), usage.bytes >= 0,
              usage.dayStart.isFinite
        else { return nil }
        return usage
    }
}
