import CrowdCoordinator
import CrowdPeer
import CrowdTestSupport
import Foundation
import Synchronization
import Testing

/// A real `crowdtrain peer run` process against an in-process coordinator: SIGHUP re-reads `peer.json`, says
/// so in one line, and `status.json` shows the new settings within a couple of seconds (flags still win);
/// an invalid file on reload keeps the previous settings and the daemon keeps running.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct ReloadProcessTests {
    @Test func sighupAppliesTheNewFileAndAnInvalidFileKeepsTheOldSettings() async throws {
        let campaign = try LiveCampaign(peersPerRound: 1, rounds: 1)
        defer { campaign.remove() }
        let coordinator = try await RunningCoordinator.start(directory: campaign.coordinatorDir)
        try await campaign.joinPeer(1, at: coordinator.url)
        let peer = PeerPaths(root: campaign.peerDir(1))
        let file = peer.root + "/peer.json"
        func write(_ json: String) throws { try Data(json.utf8).write(to: URL(fileURLWithPath: file)) }
        try write(#"{"threads": 1, "cpuLimit": 100, "nice": 5}"#)

        // No --exit-when-finished: after its lease the daemon polls every 0.2 s, rewriting status.json on change.
        // The environment's download cap beats the file's, the --nice flag beats both, before and after reloads.
        let child = try CrowdTrainChild(
            arguments: ["peer", "run", "--dir", peer.root, "--nice", "12", "--max-wait", "0.2"],
            environment: ["CROWDTRAIN_DOWNLOAD_LIMIT": "500k"])
        defer { child.kill() }
        try await child.waitForLine(seconds: 20) { $0.hasPrefix("config: threads 1, cpu 100%, nice 12") }
        try await waitForSettings(peer, child) { $0.threads == 1 && $0.nice == 12 && $0.generation == 0 }

        try write(#"{"threads": 2, "cpuLimit": 50, "nice": 3, "uploadLimit": "300k", "downloadLimit": "2M", "#
            + #""dailyDataCap": "1G"}"#)
        let sent = Date()
        child.signal(SIGHUP)
        let line = try await child.waitForLine(seconds: 5) { $0.hasPrefix("config reloaded:") }
        #expect(line == "config reloaded: threads 2, cpu 50%, nice 12, upload 300.0 kB/s, download 500.0 kB/s, "
            + "memory unlimited; data cap 1.00 GB/day")
        let reloaded = try await waitForSettings(peer, child) { $0.generation == 1 }
        #expect(Date().timeIntervalSince(sent) < 3, "status.json took \(Date().timeIntervalSince(sent)) s")
        #expect(reloaded.threads == 2 && reloaded.cpuLimitPercent == 50 && reloaded.nice == 12)
        #expect(reloaded.uploadBytesPerSecond == 300_000 && reloaded.dailyDataCap == 1_000_000_000)
        #expect(reloaded.downloadBytesPerSecond == 500_000, "the environment beats the file")
        let shown = try await CrowdTrainChild.output(of: ["peer", "status", "--dir", peer.root])
        #expect(shown.contains("2 threads, cpu 50%, nice 12, upload 300.0 kB/s, download 500.0 kB/s, memory "
            + "unlimited (reloaded 1×)"), "\(shown)")
        #expect(shown.contains("data cap 1.00 GB/day"), "\(shown)")

        try write(#"{"threads": 2, "cpuLimit": "lots"}"#)
        child.signal(SIGHUP)
        let refused = try await child.waitForLine(seconds: 5) { $0.hasPrefix("config not reloaded:") }
        #expect(refused.contains("key \"cpuLimit\": 'lots' is not a whole number"), "\(refused)")
        #expect(refused.hasSuffix("keeping threads 2, cpu 50%, nice 12, upload 300.0 kB/s, download 500.0 kB/s, "
            + "memory unlimited; data cap 1.00 GB/day"), "\(refused)")
        try await Task.sleep(nanoseconds: 600_000_000)
        let kept = try #require(PeerStatus.read(from: peer.status)?.settings)
        #expect(kept == reloaded, "an invalid file must not change the settings")
        #expect(child.isRunning)

        child.signal(SIGTERM)
        let code = try await child.waitForExit(seconds: 10)
        await coordinator.stop()
        #expect(code == 0, "\(child.lines.all)")
        #expect(PeerStatus.read(from: peer.status)?.lifetime.accepted == 1, "\(child.lines.all)")
    }

    /// Waits until `status.json` has settings for which `done` holds; returns them.
    @discardableResult
    func waitForSettings(
        _ peer: PeerPaths, _ child: CrowdTrainChild, _ done: (PeerStatus.Settings) -> Bool
    ) async throws -> PeerStatus.Settings {
        let deadline = Date().addingTimeInterval(10)
        while true {
            if let s = PeerStatus.read(from: peer.status)?.settings, done(s) { return s }
            guard Date() < deadline, child.isRunning else {
                let now = String(describing: PeerStatus.read(from: peer.status)?.settings)
                Issue.record("status.json never showed the settings: \(now); \(child.lines.all)")
                throw CancellationError()
            }
            try await Task.sleep(nanoseconds: 20_000_000)
        }
    }
}
