import ArgumentParser
import CrowdPeer
import CrowdProtocol
import Foundation

/// `crowdtrain peer join`: redeems an invite and creates the peer directory.
struct PeerJoinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "join",
        abstract: "Register with a coordinator using an invite; stores the credential (mode 0600) and the CA in --dir.")

    @Option(help: "Coordinator URL, https://HOST:PORT.")
    var coordinator: String

    @Option(help: "The campaign's CA certificate (ca.pem from the operator). The peer trusts only this CA.")
    var ca: String

    @Option(help: "Invite token (ct_inv_…) from the operator.")
    var invite: String

    @Option(help: "Peer directory to create (credential, caches, status).")
    var dir: String

    @Option(
        help: ArgumentHelp(
            "Display name on the campaign's public leaderboard (required; 1–40 visible characters of one script).",
            discussion: "No default: the host name would publish your machine's name. The coordinator refuses a "
                + "name taken by another peer, also when it differs only in case, accents, spaces or look-alike "
                + "characters (0/o, 1/l, Cyrillic а/Latin a)."))
    var name: String?

    func validate() throws {
        guard coordinator.lowercased().hasPrefix("https://") else {
            throw ValidationError("--coordinator must start with https:// (plaintext HTTP is refused)")
        }
        _ = try Self.displayName(name)
    }

    /// The validated `--name` (the same rules the coordinator applies), or a `ValidationError` saying what to do.
    static func displayName(_ name: String?) throws -> DisplayName {
        guard let name else {
            throw ValidationError(
                "--name is required: the display name others see on the campaign's leaderboard (there is no "
                    + "default, so your host name is never published), e.g. --name alice")
        }
        do {
            return try DisplayName(name)
        } catch {
            throw ValidationError("--name: \(error.message)")
        }
    }

    func run() async throws {
        guard let pem = FileManager.default.contents(atPath: ca) else {
            throw ValidationError("cannot read --ca \(ca); ask the operator for the campaign's ca.pem")
        }
        let display = try Self.displayName(name)
        let credential = try await PeerEnrollment.join(
            coordinator: coordinator, caPEM: Array(pem), invite: invite, name: display.value, directory: dir)
        print("joined campaign '\(credential.campaign)' as \(credential.name) (peer \(credential.peerID))")
        print("credential stored in \(PeerPaths(root: dir).credential) (mode 600); next: crowdtrain peer run --dir \(dir)")
    }
}
