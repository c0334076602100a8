import CrowdCLI
import CrowdAggregation
import ArgumentParser
import CrowdCoordinator
import Foundation

/// `crowdtrain bench chaos`: SIGKILL the coordinator and peers at seeded random instants and check that nothing
/// acknowledged is lost and nothing is counted twice (see `ChaosHarness` and Docs/Operations.md, "Recovery").
struct BenchChaosCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos",
        abstract:
            "Kill the coordinator and peers with SIGKILL at random instants; check recovery and the ledger.",
        discussion:
            "Runs `coordinator serve` and --peers × `peer run` as child processes on 127.0.0.1 over a small synthetic "
            + "campaign, kills them at seeded random instants, restarts them, and audits the database after every "
            + "coordinator restart against the receipts the peers hold. Exits 1 if an invariant fails.")

    @Option(help: "Coordinator kills.")
    var kills: Int = 10

    @Option(help: "Peer kills.")
    var peerKills: Int = 0

    @Option(
        help: "Coordinator kills after which the current checkpoint is also truncated or bit-flipped.")
    var corruptCheckpoints: Int = 0

    @Option(help: "Seed of the kill schedule, the campaign and the peers' jitter.")
    var seed: UInt64 = 1

    @Option(help: "Peer processes.")
    var peers: Int = 3

    @Option(help: "Local steps per lease (batch 32).")
    var steps: Int = 100

    @Option(help: "Longest pause between two kills in seconds (each pause is uniform in 0.05…this).")
    var maxDelay: Double = 2

    @Option(
        help: "A coordinator taking longer than this many seconds to serve again counts as a failure.")
    var recoveryLimit: Double = 5

    @Option(help: "Aggregation mode of the campaign: sync or async.")
    var aggregation: String = "sync"

    @Option(
        help:
            "Keep the campaign, peer directories and logs here (default: a temporary directory, removed)."
    )
    var dir: String?

    @Flag(
        help: "Print one JSON line (kills, recovered, lost_acked, double_counted, max_recovery_s, …).")
    var json = false

    func validate() throws {
        guard kills >= 0, peerKills >= 0, corruptCheckpoints >= 0 else {
            throw ValidationError("--kills, --peer-kills and --corrupt-checkpoints must be 0 or more")
        }
        guard corruptCheckpoints <= kills else {
            throw ValidationError("--corrupt-checkpoints must be at most --kills")
        }
        guard (1...16).contains(peers) else { throw ValidationError("--peers must be 1…16") }
        guard AggregationConfig.Mode(rawValue: aggregation) != nil else {
            throw ValidationError("--aggregation must be sync or async")
        }
        guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        guard maxDelay >= 0.05, recoveryLimit > 0 else {
            throw ValidationError("--max-delay must be at least 0.05 and --recovery-limit positive")
        }
    }

    func run() async throws {
        let supervisor = DemoSupervisor()
        supervisor.installSignalHandlers()
        let root = try DemoSupervisor.runDirectory(dir, prefix: "chaos")
        let harness = ChaosHarness(
            options: .init(
                kills: kills, peerKills: peerKills, corruptions: corruptCheckpoints, seed: seed,
                peers: peers, steps: steps, maxDelay: maxDelay,
                recoveryLimit: recoveryLimit,
                aggregation: AggregationConfig.Mode(rawValue: aggregation) ?? .sync, root: root,
                executable: ChildProcess.currentExecutable, json: json),
            supervisor: supervisor)
        let result: Result<ChaosHarness.Summary, any Error>
        do { result = .success(try await harness.run()) } catch { result = .failure(error) }
        supervisor.stopAll()
        if supervisor.interrupted {
            FileHandle.standardError.write(Data("chaos interrupted; all processes stopped\n".utf8))
            throw ExitCode(130)
        }
        let summary = try result.get()
        if dir == nil && summary.ok { try? FileManager.default.removeItem(atPath: root) }
        if json {
            print(try DisplayFormat.jsonLine(summary))
        } else {
            print(
                "chaos: \(summary.recovered)/\(summary.kills) coordinator kills recovered (max "
                    + "\(summary.maxRecoveryS) s, mean \(summary.meanRecoveryS) s); \(summary.peersRecovered)/"
                    + "\(summary.peerKills) peer kills recovered, at most \(summary.maxLeasesLostPerPeerKill) "
                    + "lease lost per kill; \(summary.fallbacksDetected)/\(summary.checkpointsCorrupted) "
                    + "damaged checkpoints "
                    + "detected; \(summary.lostAcked) acknowledged updates lost, \(summary.doubleCounted) "
                    + "double-counted; \(summary.audits) audits, \(summary.updatesAccepted) updates, "
                    + "\(summary.seconds) s")
            for f in summary.failures { print("FAILED: \(f)") }
        }
        if !summary.ok {
            FileHandle.standardError.write(
                Data("chaos: an invariant failed; files kept in \(root)\n".utf8))
            throw ExitCode(1)
        }
    }
}
