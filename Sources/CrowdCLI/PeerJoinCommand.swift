import ArgumentParser
import CrowdPeer
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

    @Option(help: "Display name in the contributors table (default: the host name).")
    var name: String?

    func validate() throws {
        guard coordinator.lowercased().hasPrefix("https://") else {
            throw ValidationError("--coordinator must start with https:// (plaintext HTTP is refused)")
        }
        if let name, name.trimmingCharacters(in: .whitespaces).isEmpty || name.count > 64 {
            throw ValidationError("--name must be 1–64 characters")
        }
    }

    func run() async throws {
        guard let pem = FileManager.default.contents(atPath: ca) else {
            throw ValidationError("cannot read --ca \(ca); ask the operator for the campaign's ca.pem")
        }
        let display = name ?? String(ProcessInfo.processInfo.hostName.prefix(64))
        let credential = try await PeerEnrollment.join(
            coordinator: coordinator, caPEM: Array(pem), invite: invite, name: display, directory: dir)
        print("joined campaign '\(credential.campaign)' as \(credential.name) (peer \(credential.peerID))")
        print("credential stored in \(PeerPaths(root: dir).credential) (mode 600); next: crowdtrain peer run --dir \(dir)")
    }
}
