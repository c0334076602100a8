import CrowdProtocol
import Foundation
import HummingbirdTesting
import NIOCore
import NIOSSL
import ServiceLifecycle
import Synchronization
import Testing

@testable import CrowdCoordinator

/// The live tier: the real HTTPS server on 127.0.0.1 (port 0), a client trusting only the campaign CA.
@Suite struct LiveTLSTests {
    @Test func servesHTTPSOnlyToClientsTrustingTheCampaignCA() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
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

            let paths = CampaignPaths(directory: tc.directory)
            var trusting = TLSConfiguration.makeClientConfiguration()
            trusting.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(paths.caCertificate))
            let ok = try await TestClient.withClient(
                host: "127.0.0.1", port: port, configuration: .init(tlsConfiguration: trusting, serverName: "localhost")
            ) { client in try await client.get(APIPath.health) }
            #expect(ok.status == .ok)

            // A client trusting another CA refuses the server.
            let other = try CertificateAuthority.generate(campaign: "other", serverNames: ["localhost"])
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
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }
}

final class PortBox: Sendable {
    let port = Mutex<Int>(0)
}
