import ArgumentParser
import CrowdCoordinator

/// `crowdtrain coordinator invite`: prints single-use invite tokens.
struct CoordinatorInviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Print single-use invite tokens (only their SHA-256 hashes are stored).")

    @OptionGroup var campaign: CampaignDirectoryOption

    @Option(help: "How many invites.")
    var count: Int = 1

    @Option(help: "A note stored with the invites (who they are for).")
    var note: String?

    func validate() throws {
        guard (1...10_000).contains(count) else { throw ValidationError("--count must be 1…10000") }
    }

    func run() async throws {
        for token in try CampaignInitializer.invite(directory: campaign.dir, count: count, note: note) {
            print(token)
        }
    }
}
