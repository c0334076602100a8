import CrowdEngine
import CrowdProtocol
import CrowdData
import Crypto
import Foundation

/// Random tokens and their stored hashes.
public enum Secrets {
    /// `prefix` + base64url (no padding) of 32 random bytes from the system CSPRNG.
    public static func token(prefix: String) -> String {
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        return prefix + base64URL(bytes)
    }

    /// A new invite token, `ct_inv_…`.
    public static func newInvite() -> String { token(prefix: CredentialFormat.invitePrefix) }
    /// A new peer credential, `ct_peer_…`.
    public static func newCredential() -> String { token(prefix: CredentialFormat.peerPrefix) }

    /// SHA-256 hex of the token's UTF-8 bytes: what the database stores.
    public static func hash(_ token: String) -> String { ContentDigest.hex(Data(token.utf8)) }

    static func base64URL(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Whether `s` looks like `prefix` + 43 base64url characters (cheap syntax check before hashing).
    static func wellFormed(_ s: String, prefix: String) -> Bool {
        guard s.hasPrefix(prefix), s.utf8.count == prefix.utf8.count + 43 else { return false }
        return s.utf8.dropFirst(prefix.utf8.count).allSatisfy {
            ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                || $0 == 0x5F
        }
    }
}
