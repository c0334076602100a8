import CrowdCLI
import CrowdAggregation
import ArgumentParser
import CrowdClient
import CrowdCoordinator
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain bench async`: synchronous rounds against buffered asynchronous aggregation (FedBuff) with one
/// throttled peer, on real Fashion-MNIST, with the coordinator and the peers as processes over TLS on 127.0.0.1.
///
/// 1. Solo: each peer alone (same threads and CPU limit as in the crowd) trains `--solo-leases` leases in a campaign
///    whose evaluation is tiny; its solo speed is its steady-state cycle throughput: the samples of leases 2…N over
///    the time between its first and last receipt (download, training with its CPU cap, upload — the peer's
///    own `trainSeconds` would leave out the CPU cap's sleeps).
/// 2. Sync and async crowds with the same sample budget: crowd samples/s = credited samples / wall time from the
///    peers' start to the campaign's end; the ratio is that over the sum of the solo speeds.
struct BenchAsyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "async",
        abstract: "Sync vs async aggregation with one throttled peer: crowd samples/s against the sum of solo speeds.")

    @Option(help: "Sample budget of each crowd campaign (images; sync and async alike).")
    var samples: Int = 960_000

    @Option(help: "Local steps H per lease (64 images each).")
    var steps: Int = 500

    @Option(help: "Training shards (10000 images each) a lease samples from.")
    var shardsPerLease: Int = 3

    @Option(help: "Peer processes; the last one is throttled.")
    var peers: Int = 3

    @Option(help: "CPU limit of the throttled peer, percent of its threads (peer run --cpu-limit).")
    var slowCpu: Int = 20

    @Option(help: "Niceness of the peer processes (peer run --nice; volunteers default to 10).")
    var nice: Int = 0

    @Option(help: "Async buffer size K (default: --peers).")
    var buffer: Int?

    @Option(help: "Async maximum staleness.")
    var maxStaleness: Int = 4

    @Option(help: "Outer optimizer: fedavg, diloco or lr,momentum[,nesterov][,full=F][,delay].")
    var outer: String = "diloco"

    @Option(help: "Leases each peer trains alone to measure its solo speed (at least 2).")
    var soloLeases: Int = 3

    @Option(help: "Keep the campaigns and logs in this directory (default: a temporary one, removed).")
    var dir: String?

    @Option(help: "Give up a campaign after this many seconds.")
    var timeout: Double = 1200

    @Flag(help: "Print one JSON line.")
    var json = false

    func validate() throws {
        guard samples >= 1, steps >= 1, shardsPerLease >= 1 else {
            throw ValidationError("--samples, --steps and --shards-per-lease must be positive")
        }
        guard (2...16).contains(peers) else { throw ValidationError("--peers must be 2…16") }
        guard (1...100).contains(slowCpu) else { throw ValidationError("--slow-cpu must be 1…100") }
        guard (0...19).contains(nice) else { throw ValidationError("--nice must be 0…19") }
        if let buffer, buffer < 1 { throw ValidationError("--buffer must be at least 1") }
        guard maxStaleness >= 0, soloLeases >= 2, timeout > 0 else {
            throw ValidationError("--max-staleness ≥ 0, --solo-leases ≥ 2, --timeout > 0")
        }
        _ = try OuterOptimizerConfig(parsing: outer)
    }

    func run() async throws {
        let supervisor = DemoSupervisor()
        supervisor.installSignalHandlers()
        let root = dir.map { ($0 as NSString).standardizingPath }
            ?? NSTemporaryDirectory() + "crowdtrain-bench-async-\(getpid())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let bench = BenchAsyncRun(command: self, root: root, supervisor: supervisor)
        var failure: (any Error)?
        do { try await bench.execute() } catch { failure = error }
        supervisor.stopAll()
        if dir == nil { try? FileManager.default.removeItem(atPath: root) }
        if supervisor.interrupted { throw ExitCode(130) }
        if let failure { throw failure }
    }
}

/// The campaigns of `bench async`, built on the demo's process plumbing (`DemoRun`, `ChildProcess`).
struct BenchAsyncRun {
    let command: BenchAsyncCommand
    let root: String
    let supervisor: DemoSupervisor

    /// One peer process: its CPU limit (nil = unthrottled).
    struct PeerSpec {
        var name: String
        var cpuLimit: Int?
    }

    /// What one campaign measured.
    struct Outcome {
        var samples: Int
        var seconds: Double
        var accuracy: Double?
        var rounds: UInt64
        var rejected: Int
        var peerStatuses: [PeerStatus]
        var samplesPerSecond: Double { seconds > 0 ? Double(samples) / seconds : 0 }
    }

    var specs: [PeerSpec] {
        (1...command.peers).map {
            PeerSpec(name: "peer-\($0)", cpuLimit: $0 == command.peers ? command.slowCpu : nil)
        }
    }

    var samplesPerLease: Int { command.steps * CampaignConfig(workload: .fmnistMLP).batch }

    func say(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    func execute() async throws {
        try checkCPULimitFlag()
        var solo: [Double] = []
        for (i, spec) in specs.enumerated() {
            let leases = command.soloLeases
            let o = try await campaign(
                "solo-\(i + 1)", mode: nil, peers: [spec], goal: Int.max / 4, maxLeases: leases)
            let receipts = Self.receipts(PeerPaths(root: root + "/solo-\(i + 1)/peer-1").receipts)
            guard receipts.count >= 2, let first = receipts.first, let last = receipts.last,
                last.acceptedAt > first.acceptedAt
            else {
                throw DemoError(
                    "solo run of \(spec.name) finished \(receipts.count) leases (\(o.samples) samples); need 2 or more: "
                        + "logs in \(root)/solo-\(i + 1)/logs")
            }
            let samples = receipts.dropFirst().reduce(0) { $0 + $1.samples }
            solo.append(Double(samples) / (last.acceptedAt - first.acceptedAt))
            say("solo \(spec.name)\(spec.cpuLimit.map { " (cpu-limit \($0)%)" } ?? ""): "
                + "\(Int(solo.last!)) samples/s")
        }
        let sum = solo.reduce(0, +)
        let sync = try await campaign("sync", mode: .sync, peers: specs, goal: command.samples, maxLeases: nil)
        say("sync: \(Int(sync.samplesPerSecond)) samples/s, accuracy \(sync.accuracy ?? .nan)")
        let async = try await campaign("async", mode: .async, peers: specs, goal: command.samples, maxLeases: nil)
        say("async: \(Int(async.samplesPerSecond)) samples/s, accuracy \(async.accuracy ?? .nan)")
        let result = BenchAsyncResult(
            soloSamplesPerS: solo.map(Self.round1), sumSoloSamplesPerS: Self.round1(sum),
            syncSamplesPerS: Self.round1(sync.samplesPerSecond), asyncSamplesPerS: Self.round1(async.samplesPerSecond),
            syncRatio: Self.round3(sync.samplesPerSecond / sum), asyncRatio: Self.round3(async.samplesPerSecond / sum),
            syncAccuracy: sync.accuracy, asyncAccuracy: async.accuracy, samples: command.samples,
            syncSamples: sync.samples, asyncSamples: async.samples, syncSeconds: Self.round1(sync.seconds),
            asyncSeconds: Self.round1(async.seconds), syncRounds: sync.rounds, asyncRounds: async.rounds,
            syncRejected: sync.rejected, asyncRejected: async.rejected, peers: command.peers,
            slowCPUPercent: command.slowCpu, samplesPerLease: samplesPerLease,
            bufferSize: command.buffer ?? command.peers, maxStaleness: command.maxStaleness, outer: command.outer,
            peerNice: command.nice)
        if command.json {
            print(try DisplayFormat.jsonLine(result))
        } else {
            print("solo samples/s: \(result.soloSamplesPerS) (sum \(result.sumSoloSamplesPerS))")
            for (mode, speed, ratio, o) in [
                ("sync ", result.syncSamplesPerS, result.syncRatio, sync),
                ("async", result.asyncSamplesPerS, result.asyncRatio, async),
            ] {
                let accuracy = o.accuracy.map { DisplayFormat.fixed($0, 4) } ?? "-"
                print("\(mode): \(speed) samples/s = \(ratio) × sum, accuracy \(accuracy), \(o.rounds) rounds")
            }
        }
    }

    /// The receipts a peer logged (`receipts.jsonl`), oldest first.
    static func receipts(_ path: String) -> [Receipt] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(Receipt.self, from: Data($0)) }
            .sorted { $0.acceptedAt < $1.acceptedAt }
    }

    static func round1(_ x: Double) -> Double { (x * 10).rounded() / 10 }
    static func round3(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }

    /// Refuses to measure a "throttled" peer that is not throttled.
    func checkCPULimitFlag() throws {
        let help = try ChildProcess.run(
            name: "peer run --help", executable: ChildProcess.currentExecutable, arguments: ["peer", "run", "--help"],
            logPath: root + "/peer-run-help.txt", timeout: 30)
        guard help.contains("--cpu-limit") else {
            throw DemoError("this build's `peer run` has no --cpu-limit flag; the throttled peer cannot be throttled")
        }
    }

    /// Runs one campaign in `root/name`: `mode` nil = solo (sync, one lease per round, peers stop after
    /// `maxLeases`); otherwise a crowd of `peers` until `goal` samples are credited.
    func campaign(_ name: String, mode: AggregationConfig.Mode?, peers: [PeerSpec], goal: Int, maxLeases: Int?)
        async throws -> Outcome
    {
        let demo = DemoRun(
            root: root + "/" + name, workload: .fmnistMLP, peers: peers.count, rounds: 1, localSteps: command.steps,
            threadsPerPeer: 1, timeout: command.timeout, json: true, supervisor: supervisor)
        try FileManager.default.createDirectory(atPath: demo.logs, withIntermediateDirectories: true)
        let port = try DemoSupervisor.freePort()
        say("\(name): \(peers.count) peer(s), \(mode?.rawValue ?? "solo"), https://127.0.0.1:\(port)")
        _ = try ChildProcess.run(
            name: "coordinator init", executable: demo.exe, arguments: demo.initArguments(port: port),
            logPath: demo.logs + "/init.log", timeout: 300)
        try demo.applyOverrides()
        var aggregation: [String: Any] = ["mode": (mode ?? .sync).rawValue]
        if mode == .async {
            aggregation["bufferSize"] = command.buffer ?? peers.count
            aggregation["maxStaleness"] = command.maxStaleness
        }
        let outer = try OuterOptimizerConfig(parsing: command.outer)
        try rewrite(
            demo.coordinatorDir + "/campaign.json",
            [
                "goalSamples": goal, "maxRounds": NSNull(), "peersPerRound": mode == nil ? 1 : peers.count,
                "evalSamples": mode == nil ? 100 : 10_000,
                "shardsPerLease": command.shardsPerLease, "roundDeadlineSeconds": 600, "leaseSeconds": 600,
                "aggregation": aggregation,
                "outer": ["lr": Double(outer.lr), "momentum": Double(outer.momentum), "nesterov": outer.nesterov],
            ])
        let invites = try CampaignInitializer.invite(
            directory: demo.coordinatorDir, count: peers.count, note: "bench async")
        let coordinator = try ChildProcess.spawn(
            name: "coordinator \(name)", executable: demo.exe,
            arguments: ["coordinator", "serve", "--dir", demo.coordinatorDir], logPath: demo.logs + "/coordinator.log")
        supervisor.adopt(coordinator)
        defer { coordinator.stop(grace: 5) }
        let url = "https://127.0.0.1:\(port)"
        let client = try CoordinatorClient(
            baseURL: url, caFile: demo.coordinatorDir + "/ca.pem", timeoutSeconds: 30)
        do {
            try await demo.waitHealthy(client, coordinator: coordinator)
            for (i, spec) in peers.enumerated() {
                _ = try ChildProcess.run(
                    name: "peer join \(spec.name)", executable: demo.exe,
                    arguments: [
                        "peer", "join", "--coordinator", url, "--ca", demo.coordinatorDir + "/ca.pem", "--invite",
                        invites[i], "--dir", demo.peerDir(i + 1), "--name", spec.name,
                    ], logPath: demo.logs + "/\(spec.name)-join.log", timeout: 60)
            }
            let started = Date()
            var processes: [ChildProcess] = []
            for (i, spec) in peers.enumerated() {
                var args = [
                    "peer", "run", "--dir", demo.peerDir(i + 1), "--threads", "1", "--exit-when-finished",
                    "--backoff-cap", "2", "--max-wait", "0.1", "--nice", "\(command.nice)",
                ]
                if let leases = maxLeases { args += ["--max-leases", "\(leases)"] }
                if let cpu = spec.cpuLimit { args += ["--cpu-limit", "\(cpu)"] }
                let p = try ChildProcess.spawn(
                    name: spec.name, executable: demo.exe, arguments: args, logPath: demo.logs + "/\(spec.name).log")
                supervisor.adopt(p)
                processes.append(p)
            }
            defer { for p in processes { p.stop(grace: 5) } }
            let finished = try await follow(
                client, coordinator: coordinator, peers: processes, demo: demo, untilPeersExit: maxLeases != nil)
            let seconds = Date().timeIntervalSince(started)
            // The final model's evaluation runs after its round commits: wait for it (not part of the timing).
            let status = try await demo.awaitEvaluation(client, after: finished)
            await client.shutdown()
            let statuses = (1...peers.count).compactMap {
                PeerStatus.read(from: PeerPaths(root: demo.peerDir($0)).status)
            }
            return Outcome(
                samples: status.samplesTrained, seconds: seconds, accuracy: status.latestEvaluation?.value,
                rounds: status.roundsCompleted, rejected: status.updatesRejected, peerStatuses: statuses)
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Polls the status until the campaign finished (or, for solo runs, every peer exited).
    func follow(
        _ client: CoordinatorClient, coordinator: ChildProcess, peers: [ChildProcess], demo: DemoRun,
        untilPeersExit: Bool
    ) async throws -> CampaignStatus {
        let end = Date().addingTimeInterval(command.timeout)
        var lastRound: UInt64 = 0
        while true {
            try demo.checkInterrupted()
            guard coordinator.isRunning else {
                throw DemoError("the coordinator exited:\n\(demo.tail(coordinator.logPath))")
            }
            guard Date() < end else {
                throw DemoError("no result after \(Int(command.timeout)) s; logs in \(demo.logs)")
            }
            if untilPeersExit, peers.allSatisfy({ !$0.isRunning }) { return try await client.status() }
            if let s = try? await client.status() {
                if s.roundsCompleted != lastRound, !untilPeersExit {
                    lastRound = s.roundsCompleted
                    say("  round \(s.roundsCompleted) · \(s.samplesTrained) samples\(DemoRun.evaluationText(s))")
                }
                if s.finished { return s }
            }
            try await Task.sleep(nanoseconds: 50_000_000)
        }
    }

    /// Sets keys of a JSON object file.
    func rewrite(_ path: String, _ values: [String: Any]) throws {
        guard let data = FileManager.default.contents(atPath: path),
            var object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw DemoError("cannot read \(path)") }
        for (k, v) in values { object[k] = v }
        try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
            .write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// The `--json` line of `bench async`.
struct BenchAsyncResult: Encodable {
    var soloSamplesPerS: [Double]
    var sumSoloSamplesPerS: Double
    var syncSamplesPerS: Double
    var asyncSamplesPerS: Double
    var syncRatio: Double
    var asyncRatio: Double
    var syncAccuracy: Double?
    var asyncAccuracy: Double?
    var samples: Int
    var syncSamples: Int
    var asyncSamples: Int
    var syncSeconds: Double
    var asyncSeconds: Double
    var syncRounds: UInt64
    var asyncRounds: UInt64
    var syncRejected: Int
    var asyncRejected: Int
    var peers: Int
    var slowCPUPercent: Int
    var samplesPerLease: Int
    var bufferSize: Int
    var maxStaleness: Int
    var outer: String
    var peerNice: Int

    enum CodingKeys: String, CodingKey {
        case soloSamplesPerS = "solo_samples_per_s", sumSoloSamplesPerS = "sum_solo_samples_per_s"
        case syncSamplesPerS = "sync_samples_per_s", asyncSamplesPerS = "async_samples_per_s"
        case syncRatio = "sync_ratio", asyncRatio = "async_ratio"
        case syncAccuracy = "sync_accuracy", asyncAccuracy = "async_accuracy", samples
        case syncSamples = "sync_samples", asyncSamples = "async_samples"
        case syncSeconds = "sync_seconds", asyncSeconds = "async_seconds"
        case syncRounds = "sync_rounds", asyncRounds = "async_rounds"
        case syncRejected = "sync_rejected", asyncRejected = "async_rejected", peers
        case slowCPUPercent = "slow_cpu_percent", samplesPerLease = "samples_per_lease", bufferSize = "buffer_size"
        case maxStaleness = "max_staleness", outer, peerNice = "peer_nice"
    }
}
