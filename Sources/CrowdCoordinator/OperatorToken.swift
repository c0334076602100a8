import CrowdData
import CrowdEngine
import CrowdProtocol
import Crypto
import Foundation
import Logging

/// The operator API's credential: `ct_op_…` in `<dir>/operator.token` (mode 0600), written by `coordinator init`.
/// The coordinator keeps only its SHA-256 and compares in constant time.
public enum OperatorToken {
    /// Writes a new token to `paths.operatorToken` (0600, atomically); returns it.
    @discardableResult
    public static func create(paths: CampaignPaths) throws -> String {
        let token = Secrets.token(prefix: CredentialFormat.operatorPrefix)
        try AtomicFile.write(Data((token + "\n").utf8), to: paths.operatorToken, mode: 0o600)
        return token
    }

    /// The SHA-256 of the campaign's operator token; creates the token if the campaign predates it.
    static func loadOrCreate(paths: CampaignPaths, logger: Logger) throws -> [UInt8] {
        let fm = FileManager.default
        if !fm.fileExists(atPath: paths.operatorToken) {
            try create(paths: paths)
            logger.notice(
                "created the operator token (this campaign predates the operator API)",
                metadata: ["file": "\(paths.operatorToken)"])
        }
        if let attributes = try? fm.attributesOfItem(atPath: paths.operatorToken),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0
        {
            throw CoordinatorError(
                "\(paths.operatorToken) is readable by other users (mode \(String(mode, radix: 8))); "
                    + "run `chmod 600 \(paths.operatorToken)`")
        }
        guard let data = fm.contents(atPath: paths.operatorToken),
            let token = String(data: data, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            Secrets.wellFormed(token, prefix: CredentialFormat.operatorPrefix)
        else {
            throw CoordinatorError(
                "\(paths.operatorToken) does not hold an operator token (ct_op_…); delete it and restart to make a new one")
        }
        return ContentDigest.bytes(Data(token.utf8))
    }

    /// Whether `header` is `Bearer <the operator token>` (constant time in the token's bytes).
    static func matches(authorization header: String?, hash: [UInt8]) -> Bool {
        guard let header, header.hasPrefix("Bearer ") else { return false }
        let token = header.dropFirst("Bearer ".count).trimmingCharacters(in: .whitespaces)
        guard Secrets.wellFormed(token, prefix: CredentialFormat.operatorPrefix) else { return false }
        let given = ContentDigest.bytes(Data(token.utf8))
        var diff: UInt8 = 0
        for (a, b) in zip(given, hash) { diff |= a ^ b }
        return diff == 0 && given.count == hash.count
    }
}
