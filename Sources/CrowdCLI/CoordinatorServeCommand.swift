import ArgumentParser
import CrowdCoordinator
import Logging

/// `crowdtrain coordinator serve`: HTTPS only, until SIGTERM/SIGINT (graceful).
struct CoordinatorServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the campaign over HTTPS until SIGTERM or SIGINT; continues from the database after a restart.")

    @OptionGroup var campaign: CampaignDirectoryOption

    @Option(help: "Override the listen address of campaign.json.")
    var host: String?

    @Option(help: "Override the port of campaign.json.")
    var port: Int?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func run() async throws {
        var logger = Logger(label: "crowdtrain.coordinator")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let app = try CoordinatorApp.build(
            directory: campaign.dir, host: host, port: port, logger: logger,
            onServerRunning: { [logger] port in logger.notice("serving HTTPS", metadata: ["port": "\(port)"]) })
        try await app.runUntilSignalled(logger: logger)
        logger.notice("coordinator stopped")
    }
}
