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
/// D/checkpoints/         round-NNNNNN.ckpt global models
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
