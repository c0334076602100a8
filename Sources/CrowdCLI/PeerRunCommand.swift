import ArgumentParser
import CrowdPeer
import Foundation
import Logging

/// `crowdtrain peer run`: the volunteer daemon, until SIGTERM/SIGINT; SIGHUP reloads the settings.
///
/// Settings come from flags > `CROWDTRAIN_*` environment > config file (`--config`, else
/// `CROWDTRAIN_PEER_CONFIG`, else `P/peer.json`) > defaults; `PeerConfigFile.resolve` composes them.
struct PeerRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train for the campaign: lease, download, train, upload, repeat. Stops cleanly on SIGTERM or Ctrl-C.",
        discussion: """
            Settings: flags > CROWDTRAIN_* environment variables > the config file (--config FILE, else \
            CROWDTRAIN_PEER_CONFIG, else P/peer.json) > defaults. Every key is documented in \
            Config/peer.example.json and Docs/Volunteers.md. Sizes take units: k, M, G = 1000ⁿ; Ki, Mi, Gi = 1024ⁿ \
            (200k = 200 000 bytes). `none` switches a cap off. SIGHUP re-reads the file and the environment \
            (flags still win) and applies threads, limits and schedule within a second; an invalid file keeps the \
            previous settings.
            """)

    @Option(help: "Peer directory created by `peer join`.")
    var dir: String

    @Option(help: ArgumentHelp(
        "Config file (JSON; default: P/peer.json, or $CROWDTRAIN_PEER_CONFIG).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp(PeerConfigKey.threads.help, valueName: "n"))
    var threads: String?

    @Option(help: ArgumentHelp(PeerConfigKey.cpuLimit.help, valueName: "percent"))
    var cpuLimit: String?

    @Option(help: ArgumentHelp(PeerConfigKey.nice.help, valueName: "0-19"))
    var nice: String?

    @Option(help: ArgumentHelp(PeerConfigKey.uploadLimit.help, valueName: "bytes/s"))
    var uploadLimit: String?

    @Option(help: ArgumentHelp(PeerConfigKey.downloadLimit.help, valueName: "bytes/s"))
    var downloadLimit: String?

    @Option(help: ArgumentHelp(PeerConfigKey.memoryLimit.help, valueName: "bytes"))
    var memoryLimit: String?

    @Option(help: ArgumentHelp(
        PeerConfigKey.idleOnlyMinutes.help,
        discussion: "Uses the systemd-logind idle hint via loginctl; without it the daemon says 'idle detection "
            + "unavailable' and runs anyway.", valueName: "minutes"))
    var idleOnlyMinutes: String?

    @Flag(inversion: .prefixedNo, help: ArgumentHelp(
        "Work only on AC power (from /sys/class/power_supply; unknown counts as AC; default: no)."))
    var acOnly: Bool?

    @Option(help: ArgumentHelp(PeerConfigKey.hours.help, valueName: "start-end"))
    var hours: String?

    @Option(help: ArgumentHelp(PeerConfigKey.dailyDataCap.help, valueName: "bytes"))
    var dailyDataCap: String?

    @Option(help: ArgumentHelp(PeerConfigKey.backoffCap.help, valueName: "seconds"))
    var backoffCap: String?

    @Option(help: ArgumentHelp(PeerConfigKey.maxWait.help, valueName: "seconds"))
    var maxWait: String?

    @Option(help: ArgumentHelp(PeerConfigKey.cacheBytes.help, valueName: "bytes"))
    var cacheBytes: String?

    @Flag(help: "Exit when the coordinator reports the campaign finished (default: keep waiting for work).")
    var exitWhenFinished = false

    @Option(help: "Stop after this many finished leases.")
    var maxLeases: Int?

    @Option(help: "Seed of the retry jitter (default: random).")
    var seed: UInt64?

    /// The settings given as flags (only those given: the others fall through to environment, file, defaults).
    var flagLayer: PeerConfigLayer {
        let given: [(PeerConfigKey, String?)] = [
            (.threads, threads), (.cpuLimit, cpuLimit), (.nice, nice), (.uploadLimit, uploadLimit),
            (.downloadLimit, downloadLimit), (.memoryLimit, memoryLimit), (.idleOnlyMinutes, idleOnlyMinutes),
            (.acOnly, acOnly.map { $0 ? "true" : "false" }), (.hours, hours), (.dailyDataCap, dailyDataCap),
            (.backoffCap, backoffCap), (.maxWait, maxWait), (.cacheBytes, cacheBytes),
        ]
        var layer = PeerConfigLayer(source: .flags)
        for case (let key, let value?) in given { layer.values[key] = .some(value) }
        return layer
    }

    func validate() throws {
        if let maxLeases, maxLeases < 1 { throw ValidationError("--max-leases must be at least 1") }
        var check = PeerSettings()
        do { try check.apply(flagLayer) } catch { throw ValidationError("\(error)") }
    }

    func run() async throws {
        // Until the reloader traps SIGHUP, ignore it rather than die of it (systemd may reload early).
        signal(SIGHUP, SIG_IGN)
        var logger = Logger(label: "crowdtrain.peer")
        logger.logLevel = .info
        let flags = flagLayer, dir = dir, path = config
        let load: @Sendable () throws -> PeerSettings = {
            try PeerConfigFile.resolve(
                directory: dir, configPath: path, environment: ProcessInfo.processInfo.environment, flags: flags)
        }
        let settings = try load()
        let daemon = PeerDaemon(
            directory: dir,
            config: settings.runConfig(exitWhenFinished: exitWhenFinished, maxLeases: maxLeases, seed: seed),
            suspend: settings.suspend, logger: logger)
        let reloader = PeerConfigReloader(live: daemon.live, started: settings, load: load) { line in
            print(line)
            fflush(nil)
        }
        try await daemon.runUntilSignalled(reloader: reloader)
    }
}
