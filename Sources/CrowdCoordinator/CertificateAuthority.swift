import CrowdEngine
import Crypto
import Foundation
import SwiftASN1
import X509

/// The campaign's private CA and the coordinator's server certificate (P-256, swift-certificates).
///
/// Volunteers trust only `D/ca.pem`; the server certificate names every entry of
/// `CampaignConfig.publicNames` (DNS names, or IP addresses when they parse as IPv4/IPv6).
public enum CertificateAuthority {
    /// PEM strings of a freshly generated CA and server certificate.
    public struct Material: Sendable {
        public var caCertificatePEM: String
        public var caKeyPEM: String
        public var serverCertificatePEM: String
        public var serverKeyPEM: String
    }

    /// Generates a CA valid for 10 years and a server certificate valid for 2 years.
    public static func generate(campaign: String, publicNames: [String], now: Date = Date()) throws -> Material {
        let caKey = P256.Signing.PrivateKey()
        let caName = try DistinguishedName {
            OrganizationName("CrowdTrain")
            CommonName("CrowdTrain CA – \(campaign.prefix(40))")
        }
        let caPublic = Certificate.PublicKey(caKey.publicKey)
        let ca = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(), publicKey: caPublic,
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(10 * 365 * 86400),
            issuer: caName, subject: caName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: caPublic)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))

        let serverKey = P256.Signing.PrivateKey()
        let serverName = try DistinguishedName {
            OrganizationName("CrowdTrain")
            CommonName(publicNames.first ?? "localhost")
        }
        let sans = SubjectAlternativeNames(uniqueNames(publicNames).map(generalName))
        let server = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(),
            publicKey: Certificate.PublicKey(serverKey.publicKey),
            notValidBefore: now.addingTimeInterval(-3600), notValidAfter: now.addingTimeInterval(2 * 365 * 86400),
            issuer: caName, subject: serverName, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true, keyEncipherment: true))
                try ExtendedKeyUsage([.serverAuth])
                sans
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: caPublic).keyIdentifier)
            },
            issuerPrivateKey: Certificate.PrivateKey(caKey))
        return Material(
            caCertificatePEM: try ca.serializeAsPEM().pemString, caKeyPEM: caKey.pemRepresentation,
            serverCertificatePEM: try server.serializeAsPEM().pemString, serverKeyPEM: serverKey.pemRepresentation)
    }

    /// Generates and writes the TLS files of a campaign: `ca.pem` (0644), keys 0600.
    public static func create(paths: CampaignPaths, campaign: String, publicNames: [String]) throws {
        let m = try generate(campaign: campaign, publicNames: publicNames)
        try FileManager.default.createDirectory(
            atPath: paths.tlsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try AtomicFile.write(Data(m.caKeyPEM.utf8), to: paths.caKey, mode: 0o600)
        try AtomicFile.write(Data(m.serverKeyPEM.utf8), to: paths.serverKey, mode: 0o600)
        try AtomicFile.write(Data(m.serverCertificatePEM.utf8), to: paths.serverCertificate, mode: 0o644)
        try AtomicFile.write(Data(m.caCertificatePEM.utf8), to: paths.caCertificate, mode: 0o644)
    }

    static func uniqueNames(_ names: [String]) -> [String] {
        var seen = Set<String>()
        return names.filter { !$0.isEmpty && seen.insert($0.lowercased()).inserted }
    }

    static func generalName(_ name: String) -> GeneralName {
        if let v4 = ipv4Bytes(name) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(v4))) }
        if let v6 = ipv6Bytes(name) { return .ipAddress(ASN1OctetString(contentBytes: ArraySlice(v6))) }
        return .dnsName(name)
    }

    static func ipv4Bytes(_ s: String) -> [UInt8]? {
        var addr = in_addr()
        return inet_pton(AF_INET, s, &addr) == 1 ? withUnsafeBytes(of: &addr) { Array($0) } : nil
    }

    static func ipv6Bytes(_ s: String) -> [UInt8]? {
        var addr = in6_addr()
        return inet_pton(AF_INET6, s, &addr) == 1 ? withUnsafeBytes(of: &addr) { Array($0) } : nil
    }
}
