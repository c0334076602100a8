import ArgumentParser
import CrowdClient
import CrowdProtocol

/// `crowdtrain coordinator invite`: prints single-use invite tokens (operator API).
struct CoordinatorInviteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invite",
        abstract: "Print single-use invite tokens (only their SHA-256 hashes are stored).",
        discussion: "Talks to the serving coordinator's operator API; `coordinator init --invites N` makes the "
            + "first ones before it serves.")

    @OptionGroup var api: OperatorOptions

    @Option(help: "How many invites.")
    var count: Int = 1

    @Option(help: "A note stored with the invites (who they are for).")
    var note: String?

    func validate() throws {
        guard (1...OperatorAPI.maxInvites).contains(count) else {
            throw ValidationError("--count must be 1…\(OperatorAPI.maxInvites)")
        }
    }

    func run() async throws {
        let tokens = try await api.client().using { try await $0.createInvites(count: count, note: note) }
        for token in tokens { print(token) }
    }
}
