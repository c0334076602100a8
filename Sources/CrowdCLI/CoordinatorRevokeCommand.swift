import ArgumentParser
import CrowdClient
import CrowdProtocol

/// `crowdtrain coordinator revoke`: revokes invites or a peer's credential (operator API).
struct CoordinatorRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke an unused invite, every unused invite, or a peer's credential.",
        discussion: "A revoked peer's next call is refused and its open leases end at once (their round slots go "
            + "to other peers); its past credit stays.")

    @OptionGroup var api: OperatorOptions

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
        let client = try api.client()
        if let token {
            let n = try await client.using { try await $0.revokeInvites(RevokeInvitesRequest(token: token)) }
            guard n == 1 else {
                print("no such unused invite (unknown, already used, or already revoked)")
                throw ExitCode(1)
            }
            print("invite revoked")
        } else if allUnused {
            let n = try await client.using { try await $0.revokeInvites(RevokeInvitesRequest(allUnused: true)) }
            print("revoked \(n) unused invites")
        } else if let peer {
            let r = try await client.using { try await $0.revokePeer(id: peer) }
            guard r.revoked else {
                print("peer \(peer) was already revoked")
                throw ExitCode(1)
            }
            print(
                "peer \(peer) revoked; its calls are refused from now on, \(r.leasesFreed) open lease(s) freed "
                    + "(past credit stays)")
        }
    }
}
