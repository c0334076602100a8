/// `POST /v1/join` response: the peer's identity and its secret credential.
///
/// The coordinator stores only the SHA-256 of `credential`; the peer must keep it (mode 0600)
/// and send it as `Authorization: Bearer <credential>` on every authenticated call.
public struct JoinResponse: Codable, Sendable, Equatable {
    /// The peer's identity (UUID string), assigned by the coordinator.
    public var peerID: String
    /// Secret bearer credential, `ct_peer_<base64url of 32 random bytes>`.
    public var credential: String
    /// What the peer joined.
    public var campaign: CampaignInfo
    /// The coordinator's Ed25519 public key (base64 of its 32 raw bytes) that signs model manifests; the peer pins
    /// it at join and refuses any manifest it did not sign.
    public var manifestKey: String

    public init(peerID: String, credential: String, campaign: CampaignInfo, manifestKey: String) {
        self.peerID = peerID
        self.credential = credential
        self.campaign = campaign
        self.manifestKey = manifestKey
    }
}
