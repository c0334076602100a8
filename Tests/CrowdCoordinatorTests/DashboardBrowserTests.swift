import CrowdProtocol
import Foundation
import NIOSSL
import ServiceLifecycle
import Testing

@testable import CrowdCoordinator
import CrowdData
import CrowdTestSupport

/// The real-browser check: headless Chromium (Debian `chromium`, installed by `.ci/setup`) loads the
/// dashboard over HTTPS from the live server, takes a screenshot, and its rendered DOM holds the campaign
/// name and the chart. Chromium trusts exactly the campaign's server key (SPKI pin from `tls/server.pem`,
/// issued by the campaign CA) — not `--ignore-certificate-errors`.
@Suite struct DashboardBrowserTests {
    static let chromium = "/usr/bin/chromium"

    @Test func headlessChromiumRendersTheDashboard() async throws {
        #expect(
            FileManager.default.isExecutableFile(atPath: Self.chromium),
            "\(Self.chromium) is missing: run .ci/setup (apt-get install chromium)")
        let tc = try TestCampaign.make { $0.name = "Browser Check Campaign" }
        defer { tc.remove() }
        let portBox = PortBox()
        let app = try CoordinatorApp.build(
            directory: tc.directory, port: 0, clock: tc.clock, logger: TestCampaign.logger,
            tickInterval: .seconds(3600), onServerRunning: { port in portBox.port.withLock { $0 = port } })
        let group = ServiceGroup(configuration: .init(services: [app.application], logger: app.application.logger))
        let work = NSTemporaryDirectory() + "crowdtrain-chromium-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: work) }
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var port = 0
            for _ in 0..<500 where port == 0 {
                try await Task.sleep(for: .milliseconds(10))
                port = portBox.port.withLock { $0 }
            }
            #expect(port > 0)
            let paths = CampaignPaths(directory: tc.directory)
            let spki = try NIOSSLCertificate.fromPEMFile(paths.serverCertificate)[0].extractPublicKey().toSPKIBytes()
            let pin = Data(ContentDigest.bytes(Data(spki))).base64EncodedString()
            let url = "https://127.0.0.1:\(port)/"
            let png = work + "/dashboard.png"
            let common = [
                "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=\(work)/profile",
                "--ignore-certificate-errors-spki-list=\(pin)", "--window-size=1200,1000",
            ]
            let dom = try await Self.run(common + ["--dump-dom", url])
            _ = try await Self.run(common + ["--screenshot=\(png)", url])
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()

            #expect(dom.contains("<h1>Browser Check Campaign</h1>"), "rendered DOM: \(dom.prefix(300))")
            #expect(dom.contains("<svg") && dom.contains("<polyline"))
            #expect(dom.contains("class=\"progress\""))
            let image = try Data(contentsOf: URL(fileURLWithPath: png))
            #expect(image.starts(with: [0x89, 0x50, 0x4E, 0x47]) && image.count > 10_000, "\(image.count) bytes")
        }
    }

    /// Runs chromium on a background thread (killed after 30 s) and returns its standard output.
    static func run(_ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: chromium)
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        return await withCheckedContinuation { continuation in
            DispatchQueue.global().asyncAfter(deadline: .now() + 30) {
                if process.isRunning { process.terminate() }
            }
            DispatchQueue.global().async {
                let data = out.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: String(decoding: data, as: UTF8.self))
            }
        }
    }
}
