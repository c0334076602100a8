import ArgumentParser

/// `crowdtrain coordinator …`: the operator side.
struct CoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Operate a campaign: create it, serve it over HTTPS; invite, revoke, audit, export and tune it through the operator API.",
        subcommands: [
            CoordinatorInitCommand.self, CoordinatorInviteCommand.self, CoordinatorRevokeCommand.self,
            CoordinatorServeCommand.self, CoordinatorExportCommand.self, CoordinatorAuditCommand.self,
            CoordinatorSettingsCommand.self,
        ])
}

/// `--dir` shared by the coordinator subcommands.
struct CampaignDirectoryOption: ParsableArguments {
    @Option(help: "Campaign directory (holds campaign.json, ca.pem, the database, shards and checkpoints).")
    var dir: String
}
