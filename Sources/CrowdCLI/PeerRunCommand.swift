import ArgumentParser
import CrowdPeer
import Logging

/// `crowdtrain peer run`: the volunteer daemon, until SIGTERM/SIGINT.
struct PeerRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train for the campaign: lease, download, train, upload, repeat. Stops cleanly on SIGTERM or Ctrl-C.")

    @Option(help: "Peer directory created by `peer join`.")
    var dir: String

    @Option(help: "Compute threads for training.")
    var threads: Int = 1

    @Option(help: "Largest retry delay in seconds when the coordinator is unreachable (jittered, exponential).")
    var backoffCap: Double = 60

    @Flag(help: "Exit when the coordinator reports the campaign finished (default: keep waiting for work).")
    var exitWhenFinished = false

    @Option(help: "Stop after this many finished leases.")
    var maxLeases: Int?

    @Option(help: "Wait at most this many seconds when the coordinator has no work yet (it suggests how long).")
    var maxWait: Double = 300

    @Option(help: "Seed of the retry jitter (default: random).")
    var seed: UInt64?

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard backoffCap >= 1 else { throw ValidationError("--backoff-cap must be at least 1 second") }
        guard maxWait > 0 else { throw ValidationError("--max-wait must be positive") }
        if let maxLeases, maxLeases < 1 { throw ValidationError("--max-leases must be at least 1") }
    }

    func run() async throws {
        var logger = Logger(label: "crowdtrain.peer")
        logger.logLevel = .info
        let config = PeerRunConfig(
            threads: threads, backoffBase: 1, backoffCap: backoffCap, exitWhenFinished: exitWhenFinished,
            maxLeases: maxLeases, seed: seed, maxWait: maxWait)
        let daemon = PeerDaemon(directory: dir, config: config, logger: logger)
        try await daemon.runUntilSignalled()
    }
}
