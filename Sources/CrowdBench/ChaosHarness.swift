import CrowdCLI
import CrowdAggregation
import CrowdClient
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The steps of `crowdtrain bench chaos`, separate from argument parsing.
///
/// A small campaign (fmnist-mlp architecture on synthetic 28×28 images, so no dataset is needed and rounds take
/// a fraction of a second) served by `coordinator serve` with `peers` × `peer run` as child processes on
/// 127.0.0.1. At seeded random instants it SIGKILLs the coordinator or a peer and restarts it. After every
/// coordinator restart it measures the time until `/healthz` answers over TLS and runs `CampaignAudit` against
/// every receipt the peers hold in their `receipts.jsonl`. A killed peer must deliver an update again after its
/// restart; at the end every peer must have resumed on its own after the last coordinator restart.
struct ChaosHarness {
    struct Options {
        var kills: Int
        var peerKills: Int
        /// Coordinator kills after which the checkpoint the open round needs is also damaged (torn or bit-flipped).
        var corruptions: Int
        var seed: UInt64
        var peers: Int
        /// Local steps per lease (32 images each).
        var steps: Int
        /// Largest pause between two kills (seconds); each pause is U(0.05, maxDelay).
        var maxDelay: Double
        /// A restart slower than this counts as a failure.
        var recoveryLimit: Double
        var aggregation: AggregationConfig.Mode
        /// Working directory (campaign, peers, logs).
        var root: String
        var executable: String
        var json: Bool
    }

    /// The `--json` line.
    struct Summary: Encodable {
        var kills = 0
        var recovered = 0
        var lostAcked = 0
        var doubleCounted = 0
        var maxRecoveryS = 0.0
        var meanRecoveryS = 0.0
        var firstStartS = 0.0
        var slowRecoveries = 0
        var peerKills = 0
        var peersRecovered = 0
        var leasesLost = 0
        var leasesRefused = 0
        var maxLeasesLostPerPeerKill = 0
        var peers = 0
        var peersResumed = 0
        var secondCoordinatorRefused = false
        var checkpointsCorrupted = 0
        var fallbacksDetected = 0
        var audits = 0
        var auditFailures = 0
        var updatesAccepted = 0
        var roundsCompleted = 0
        var receipts = 0
        var aggregation = "sync"
        var seed: UInt64 = 0
        var seconds = 0.0
        var ok = false
        var failures: [String] = []

        enum CodingKeys: String, CodingKey {
            case kills, recovered, peers, audits, receipts, aggregation, seed, seconds, ok, failures
            case lostAcked = "lost_acked"
            case doubleCounted = "double_counted"
            case maxRecoveryS = "max_recovery_s"
            case meanRecoveryS = "mean_recovery_s"
            case firstStartS = "first_start_s"
            case slowRecoveries = "slow_recoveries"
            case peerKills = "peer_kills"
            case peersRecovered = "peers_recovered"
            case leasesLost = "leases_lost"
            case leasesRefused = "leases_refused"
            case maxLeasesLostPerPeerKill = "max_leases_lost_per_peer_kill"
            case peersResumed = "peers_resumed"
            case auditFailures = "audit_failures"
            case updatesAccepted = "updates_accepted"
            case roundsCompleted = "rounds_completed"
            case checkpointsCorrupted = "checkpoints_corrupted"
            case fallbacksDetected = "fallbacks_detected"
            case secondCoordinatorRefused = "second_coordinator_refused"
        }
    }

    enum Event { case coordinator, peer }

    /// A running peer process and what the harness knows about it.
    struct PeerSlot {
        var directory: String
        var peerID: String
        var process: ChildProcess
        /// Receipt lines when it was last (re)started by a peer kill; nil once it delivered again.
        var awaitingRecoverySince: Int?
        var kills: [Double] = []
    }

    let options: Options
    let supervisor: DemoSupervisor
    var coordinatorDir: String { options.root + "/coordinator" }
    var logs: String { options.root + "/logs" }

    func say(_ line: String) {
        if options.json {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
            fflush(nil)
        }
    }

    // MARK: campaign

    /// Synthetic 28×28 images whose class is a bright horizontal band (plus a noise line): learnable in a few steps.
    static func syntheticImages(count: Int, seed: UInt64) -> ImageDataset {
        SyntheticImages.bands(count: count, seed: seed)
    }

