import Foundation
import Synchronization
import Testing

@testable import CrowdPeer

/// The daily data cap's count across restarts (`usage.json`) and the monitor following reloaded settings.
@Suite struct UsageAndReloadTests {
    let dir: String
    let utc = TimeZone(identifier: "UTC")!
    /// 2026-11-26 00:00:00 UTC.
    let midnight = 1_795_651_200.0

    init() throws {
        dir = NSTemporaryDirectory() + "crowdpeer-usage-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    final class Clock: Sendable {
        let t: Mutex<Double>
        init(_ t: Double) { self.t = Mutex(t) }
        var now: Double { t.withLock { $0 } }
        func set(_ v: Double) { t.withLock { $0 = v } }
    }

    func monitor(_ clock: Clock, cap: Int, live: PeerLiveSettings? = nil) -> SuspendMonitor {
        SuspendMonitor(
            policy: SuspendPolicy(settings: SuspendSettings(dailyDataCap: cap), timeZone: utc),
            pausePath: dir + "/pause.json", probes: .init(now: { clock.now }, idle: { .active }, onBattery: { nil }),
            live: live, usagePath: dir + "/usage.json")
    }

    @Test func usageFileRoundTripsAndRejectsNonsense() throws {
        let path = dir + "/usage.json"
        #expect(UsageFile.read(from: path) == nil)
        try UsageFile(dayStart: midnight, bytes: 1234).write(to: path)
        #expect(UsageFile.read(from: path) == UsageFile(dayStart: midnight, bytes: 1234))
        try Data(#"{"dayStart": 1, "bytes": -5}"#.utf8).write(to: URL(fileURLWithPath: path))
        #expect(UsageFile.read(from: path) == nil)
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: path))
        #expect(UsageFile.read(from: path) == nil)
    }

    @Test func theDaysCountSurvivesARestartUntilMidnight() throws {
        let clock = Clock(midnight + 20 * 3600)
        let first = monitor(clock, cap: 1000)
        first.record(bytes: 700)
        #expect(UsageFile.read(from: dir + "/usage.json") == UsageFile(dayStart: midnight, bytes: 700))
        #expect(first.evaluate().reasons.isEmpty)
        // A restart the same day continues the count: 700 + 300 reaches the cap.
        clock.set(midnight + 22 * 3600)
        let second = monitor(clock, cap: 1000)
        #expect(second.bytesToday == 700)
        second.record(bytes: 300)
        #expect(second.evaluate().reasons == [.quotaReached])
        // A restart after midnight starts from zero, and the file follows.
        clock.set(midnight + 86400 + 60)
        let third = monitor(clock, cap: 1000)
        #expect(third.evaluate().reasons.isEmpty && third.bytesToday == 0)
        third.record(bytes: 10)
        #expect(UsageFile.read(from: dir + "/usage.json") == UsageFile(dayStart: midnight + 86400, bytes: 10))
        // The same monitor rolls at midnight while running.
        clock.set(midnight + 2 * 86400 - 1)
        third.record(bytes: 990)
        #expect(third.evaluate().reasons == [.quotaReached])
        clock.set(midnight + 2 * 86400)
        #expect(third.evaluate().reasons.isEmpty && third.bytesToday == 0)
    }

    @Test func suspendSettingsFollowAReload() throws {
        let clock = Clock(midnight + 12 * 3600)
        let live = PeerLiveSettings(.init(threads: 1, limits: PeerLimits(), suspend: SuspendSettings()))
        let m = monitor(clock, cap: 1, live: live)
        m.record(bytes: 500)
        // The live settings (no cap) win over the policy the monitor was built with.
        #expect(m.evaluate().reasons.isEmpty)
        var s = live.current
        s.suspend = SuspendSettings(hours: try HourWindow(parsing: "22-7"), dailyDataCap: 400)
        live.update(s)
        #expect(m.evaluate().reasons == [.outsideHours, .quotaReached])
        // The training thread's cached decision is refreshed within its max age.
        s.suspend = SuspendSettings()
        live.update(s)
        clock.set(clock.now + 0.3)
        #expect(m.evaluate(maxAge: 0.25).reasons.isEmpty)
        s.suspend = SuspendSettings(acOnly: true)
        live.update(s)
        #expect(m.evaluate().notes == ["power source unknown; running as if on AC"])
    }
}
