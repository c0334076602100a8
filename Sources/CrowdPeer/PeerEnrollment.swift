import CrowdClient
import CrowdCodec
import CrowdEngine
import CrowdProtocol
import Foundation

/// `peer join`: redeems an invite and sets up the peer directory.
public enum PeerEnrollment {
    /// Joins `coordinator` with `invite`, then writes `credential.json` (0600) and a copy of the CA into `dir`.
    ///
    /// Refuses a directory that already holds a credential (one directory = one peer identity).
    /// - Returns: the stored credential.
    public static func join(
        coordinator: String, caPEM: [UInt8], invite: String, name: String, directory: String,
        connectTimeoutSeconds: Int64 = 10
    ) async throws -> PeerCredential {
        let paths = PeerPaths(root: directory)
        guard !FileManager.default.fileExists(atPath: paths.credential) else {
            throw PeerError("\(paths.credential) exists: this directory already belongs to a peer; use another --dir")
        }
        let client = try CoordinatorClient(baseURL: coordinator, caPEM: caPEM, connectTimeoutSeconds: connectTimeoutSeconds)
        let response: JoinResponse
        do {
            response = try await client.join(invite: invite, name: name)
            await client.shutdown()
        } catch {
            await client.shutdown()
            throw error
        }
        do {
            _ = try ManifestVerifier(publicKey: response.manifestKey)
        } catch {
            throw PeerError("the coordinator's manifest key is not an Ed25519 public key; is it the same version as this peer?")
        }
        try paths.create()
        try AtomicFile.write(Data(caPEM), to: paths.caCertificate, mode: 0o644)
        let credential = PeerCredential(
            coordinator: client.baseURL, peerID: response.peerID, secret: response.credential, name: name,
            campaign: response.campaign.name, joinedAt: Date().timeIntervalSince1970, manifestKey: response.manifestKey)
        try credential.write(to: paths.credential)
        return credential
    }
}