    func createCampaign(port: Int) throws {
        var config = CampaignConfig(workload: .fmnistMLP, name: "chaos")
        config.bind = "127.0.0.1"
        config.port = port
        config.peersPerRound = options.peers
        config.minUpdates = 1
        config.localSteps = options.steps
        config.batch = 32
        config.evalSamples = 200
        config.goalSamples = Int.max / 4
        config.inner.schedule = .constant  // an endless goal: a schedule over it would stay in warm-up
        config.roundDeadlineSeconds = 30
        config.leaseSeconds = 30
        config.minLeaseSeconds = 15
        config.aggregation = AggregationConfig(mode: options.aggregation)
        config.seed = options.seed
        _ = try CampaignInitializer.create(
            directory: coordinatorDir, config: config,
            data: .images(
                train: Self.syntheticImages(count: 3000, seed: options.seed &+ 1),
                evaluation: Self.syntheticImages(count: 200, seed: options.seed &+ 2)),
            modelConfigJSON: try JSONEncoder().encode(MLPConfig(hidden: [32])), shardSize: 500)
    }

    // MARK: processes

    func spawnCoordinator() throws -> ChildProcess {
        let c = try ChildProcess.spawn(
            name: "coordinator", executable: options.executable,
            arguments: ["coordinator", "serve", "--dir", coordinatorDir, "--log-level", "notice"],
            logPath: logs + "/coordinator.log")
        supervisor.adopt(c)
        return c
    }

    func spawnPeer(_ i: Int) throws -> ChildProcess {
        let p = try ChildProcess.spawn(
            name: "peer \(i)", executable: options.executable,
            arguments: [
                "peer", "run", "--dir", peerDir(i), "--threads", "1", "--backoff-cap", "2", "--max-wait",
                "0.25",
                "--seed", "\(options.seed &* 131 &+ UInt64(i))",
            ],
            logPath: logs + "/peer-\(i).log")
        supervisor.adopt(p)
        return p
    }

    func peerDir(_ i: Int) -> String { options.root + "/peer-\(i)" }

    /// Polls `/healthz` until it answers; the seconds it took, or nil (with the reason) on timeout or exit.
    func waitServing(
        _ client: CoordinatorClient, _ coordinator: ChildProcess, since start: Date, timeout: Double
    )
        async -> (seconds: Double?, problem: String?)
    {
        while !supervisor.interrupted {
            if (try? await client.health()) != nil { return (Date().timeIntervalSince(start), nil) }
            if !coordinator.isRunning {
                return (
                    nil,
                    "the coordinator exited (\(coordinator.exitCode ?? -1)):\n" + tail(coordinator.logPath)
                )
            }
            if Date().timeIntervalSince(start) > timeout {
                return (nil, "not serving within \(Int(timeout)) s:\n" + tail(coordinator.logPath))
            }
            try? await Task.sleep(nanoseconds: 10_000_000)
        }
        return (nil, "interrupted")
    }

    func tail(_ path: String, lines: Int = 8) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// Receipt lines in a peer's `receipts.jsonl` (re-sent updates append the same receipt again).
    func receiptLines(_ slot: PeerSlot) -> Int {
        CampaignAudit.receipts(
            jsonLines: FileManager.default.contents(atPath: PeerPaths(root: slot.directory).receipts)
                ?? Data()
        ).count
    }

    /// Every distinct receipt the peers hold.
    func acknowledged(_ slots: [PeerSlot]) -> [CampaignAudit.AcknowledgedReceipt] {
        var out: [CampaignAudit.AcknowledgedReceipt] = []
        for slot in slots {
            var seen = Set<String>()
            let data =
                FileManager.default.contents(atPath: PeerPaths(root: slot.directory).receipts) ?? Data()
            for r in CampaignAudit.receipts(jsonLines: data) where seen.insert(r.receiptID).inserted {
                out.append(.init(peerID: slot.peerID, receipt: r))
            }
        }
        return out
    }

    // MARK: run

