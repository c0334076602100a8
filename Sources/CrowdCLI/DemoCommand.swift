import ArgumentParser
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain demo`: a whole campaign on this machine — coordinator and peers as real processes over TLS.
///
/// Runs `coordinator init`, `coordinator invite`, `coordinator serve` and N × (`peer join`, `peer run`)
/// as child processes of this same binary on 127.0.0.1 (a free port, the campaign's own CA), follows
/// `GET /v1/status` until the round limit, prints the status and contributors tables, and stops
/// every child (also on Ctrl-C). Nothing but the public API and the peers' own status files is read.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a complete training campaign locally: a coordinator and N peer processes over TLS on 127.0.0.1.")

    @Option(help: "Workload: fmnist-mlp or kjv-gpt.")
    var workload: WorkloadName = .fmnistMLP

    @Option(help: "Number of peer processes.")
    var peers: Int = 3

    @Option(help: "Rounds to run. Default: 30 for fmnist-mlp (3 peers × 100 steps × 21 images each: about 3 epochs), 6 for kjv-gpt.")
    var rounds: Int?

    @Option(help: "Local steps H per lease. Default: the demo's tuned value for the workload.")
    var localSteps: Int?

    @Option(help: "Keep the campaign, peer directories and logs in this directory (default: a temporary one, removed).")
    var dir: String?

    @Option(help: "Compute threads per peer process.")
    var threadsPerPeer: Int = 1

    @Option(help: "Give up after this many seconds.")
    var timeout: Double = 900

    @Flag(help: "Print one final JSON line (rounds, metric, peers, bytes_up, bytes_down, seconds …) instead of tables.")
    var json = false

    func validate() throws {
        guard (1...64).contains(peers) else { throw ValidationError("--peers must be 1…64") }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if let localSteps, localSteps < 1 { throw ValidationError("--local-steps must be at least 1") }
        guard (1...64).contains(threadsPerPeer) else { throw ValidationError("--threads-per-peer must be 1…64") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let supervisor = DemoSupervisor()
        supervisor.installSignalHandlers()
        let root = try DemoSupervisor.runDirectory(dir, prefix: "demo")
        let run = DemoRun(
            root: root, workload: workload, peers: peers, rounds: rounds ?? DemoRun.defaultRounds(workload),
            localSteps: localSteps, threadsPerPeer: threadsPerPeer, timeout: timeout, json: json,
            supervisor: supervisor)
        var failure: (any Error)?
        do {
            try await run.execute()
        } catch {
            failure = error
        }
        supervisor.stopAll()
        if dir == nil { try? FileManager.default.removeItem(atPath: root) }
        if supervisor.interrupted {
            FileHandle.standardError.write(Data("demo interrupted; all processes stopped\n".utf8))
            throw ExitCode(130)
        }
        if let failure { throw failure }
    }
}
