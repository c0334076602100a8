import ArgumentParser
import CrowdCoordinator
import Logging

/// `crowdtrain coordinator serve`: HTTPS only, until SIGTERM/SIGINT (graceful).
struct CoordinatorServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the campaign over HTTPS until SIGTERM or SIGINT; continues from the database after a restart.",
        discussion:
            "On start it takes the campaign lock (a second coordinator on the directory refuses to start), checks "
            + "the database (integrity_check) and verifies the checkpoints by size and SHA-256; if the current one "
            + "is torn or corrupt it continues from the newest good one and logs a `checkpoint fallback` line. See "
            + "the Recovery section of Docs/Operations.md.")

    @OptionGroup var campaign: CampaignDirectoryOption

    @Option(help: "Override the listen address (`bind`) of campaign.json.")
    var bind: String?

    @Option(help: ArgumentHelp("Replaced by --bind.", visibility: .hidden))
    var host: String?

    @Option(help: "Override the port of campaign.json.")
    var port: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        if host != nil { throw ValidationError("--host is now --bind (the listen address)") }
    }

    func run() async throws {
        var logger = Logger(label: "crowdtrain.coordinator")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        // The lock comes first: start-up recovery may write to the database, never beside a serving coordinator.
        let lock = try CampaignLock(paths: CampaignPaths(directory: campaign.dir))
        let app = try CoordinatorApp.build(
            directory: campaign.dir, bind: bind, port: port, logger: logger,
            onServerRunning: { [logger] port in logger.notice("serving HTTPS", metadata: ["port": "\(port)"]) })
        try await app.runUntilSignalled(logger: logger, lock: lock)
        logger.notice("coordinator stopped")
    }
}
