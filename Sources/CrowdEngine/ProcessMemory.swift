import Foundation

/// Resident memory of a process from `/proc/PID/status` (Linux): `VmRSS` now and `VmHWM`, its peak. Nil elsewhere.
public struct ProcessMemory: Sendable, Equatable, Codable {
    /// Resident set now, MB (2²⁰ bytes).
    public var rssMB: Double
    /// Peak resident set, MB.
    public var peakRSSMB: Double

    public init(rssMB: Double, peakRSSMB: Double) {
        self.rssMB = rssMB
        self.peakRSSMB = peakRSSMB
    }

    /// Of `pid` (default: this process).
    public static func read(pid: Int32? = nil) -> ProcessMemory? {
        let path = pid.map { "/proc/\($0)/status" } ?? "/proc/self/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        func field(_ name: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name) }),
                let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
            else { return nil }
            return (kb / 1024 * 10).rounded() / 10
        }
        guard let rss = field("VmRSS:"), let peak = field("VmHWM:") else { return nil }
        return ProcessMemory(rssMB: rss, peakRSSMB: peak)
    }

    /// Size of this process's executable, MB.
    public static var executableMB: Double? {
        // /proc/self/exe is a symbolic link: measure the file it names (the link itself has size 0).
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        guard let size = try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, size > 0 else {
            return nil
        }
        return (Double(size) / 1_048_576 * 10).rounded() / 10
    }
}
