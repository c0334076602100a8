import CrowdCLI
import ArgumentParser
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `crowdtrain bench guest`: is the volunteer daemon a good guest? Runs a tiny coordinator and one
/// `peer run` process per phase (children of this command) and measures from outside:
///
/// 1. CPU: the daemon's utime + stime (`/proc/<pid>/stat`, the counters `getrusage` reports) over `--seconds`
///    of training at `--cpu-limit 50 --threads 1`; then paused (`pause.json`): the latency until `status.json`
///    says suspended, the CPU share while paused, and the latency from resume until it trains again.
/// 2. Bandwidth: a campaign whose checkpoint is about 3 MB and whose fp32 update is about 3 MB, with
///    `--upload-limit` and `--download-limit` at `--cap` bytes/s: bytes counted by the daemon divided by the
///    time `status.json` spends in `downloading` (model + shards) and in `uploading` (until the receipt).
///    The same daemon's peak resident memory (`VmHWM`) is reported next to `MemoryGuard`'s estimate for its lease.
///
/// Paused traffic is the change of the TCP byte counters of the daemon's sockets (`ss -tinp`) while paused.
struct BenchGuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Peer daemon limits measured from outside: CPU at --cpu-limit 50, paused CPU, pause/resume latency, "
            + "bandwidth caps.")

    @Option(help: "Seconds of CPU measurement at the cap.")
    var seconds: Double = 30

    @Option(help: "Bandwidth cap in bytes per second for both directions.")
    var cap: Int = 200_000

    @Option(help: "Niceness of the daemon (0: the measurement is not distorted by other load on the machine).")
    var nice: Int = 0

    @Option(help: "Working directory (default: a fresh temporary directory, removed afterwards).")
    var dir: String?

    @Flag(help: "One JSON object.")
    var json = false

    struct Report: Codable {
        var cpu_percent_limit_50: Double
        var cpu_seconds_measured: Double
        var paused_cpu_percent: Double
        /// TCP bytes sent + received by the daemon's sockets while paused (`ss -ti`; nil without `ss`).
        var paused_traffic_bytes: Int?
        /// TCP bytes of the daemon's open sockets at the end of the pause (shows `ss` saw its connections).
        var daemon_socket_bytes: Int?
        var pause_latency_s: Double
        var resume_latency_s: Double
        var upload_bytes_per_s: Double
        var upload_bytes: Int
        var upload_cap: Int
        var download_bytes_per_s: Double
        var download_bytes: Int
        var download_cap: Int
        /// Peak resident memory of the bandwidth phase's daemon (`VmHWM`) and `MemoryGuard`'s estimate for its lease.
        var bandwidth_daemon_peak_rss_bytes: Int
        var bandwidth_memory_estimate_bytes: Int
    }

    func validate() throws {
        guard seconds >= 1 else { throw ValidationError("--seconds must be at least 1") }
        guard cap >= 1024 else { throw ValidationError("--cap must be at least 1024 bytes/s") }
        guard (0...19).contains(nice) else { throw ValidationError("--nice must be 0…19") }
    }

    func run() async throws {
        let root = dir ?? NSTemporaryDirectory() + "crowdtrain-bench-guest-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        var report = Report(
            cpu_percent_limit_50: 0, cpu_seconds_measured: seconds, paused_cpu_percent: 0, paused_traffic_bytes: nil,
            daemon_socket_bytes: nil,
            pause_latency_s: 0,
            resume_latency_s: 0, upload_bytes_per_s: 0, upload_bytes: 0, upload_cap: cap, download_bytes_per_s: 0,
            download_bytes: 0, download_cap: cap, bandwidth_daemon_peak_rss_bytes: 0,
            bandwidth_memory_estimate_bytes: 0)
        try await cpuPhase(root: root + "/cpu", report: &report)
        try await bandwidthPhase(root: root + "/bandwidth", report: &report)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(String(
                format: "CPU at --cpu-limit 50, 1 thread, %.0f s: %.1f %%", seconds, report.cpu_percent_limit_50))
            print(String(format: "paused: %.2f %% CPU, %@ bytes of TCP traffic; pause took %.3f s, resume %.3f s",
                         report.paused_cpu_percent, report.paused_traffic_bytes.map(String.init) ?? "?",
                         report.pause_latency_s, report.resume_latency_s))
            print(String(
                format: "upload %d B at cap %d B/s: %.0f B/s", report.upload_bytes, cap, report.upload_bytes_per_s))
            print(String(format: "download %d B at cap %d B/s: %.0f B/s", report.download_bytes, cap,
                         report.download_bytes_per_s))
        }
    }

    // MARK: phases

    func cpuPhase(root: String, report: inout Report) async throws {
        let setup = try await GuestCampaign.start(
            root: root, model: MLPConfig(inputs: 16, hidden: [64], classes: 2), side: 4, localSteps: 100_000_000,
            codec: "int8")
        defer { setup.stop() }
        let daemon = try setup.startDaemon([
            "--threads", "1", "--cpu-limit", "50", "--nice", "\(nice)", "--max-wait", "0.1",
        ])
        defer { daemon.stop(grace: 3) }
        try await setup.waitForState(.training, daemon: daemon, timeout: 60)
        try await Task.sleep(nanoseconds: 1_000_000_000)
        report.cpu_percent_limit_50 = try await GuestCampaign.cpuShare(pid: daemon.pid, seconds: seconds) * 100

        let pausePath = PauseFile.path(in: setup.peer)
        try PauseFile(pausedAt: Date().timeIntervalSince1970).write(to: pausePath)
        report.pause_latency_s = try await setup.waitForState(.suspended, daemon: daemon, timeout: 10)
        try await Task.sleep(nanoseconds: 500_000_000)
        let traffic0 = GuestCampaign.tcpBytes(pid: daemon.pid)
        report.paused_cpu_percent = try await GuestCampaign.cpuShare(pid: daemon.pid, seconds: 5) * 100
        if let a = traffic0, let b = GuestCampaign.tcpBytes(pid: daemon.pid) {
            report.paused_traffic_bytes = max(0, b - a)
            report.daemon_socket_bytes = b
        }
        PauseFile.remove(at: pausePath)
        report.resume_latency_s = try await setup.waitForState(.training, daemon: daemon, timeout: 10)
    }

    func bandwidthPhase(root: String, report: inout Report) async throws {
        // 784-960-10: 763 210 parameters, a 3.05 MB checkpoint and a ~3 MB fp32 update.
        let model = MLPConfig(inputs: 784, hidden: [960], classes: 10)
        let setup = try await GuestCampaign.start(root: root, model: model, side: 28, localSteps: 4, codec: "fp32")
        let parameters = 784 * 960 + 960 + 960 * 10 + 10
        report.bandwidth_memory_estimate_bytes = try MemoryGuard.estimate(
            kind: "mlp", configJSON: try JSONEncoder().encode(model), parameters: parameters, batch: 8, block: nil,
            optimizer: "sgd", threads: 1
        ).total
        defer { setup.stop() }
        let daemon = try setup.startDaemon([
            "--threads", "1", "--max-wait", "0.1", "--max-leases", "1", "--upload-limit", "\(cap)",
            "--download-limit", "\(cap)", "--nice", "\(nice)",
        ])
        defer { daemon.stop(grace: 3) }
        var down: (start: Date, end: Date)?
        var up: (start: Date, end: Date)?
        var downStart: Date?, upStart: Date?
        let deadline = Date().addingTimeInterval(Double(8_000_000 / cap) + 120)
        while daemon.isRunning && Date() < deadline && up == nil {
            let state = PeerStatus.read(from: setup.peer.status)?.state
            let now = Date()
            if state == .downloading && downStart == nil { downStart = now }
            if let s = downStart, down == nil, state != .downloading { down = (s, now) }
            if state == .uploading && upStart == nil { upStart = now }
            if let s = upStart, up == nil, state != .uploading { up = (s, now) }
            report.bandwidth_daemon_peak_rss_bytes = max(
                report.bandwidth_daemon_peak_rss_bytes, GuestCampaign.peakRSS(pid: daemon.pid) ?? 0)
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        _ = daemon.wait(timeout: 10)
        let status = try GuestCampaign.require(PeerStatus.read(from: setup.peer.status), "no status.json")
        guard let down, let up, status.lifetime.accepted == 1 else {
            throw DemoError(
                "the bandwidth daemon did not download, train and upload one lease:\n\(GuestCampaign.log(of: daemon))")
        }
        report.download_bytes = status.lifetime.bytesDown
        report.download_bytes_per_s = Double(status.lifetime.bytesDown) / down.end.timeIntervalSince(down.start)
        report.upload_bytes = status.lifetime.bytesUp
        report.upload_bytes_per_s = Double(status.lifetime.bytesUp) / up.end.timeIntervalSince(up.start)
    }
}

