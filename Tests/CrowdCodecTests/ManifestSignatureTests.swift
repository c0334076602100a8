import CrowdCodec
import CrowdProtocol
import Foundation
import Testing

/// Signed manifests: only the pinned key's signature over exactly the bytes sent is accepted.
@Suite struct ManifestSignatureTests {
    static let version = String(repeating: "ab", count: 32)

    static func manifest(version: String = version, campaign: String = "c") -> ModelManifest {
        ModelManifest(
            campaign: campaign, version: version, round: 3, bytes: ModelManifest.chunkBytes + 10,
            chunks: [
                .init(digest: String(repeating: "01", count: 32), offset: 0, bytes: ModelManifest.chunkBytes),
                .init(digest: String(repeating: "02", count: 32), offset: ModelManifest.chunkBytes, bytes: 10),
            ],
            deltas: [
                .init(from: String(repeating: "0a", count: 32), to: String(repeating: "0b", count: 32), round: 2,
                      digest: String(repeating: "0c", count: 32), bytes: 99, encoding: "grid8"),
                .init(from: String(repeating: "0b", count: 32), to: version, round: 3,
                      digest: String(repeating: "0d", count: 32), bytes: 99, encoding: "grid8"),
            ])
    }

    static func refused(_ body: () throws -> ModelManifest, _ text: String) {
        do {
            _ = try body()
            Issue.record("accepted; expected a refusal mentioning '\(text)'")
        } catch {
            #expect("\(error)".contains(text), "\(error)")
        }
    }

    @Test func thePinnedKeyAcceptsItsOwnSignature() throws {
        let signer = ManifestSigner()
        let verifier = try ManifestVerifier(publicKey: signer.publicKey)
        let signed = try signer.sign(Self.manifest())
        #expect(try verifier.verify(signed, version: Self.version, campaign: "c") == Self.manifest())
        #expect(try verifier.deltaChain(signed))
        // The key survives its file.
        let reloaded = try ManifestSigner(rawRepresentation: signer.rawRepresentation)
        #expect(reloaded.publicKey == signer.publicKey)
    }

    @Test func anotherKeyATamperedManifestOrAFlippedSignatureIsRefused() throws {
        let signer = ManifestSigner()
        let signed = try signer.sign(Self.manifest())
        let other = try ManifestVerifier(publicKey: ManifestSigner().publicKey)
        Self.refused({ try other.verify(signed, version: Self.version) }, "not signed by the coordinator's key")
        let verifier = try ManifestVerifier(publicKey: signer.publicKey)
        // A chunk digest swapped after signing (someone serving other bytes under the version).
        var body = try #require(Data(base64Encoded: signed.manifest))
        let text = String(decoding: body, as: UTF8.self).replacingOccurrences(
            of: String(repeating: "01", count: 32), with: String(repeating: "ff", count: 32))
        body = Data(text.utf8)
        Self.refused(
            { try verifier.verify(SignedManifest(manifest: body.base64EncodedString(), signature: signed.signature), version: Self.version) },
            "not signed")
        var signature = try #require(Data(base64Encoded: signed.signature))
        signature[10] ^= 1
        Self.refused(
            { try verifier.verify(SignedManifest(manifest: signed.manifest, signature: signature.base64EncodedString()), version: Self.version) },
            "not signed")
        Self.refused({ try verifier.verify(SignedManifest(manifest: signed.manifest, signature: "x"), version: Self.version) }, "64-byte signature")
        Self.refused({ _ = try ManifestVerifier(publicKey: "AAAA"); return Self.manifest() }, "32-byte Ed25519")
    }

    @Test func aSignedManifestOfAnotherVersionCampaignOrShapeIsRefused() throws {
        let signer = ManifestSigner()
        let verifier = try ManifestVerifier(publicKey: signer.publicKey)
        let signed = try signer.sign(Self.manifest())
        Self.refused({ try verifier.verify(signed, version: String(repeating: "cd", count: 32)) }, "got one of")
        Self.refused({ try verifier.verify(signed, version: Self.version, campaign: "other") }, "of campaign 'c'")
        var gap = Self.manifest()
        gap.chunks[1].offset += 1
        Self.refused({ try verifier.verify(try signer.sign(gap), version: Self.version) }, "following the previous one")
        var short = Self.manifest()
        short.bytes += 1
        Self.refused({ try verifier.verify(try signer.sign(short), version: Self.version) }, "cover")
        var broken = Self.manifest()
        broken.deltas[0].to = String(repeating: "99", count: 32)
        Self.refused({ try verifier.verify(try signer.sign(broken), version: Self.version) }, "chain")
        var future = Self.manifest()
        future.format = 2
        Self.refused({ try verifier.verify(try signer.sign(future), version: Self.version) }, "format 2")
    }
}

extension ManifestVerifier {
    /// The verified manifest's delta chain starts at the first delta's base (a helper of the test above).
    func deltaChain(_ signed: SignedManifest) throws -> Bool {
        let m = try verify(signed, version: ManifestSignatureTests.version)
        return m.deltas(from: String(repeating: "0a", count: 32))?.count == 2
            && m.deltas(from: String(repeating: "0b", count: 32))?.count == 1
            && m.deltas(from: String(repeating: "77", count: 32)) == nil
    }
}
