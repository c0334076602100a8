import CrowdPeer
import CrowdTestSupport
import Foundation
import Synchronization

/// Where the process tests find the `crowdtrain` executable.
enum CrowdTrainBinary {
    /// The debug `crowdtrain` that `swift build`/`swift test` put next to the test bundle, or `CROWDTRAIN_BIN`.
    /// Throws (the test fails, never skips) when it is missing.
    static func path() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CROWDTRAIN_BIN"], !path.isEmpty { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        // `swift test` runs `.build/debug/CrowdTrainPackageTests.xctest` (on macOS from inside the bundle).
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        let path = dir.appendingPathComponent("crowdtrain").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ChildProcessError(
                "no crowdtrain binary at \(path): run `swift build` first (or set CROWDTRAIN_BIN to the binary)")
        }
        return path
    }
}

/// A `crowdtrain` child process whose stdout and stderr lines are collected; `kill()` in a `defer` ends it
/// on every path. `Process` is thread-safe for what is used here (state queries, pid), hence unchecked.
final class CrowdTrainChild: @unchecked Sendable {
    let process: Process
    let lines = Lines()
    private let partial = LineBuffer()

    /// - Parameter environment: `CROWDTRAIN_*` settings for the child (the test process's own are removed).
    init(arguments: [String], environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CrowdTrainBinary.path())
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in PeerConfigKey.allCases { env.removeValue(forKey: key.environmentName) }
        env.removeValue(forKey: PeerConfigFile.pathVariable)
        env.merge(environment) { $1 }
        p.environment = env
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        process = p
        let lines = self.lines, partial = self.partial
        out.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            let complete = partial.feed(chunk)
            for line in complete { lines.append(line) }
            if chunk.isEmpty { handle.readabilityHandler = nil }
        }
        try p.run()
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }

    func signal(_ signal: Int32) {
        if process.isRunning { Foundation.kill(process.processIdentifier, signal) }
    }

    /// The first line (so far or within `seconds`) for which `match` holds.
    @discardableResult
    func waitForLine(seconds: Double, _ match: (String) -> Bool) async throws -> String {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            if let line = lines.all.first(where: match) { return line }
            guard Date() < deadline, process.isRunning else {
                throw ChildProcessError("no such line after \(seconds) s: \(lines.all)")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The exit status once the process ended (nil if killed by a signal), or throws after `seconds`.
    func waitForExit(seconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            guard Date() < deadline else { throw ChildProcessError("crowdtrain still running after \(seconds) s") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        return process.terminationReason == .exit ? process.terminationStatus : nil
    }

    /// Runs `crowdtrain ARGS` to the end and returns its output (stdout and stderr).
    static func output(of arguments: [String], seconds: Double = 20) async throws -> String {
        let child = try CrowdTrainChild(arguments: arguments)
        defer { child.kill() }
        _ = try await child.waitForExit(seconds: seconds)
        return child.lines.all.joined(separator: "\n")
    }

    /// Ends the process (SIGKILL) if it still runs, and reaps it.
    func kill() {
        guard process.isRunning else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

/// Splits a byte stream into lines (the pipe's reader runs on another thread).
final class LineBuffer: Sendable {
    private let buffer = Mutex<Data>(Data())

    /// Appends `chunk` and returns the lines it completed.
    func feed(_ chunk: Data) -> [String] {
        buffer.withLock { buffer in
            buffer.append(chunk)
            var found: [String] = []
            while let nl = buffer.firstIndex(of: 0x0A) {
                found.append(String(decoding: buffer[buffer.startIndex..<nl], as: UTF8.self))
                buffer = Data(buffer[(nl + 1)...])
            }
            return found
        }
    }
}

struct ChildProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
