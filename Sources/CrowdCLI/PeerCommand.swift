import ArgumentParser

/// `crowdtrain peer …`: the volunteer side.
struct PeerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peer",
        abstract: "Volunteer daemon: join a campaign, then train for it.",
        subcommands: [
            PeerJoinCommand.self, PeerRunCommand.self, PeerStatusCommand.self, PeerPauseCommand.self,
            PeerResumeCommand.self, PeerInstallServiceCommand.self,
        ])
}
