import CrowdEngine
import Foundation

/// What `peer join` stores in `P/credential.json` (mode 0600): the peer's identity at one coordinator.
///
/// The secret is sent as `Authorization: Bearer <secret>`; the coordinator stores only its SHA-256.
/// Anyone who can read this file can act as this peer, hence the file mode.
public struct PeerCredential: Codable, Sendable, Equatable {
    /// Base URL of the coordinator, e.g. `https://train.example.org:8443`.
    public var coordinator: String
    /// Peer id assigned by the coordinator (UUID string).
    public var peerID: String
    /// Bearer secret `ct_peer_…`.
    public var secret: String
    /// Display name shown in the contributors table.
    public var name: String
    /// Campaign name at join time (informational).
    public var campaign: String
    /// Unix seconds of the join.
    public var joinedAt: Double
    /// The coordinator's manifest signing key, pinned at join (`JoinResponse.manifestKey`); nil in credentials
    /// written before signed manifests (such a peer joins again).
    public var manifestKey: String?

    public init(
        coordinator: String, peerID: String, secret: String, name: String, campaign: String, joinedAt: Double,
        manifestKey: String? = nil
    ) {
        self.coordinator = coordinator; self.peerID = peerID; self.secret = secret
        self.name = name; self.campaign = campaign; self.joinedAt = joinedAt; self.manifestKey = manifestKey
    }

    /// File mode of `credential.json`.
    public static let fileMode: mode_t = 0o600

    /// Writes the credential atomically with mode 0600.
    public func write(to path: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(self), to: path, mode: Self.fileMode)
    }

    /// Reads a credential; refuses a file other users can read (fix with `chmod 600`).
    public static func read(from path: String) throws -> PeerCredential {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PeerError("no credential at \(path): run `crowdtrain peer join --dir …` first")
        }
        var st = stat()
        if stat(path, &st) == 0, st.st_mode & 0o077 != 0 {
            throw PeerError(
                "\(path) is readable by other users (mode \(String(st.st_mode & 0o777, radix: 8))); "
                    + "it holds your peer secret: run `chmod 600 \(path)`")
        }
        do {
            return try JSONDecoder().decode(PeerCredential.self, from: data)
        } catch {
            throw PeerError("\(path) is not a valid credential file (\(error)); join again with `crowdtrain peer join`")
        }
    }
}