/// One campaign of `bench guest`: created in this process, served by a `coordinator serve` child, with one
/// joined peer directory.
struct GuestCampaign {
    let root: String
    let coordinator: ChildProcess
    let peer: PeerPaths

    static func start(root: String, model: MLPConfig, side: Int, localSteps: Int, codec: String) async throws -> Self {
        let exe = ChildProcess.currentExecutable
        let port = try DemoSupervisor.freePort()
        let coordinatorDir = root + "/coordinator"
        var config = CampaignConfig(workload: .fmnistMLP, name: "bench-guest")
        config.port = port
        config.bind = "127.0.0.1"
        config.peersPerRound = 1
        config.minUpdates = 1
        config.maxRounds = 2
        config.goalSamples = 1 << 50
        config.inner.schedule = .constant  // an endless goal: a schedule over it would stay in warm-up
        config.localSteps = localSteps
        config.batch = 8
        config.inner = InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9)
        config.outer = .fedAvg
        config.codec = codec
        config.roundDeadlineSeconds = 600
        config.leaseSeconds = 600
        config.evalSamples = 64
        _ = try CampaignInitializer.create(
            directory: coordinatorDir, config: config,
            data: .images(
                train: images(count: 256, side: side, seed: 1), evaluation: images(count: 64, side: side, seed: 2)),
            modelConfigJSON: try JSONEncoder().encode(model), shardSize: 128)
        let invite = try CampaignInitializer.invite(directory: coordinatorDir, count: 1, note: "bench")[0]
        let coordinator = try ChildProcess.spawn(
            name: "coordinator", executable: exe, arguments: ["coordinator", "serve", "--dir", coordinatorDir],
            logPath: root + "/coordinator.log")
        let url = "https://127.0.0.1:\(port)"
        let ca = Array(FileManager.default.contents(atPath: coordinatorDir + "/ca.pem") ?? Data())
        let peerDir = root + "/peer"
        let end = Date().addingTimeInterval(60)
        while true {
            do {
                _ = try await PeerEnrollment.join(
                    coordinator: url, caPEM: ca, invite: invite, name: "bench", directory: peerDir,
                    connectTimeoutSeconds: 2)
                break
            } catch {
                guard coordinator.isRunning, Date() < end else {
                    coordinator.stop(grace: 2)
                    throw DemoError("cannot join the bench coordinator (\(error)); its log is \(root)/coordinator.log")
                }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
        }
        return GuestCampaign(root: root, coordinator: coordinator, peer: PeerPaths(root: peerDir))
    }