    func run() async throws -> Summary {
        let started = Date()
        var summary = Summary()
        summary.aggregation = options.aggregation.rawValue
        summary.seed = options.seed
        summary.peers = options.peers
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let port = try DemoSupervisor.freePort()
        try createCampaign(port: port)
        let invites = try CampaignInitializer.invite(
            directory: coordinatorDir, count: options.peers, note: "chaos")
        let url = "https://127.0.0.1:\(port)"
        let caPEM = Array(FileManager.default.contents(atPath: coordinatorDir + "/ca.pem") ?? Data())
        let client = try CoordinatorClient(baseURL: url, caPEM: caPEM, timeoutSeconds: 5)
        defer { supervisor.stopAll(grace: 5) }
        do {
            try await execute(&summary, client: client, url: url, caPEM: caPEM, invites: invites)
        } catch {
            await client.shutdown()
            throw error
        }
        await client.shutdown()
        summary.seconds = (Date().timeIntervalSince(started) * 10).rounded() / 10
        summary.ok =
            summary.failures.isEmpty && summary.recovered == summary.kills && summary.lostAcked == 0
            && summary.doubleCounted == 0 && summary.auditFailures == 0
            && summary.peersRecovered == summary.peerKills
            && summary.maxLeasesLostPerPeerKill <= 1 && summary.peersResumed == summary.peers
            && summary.slowRecoveries == 0 && summary.secondCoordinatorRefused
            && summary.fallbacksDetected == summary.checkpointsCorrupted
        return summary
    }

    func execute(
        _ summary: inout Summary, client: CoordinatorClient, url: String, caPEM: [UInt8],
        invites: [String]
    ) async throws {
        var rng = SeededRNG(seed: options.seed)
        var coordinator = try spawnCoordinator()
        let first = await waitServing(client, coordinator, since: Date(), timeout: 120)
        guard let firstStart = first.seconds else {
            throw DemoError("the chaos coordinator did not start: \(first.problem ?? "")")
        }
        summary.firstStartS = Self.rounded(firstStart)
        summary.secondCoordinatorRefused = try secondCoordinatorIsRefused(client)
        var slots: [PeerSlot] = []
        for i in 0..<options.peers {
            let credential = try await PeerEnrollment.join(
                coordinator: url, caPEM: caPEM, invite: invites[i], name: "chaos-\(i)",
                directory: peerDir(i))
            slots.append(
                PeerSlot(directory: peerDir(i), peerID: credential.peerID, process: try spawnPeer(i)))
        }
        say(
            "chaos: \(options.kills) coordinator kills, \(options.peerKills) peer kills, \(options.peers) peers, "
                + "seed \(options.seed), files in \(options.root)")
        // Warm up: every peer delivered once, so kills land in a running campaign.
        if let problem = await waitUntil(timeout: 180, { slots.allSatisfy { receiptLines($0) > 0 } }) {
            throw DemoError("the peers delivered no update during warm-up (\(problem)); logs in \(logs)")
        }

        var events =
            [Event](repeating: .coordinator, count: options.kills)
            + [Event](repeating: .peer, count: options.peerKills)
        for i in stride(from: events.count - 1, to: 0, by: -1) {
            events.swapAt(i, rng.nextInt(below: i + 1))
        }
        var recoveries: [Double] = []
        var corruptAt = Set<Int>()
        while corruptAt.count < min(options.corruptions, options.kills) {
            corruptAt.insert(1 + rng.nextInt(below: options.kills))
        }
        var lastCoordinatorRestart = Date()
        var linesAtCoordinatorRestart = slots.map { receiptLines($0) }
        for (n, event) in events.enumerated() {
            if supervisor.interrupted { throw DemoError("interrupted") }
            let delay = 0.05 + Double(rng.nextUniform()) * max(0, options.maxDelay - 0.05)
            try await Task.sleep(nanoseconds: UInt64(delay * 1e9))
            switch event {
            case .coordinator:
                summary.kills += 1
                coordinator.killHard()
                let corrupted = corruptAt.contains(summary.kills) ? try corruptCurrentCheckpoint(&rng) : nil
                let fallbacksBefore = fallbackLines()
                let restart = Date()
                coordinator = try spawnCoordinator()
                let result = await waitServing(client, coordinator, since: restart, timeout: 60)
                guard let seconds = result.seconds else {
                    summary.failures.append("coordinator kill \(summary.kills): \(result.problem ?? "")")
                    say("kill \(summary.kills): NOT RECOVERED — \(result.problem ?? "")")
                    return
                }
                summary.recovered += 1
                recoveries.append(seconds)
                if seconds > options.recoveryLimit { summary.slowRecoveries += 1 }
                lastCoordinatorRestart = restart
                if let corrupted {
                    summary.checkpointsCorrupted += 1
                    let served = try? await client.status().modelVersion
                    if fallbackLines() == fallbacksBefore + 1 && served == corrupted.expected {
                        summary.fallbacksDetected += 1
                    } else {
                        summary.failures.append(
                            "coordinator kill \(summary.kills): \(corrupted.damage) not detected or the newest good "
                                + "checkpoint not served (serving \(served ?? "?"))")
                    }
                    say("coordinator kill \(summary.kills): \(corrupted.damage) before the restart")
                }
                linesAtCoordinatorRestart = slots.map { receiptLines($0) }
                let report = try audit(slots, into: &summary, label: "coordinator kill \(summary.kills)")
                say(
                    "[\(n + 1)/\(events.count)] coordinator kill \(summary.kills): serving again in "
                        + "\(String(format: "%.2f", seconds)) s; audit \(report.ok ? "ok" : "FAILED") "
                        + "(\(report.updates) updates, \(report.receiptsChecked) receipts)")
            case .peer:
                summary.peerKills += 1
                // Kill a peer that has delivered since its last restart (so each kill's recovery is checked).
                var ready: [Int] = []
                _ = await waitUntil(timeout: 60) {
                    for i in slots.indices
                    where slots[i].awaitingRecoverySince.map({ receiptLines(slots[i]) > $0 }) == true {
                        slots[i].awaitingRecoverySince = nil
                        summary.peersRecovered += 1
                    }
                    ready = slots.indices.filter { slots[$0].awaitingRecoverySince == nil }
                    return !ready.isEmpty
                }
                let i =
                    ready.isEmpty ? rng.nextInt(below: slots.count) : ready[rng.nextInt(below: ready.count)]
                slots[i].process.killHard()
                slots[i].kills.append(Date().timeIntervalSince1970)
                try await Task.sleep(nanoseconds: UInt64(Double(rng.nextUniform()) * 0.5e9))
                slots[i].awaitingRecoverySince = receiptLines(slots[i])
                slots[i].process = try spawnPeer(i)
                say(
                    "[\(n + 1)/\(events.count)] peer kill \(summary.peerKills): peer \(i) killed and restarted"
                )
            }
        }
        // Every killed peer delivers again; every peer resumes after the last coordinator restart on its own.
        let problem = await waitUntil(timeout: 120) {
            for i in slots.indices
            where slots[i].awaitingRecoverySince.map({ receiptLines(slots[i]) > $0 }) == true {
                slots[i].awaitingRecoverySince = nil
                summary.peersRecovered += 1
            }
            let resumed = slots.indices.filter { receiptLines(slots[$0]) > linesAtCoordinatorRestart[$0] }
                .count
            summary.peersResumed = resumed
            return resumed == slots.count && slots.allSatisfy { $0.awaitingRecoverySince == nil }
        }
        if let problem {
            summary.failures.append(
                "after the last kill: \(summary.peersResumed)/\(slots.count) peers resumed since the coordinator "
                    + "restart at \(lastCoordinatorRestart), \(summary.peerKills - summary.peersRecovered) killed "
                    + "peers not delivering (\(problem))")
        }
        let final = try audit(slots, into: &summary, label: "final")
        summary.updatesAccepted = final.updates
        summary.receipts = final.receiptsChecked
        if let status = try? await client.status() {
            summary.roundsCompleted = Int(status.roundsCompleted)
        }
        try countLostLeases(slots, into: &summary)
        summary.maxRecoveryS = Self.rounded(recoveries.max() ?? 0)
        summary.meanRecoveryS = Self.rounded(
            recoveries.isEmpty ? 0 : recoveries.reduce(0, +) / Double(recoveries.count))
    }

