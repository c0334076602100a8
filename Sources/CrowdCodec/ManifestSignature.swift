import Crypto
import CrowdProtocol
import Foundation

/// Signs model manifests with the coordinator's Ed25519 key and checks them with the public key a peer pinned at
/// join (Docs/ThreatModel.md "Model distribution").
///
/// The signature covers the manifest's JSON bytes exactly as they travel (base64 inside `SignedManifest`), so a
/// verifier never re-encodes anything before checking: what was signed is what is parsed.
public struct ManifestSigner: Sendable {
    let key: Curve25519.Signing.PrivateKey

    /// A new random key.
    public init() { key = Curve25519.Signing.PrivateKey() }

    /// The key stored in a file (`rawRepresentation`, 32 bytes).
    public init(rawRepresentation: Data) throws {
        do {
            key = try Curve25519.Signing.PrivateKey(rawRepresentation: rawRepresentation)
        } catch {
            throw CodecError(.badCodecParameters, "the manifest signing key is not a 32-byte Ed25519 private key")
        }
    }

    /// The private key's bytes (written to the coordinator's `manifest-signing.key`, mode 0600).
    public var rawRepresentation: Data { key.rawRepresentation }
    /// The public key as peers pin it (base64 of its 32 raw bytes).
    public var publicKey: String { key.publicKey.rawRepresentation.base64EncodedString() }

    /// The signed wire form of `manifest`.
    public func sign(_ manifest: ModelManifest) throws -> SignedManifest {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = try encoder.encode(manifest)
        return SignedManifest(
            manifest: body.base64EncodedString(), signature: try key.signature(for: body).base64EncodedString())
    }
}

/// Checks signed manifests against one pinned public key.
public struct ManifestVerifier: Sendable {
    let key: Curve25519.Signing.PublicKey

    /// - Parameter publicKey: base64 of the 32 raw bytes (`JoinResponse.manifestKey`).
    /// - Throws: `CodecError` for anything else.
    public init(publicKey: String) throws {
        guard let raw = Data(base64Encoded: publicKey), raw.count == 32,
              let key = try? Curve25519.Signing.PublicKey(rawRepresentation: raw)
        else {
            throw CodecError(.badCodecParameters, "the pinned manifest key is not base64 of a 32-byte Ed25519 public key")
        }
        self.key = key
    }

    /// The manifest of `version` in campaign `campaign`, if `signed` carries a valid signature by the pinned key
    /// and describes exactly that version.
    /// - Throws: `CodecError(.checksumMismatch)` for a bad or missing signature, `.badCodecParameters` for a
    ///   manifest that is not well-formed, of another version or another campaign.
    public func verify(_ signed: SignedManifest, version: String, campaign: String? = nil) throws -> ModelManifest {
        guard let body = Data(base64Encoded: signed.manifest), body.count <= 8 << 20,
              let signature = Data(base64Encoded: signed.signature), signature.count == 64
        else {
            throw CodecError(.checksumMismatch, "the manifest of \(version.prefix(12))… is not base64 or has no 64-byte signature")
        }
        guard key.isValidSignature(signature, for: body) else {
            throw CodecError(
                .checksumMismatch,
                "the manifest of \(version.prefix(12))… is not signed by the coordinator's key pinned at join: refused "
                    + "(someone between the peer and the coordinator altered it, or the coordinator's key changed; "
                    + "if the operator rotated it, join again)")
        }
        let manifest: ModelManifest
        do {
            manifest = try JSONDecoder().decode(ModelManifest.self, from: body)
        } catch {
            throw CodecError(.badCodecParameters, "the signed manifest is not a manifest JSON object")
        }
        if let problem = manifest.problem() {
            throw CodecError(.badCodecParameters, "the signed manifest is malformed: \(problem)")
        }
        guard manifest.version == version else {
            throw CodecError(.badCodecParameters, "asked for the manifest of \(version.prefix(12))…, got one of \(manifest.version.prefix(12))…")
        }
        if let campaign, manifest.campaign != campaign {
            throw CodecError(.badCodecParameters, "the manifest is of campaign '\(manifest.campaign)', not '\(campaign)'")
        }
        return manifest
    }
}
