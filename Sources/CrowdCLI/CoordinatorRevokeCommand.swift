import ArgumentParser
import CrowdCoordinator

/// `crowdtrain coordinator revoke`: revokes invites or a peer's credential.
struct CoordinatorRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke an unused invite, every unused invite, or a peer's credential.")

    @OptionGroup var campaign: CampaignDirectoryOption

    @Argument(help: "The invite token to revoke.")
    var token: String?

    @Flag(help: "Revoke every unused invite.")
    var allUnused = false

    @Option(help: "Revoke this peer's credential (peer id from `crowdtrain stats`).")
    var peer: String?

    func validate() throws {
        let chosen = [token != nil, allUnused, peer != nil].filter { $0 }.count
        guard chosen == 1 else { throw ValidationError("pass exactly one of TOKEN, --all-unused or --peer ID") }
    }

    func run() async throws {
        if let token {
            guard try CampaignInitializer.revokeInvite(directory: campaign.dir, token: token) else {
                print("no such unused invite (unknown, already used, or already revoked)")
                throw ExitCode(1)
            }
            print("invite revoked")
        } else if allUnused {
            print("revoked \(try CampaignInitializer.revokeUnusedInvites(directory: campaign.dir)) unused invites")
        } else if let peer {
            guard try CampaignInitializer.revokePeer(directory: campaign.dir, peerID: peer) else {
                print("no such peer, or already revoked")
                throw ExitCode(1)
            }
            print("peer \(peer) revoked; its uploads are refused from now on (past credit stays)")
        }
    }
}
