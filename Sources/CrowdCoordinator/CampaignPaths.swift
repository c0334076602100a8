import Foundation

/// The files of a campaign directory `D`.
///
/// ```
/// D/campaign.json        configuration (CampaignConfig)
/// D/ca.pem               CA certificate volunteers pass to `peer join --ca`
/// D/operator.token       the operator API's bearer token (0600)
/// D/tls/ca-key.pem       CA private key (0600)
/// D/tls/server.pem       server certificate chain
/// D/tls/server-key.pem   server private key (0600)
/// D/coordinator.sqlite   database (WAL)
/// D/shards/              shard files + manifest.json
/// D/checkpoints/         round-NNNNNN.ckpt global models (the last `distribution.keepVersions`)
/// D/manifest-signing.key the Ed25519 key that signs model manifests (0600)
/// D/manifests/           <version>.json: the chunks of each kept model (unsigned; signed when served)
/// D/deltas/              round-NNNNNN.delta: the round delta into round N's model
/// ```
public struct CampaignPaths: Sendable {
    /// The campaign directory.
    public let directory: String

    public init(directory: String) {
        self.directory = (directory as NSString).standardizingPath
    }

    func join(_ p: String) -> String { (directory as NSString).appendingPathComponent(p) }

    public var config: String { join("campaign.json") }
    public var caCertificate: String { join("ca.pem") }
    public var operatorToken: String { join("operator.token") }
    public var tlsDirectory: String { join("tls") }
    public var caKey: String { join("tls/ca-key.pem") }
    public var serverCertificate: String { join("tls/server.pem") }
    public var serverKey: String { join("tls/server-key.pem") }
    public var database: String { join("coordinator.sqlite") }
    public var shards: String { join("shards") }
    public var checkpoints: String { join("checkpoints") }
    public var manifestKey: String { join("manifest-signing.key") }
    public var manifests: String { join("manifests") }
    public var deltas: String { join("deltas") }
    /// The unsigned manifest of model `version`.
    public func manifest(version: String) -> String { join("manifests/\(version).json") }
    /// The round delta into the model of `round`.
    public func delta(round: UInt64) -> String {
        let n = String(round)
        return join("deltas/round-" + String(repeating: "0", count: max(0, 6 - n.count)) + n + ".delta")
    }
    /// Proofs waiting for the verifier beyond its memory budget (emptied at every start).
    public var verifierSpill: String { join("verifier-queue") }

    /// The checkpoint file of the global model after `round` (round 0 = initial model).
    public func checkpoint(round: UInt64) -> String { join(checkpointRelative(round: round)) }

    /// `checkpoint(round:)` relative to the campaign directory (what the database records).
    public func checkpointRelative(round: UInt64) -> String {
        let n = String(round)
        return "checkpoints/round-" + String(repeating: "0", count: max(0, 6 - n.count)) + n + ".ckpt"
    }
}