    /// A second `coordinator serve` on the directory must exit with the lock message while the first keeps serving.
    func secondCoordinatorIsRefused(_ client: CoordinatorClient) throws -> Bool {
        let log = logs + "/second-coordinator.log"
        let second = try ChildProcess.spawn(
            name: "second coordinator", executable: options.executable,
            arguments: ["coordinator", "serve", "--dir", coordinatorDir, "--port", "0"], logPath: log)
        supervisor.adopt(second)
        guard let code = second.wait(timeout: 30) else {
            second.killHard()
            return false
        }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        return code != 0 && text.contains("is already serving")
    }

    /// Damages the checkpoint the open round trains from (truncation or one flipped bit, seeded), if an older one
    /// exists to fall back to; returns what was done and the version the restarted coordinator should serve.
    func corruptCurrentCheckpoint(_ rng: inout SeededRNG) throws -> (
        damage: String, expected: String
    )? {
        let snapshot = try SQLiteStore.readOnlySnapshot(
            path: CampaignPaths(directory: coordinatorDir).database)
        guard let round = snapshot.rounds.last, round.closedAt == nil,
            let index = snapshot.checkpoints.firstIndex(where: { $0.version == round.baseVersion }),
            let fallback = snapshot.checkpoints[(index + 1)...].first(where: { intact($0) })
        else { return nil }
        let record = snapshot.checkpoints[index]
        let path = coordinatorDir + "/" + record.path
        var bytes = [UInt8](FileManager.default.contents(atPath: path) ?? Data())
        guard !bytes.isEmpty else { return nil }
        let damage: String
        if rng.nextInt(below: 2) == 0 {
            let n = rng.nextInt(below: bytes.count)
            bytes = Array(bytes.prefix(n))
            damage = "\(record.path) truncated to \(n) bytes"
        } else {
            let i = rng.nextInt(below: bytes.count)
            let bit = rng.nextInt(below: 8)
            bytes[i] ^= UInt8(1 << bit)
            damage = "\(record.path): bit \(bit) of byte \(i) flipped"
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return (damage, fallback.version)
    }

    /// Whether a recorded checkpoint file still has its recorded size and SHA-256.
    func intact(_ record: CheckpointRecord) -> Bool {
        guard let bytes = FileManager.default.contents(atPath: coordinatorDir + "/" + record.path)
        else { return false }
        return bytes.count == record.bytes && ContentDigest.hex(bytes) == record.version
    }

    /// `checkpoint fallback` lines in the coordinator's log so far.
    func fallbackLines() -> Int {
        let text = (try? String(contentsOfFile: logs + "/coordinator.log", encoding: .utf8)) ?? ""
        return text.components(separatedBy: "checkpoint fallback:").count - 1
    }

    /// Runs `CampaignAudit` against the peers' receipts (read before the database snapshot, so every receipt read
    /// was acknowledged before the snapshot).
    @discardableResult
    func audit(_ slots: [PeerSlot], into summary: inout Summary, label: String) throws
        -> CampaignAudit.Report
    {
        let receipts = acknowledged(slots)
        let report = try CampaignAudit.run(directory: coordinatorDir, acknowledged: receipts)
        summary.audits += 1
        summary.lostAcked = max(summary.lostAcked, report.lostAcknowledged)
        summary.doubleCounted = max(summary.doubleCounted, report.doubleCounted)
        if !report.ok {
            summary.auditFailures += 1
            if summary.failures.count < 20 {
                summary.failures.append(
                    "\(label): " + report.violations.prefix(5).map(\.description).joined(separator: "; "))
            }
        }
        return report
    }

    /// Work lost per peer kill: the killed peer's leases issued since its previous kill (up to this kill) that were
    /// never delivered. A lease the restarted peer finished (same lease id) is not lost; one it delivered but the
    /// coordinator refused (async mode: too stale) is counted in `leases_refused` instead. Round 0 (the initial model)
    /// is closed without a result too, but has no leases.
    func countLostLeases(_ slots: [PeerSlot], into summary: inout Summary) throws {
        let snapshot = try SQLiteStore.readOnlySnapshot(
            path: CampaignPaths(directory: coordinatorDir).database)
        // Leases of a round abandoned by a checkpoint fallback were given up by the coordinator, not by the peer.
        let abandoned = Set(
            snapshot.rounds.filter { $0.closedAt != nil && $0.resultVersion == nil }.map(\.number))
        let refused = Set(snapshot.refusedLeases)
        for slot in slots {
            let leases = snapshot.leases.filter {
                $0.peerID == slot.peerID && !abandoned.contains($0.round)
            }
            var previous = 0.0
            for kill in slot.kills {
                let window = leases.filter {
                    $0.issuedAt > previous && $0.issuedAt <= kill && $0.status != "accepted"
                }
                let lost = window.filter { !refused.contains($0.id) }.count
                summary.leasesRefused += window.count - lost
                summary.leasesLost += lost
                summary.maxLeasesLostPerPeerKill = max(summary.maxLeasesLostPerPeerKill, lost)
                previous = kill
            }
        }
    }

    /// Polls `condition` every 100 ms; nil when it held, else why it stopped.
    func waitUntil(timeout: Double, _ condition: () -> Bool) async -> String? {
        let end = Date().addingTimeInterval(timeout)
        while !supervisor.interrupted {
            if condition() { return nil }
            if Date() >= end { return "timed out after \(Int(timeout)) s" }
            try? await Task.sleep(nanoseconds: 100_000_000)
        }
        return "interrupted"
    }

    static func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
}
