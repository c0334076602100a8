import CrowdProtocol
import CrowdTestSupport
import Foundation
import HummingbirdTesting
import NIOCore
import NIOSSL
import ServiceLifecycle
import SwiftASN1
import Synchronization
import Testing
import X509

@testable import CrowdCoordinator

/// The live tier: the real HTTPS server on 127.0.0.1 (port 0), a client trusting only the campaign CA.
@Suite struct LiveTLSTests {
    @Test func servesHTTPSOnlyToClientsTrustingTheCampaignCA() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        try await serving(tc) { port in

            let paths = CampaignPaths(directory: tc.directory)
            var trusting = TLSConfiguration.makeClientConfiguration()
            trusting.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(paths.caCertificate))
            let ok = try await TestClient.withClient(
                host: "127.0.0.1", port: port, configuration: .init(tlsConfiguration: trusting, serverName: "localhost")
            ) { client in try await client.get(APIPath.health) }
            #expect(ok.status == .ok)

            // A client trusting another CA refuses the server.
            let other = try CertificateAuthority.generate(campaign: "other", publicNames: ["localhost"])
            var wrongCA = TLSConfiguration.makeClientConfiguration()
            wrongCA.trustRoots = .certificates([
                try NIOSSLCertificate(bytes: Array(other.caCertificatePEM.utf8), format: .pem)
            ])
            await #expect(throws: (any Error).self) {
                try await TestClient.withClient(
                    host: "127.0.0.1", port: port,
                    configuration: .init(tlsConfiguration: wrongCA, timeout: .seconds(5), serverName: "localhost")
                ) { client in try await client.get(APIPath.health) }
            }
            // Plaintext HTTP gets no HTTP response.
            await #expect(throws: (any Error).self) {
                try await TestClient.withClient(
                    host: "127.0.0.1", port: port, configuration: .init(timeout: .seconds(5))
                ) { client in try await client.get(APIPath.health) }
            }
        }
    }
}

/// `bind` (where the server listens) apart from `publicNames` (what the certificate names): a coordinator behind NAT
/// or on a cloud VM listens on every interface and is dialled by a name of its own.
@Suite struct AddressTests {
    @Test func certificateNamesAreThePublicNamesNotTheWildcardBind() {
        #expect(
            CampaignConfig.certificateNames(bind: "0.0.0.0", publicNames: ["train.example.test", "203.0.113.7"])
                == ["localhost", "127.0.0.1", "train.example.test", "203.0.113.7"])
        #expect(
            CampaignConfig.certificateNames(bind: "10.0.0.5", publicNames: ["Train.Example.Test", "train.example.test"])
                == ["localhost", "127.0.0.1", "10.0.0.5", "Train.Example.Test"])
        for good in ["train.example.org", "203.0.113.7", "2001:db8::1", "0.0.0.0"] {
            #expect(CampaignConfig.isPlausibleAddress(good), "\(good)")
        }
        for bad in ["", "https://train.example.org", "train example", "name/with/slash", String(repeating: "a", count: 254)] {
            #expect(!CampaignConfig.isPlausibleAddress(bad), "\(bad)")
        }
    }

    @Test func olderCampaignFilesReadHostAsBindAndServerNamesAsPublicNames() throws {
        var config = CampaignConfig(workload: .fmnistMLP, name: "old")
        config.bind = "127.0.0.1"
        var object = try #require(
            try JSONSerialization.jsonObject(with: JSONEncoder().encode(config)) as? [String: Any])
        object.removeValue(forKey: "bind")
        object.removeValue(forKey: "publicNames")
        object["host"] = "10.0.0.9"
        object["serverNames"] = ["localhost", "127.0.0.1", "10.0.0.9", "old.example.test"]
        let back = try JSONDecoder().decode(CampaignConfig.self, from: JSONSerialization.data(withJSONObject: object))
        #expect(back.bind == "10.0.0.9")
        #expect(back.publicNames == ["localhost", "127.0.0.1", "10.0.0.9", "old.example.test"])
    }

    @Test func aWildcardBoundCoordinatorIsVerifiedByItsPublicName() async throws {
        // Only the public names (not the usual localhost and 127.0.0.1): NIOSSL also accepts a certificate whose IP
        // entries hold the address it connected to, which would make the control below pass for the wrong reason.
        let tc = try TestCampaign.make {
            $0.bind = "0.0.0.0"
            $0.publicNames = ["train.example.test", "203.0.113.7"]
        }
        defer { tc.remove() }
        let paths = CampaignPaths(directory: tc.directory)
        // The certificate carries the DNS name as a DNS entry and the address as an IP entry.
        let pem = try String(contentsOfFile: paths.serverCertificate, encoding: .utf8)
        let certificate = try Certificate(pemEncoded: pem)
        let sans = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(sans.contains(.dnsName("train.example.test")))
        #expect(sans.contains(.ipAddress(ASN1OctetString(contentBytes: [203, 0, 113, 7]))))
        #expect(!sans.contains(.ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0]))), "never the wildcard")

        try await serving(tc) { port in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(paths.caCertificate))
            // Dialled through loopback (the wildcard listens there too) under the public name: verified.
            let ok = try await TestClient.withClient(
                host: "127.0.0.1", port: port,
                configuration: .init(tlsConfiguration: tls, serverName: "train.example.test")
            ) { client in try await client.get(APIPath.health) }
            #expect(ok.status == .ok)
            // Control: a name the certificate does not carry fails verification against the same server.
            await #expect(throws: (any Error).self) {
                try await TestClient.withClient(
                    host: "127.0.0.1", port: port,
                    configuration: .init(tlsConfiguration: tls, timeout: .seconds(5), serverName: "other.example.test")
                ) { client in try await client.get(APIPath.health) }
            }
        }
    }
}


/// Serves the campaign's coordinator over real TLS on a free port (its `bind`), runs `body` with the port, then shuts
/// the server down gracefully.
func serving(_ tc: TestCampaign, _ body: (Int) async throws -> Void) async throws {
    let portBox = PortBox()
    let app = try CoordinatorApp.build(
        directory: tc.directory, port: 0, clock: tc.clock, logger: TestCampaign.logger, tickInterval: .seconds(3600),
        onServerRunning: { port in portBox.port.withLock { $0 = port } })
    let group = ServiceGroup(configuration: .init(services: [app.application], logger: app.application.logger))
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        var port = 0
        for _ in 0..<500 where port == 0 {
            try await Task.sleep(for: .milliseconds(10))
            port = portBox.port.withLock { $0 }
        }
        #expect(port > 0)
        try await body(port)
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
    }
}

final class PortBox: Sendable {
    let port = Mutex<Int>(0)
}
