import CrowdCLI
import ArgumentParser
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// `crowdtrain bench rounds`: the coordinator's overhead per sync round — round wall time minus the slowest peer's
/// training time — with a coordinator and `--peers` peer daemons in this process over real TLS on 127.0.0.1, on
/// real Fashion-MNIST. `--poll` is the control: peers sleep and poll for the next round instead of long-polling.
struct BenchRoundsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rounds",
        abstract: "Per-round coordinator overhead (wall time minus the slowest peer's compute), TLS on loopback.")

    @Option(help: "Peers (the round's quorum).")
    var peers: Int = 4

    @Option(help: "Rounds measured (after one warm-up round, which downloads the shards).")
    var rounds: Int = 20

    @Option(help: "Local steps per lease (64 images each).")
    var steps: Int = 20

    @Option(help: "Fashion-MNIST directory.")
    var data: String = FashionMNIST.defaultDirectory

    @Flag(help: "Control: peers poll (sleep on the coordinator's retryAfter) instead of long-polling.")
    var poll = false

    @Flag(help: "Control: the campaign does not verify work (no commitments, challenges or proofs).")
    var noVerification = false

    @Option(help: "Keep the campaign and peer directories here (default: a temporary directory, removed).")
    var dir: String?

    @Flag(help: "Log the coordinator's and peers' lines (aggregate and commit times) to stderr, stamped in ms.")
    var verbose = false

    @Flag(help: "One JSON object: overhead_ms_per_round, round_ms, slowest_compute_ms, …")
    var json = false

    func validate() throws {
        guard (1...32).contains(peers) else { throw ValidationError("--peers must be 1…32") }
        guard (1...1000).contains(rounds), steps >= 1 else { throw ValidationError("--rounds 1…1000, --steps ≥ 1") }
    }

    struct Report: Codable {
        var peers: Int
        var rounds: Int
        var steps: Int
        var long_poll: Bool
        var tls: Bool
        /// Mean over the measured rounds of (round wall time − the slowest peer's mean training time per lease).
        var overhead_ms_per_round: Double
        var round_ms: Double
        var round_ms_min: Double
        var round_ms_max: Double
        /// The median round minus the slowest compute: the steady state without the rounds that download a new
        /// shard (a peer caches each shard after its first lease on it).
        var overhead_ms_median: Double
        var slowest_compute_ms: Double
        var compute_ms_per_peer: [Double]
        var cpu: String
    }

    func run() async throws {
        let root = dir.map { ($0 as NSString).standardizingPath }
            ?? NSTemporaryDirectory() + "crowdtrain-bench-rounds-\(getpid())"
        defer { if dir == nil { try? FileManager.default.removeItem(atPath: root) } }
        if FileManager.default.fileExists(atPath: root + "/coordinator") {
            throw ValidationError("\(root)/coordinator exists; pass an empty --dir")
        }
        let campaignDir = root + "/coordinator"
        var config = CampaignConfig(workload: .fmnistMLP, name: "bench rounds")
        config.port = 0
        config.peersPerRound = peers
        config.minUpdates = peers
        config.maxRounds = rounds + 1
        config.localSteps = steps
        config.verification.enabled = !noVerification
        config.goalSamples = Int.max / 4
        config.inner.schedule = .constant
        config.evalSamples = 1000
        config.roundDeadlineSeconds = 120
        config.leaseSeconds = 120
        // Rounds of ~100 ms make each peer send tens of requests a second, more than a volunteer's credential is
        // allowed (20/s by default), and all peers share 127.0.0.1: this measures round overhead, not the rate limits.
        config.transport.exemptLoopback = true
        config.transport.credentialRequestsPerSecond = 1000
        config.transport.credentialBurst = 1000
        let (train, test) = try FashionMNIST.load(directory: data)
        _ = try CampaignInitializer.create(
            directory: campaignDir, config: config, data: .images(train: train, evaluation: test),
            modelConfigJSON: try JSONEncoder().encode(MLPConfig()), shardSize: 10_000)

        let started = ContinuousClock.now
        var logger = Logger(label: "bench.rounds") { ElapsedLogHandler(label: $0, start: started) }
        logger.logLevel = verbose ? .info : .warning
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try CoordinatorApp.build(
            directory: campaignDir, bind: "127.0.0.1", port: 0, logger: logger,
            onServerRunning: { continuation.yield($0) })
        let group = ServiceGroup(services: [app.application], logger: logger)
        let server = Task { try await group.run() }
        var port = 0
        for await p in ports {
            port = p
            break
        }
        let url = "https://127.0.0.1:\(port)"
        let ca = Array(FileManager.default.contents(atPath: campaignDir + "/ca.pem") ?? Data())
        let invites = try CampaignInitializer.invite(directory: campaignDir, count: peers, note: "bench")
        for i in 0..<peers {
            _ = try await PeerEnrollment.join(
                coordinator: url, caPEM: ca, invite: invites[i], name: "bench-\(i)", directory: root + "/peer-\(i)")
        }
        let longPoll = !poll
        let progress = Mutex(0)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for i in 0..<peers {
                let daemon = PeerDaemon(
                    directory: root + "/peer-\(i)",
                    config: PeerRunConfig(
                        threads: 1, backoffBase: 0.05, backoffCap: 0.5, exitWhenFinished: true, seed: UInt64(i),
                        maxWait: 1, longPollSeconds: longPoll ? 20 : 0),
                    logger: logger,
                    output: { [json, rounds, peers] _ in
                        let n = progress.withLock { p -> Int in
                            p += 1
                            return p
                        }
                        if !json, n % peers == 0 { print("round \(n / peers - 1)/\(rounds)") }
                    })
                tasks.addTask { try await daemon.run() }
            }
            try await tasks.waitForAll()
        }
        let records = try await app.coordinator.roundRecords()
        await group.triggerGracefulShutdown()
        _ = await server.result

        let walls = records.dropFirst().compactMap { r in r.closedAt.map { ($0 - r.openedAt) * 1000 } }
        guard !walls.isEmpty else { throw ValidationError("no round completed; nothing to report") }
        let compute = (0..<peers).compactMap { i -> Double? in
            guard let s = PeerStatus.read(from: PeerPaths(root: root + "/peer-\(i)").status), s.lifetime.accepted > 0
            else { return nil }
            return s.lifetime.trainSeconds / Double(s.lifetime.accepted) * 1000
        }
        let slowest = compute.max() ?? 0
        let mean = walls.reduce(0, +) / Double(walls.count)
        let report = Report(
            peers: peers, rounds: walls.count, steps: steps, long_poll: longPoll, tls: true,
            overhead_ms_per_round: (mean - slowest).rounded3, round_ms: mean.rounded3,
            round_ms_min: (walls.min() ?? 0).rounded3, round_ms_max: (walls.max() ?? 0).rounded3,
            overhead_ms_median: (walls.sorted()[walls.count / 2] - slowest).rounded3,
            slowest_compute_ms: slowest.rounded3, compute_ms_per_peer: compute.map(\.rounded3),
            cpu: CPUFeatures.current.modelName)
        if json {
            print(try DisplayFormat.jsonLine(report))
        } else {
            print(
                "overhead \(report.overhead_ms_per_round) ms per round (round \(report.round_ms) ms, slowest peer's "
                    + "compute \(report.slowest_compute_ms) ms, \(longPoll ? "long-poll" : "polling"))")
        }
    }
}

extension Double {
    /// Rounded to 3 decimals (JSON figures).
    fileprivate var rounded3: Double { (self * 1000).rounded() / 1000 }
}

/// `--verbose`'s log lines: milliseconds since the bench started (the default handler prints whole seconds), so a
/// round's phases — leases issued, models fetched, updates stored, round closed — can be read off the log.
private struct ElapsedLogHandler: LogHandler {
    let label: String
    let start: ContinuousClock.Instant
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let elapsed = ContinuousClock.now - start
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        let fields = metadata.merging(event.metadata ?? [:]) { _, new in new }
            .sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let line = "\(String(format: "%10.1f", ms)) ms \(event.level) \(fields) [\(event.source)] \(event.message)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
