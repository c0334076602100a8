import CrowdClient
import CrowdPeer
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real `crowdtrain peer run` process against an in-process coordinator: its CPU use, read from
/// `/proc/<pid>/stat` (utime + stime, the counters `getrusage` reports), stays near the `--cpu-limit`
/// while it trains and near zero while paused.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct LimitsProcessTests {
    @Test func cpuCapHoldsAndPauseStopsCPUUse() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 1, localSteps: 2_000_000, leaseSeconds: 120)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let peer = PeerPaths(root: campaign.peerDir(1))
        // nice 0: the test machine is shared, and a niced child would measure the others' load, not the cap.
        let child = try LimitsChild.start(
            ["peer", "run", "--dir", peer.root, "--threads", "1", "--cpu-limit", "50", "--nice", "0",
             "--max-wait", "0.1"],
            log: campaign.root + "/peer.log")
        defer { child.stop() }
        let deadline = Date().addingTimeInterval(20)
        while PeerStatus.read(from: peer.status)?.state != .training && Date() < deadline {
            #expect(child.isRunning, "the daemon exited: \(child.log)")
            if !child.isRunning { return }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        try #require(PeerStatus.read(from: peer.status)?.state == .training, "never started training: \(child.log)")
        try await Task.sleep(nanoseconds: 500_000_000)
        let (capped, waited) = try await child.cpuAndWaitShares(seconds: 5)
        print("limits: CPU use at --cpu-limit 50 over 5 s: \(capped * 100) % (run-queue wait \(waited * 100) %)")
        #expect(capped <= 0.60, "CPU use at --cpu-limit 50 was \(capped * 100) %")
        // On a quiet machine the daemon gets the 50 % it asks for. When other tests load the machine (the test
        // runner runs suites in parallel on 2 cores) its threads wait in the run queue instead: then the cap
        // must not be what holds it back, i.e. it must have wanted (run + wait) at least 40 %.
        let wanted = capped >= 0.40 || (waited >= 0.05 && capped + waited >= 0.40)
        #expect(wanted, "CPU use at --cpu-limit 50 was \(capped * 100) %, run-queue wait \(waited * 100) %")

        try PauseFile(pausedAt: Date().timeIntervalSince1970).write(to: PauseFile.path(in: peer))
        let pausedAt = Date()
        while PeerStatus.read(from: peer.status)?.state != .suspended && Date().timeIntervalSince(pausedAt) < 5 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(Date().timeIntervalSince(pausedAt) < 1.0, "pause took effect after more than a second")
        try await Task.sleep(nanoseconds: 300_000_000)
        let paused = try await child.cpuShare(seconds: 3)
        print("limits: CPU use while paused over 3 s: \(paused * 100) %")
        #expect(paused < 0.01, "CPU use while paused was \(paused * 100) %")
        #expect(PeerStatus.read(from: peer.status)?.suspendReasons == ["paused"])

        // Resume: the child stamps the status it writes when it leaves `suspended` (its own clock, so a busy
        // test runner polling late does not count against it).
        let resumedAt = Date().timeIntervalSince1970
        #expect(PauseFile.remove(at: PauseFile.path(in: peer)))
        var resumed: PeerStatus?
        repeat {
            try await Task.sleep(nanoseconds: 10_000_000)
            if let s = PeerStatus.read(from: peer.status), s.state != .suspended { resumed = s }
        } while resumed == nil && Date().timeIntervalSince1970 - resumedAt < 5
        let reaction = (resumed?.updatedAt ?? .infinity) - resumedAt
        print("limits: resume took effect after \(reaction) s")
        #expect(reaction < 1.0, "resume took effect after \(reaction) s")
        child.stop()
        await coordinator.stop()
    }
}

extension LimitsProcessTests {
    /// In-process: a memory limit below the model's need refuses the lease and suspends with `memoryLimit`
    /// (no more leases); raising the limit with a reload resumes work and the next update is accepted.
    @Test func memoryGuardRefusesAndAReloadResumes() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 1, localSteps: 20, leaseSeconds: 2)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let peer = PeerPaths(root: campaign.peerDir(1))
        var logger = Logger(label: "it.peer")
        logger.logLevel = .critical
        let lines = Lines()
        let daemon = PeerDaemon(
            directory: peer.root,
            config: PeerRunConfig(
                threads: 1, backoffBase: 0.05, backoffCap: 0.2, exitWhenFinished: true, maxLeases: 1, maxWait: 0.1,
                limits: PeerLimits(nice: 0, memoryLimitBytes: 8 << 20)),
            logger: logger, output: { lines.append($0) })
        let task = Task { try await daemon.run() }
        defer { task.cancel() }
        var deadline = Date().addingTimeInterval(20)
        while PeerStatus.read(from: peer.status)?.suspendReasons != ["memoryLimit"] && Date() < deadline {
            try await Task.sleep(nanoseconds: 20_000_000)
        }
        let refused = try #require(PeerStatus.read(from: peer.status))
        #expect(refused.state == .suspended && refused.suspendReasons == ["memoryLimit"], "\(lines.all)")
        #expect(refused.reason?.contains("raise --memory-limit") == true, "\(refused.reason ?? "")")
        let refusal = lines.all.contains { $0.contains("refused lease") && $0.contains("leave the campaign") }
        #expect(refusal, "\(lines.all)")
        // Suspended: no further lease is taken while the limit stays too low.
        let leases = refused.lifetime.leases
        try await Task.sleep(nanoseconds: 1_000_000_000)
        #expect(PeerStatus.read(from: peer.status)?.lifetime.leases == leases)

        var raised = daemon.live.current
        raised.limits.memoryLimitBytes = 1 << 30
        daemon.live.update(raised)
        let reloadedAt = Date()
        while PeerStatus.read(from: peer.status)?.state == .suspended && Date().timeIntervalSince(reloadedAt) < 5 {
            try await Task.sleep(nanoseconds: 10_000_000)
        }
        #expect(Date().timeIntervalSince(reloadedAt) < 1.0, "the raised limit took more than a second to apply")
        deadline = Date().addingTimeInterval(30)
        while PeerStatus.read(from: peer.status)?.lifetime.accepted != 1 && Date() < deadline {
            try await Task.sleep(nanoseconds: 50_000_000)
        }
        #expect(PeerStatus.read(from: peer.status)?.lifetime.accepted == 1, "\(lines.all)")
        _ = try? await task.value
        await coordinator.stop()
    }
}

