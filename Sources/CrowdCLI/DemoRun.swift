import CrowdClient
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import Foundation

/// The steps of `crowdtrain demo`, separate from argument parsing.
package struct DemoRun {
    package let root: String
    package let workload: WorkloadName
    package let peers: Int
    package let rounds: Int
    package let localSteps: Int?
    package let threadsPerPeer: Int
    package let timeout: Double
    package let json: Bool
    package let supervisor: DemoSupervisor

    package init(
        root: String, workload: WorkloadName, peers: Int, rounds: Int, localSteps: Int?, threadsPerPeer: Int,
        timeout: Double, json: Bool, supervisor: DemoSupervisor
    ) {
        self.root = root
        self.workload = workload
        self.peers = peers
        self.rounds = rounds
        self.localSteps = localSteps
        self.threadsPerPeer = threadsPerPeer
        self.timeout = timeout
        self.json = json
        self.supervisor = supervisor
    }

    package static func defaultRounds(_ w: WorkloadName) -> Int { w == .fmnistMLP ? 30 : 6 }

    /// Local steps H per lease: the demo's tuned defaults.
    package var steps: Int { localSteps ?? (workload == .fmnistMLP ? 100 : 40) }

    /// `coordinator init` flags for the demo campaign.
    package func initArguments(port: Int) -> [String] {
        [
            "coordinator", "init", "--dir", coordinatorDir, "--workload", workload.rawValue, "--bind", "127.0.0.1",
            "--port", "\(port)", "--name", "demo-\(workload.rawValue)", "--rounds", "\(rounds)",
            "--peers-per-round", "\(peers)", "--steps", "\(steps)",
        ]
    }

    /// Keys of `campaign.json` without an init flag that the demo sets before the coordinator starts.
    package var campaignOverrides: [String: Any] {
        ["minUpdates": 1, "roundDeadlineSeconds": 120, "leaseSeconds": 120]
    }

    /// The goal of exactly `rounds` full rounds (the inner schedule runs over it): samples per lease (steps × batch ×
    /// block, as `coordinator init` wrote them) × peers × rounds.
    package func goalSamples(_ campaign: [String: Any]) -> Int {
        let steps = campaign["localSteps"] as? Int ?? self.steps
        let batch = campaign["batch"] as? Int ?? 1
        let block = campaign["block"] as? Int ?? 1
        return rounds * peers * steps * batch * block
    }

    package var exe: String { ChildProcess.currentExecutable }
    package var coordinatorDir: String { root + "/coordinator" }
    package var logs: String { root + "/logs" }
    package func peerDir(_ i: Int) -> String { root + "/peer-\(i)" }

    /// Progress for humans: stdout normally, stderr with `--json` (stdout then carries only the JSON line).
    package func say(_ line: String) {
        if json {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        } else {
            print(line)
            fflush(nil)
        }
    }

    package func checkInterrupted() throws {
        if supervisor.interrupted { throw DemoError("interrupted") }
    }

    package func execute() async throws {
        let started = Date()
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        let port = try DemoSupervisor.freePort()
        say("demo: \(workload.rawValue), \(peers) peers, \(rounds) rounds, https://127.0.0.1:\(port), files in \(root)")

        _ = try ChildProcess.run(
            name: "coordinator init", executable: exe,
            arguments: initArguments(port: port), logPath: logs + "/init.log", timeout: 300)
        try checkInterrupted()
        try applyOverrides()
        let coordinator = try ChildProcess.spawn(
            name: "coordinator", executable: exe, arguments: ["coordinator", "serve", "--dir", coordinatorDir],
            logPath: logs + "/coordinator.log")
        supervisor.adopt(coordinator)
        let url = "https://127.0.0.1:\(port)"
        let ca = coordinatorDir + "/ca.pem"
        let client = try CoordinatorClient(baseURL: url, caFile: ca, timeoutSeconds: 30)
        do {
            try await waitHealthy(client, coordinator: coordinator)
            // Invites through the operator API, as an operator would make them.
            let inviteOutput = try ChildProcess.run(
                name: "coordinator invite", executable: exe,
                arguments: ["coordinator", "invite", "--dir", coordinatorDir, "--count", "\(peers)", "--note", "demo"],
                logPath: logs + "/invite.log", timeout: 60)
            let invites = Self.inviteTokens(in: inviteOutput)
            guard invites.count >= peers else {
                throw DemoError("coordinator invite printed \(invites.count) tokens, expected \(peers):\n\(inviteOutput)")
            }
            var peerProcesses: [ChildProcess] = []
            for i in 1...peers {
                _ = try ChildProcess.run(
                    name: "peer join \(i)", executable: exe,
                    arguments: [
                        "peer", "join", "--coordinator", url, "--ca", ca, "--invite", invites[i - 1], "--dir", peerDir(i),
                        "--name", "peer-\(i)",
                    ],
                    logPath: logs + "/peer-\(i)-join.log", timeout: 60)
                let p = try ChildProcess.spawn(
                    name: "peer \(i)", executable: exe,
                    arguments: [
                        "peer", "run", "--dir", peerDir(i), "--threads", "\(threadsPerPeer)", "--exit-when-finished",
                        "--backoff-cap", "5", "--max-wait", "0.1",
                    ],
                    logPath: logs + "/peer-\(i).log")
                supervisor.adopt(p)
                peerProcesses.append(p)
            }
            say("coordinator and \(peers) peers running; training…")
            let timing = try await follow(client, coordinator: coordinator, started: started)
            let status = try await awaitEvaluation(client, after: try await client.status())
            let stats = try await client.stats(top: max(peers, 10))
            await client.shutdown()
            try report(status: status, stats: stats, timing: timing, seconds: Date().timeIntervalSince(started))
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Rewrites keys of `campaign.json` (documented by `CampaignConfig`) before the coordinator starts.
    package func applyOverrides() throws {
        let path = coordinatorDir + "/campaign.json"
        guard let data = FileManager.default.contents(atPath: path),
              var object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { throw DemoError("cannot read \(path) written by coordinator init") }
        for (k, v) in campaignOverrides { object[k] = v }
        object["goalSamples"] = goalSamples(object)
        // The demo's coordinator listens on 127.0.0.1 only, so every client shares that address by construction
        // (as behind a reverse proxy): the per-address limits (50 requests/s for all of them together) would throttle
        // the demo's own peers and progress display. The per-credential limits still apply to each peer.
        var transport = object["transport"] as? [String: Any] ?? [:]
        transport["exemptLoopback"] = true
        object["transport"] = transport
        let out = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try out.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    package static func inviteTokens(in text: String) -> [String] {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\"" || $0 == "," })
            .map(String.init).filter { $0.hasPrefix(CredentialFormat.invitePrefix) }
    }

    package func waitHealthy(_ client: CoordinatorClient, coordinator: ChildProcess) async throws {
        let end = Date().addingTimeInterval(60)
        while true {
            try checkInterrupted()
            if !coordinator.isRunning { throw DemoError("the coordinator exited early:\n\(tail(coordinator.logPath))") }
            if (try? await client.health()) != nil { return }
            if Date() >= end { throw DemoError("the coordinator did not answer /healthz within 60 s:\n\(tail(coordinator.logPath))") }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    /// Round completion times seen while following the campaign.
    package struct Timing {
        package var roundTimes: [(round: UInt64, at: Double)] = []

        /// Mean seconds per round between the first and the last completion observed.
        package var secondsPerRound: Double? {
            guard let first = roundTimes.first, let last = roundTimes.last, last.round > first.round else { return nil }
            return (last.at - first.at) / Double(last.round - first.round)
        }
    }

    package func follow(_ client: CoordinatorClient, coordinator: ChildProcess, started: Date) async throws -> Timing {
        var timing = Timing()
        var lastRound: UInt64 = 0
        var lastTick = Date.distantPast
        while true {
            try checkInterrupted()
            if !coordinator.isRunning { throw DemoError("the coordinator exited:\n\(tail(coordinator.logPath))") }
            let elapsed = Date().timeIntervalSince(started)
            if elapsed > timeout { throw DemoError("no result after \(Int(timeout)) s (raise --timeout); logs in \(logs)") }
            if let s = try? await client.status() {
                if s.roundsCompleted != lastRound {
                    lastRound = s.roundsCompleted
                    timing.roundTimes.append((s.roundsCompleted, Date().timeIntervalSince1970))
                    say(progressLine(s, elapsed: elapsed))
                    lastTick = Date()
                } else if Date().timeIntervalSince(lastTick) > 10 {
                    say(progressLine(s, elapsed: elapsed) + " (waiting)")
                    lastTick = Date()
                }
                if s.finished || s.roundsCompleted >= UInt64(rounds) { return timing }
            }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }

    /// Polls the status until the newest closed round has its evaluation (the coordinator evaluates a round after
    /// committing it, off the request path), for at most `seconds`; returns the newest status either way.
    package func awaitEvaluation(_ client: CoordinatorClient, after status: CampaignStatus, seconds: Double = 120)
        async throws -> CampaignStatus
    {
        var s = status
        let end = Date().addingTimeInterval(seconds)
        while (s.latestEvaluation?.round ?? 0) < s.roundsCompleted {
            guard Date() < end else {
                say("round \(s.roundsCompleted) has no evaluation after \(Int(seconds)) s; "
                    + "reporting round \(s.latestEvaluation?.round ?? 0)'s")
                return s
            }
            try checkInterrupted()
            try await Task.sleep(nanoseconds: 50_000_000)
            if let next = try? await client.status() { s = next }
        }
        return s
    }

    /// " · metric value", naming the evaluated round when it trails the closed ones (evaluation still running).
    package static func evaluationText(_ s: CampaignStatus) -> String {
        guard let e = s.latestEvaluation else { return "" }
        let lag = e.round < s.roundsCompleted ? " (round \(e.round))" : ""
        return " · \(e.metric) \(DisplayFormat.fixed(e.value, 4))\(lag)"
    }

    package func progressLine(_ s: CampaignStatus, elapsed: Double) -> String {
        var line = "round \(s.roundsCompleted)/\(rounds)"
        line += Self.evaluationText(s)
        line += " · \(s.peersOnline)/\(peers) peers · \(ByteCount.format(s.bytesIn)) up · \(ByteCount.format(s.bytesOut)) down"
        line += " · \(DisplayFormat.fixed(elapsed, 1)) s"
        return line
    }

    package func tail(_ path: String, lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? "(no log)"
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    package func report(status: CampaignStatus, stats: ContributorStats, timing: Timing, seconds: Double) throws {
        let peerStatuses = (1...peers).compactMap { PeerStatus.read(from: PeerPaths(root: peerDir($0)).status) }
        let up = peerStatuses.reduce(0) { $0 + $1.lifetime.bytesUp }
        let down = peerStatuses.reduce(0) { $0 + $1.lifetime.bytesDown }
        let accepted = peerStatuses.reduce(0) { $0 + $1.lifetime.accepted }
        let train = peerStatuses.reduce(0.0) { $0 + $1.lifetime.trainSeconds }
        let computePerLease = accepted > 0 ? train / Double(accepted) : nil
        let uploadsPerPeerRound = accepted > 0 ? Double(up) / Double(accepted) : nil
        var summary = DemoSummary(
            workload: workload.rawValue, rounds: Int(status.roundsCompleted), peers: peers, bytesUp: up,
            bytesDown: down, seconds: (seconds * 10).rounded() / 10)
        summary.updatesAccepted = status.updatesAccepted
        summary.updatesRejected = status.updatesRejected
        summary.samples = status.samplesTrained
        summary.bytesUpPerPeerRound = uploadsPerPeerRound.map { $0.rounded() }
        summary.bytesDownPerLease = accepted > 0 ? (Double(down) / Double(accepted)).rounded() : nil
        summary.roundSeconds = timing.secondsPerRound
        summary.computeSecondsPerLease = computePerLease
        if let r = timing.secondsPerRound, let c = computePerLease { summary.overheadSecondsPerRound = r - c }
        if let e = status.latestEvaluation {
            if e.metric == "val_loss" { summary.valLoss = e.value } else { summary.testAccuracy = e.value }
        }
        summary.evaluations = status.evaluations.map(\.value)
        if json {
            print(try DisplayFormat.jsonLine(summary))
            return
        }
        print("")
        print(StatusCommand.render(status))
        print("")
        print(StatsCommand.render(stats))
        print("")
        var line = "demo finished: \(status.roundsCompleted) rounds in \(DisplayFormat.duration(seconds))"
        if let e = status.latestEvaluation { line += ", \(e.metric) \(DisplayFormat.fixed(e.value, 4))" }
        line += "; peers sent \(ByteCount.format(up)) and received \(ByteCount.format(down))"
        if let u = uploadsPerPeerRound { line += " (\(ByteCount.format(Int(u))) per update)" }
        if let d = summary.bytesDownPerLease { line += ", \(ByteCount.format(Int(d))) down per lease" }
        print(line)
    }
}

/// The `--json` line of `crowdtrain demo`.
package struct DemoSummary: Encodable {
    package var workload: String
    package var rounds: Int
    package var peers: Int
    package var bytesUp: Int
    package var bytesDown: Int
    package var seconds: Double
    package var testAccuracy: Double?
    package var valLoss: Double?
    package var updatesAccepted: Int?
    package var updatesRejected: Int?
    package var samples: Int?
    package var bytesUpPerPeerRound: Double?
    /// Bytes the peers downloaded (models and shards) per lease completed.
    package var bytesDownPerLease: Double?
    package var roundSeconds: Double?
    package var computeSecondsPerLease: Double?
    package var overheadSecondsPerRound: Double?
    package var evaluations: [Double]?

    package init(workload: String, rounds: Int, peers: Int, bytesUp: Int, bytesDown: Int, seconds: Double) {
        self.workload = workload; self.rounds = rounds; self.peers = peers
        self.bytesUp = bytesUp; self.bytesDown = bytesDown; self.seconds = seconds
    }

    package enum CodingKeys: String, CodingKey {
        case workload, rounds, peers, seconds, samples, evaluations
        case bytesUp = "bytes_up", bytesDown = "bytes_down", testAccuracy = "test_accuracy", valLoss = "val_loss"
        case updatesAccepted = "updates_accepted", updatesRejected = "updates_rejected"
        case bytesUpPerPeerRound = "bytes_up_per_peer_round", bytesDownPerLease = "bytes_down_per_lease"
        case roundSeconds = "round_seconds"
        case computeSecondsPerLease = "compute_seconds_per_lease", overheadSecondsPerRound = "overhead_seconds_per_round"
    }
}
