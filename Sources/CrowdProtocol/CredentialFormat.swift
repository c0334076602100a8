/// Prefixes of the secrets the coordinator issues (followed by base64url of 32 random bytes).
public enum CredentialFormat {
    /// Invite tokens: `ct_inv_…`.
    public static let invitePrefix = "ct_inv_"
    /// Peer credentials: `ct_peer_…`.
    public static let peerPrefix = "ct_peer_"
    /// The operator token (`<dir>/operator.token`): `ct_op_…`.
    public static let operatorPrefix = "ct_op_"
}