    func stop() { coordinator.stop(grace: 5) }

    func startDaemon(_ flags: [String]) throws -> ChildProcess {
        try ChildProcess.spawn(
            name: "peer", executable: ChildProcess.currentExecutable,
            arguments: ["peer", "run", "--dir", peer.root] + flags, logPath: root + "/peer.log")
    }

    /// Waits until `status.json` shows `state`; the seconds it took.
    @discardableResult
    func waitForState(_ state: PeerStatus.State, daemon: ChildProcess, timeout: Double) async throws -> Double {
        let start = Date()
        while PeerStatus.read(from: peer.status)?.state != state {
            guard daemon.isRunning else { throw DemoError("the daemon exited:\n\(GuestCampaign.log(of: daemon))") }
            guard Date().timeIntervalSince(start) < timeout else {
                let log = GuestCampaign.log(of: daemon)
                throw DemoError("the daemon did not reach \(state.rawValue) within \(Int(timeout)) s:\n\(log)")
            }
            try await Task.sleep(nanoseconds: 2_000_000)
        }
        return Date().timeIntervalSince(start)
    }

    /// utime + stime of `pid` in seconds (`/proc/<pid>/stat` fields 14 and 15).
    static func cpuSeconds(pid: pid_t) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        guard let close = text.lastIndex(of: ")") else { throw DemoError("unreadable /proc/\(pid)/stat") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else {
            throw DemoError("unreadable /proc/\(pid)/stat")
        }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// CPU seconds of `pid` per wall second over `seconds`.
    static func cpuShare(pid: pid_t, seconds: Double) async throws -> Double {
        let c0 = try cpuSeconds(pid: pid), t0 = Date()
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        let c1 = try cpuSeconds(pid: pid), t1 = Date()
        return (c1 - c0) / t1.timeIntervalSince(t0)
    }

    /// Bytes sent plus received over the TCP sockets of `pid` (`ss -tinpH`), nil when `ss` is unavailable.
    static func tcpBytes(pid: pid_t) -> Int? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ss")
        p.arguments = ["-tinpH"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        // Each socket is a line with `users:(("crowdtrain",pid=N,…))`, then an indented line of TCP counters.
        var total = 0, ours = false
        for line in text.split(separator: "\n") {
            if !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                ours = line.contains("pid=\(pid),")
                continue
            }
            guard ours else { continue }
            for field in line.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                for key in ["bytes_sent:", "bytes_received:"] where field.hasPrefix(key) {
                    total += Int(field.dropFirst(key.count)) ?? 0
                }
            }
        }
        return total
    }

    /// `VmHWM` (peak resident set) of `pid` in bytes.
    static func peakRSS(pid: pid_t) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { $0 * 1024 }
        }
        return nil
    }

    /// A child's log so far.
    static func log(of child: ChildProcess) -> String {
        (try? String(contentsOfFile: child.logPath, encoding: .utf8)) ?? ""
    }

    static func require<T>(_ value: T?, _ message: String) throws -> T {
        guard let value else { throw DemoError(message) }
        return value
    }

    /// Noisy two-class images (`side`×`side`): class 1 is bright in the top half.
    static func images(count: Int, side: Int, seed: UInt64) -> ImageDataset {
        var rng = SeededRNG(seed: seed)
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        let n = side * side
        for _ in 0..<count {
            let label = UInt8(rng.nextInt(below: 2))
            for p in 0..<n {
                let bright = (p < n / 2) == (label == 1)
                pixels.append(UInt8(bright ? 90 + rng.nextInt(below: 160) : rng.nextInt(below: 140)))
            }
            labels.append(label)
        }
        return ImageDataset(count: count, rows: side, cols: side, pixels: pixels, labels: labels)
    }
}

