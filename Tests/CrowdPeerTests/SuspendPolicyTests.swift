import Foundation
import Testing

@testable import CrowdPeer

/// The suspend-reason state machine with an injected clock (UTC, so hours are predictable).
@Suite struct SuspendPolicyTests {
    let utc = TimeZone(identifier: "UTC")!
    /// 2026-11-26 00:00:00 UTC.
    let midnight = 1_795_651_200.0

    func policy(_ s: SuspendSettings) -> SuspendPolicy { SuspendPolicy(settings: s, timeZone: utc) }

    @Test func noSettingsNeverSuspends() {
        var p = policy(SuspendSettings())
        let d = p.evaluate(now: midnight + 3600, pausedUntil: nil, idle: .active, onBattery: true)
        #expect(d.reasons.isEmpty && d.nextChange == nil && d.notes.isEmpty && !d.isSuspended)
    }

    @Test func pauseUntilATimeEndsByItself() {
        var p = policy(SuspendSettings())
        let now = midnight + 100
        let d = p.evaluate(now: now, pausedUntil: now + 7200, idle: .active, onBattery: nil)
        #expect(d.reasons == [.paused] && d.nextChange == now + 7200 && d.stopsTraining)
        let before = p.evaluate(now: now + 7199, pausedUntil: now + 7200, idle: .active, onBattery: nil)
        #expect(before.reasons == [.paused])
        #expect(p.evaluate(now: now + 7200, pausedUntil: now + 7200, idle: .active, onBattery: nil).reasons.isEmpty)
    }

    @Test func indefinitePauseHasNoScheduledEnd() {
        var p = policy(SuspendSettings())
        let d = p.evaluate(now: midnight, pausedUntil: .infinity, idle: .active, onBattery: nil)
        #expect(d.reasons == [.paused] && d.nextChange == nil)
    }

    @Test func idleOnlyWaitsForNMinutesWithoutInput() {
        var p = policy(SuspendSettings(idleOnlyMinutes: 10))
        let now = midnight + 5000
        #expect(p.evaluate(now: now, pausedUntil: nil, idle: .active, onBattery: nil).reasons == [.userActive])
        let recent = p.evaluate(now: now, pausedUntil: nil, idle: .idle(since: now - 120), onBattery: nil)
        #expect(recent.reasons == [.userActive] && recent.nextChange == now - 120 + 600)
        let long = p.evaluate(now: now, pausedUntil: nil, idle: .idle(since: now - 600), onBattery: nil)
        #expect(long.reasons.isEmpty)
    }

