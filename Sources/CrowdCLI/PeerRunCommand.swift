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

    @Option(help: ArgumentHelp(
        "Work only after N minutes without keyboard/mouse input (systemd-logind idle hint via loginctl).",
        discussion: "Without loginctl/logind the daemon says 'idle detection unavailable' and runs anyway."))
    var idleOnlyMinutes: Int?

    @Flag(help: "Work only on AC power (from /sys/class/power_supply; unknown counts as AC).")
    var acOnly = false

    @Option(help: "Allowed hours of the day in local time, start-end; 22-7 wraps midnight (default: all day).")
    var hours: String?

    @Option(help: "Daily data cap in bytes, up plus down (resets at local midnight; checked before each request).")
    var dailyDataCap: Int?

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        guard backoffCap >= 1 else { throw ValidationError("--backoff-cap must be at least 1 second") }
        guard maxWait > 0 else { throw ValidationError("--max-wait must be positive") }
        if let maxLeases, maxLeases < 1 { throw ValidationError("--max-leases must be at least 1") }
        if let idleOnlyMinutes, idleOnlyMinutes < 1 { throw ValidationError("--idle-only-minutes must be at least 1") }
        if let dailyDataCap, dailyDataCap < 1 {
            throw ValidationError("--daily-data-cap must be a positive byte count")
        }
        if let hours {
            do { _ = try HourWindow(parsing: hours) } catch { throw ValidationError("--hours: \(error)") }
        }
    }

    func run() async throws {
        var logger = Logger(label: "crowdtrain.peer")
        logger.logLevel = .info
        let config = PeerRunConfig(
            threads: threads, backoffBase: 1, backoffCap: backoffCap, exitWhenFinished: exitWhenFinished,
            maxLeases: maxLeases, seed: seed, maxWait: maxWait)
        let suspend = SuspendSettings(
            idleOnlyMinutes: idleOnlyMinutes, acOnly: acOnly, hours: try hours.map { try HourWindow(parsing: $0) },
            dailyDataCap: dailyDataCap)
        let daemon = PeerDaemon(directory: dir, config: config, suspend: suspend, logger: logger)
        try await daemon.runUntilSignalled()
    }
}