extension LimitsProcessTests {
    /// The download cap over a real TLS connection: a lease's shard arrives at the capped rate.
    @Test func downloadCapPacesArtifactsOverTLS() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 1)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let peer = PeerPaths(root: campaign.peerDir(1))
        let credential = try PeerCredential.read(from: peer.credential)
        let cap = 4096
        let live = PeerLiveSettings(
            .init(threads: 1, limits: PeerLimits(downloadBytesPerSecond: cap), suspend: SuspendSettings()))
        let client = try CoordinatorClient(
            baseURL: credential.coordinator, caFile: peer.caCertificate, secret: credential.secret, rates: live.bandwidthRates)
        let lease = try #require(try await client.lease(LeaseRequest(threads: 1)).lease)
        let start = Date()
        var bytes = 0
        // A lease of this tiny campaign names a 2 kB shard (less as it travels, compressed): fetch it repeatedly (the
        // client does not cache) until there are enough bytes to measure a rate.
        while bytes < 3 * cap {
            for id in lease.shardIDs { bytes += try await client.compressedShard(id: id).count }
        }
        let seconds = Date().timeIntervalSince(start)
        await client.shutdown()
        await coordinator.stop()
        let rate = Double(bytes) / seconds
        print("limits: \(bytes) shard bytes at a \(cap) B/s download cap: \(Int(rate)) B/s")
        #expect(bytes >= 2 * cap, "too few bytes (\(bytes)) to measure a rate")
        #expect(rate <= Double(cap) * 1.05 && rate >= Double(cap) * 0.8, "\(rate) B/s at a cap of \(cap)")
    }
}

/// A `crowdtrain` child process for the limits tests (killed on `stop`, also by `defer` on failure paths).
final class LimitsChild {
    let process: Process
    let logPath: String

    private init(process: Process, logPath: String) {
        self.process = process
        self.logPath = logPath
    }

    static func start(_ arguments: [String], log: String) throws -> LimitsChild {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try CrowdTrainBinary.path())
        p.arguments = arguments
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        p.standardOutput = handle
        p.standardError = handle
        p.standardInput = FileHandle.nullDevice
        try p.run()
        return LimitsChild(process: p, logPath: log)
    }

    var isRunning: Bool { process.isRunning }
    var pid: Int32 { process.processIdentifier }
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// SIGTERM, then SIGKILL after 3 s.
    func stop() {
        guard process.isRunning else { return }
        kill(pid, SIGTERM)
        let end = Date().addingTimeInterval(3)
        while process.isRunning && Date() < end { usleep(20_000) }
        if process.isRunning { kill(pid, SIGKILL) }
        process.waitUntilExit()
    }

    /// utime + stime of `pid` in seconds, from `/proc/<pid>/stat`.
    static func cpuSeconds(pid: Int32) throws -> Double {
        let text = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Fields after the command name (which may hold spaces) start at field 3; utime is 14, stime 15.
        guard let close = text.lastIndex(of: ")") else { throw PeerError("unreadable /proc/\(pid)/stat") }
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let s = Double(fields[12]) else {
            throw PeerError("unreadable /proc/\(pid)/stat")
        }
        return (u + s) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Seconds the child's threads waited runnable in the run queue (`/proc/<pid>/task/*/schedstat`).
    func runQueueWait() -> Double {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var ns = 0.0
        for t in tasks {
            guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(t)/schedstat", encoding: .utf8) else {
                continue
            }
            let fields = text.split(separator: " ")
            if fields.count >= 2, let w = Double(fields[1]) { ns += w }
        }
        return ns / 1e9
    }

    /// The child's CPU time and run-queue wait over `seconds` of wall time, as shares of one core.
    func cpuAndWaitShares(seconds: Double) async throws -> (cpu: Double, wait: Double) {
        let c0 = try Self.cpuSeconds(pid: pid), w0 = runQueueWait(), t0 = Date()
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        let c1 = try Self.cpuSeconds(pid: pid), w1 = runQueueWait(), t1 = Date()
        let wall = t1.timeIntervalSince(t0)
        return ((c1 - c0) / wall, max(0, w1 - w0) / wall)
    }

    /// The child's CPU time over `seconds` of wall time, as a share of one core.
    func cpuShare(seconds: Double) async throws -> Double {
        let c0 = try Self.cpuSeconds(pid: pid), t0 = Date()
        try await Task.sleep(nanoseconds: UInt64(seconds * 1e9))
        let c1 = try Self.cpuSeconds(pid: pid), t1 = Date()
        return (c1 - c0) / t1.timeIntervalSince(t0)
    }
}
