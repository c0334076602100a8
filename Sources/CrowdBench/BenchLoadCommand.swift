import CrowdCLI
import ArgumentParser
import CrowdClient
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import CrowdVerification
import Foundation
import Synchronization

/// `crowdtrain bench load`: `--peers` simulated peers, each with its own TLS connection, against one coordinator
/// process (`coordinator serve`) on 127.0.0.1. Compute is cheap (a tiny model, random small updates); the protocol is
/// real: every peer joins with its own invite, then until the time is up polls the status, asks for a lease and,
/// when it gets one, fetches the model and uploads an int8 update. Reports latency percentiles per endpoint (joins
/// over the join storm, the rest over the steady state after the last join), errors (all of them, both phases), and
/// the coordinator's memory and descriptors.
///
/// All simulated peers share one address here, so the campaign sets `transport.exemptLoopback` (the per-address
/// limits would otherwise see a thousand volunteers as one); the per-credential limits stay on.
struct BenchLoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Many simulated peers over real TLS against one coordinator: latency per endpoint, errors, RSS, fds.")

    @Option(help: "Simulated peers (one TLS connection each).")
    var peers: Int = 1000

    @Option(help: "Seconds of load after every peer joined.")
    var seconds: Double = 30

    @Option(help: "Seconds each peer waits between its cycles (status, lease, and model + upload when leased).")
    var interval: Double = 2

    @Option(help: "Round quorum (sync updates per round).")
    var perRound: Int = 50

    @Option(
        help: ArgumentHelp(
            "Bytes of waiting proofs the coordinator's verifier queue keeps in memory before it spills them to disk "
                + "(verification.queueMemoryBytes; default: the campaign default, 64 MiB).",
            discussion: "A huge value (1e12) is the control without the bound."))
    var verifierQueueMemory: Int?

    @Flag(help: "One JSON object: p50_ms and p99_ms by endpoint, requests, errors, rss_mb, fds, …")
    var json = false

    func validate() throws {
        guard (1...20_000).contains(peers) else { throw ValidationError("--peers must be 1…20000") }
        guard seconds > 0, interval > 0, perRound >= 1 else {
            throw ValidationError("--seconds and --interval must be positive, --per-round at least 1")
        }
        if let verifierQueueMemory, verifierQueueMemory < 0 {
            throw ValidationError("--verifier-queue-memory must be ≥ 0 bytes")
        }
    }

    struct Report: Codable {
        var peers: Int
        var seconds: Double
        var p50_ms: [String: Double]
        var p99_ms: [String: Double]
        var requests: [String: Int]
        var errors: Int
        var error_codes: [String: Int]
        var rounds_completed: UInt64
        var updates_accepted: Int
        /// Coordinator resident memory at the end and at its peak (VmRSS, VmHWM), MB (2²⁰ bytes).
        var rss_mb: Double
        var peak_rss_mb: Double
        /// The verifier queue's memory budget the coordinator ran with (`verification.queueMemoryBytes`).
        var verifier_queue_memory_bytes: Int
        /// Most descriptors the coordinator held (sampled every 0.5 s).
        var fds: Int
        var binary_mb: Double
        /// CPU seconds (user + system) the coordinator and this process (the simulated peers) used: on one machine
        /// both share the cores, so latencies include the load generator's own demand.
        var coordinator_cpu_seconds: Double
        var load_generator_cpu_seconds: Double
        var cpu: String
    }

    /// Latencies and errors of all simulated peers.
    final class Tally: Sendable {
        private let state = Mutex<(latencies: [String: [Double]], errors: [String: Int])>(([:], [:]))
        func record(_ endpoint: String, _ ms: Double) { state.withLock { $0.latencies[endpoint, default: []].append(ms) } }
        func fail(_ code: String) { state.withLock { $0.errors[code, default: 0] += 1 } }
        var snapshot: (latencies: [String: [Double]], errors: [String: Int]) { state.withLock { $0 } }
    }

    /// When the load phase starts (the last peer joined), and the coordinator's descriptor peak.
    final class Phase: Sendable {
        let joined = Atomic<Int>(0)
        let start = Mutex<Date?>(nil)
        let fds = Mutex((peak: 0, stop: false))

        /// Seconds since the last join, nil before.
        var elapsed: Double? { start.withLock { $0.map { Date().timeIntervalSince($0) } } }

        func peerJoined(of total: Int) {
            if joined.add(1, ordering: .relaxed).newValue == total { start.withLock { $0 = Date() } }
        }
    }

    func run() async throws {
        let supervisor = DemoSupervisor()
        supervisor.installSignalHandlers()
        let root = NSTemporaryDirectory() + "crowdtrain-bench-load-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        let dir = root + "/coordinator"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let port = try DemoSupervisor.freePort()
        var config = CampaignConfig(workload: .fmnistMLP, name: "bench load")
        config.bind = "127.0.0.1"
        config.port = port
        config.peersPerRound = perRound
        config.minUpdates = 1
        config.localSteps = 1
        config.batch = 8
        config.evalSamples = 64
        config.probeSamples = 64
        config.goalSamples = Int.max / 4
        config.inner.schedule = .constant
        config.roundDeadlineSeconds = 10
        config.leaseSeconds = 10
        config.minLeaseSeconds = 10
        config.transport.exemptLoopback = true
        config.transport.maxConnections = peers + 256
        if let verifierQueueMemory { config.verification.queueMemoryBytes = verifierQueueMemory }
        _ = try CampaignInitializer.create(
            directory: dir, config: config,
            data: .images(
                train: ChaosHarness.syntheticImages(count: 2000, seed: 1),
                evaluation: ChaosHarness.syntheticImages(count: 64, seed: 2)),
            modelConfigJSON: try JSONEncoder().encode(MLPConfig(hidden: [8])), shardSize: 500)
        let invites = try CampaignInitializer.invite(directory: dir, count: peers, note: "bench load")
        let coordinator = try ChildProcess.spawn(
            name: "coordinator", executable: ChildProcess.currentExecutable,
            arguments: ["coordinator", "serve", "--dir", dir, "--log-level", "warning"], logPath: root + "/coordinator.log")
        supervisor.adopt(coordinator)
        defer { supervisor.stopAll() }
        let url = "https://127.0.0.1:\(port)"
        let ca = Array(FileManager.default.contents(atPath: dir + "/ca.pem") ?? Data())
        let probe = try CoordinatorClient(baseURL: url, caPEM: ca)
        let start = Date()
        while (try? await probe.health()) == nil {
            guard coordinator.isRunning, Date().timeIntervalSince(start) < 60 else {
                await probe.shutdown()
                throw ValidationError("the coordinator did not start; its log: \(root)/coordinator.log")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if !json { print("coordinator serving on \(url); \(peers) peers joining") }

        let tally = Tally()
        let phase = Phase()
        let pid = coordinator.pid
        let sampler = Task {
            while !phase.fds.withLock({ $0.stop }) {
                let n = Self.descriptors(pid: pid)
                phase.fds.withLock { $0.peak = max($0.peak, n) }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
        let seconds = self.seconds, interval = self.interval
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (i, invite) in invites.enumerated() {
                group.addTask {
                    try await Self.simulatePeer(
                        i, invite: invite, url: url, ca: ca, tally: tally, peers: invites.count, phase: phase,
                        seconds: seconds, interval: interval)
                }
            }
            try await group.waitForAll()
        }
        phase.fds.withLock { $0.stop = true }
        await sampler.value
        let status = try await probe.status()
        await probe.shutdown()
        let memory = ProcessMemory.read(pid: coordinator.pid) ?? ProcessMemory(rssMB: 0, peakRSSMB: 0)
        let coordinatorCPU = Self.cpuSeconds(pid: coordinator.pid)
        let ownCPU = Self.cpuSeconds(pid: getpid())
        supervisor.stopAll()

        let (latencies, errors) = tally.snapshot
        func percentile(_ v: [Double], _ p: Double) -> Double {
            let s = v.sorted()
            return (s[min(s.count - 1, Int(Double(s.count) * p))] * 1000).rounded() / 1000
        }
        let report = Report(
            peers: peers, seconds: seconds,
            p50_ms: latencies.filter { !$0.value.isEmpty }.mapValues { percentile($0, 0.5) },
            p99_ms: latencies.filter { !$0.value.isEmpty }.mapValues { percentile($0, 0.99) },
            requests: latencies.mapValues(\.count), errors: errors.values.reduce(0, +), error_codes: errors,
            rounds_completed: status.roundsCompleted, updates_accepted: status.updatesAccepted,
            rss_mb: memory.rssMB, peak_rss_mb: memory.peakRSSMB,
            verifier_queue_memory_bytes: verifierQueueMemory ?? VerificationConfig().queueMemoryBytes, fds: phase.fds.withLock { $0.peak },
            binary_mb: ProcessMemory.executableMB ?? 0,
            coordinator_cpu_seconds: coordinatorCPU, load_generator_cpu_seconds: ownCPU,
            cpu: CPUFeatures.current.modelName)
        if json {
            print(try DisplayFormat.jsonLine(report))
        } else {
            for (k, v) in report.p99_ms.sorted(by: { $0.key < $1.key }) {
                print("\(k): p50 \(report.p50_ms[k] ?? 0) ms, p99 \(v) ms, \(report.requests[k] ?? 0) requests")
            }
            print("errors \(report.errors) \(report.error_codes); coordinator RSS \(report.rss_mb) MB (peak "
                + "\(report.peak_rss_mb)), \(report.fds) descriptors; \(report.rounds_completed) rounds")
        }
    }

    /// One simulated peer: join, then cycles until `seconds` after the last peer joined.
    static func simulatePeer(
        _ i: Int, invite: String, url: String, ca: [UInt8], tally: Tally, peers: Int, phase: Phase,
        seconds: Double, interval: Double
    ) async throws {
        // Stagger the joins over a second so the handshakes do not all land in the same millisecond.
        try await Task.sleep(for: .milliseconds(Int64(i % 1000)))
        func timed<T>(_ endpoint: String, _ body: () async throws -> T) async -> T? {
            let t0 = ContinuousClock.now
            // Joins are timed during the join storm; everything else only once every peer has joined (the
            // steady state the percentiles describe).
            let counted = endpoint == "join" || phase.elapsed != nil
            do {
                let value = try await body()
                let d = ContinuousClock.now - t0
                if counted {
                    tally.record(endpoint, Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
                }
                return value
            } catch let e as CoordinatorClientError {
                tally.fail("\(endpoint):\(e.code)")
            } catch {
                tally.fail("\(endpoint):\(error)")
            }
            return nil
        }
        let anonymous = try CoordinatorClient(baseURL: url, caPEM: ca)
        let response = await timed("join") { try await anonymous.join(invite: invite, name: "load-\(i)") }
        await anonymous.shutdown()
        phase.peerJoined(of: peers)
        guard let response else { return }
        let client = try CoordinatorClient(baseURL: url, caPEM: ca, secret: response.credential)
        var shards: [String: ShardPayload] = [:]
        while true {
            if let t = phase.elapsed, t > seconds { break }
            _ = await timed("status") { try await client.status() }
            if let lease = await timed("lease", { try await client.lease(LeaseRequest(threads: 1)) })?.lease,
                let model = await timed("model", { try await client.model(version: lease.modelVersion) }),
                let checkpoint = try? Checkpoint.decode(model, path: "model")
            {
                for id in lease.shardIDs where shards[id] == nil {
                    if let data = await timed("shard", { try await client.shard(id: id) }),
                       let payload = try? ShardFile.decode(data, name: "shard", expectedID: id)
                    {
                        shards[id] = payload
                    }
                }
                // The real protocol with cheap compute: one step of a tiny MLP, committed as the lease asks.
                if let x = try? LeaseProgram.execute(
                    lease: lease, checkpoint: checkpoint, shards: lease.shardIDs.compactMap { shards[$0] }),
                   let body = try? Self.envelope(x, lease: lease)
                {
                    let receipt = await timed("upload") {
                        try await client.putUpdate(leaseID: lease.leaseID, envelope: body, trainLoss: 1)
                    }
                    if let challenge = receipt?.challenge, let proof = x.trajectory?.proof(segment: challenge.segment) {
                        _ = await timed("proof") { try await client.putProof(leaseID: lease.leaseID, proof: proof.encoded()) }
                    }
                } else {
                    tally.fail("encode")  // and still wait out the interval below
                }
            }
            try? await Task.sleep(for: .milliseconds(Int64(interval * 1000 * Double.random(in: 0.8...1.2))))
        }
        await client.shutdown()
    }

    /// The envelope of an executed lease, with its commitment when the lease asks for one.
    static func envelope(_ x: LeaseProgram.Execution, lease: Lease) throws -> Data {
        var header = EnvelopeHeader(
            schemaHash: lease.schemaHash, round: lease.round, baseModel: Hex.bytes(lease.modelVersion) ?? [],
            codec: try CodecSpec(parsing: lease.codec), elementCount: x.delta.count)
        header.commitment = x.trajectory?.commitment(samples: lease.samples)
        var feedback = ErrorFeedback(count: x.delta.count)
        return try feedback.encode(x.delta, header: header, level: Int32(lease.codecLevel))
    }

    /// Open descriptors of `pid` (entries of /proc/pid/fd; 0 where /proc is missing).
    static func descriptors(pid: pid_t) -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? 0
    }

    /// utime + stime of `pid` in seconds (/proc/pid/stat fields 14 and 15; 0 where /proc is missing).
    static func cpuSeconds(pid: pid_t) -> Double {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = s.lastIndex(of: ")")
        else { return 0 }
        let fields = s[s.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let u = Double(fields[11]), let k = Double(fields[12]) else { return 0 }
        let hz = Double(sysconf(Int32(_SC_CLK_TCK)))
        return ((u + k) / hz * 100).rounded() / 100
    }

}
