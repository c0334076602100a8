import CrowdCoordinator
import CrowdPeer
import Foundation
import Synchronization
import Testing

/// A real `crowdtrain peer run` process against an in-process coordinator: SIGHUP re-reads `peer.json`, says
/// so in one line, and `status.json` shows the new settings within a couple of seconds (flags still win);
/// an invalid file on reload keeps the previous settings and the daemon keeps running.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ReloadProcessTests {
    @Test func sighupAppliesTheNewFileAndAnInvalidFileKeepsTheOldSettings() async throws {
        let campaign = try TestCampaign(peersPerRound: 1, rounds: 1)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let peer = PeerPaths(root: campaign.peerDir(1))
        let file = peer.root + "/peer.json"
        func write(_ json: String) throws { try Data(json.utf8).write(to: URL(fileURLWithPath: file)) }
        try write(#"{"threads": 1, "cpuLimit": 100, "nice": 5}"#)

        // No --exit-when-finished: after its lease the daemon polls every 0.2 s, rewriting status.json on change.
        // The environment's download cap beats the file's, the --nice flag beats both, before and after reloads.
        let child = try ReloadPeerProcess(
            arguments: ["peer", "run", "--dir", peer.root, "--nice", "12", "--max-wait", "0.2"],
            environment: ["CROWDTRAIN_DOWNLOAD_LIMIT": "500k"])
        defer { child.kill() }
        try await child.waitForLine(seconds: 20) { $0.hasPrefix("config: threads 1, cpu 100%, nice 12") }
        try await waitForSettings(peer, child) { $0.threads == 1 && $0.nice == 12 && $0.generation == 0 }

        try write(#"{"threads": 2, "cpuLimit": 50, "nice": 3, "uploadLimit": "300k", "downloadLimit": "2M", "#
            + #""dailyDataCap": "1G"}"#)
        let sent = Date()
        child.signal(SIGHUP)
        let line = try await child.waitForLine(seconds: 5) { $0.hasPrefix("config reloaded:") }
        #expect(line == "config reloaded: threads 2, cpu 50%, nice 12, upload 300.0 kB/s, download 500.0 kB/s, "
            + "memory unlimited; data cap 1.00 GB/day")
        let reloaded = try await waitForSettings(peer, child) { $0.generation == 1 }
        #expect(Date().timeIntervalSince(sent) < 3, "status.json took \(Date().timeIntervalSince(sent)) s")
        #expect(reloaded.threads == 2 && reloaded.cpuLimitPercent == 50 && reloaded.nice == 12)
        #expect(reloaded.uploadBytesPerSecond == 300_000 && reloaded.dailyDataCap == 1_000_000_000)
        #expect(reloaded.downloadBytesPerSecond == 500_000, "the environment beats the file")
        let shown = try await ReloadPeerProcess.output(of: ["peer", "status", "--dir", peer.root])
        #expect(shown.contains("2 threads, cpu 50%, nice 12, upload 300.0 kB/s, download 500.0 kB/s, memory "
            + "unlimited (reloaded 1×)"), "\(shown)")
        #expect(shown.contains("data cap 1.00 GB/day"), "\(shown)")

        try write(#"{"threads": 2, "cpuLimit": "lots"}"#)
        child.signal(SIGHUP)
        let refused = try await child.waitForLine(seconds: 5) { $0.hasPrefix("config not reloaded:") }
        #expect(refused.contains("key \"cpuLimit\": 'lots' is not a whole number"), "\(refused)")
        #expect(refused.hasSuffix("keeping threads 2, cpu 50%, nice 12, upload 300.0 kB/s, download 500.0 kB/s, "
            + "memory unlimited; data cap 1.00 GB/day"), "\(refused)")
        try await Task.sleep(nanoseconds: 600_000_000)
        let kept = try #require(PeerStatus.read(from: peer.status)?.settings)
        #expect(kept == reloaded, "an invalid file must not change the settings")
        #expect(child.isRunning)

        child.signal(SIGTERM)
        let code = try await child.waitForExit(seconds: 10)
        await coordinator.stop()
        #expect(code == 0, "\(child.lines.all)")
        #expect(PeerStatus.read(from: peer.status)?.lifetime.accepted == 1, "\(child.lines.all)")
    }

    /// Waits until `status.json` has settings for which `done` holds; returns them.
    @discardableResult
    func waitForSettings(
        _ peer: PeerPaths, _ child: ReloadPeerProcess, _ done: (PeerStatus.Settings) -> Bool
    ) async throws -> PeerStatus.Settings {
        let deadline = Date().addingTimeInterval(10)
        while true {
            if let s = PeerStatus.read(from: peer.status)?.settings, done(s) { return s }
            guard Date() < deadline, child.isRunning else {
                let now = String(describing: PeerStatus.read(from: peer.status)?.settings)
                Issue.record("status.json never showed the settings: \(now); \(child.lines.all)")
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}

/// A `crowdtrain` child process whose stdout and stderr lines are collected; `kill()` in a `defer` ends it
/// on every path. `Process` is thread-safe for what is used here (state queries, pid), hence unchecked.
final class ReloadPeerProcess: @unchecked Sendable {
    let process: Process
    let lines = Lines()
    private let partial = ReloadLineBuffer()

    /// The debug `crowdtrain` built next to the test bundle, or `CROWDTRAIN_BIN`.
    static func binary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["CROWDTRAIN_BIN"], !path.isEmpty { return path }
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while dir.path.contains(".xctest") { dir = dir.deletingLastPathComponent() }
        let path = dir.appendingPathComponent("crowdtrain").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw ReloadProcessError(
                "no crowdtrain binary at \(path): run `swift build` first (or set CROWDTRAIN_BIN to the binary)")
        }
        return path
    }

    /// - Parameter environment: `CROWDTRAIN_*` settings for the child (the test process's own are removed).
    init(arguments: [String], environment: [String: String] = [:]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try Self.binary())
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
                throw ReloadProcessError("no such line after \(seconds) s: \(lines.all)")
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }

    /// The exit status once the process ended (nil if killed by a signal), or throws after `seconds`.
    func waitForExit(seconds: Double) async throws -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning {
            guard Date() < deadline else { throw ReloadProcessError("crowdtrain still running after \(seconds) s") }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try await Task.sleep(nanoseconds: 100_000_000)
        return process.terminationReason == .exit ? process.terminationStatus : nil
    }

    /// Runs `crowdtrain ARGS` to the end and returns its output (stdout and stderr).
    static func output(of arguments: [String], seconds: Double = 20) async throws -> String {
        let child = try ReloadPeerProcess(arguments: arguments)
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
final class ReloadLineBuffer: Sendable {
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

struct ReloadProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