    /// Idle-only with unreadable idleness fails closed (it used to run "as if idle", training while the volunteer
    /// might be at the keyboard), and says why and what to do.
    @Test func idleOnlyWithUnreadableIdlenessFailsClosedAndSaysWhy() {
        var p = policy(SuspendSettings(idleOnlyMinutes: 5))
        let d = p.evaluate(
            now: midnight, pausedUntil: nil, idle: .unavailable("/usr/bin/loginctl not found"), onBattery: nil)
        #expect(d.reasons == [.idleUnknown] && d.isSuspended && d.stopsTraining)
        #expect(d.nextChange == nil, "no clock event ends it: the daemon keeps polling the probe")
        let why = "idle-only is set but idleness cannot be read (/usr/bin/loginctl not found): training stays paused; "
            + "unset idleOnlyMinutes"
        #expect(d.notes.count == 1 && d.notes[0].hasPrefix(why), "\(d.notes)")
        #expect(d.notes[0].contains("graphical/logind session"))
        // `peer status` shows the whole explanation once, not a bare reason name.
        #expect(SuspendMonitor.describe(d, now: midnight) == d.notes[0])
        // Combined with another reason, both show, in order.
        let paused = p.evaluate(
            now: midnight, pausedUntil: .infinity, idle: .unavailable("no user session reports an idle hint"),
            onBattery: nil)
        #expect(paused.reasons == [.paused, .idleUnknown])
        #expect(SuspendMonitor.describe(paused, now: midnight).hasPrefix("paused, idle-only is set but idleness"))
        // Once the probe can read idleness again, the ordinary idle rule applies.
        #expect(p.evaluate(now: midnight, pausedUntil: nil, idle: .idle(since: midnight - 600), onBattery: nil)
            .reasons.isEmpty)
    }

    @Test func unreadableIdlenessIsIgnoredWithoutIdleOnly() {
        var p = policy(SuspendSettings())
        let d = p.evaluate(now: midnight, pausedUntil: nil, idle: .unavailable("no loginctl"), onBattery: nil)
        #expect(d.reasons.isEmpty && d.notes.isEmpty)
    }

    /// The real probe on a machine without loginctl, through the daemon's monitor: suspended with the reason in the
    /// status text; unsetting idle-only (a reload) resumes.
    @Test func monitorWithoutLoginctlKeepsIdleOnlyTrainingPaused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("idle-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let missing = dir + "/no-such-loginctl"
        let now = midnight
        #expect(SuspendProbes.idle(loginctl: missing) == .unavailable("\(missing) not found"))
        let m = SuspendMonitor(
            policy: policy(SuspendSettings(idleOnlyMinutes: 10)), pausePath: dir + "/pause.json",
            probes: .init(now: { now }, idle: { SuspendProbes.idle(loginctl: missing) }, onBattery: { nil }))
        let d = m.evaluate()
        #expect(d.reasons == [.idleUnknown] && d.stopsTraining)
        #expect(SuspendMonitor.describe(d, now: midnight).contains("(\(missing) not found): training stays paused"))
        let relaxed = SuspendMonitor(
            policy: policy(SuspendSettings()), pausePath: dir + "/pause.json",
            probes: .init(now: { now }, idle: { SuspendProbes.idle(loginctl: missing) }, onBattery: { nil }))
        #expect(!relaxed.evaluate().isSuspended)
    }

    @Test func acOnlySuspendsOnBatteryOnly() {
        var p = policy(SuspendSettings(acOnly: true))
        #expect(p.evaluate(now: midnight, pausedUntil: nil, idle: .active, onBattery: true).reasons == [.onBattery])
        #expect(p.evaluate(now: midnight, pausedUntil: nil, idle: .active, onBattery: false).reasons.isEmpty)
        let unknown = p.evaluate(now: midnight, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(unknown.reasons.isEmpty && unknown.notes.count == 1)
    }

    @Test func hoursWrapMidnight() throws {
        let w = try HourWindow(parsing: "22-7")
        #expect(w.contains(hour: 22) && w.contains(hour: 23) && w.contains(hour: 0) && w.contains(hour: 6))
        #expect(!w.contains(hour: 7) && !w.contains(hour: 12) && !w.contains(hour: 21))
        let day = try HourWindow(parsing: "9-17")
        #expect(day.contains(hour: 9) && day.contains(hour: 16) && !day.contains(hour: 17) && !day.contains(hour: 3))
        for bad in ["", "22", "7-7", "25-3", "a-b", "1-2-3", "-1-4"] {
            #expect(throws: PeerError.self, "\(bad)") { try HourWindow(parsing: bad) }
        }
        var p = policy(SuspendSettings(hours: w))
        let noon = midnight + 12 * 3600 + 30 * 60
        let out = p.evaluate(now: noon, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(out.reasons == [.outsideHours] && out.nextChange == midnight + 13 * 3600)
        #expect(p.evaluate(now: midnight + 22 * 3600, pausedUntil: nil, idle: .active, onBattery: nil).reasons.isEmpty)
        let lastMinute = p.evaluate(now: midnight + 6 * 3600 + 3599, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(lastMinute.reasons.isEmpty)
        let seven = p.evaluate(now: midnight + 7 * 3600, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(seven.reasons == [.outsideHours])
    }

    @Test func hoursFollowTheInjectedTimeZone() throws {
        // 12:00 UTC is 21:00 in Tokyo (outside 22-7) and 22:00 at UTC+10.
        let noon = midnight + 12 * 3600
        var tokyo = SuspendPolicy(settings: SuspendSettings(hours: try HourWindow(parsing: "22-7")),
                                  timeZone: TimeZone(identifier: "Asia/Tokyo")!)
        var plus10 = SuspendPolicy(settings: SuspendSettings(hours: try HourWindow(parsing: "22-7")),
                                   timeZone: TimeZone(secondsFromGMT: 10 * 3600)!)
        #expect(tokyo.evaluate(now: noon, pausedUntil: nil, idle: .active, onBattery: nil).reasons == [.outsideHours])
        #expect(plus10.evaluate(now: noon, pausedUntil: nil, idle: .active, onBattery: nil).reasons.isEmpty)
    }

    @Test func dailyDataCapResetsAtLocalMidnight() {
        var p = policy(SuspendSettings(dailyDataCap: 1000))
        let t = midnight + 20 * 3600
        p.record(bytes: 600, at: t)
        let under = p.evaluate(now: t, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(under.reasons.isEmpty && under.nextChange == midnight + 86400)
        p.record(bytes: 400, at: t + 1)
        let over = p.evaluate(now: t + 2, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(over.reasons == [.quotaReached] && over.nextChange == midnight + 86400)
        #expect(!over.stopsTraining, "a used-up cap stops traffic, not local training")
        let lastSecond = p.evaluate(now: midnight + 86400 - 1, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(lastSecond.reasons == [.quotaReached])
        let next = p.evaluate(now: midnight + 86400, pausedUntil: nil, idle: .active, onBattery: nil)
        #expect(next.reasons.isEmpty && p.bytesToday == 0)
        // Traffic recorded just before midnight does not count for the next day.
        p.record(bytes: 999, at: midnight + 2 * 86400 - 1)
        #expect(p.evaluate(now: midnight + 2 * 86400, pausedUntil: nil, idle: .active, onBattery: nil).reasons.isEmpty)
    }

    @Test func overlappingReasonsAreOrderedAndResumeOneByOne() throws {
        var p = policy(SuspendSettings(
            idleOnlyMinutes: 1, acOnly: true, hours: try HourWindow(parsing: "22-7"), dailyDataCap: 10))
        let t = midnight + 12 * 3600  // noon: outside hours
        p.record(bytes: 10, at: t)
        var d = p.evaluate(now: t, pausedUntil: t + 30, idle: .idle(since: t - 10), onBattery: true)
        #expect(d.reasons == [.paused, .userActive, .onBattery, .outsideHours, .quotaReached])
        #expect(d.nextChange == t + 30)
        d = p.evaluate(now: t + 30, pausedUntil: t + 30, idle: .idle(since: t - 10), onBattery: true)
        #expect(d.reasons == [.userActive, .onBattery, .outsideHours, .quotaReached] && d.nextChange == t + 50)
        d = p.evaluate(now: t + 50, pausedUntil: nil, idle: .idle(since: t - 10), onBattery: false)
        #expect(d.reasons == [.outsideHours, .quotaReached] && d.nextChange == t + 3600)
        // 22:00 the same day: hours open, the cap still holds (same day).
        d = p.evaluate(now: midnight + 22 * 3600, pausedUntil: nil, idle: .idle(since: t), onBattery: false)
        #expect(d.reasons == [.quotaReached])
        // Midnight: everything clear.
        d = p.evaluate(now: midnight + 86400, pausedUntil: nil, idle: .idle(since: t), onBattery: false)
        #expect(d.reasons.isEmpty)
        // The user comes back.
        d = p.evaluate(now: midnight + 86400 + 5, pausedUntil: nil, idle: .active, onBattery: false)
        #expect(d.reasons == [.userActive])
    }
}
