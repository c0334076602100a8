import Foundation
import Testing
@testable import CrowdPeer

/// SIGHUP's work without the signal: a valid file reaches the live settings, an invalid one changes nothing.
struct PeerConfigReloaderTests {
    @Test func validFileIsAppliedAndInvalidFileKeepsTheSettings() throws {
        let dir = NSTemporaryDirectory() + "crowdtrain-reload-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/peer.json"
        func write(_ json: String) throws { try Data(json.utf8).write(to: URL(fileURLWithPath: file)) }
        let flags = PeerConfigLayer(source: .flags, values: [.nice: "15"])
        let load: @Sendable () throws -> PeerSettings = {
            try PeerConfigFile.resolve(directory: dir, environment: [:], flags: flags)
        }
        try write(#"{"threads": 1}"#)
        let started = try load()
        let live = PeerLiveSettings(started.snapshot)
        let reloader = PeerConfigReloader(live: live, started: started, load: load, output: { _ in })

        try write(#"{"threads": 2, "cpuLimit": 50, "nice": 3, "uploadLimit": "300k"}"#)
        let ok = reloader.reload()
        #expect(ok == "config reloaded: threads 2, cpu 50%, nice 15, upload 300.0 kB/s, download unlimited, "
            + "memory unlimited; always")
        #expect(live.generation == 1 && live.current.threads == 2 && live.current.limits.cpuLimitPercent == 50)
        #expect(live.current.limits.nice == 15, "the flag still wins over the file")

        try write(#"{"threads": 2, "cpuLimit": 500}"#)
        let bad = reloader.reload()
        #expect(bad.hasPrefix("config not reloaded: \(file): key \"cpuLimit\": 500 is out of range 1…100"), "\(bad)")
        #expect(bad.hasSuffix("keeping threads 2, cpu 50%, nice 15, upload 300.0 kB/s, download unlimited, "
            + "memory unlimited; always"))
        #expect(live.generation == 1 && live.current.limits.cpuLimitPercent == 50)

        try write(#"{"maxWait": 5}"#)
        #expect(reloader.reload().hasSuffix("(backoffCap, maxWait and cacheBytes apply at the next start)"))

        // Without P/peer.json the defaults apply again (the flags still win).
        try FileManager.default.removeItem(atPath: file)
        #expect(reloader.reload().hasPrefix("config reloaded: threads 1, cpu 100%, nice 15, upload unlimited"))
        #expect(live.generation == 3 && live.current == PeerLiveSettings.Snapshot(
            threads: 1, limits: PeerLimits(nice: 15), suspend: SuspendSettings()))
    }
}
