import Foundation
import Synchronization
import Testing

@testable import CrowdPeer

/// `pause.json`, duration parsing, the probes' parsers, and the daemon's suspend checks.
@Suite struct PauseControlTests {
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "crowdpeer-pause-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    @Test func durationsParse() throws {
        #expect(try PauseFile.parseDuration("30s") == 30)
        #expect(try PauseFile.parseDuration("15m") == 900)
        #expect(try PauseFile.parseDuration("2h") == 7200)
        #expect(try PauseFile.parseDuration("1d") == 86400)
        #expect(try PauseFile.parseDuration("1.5h") == 5400)
        #expect(try PauseFile.parseDuration("45") == 45)
        for bad in ["", "h", "0s", "-5m", "2w", "2 h x", "inf", "nanh", "1e3s"] {
            #expect(throws: PeerError.self, "\(bad)") { try PauseFile.parseDuration(bad) }
        }
    }

    @Test func pauseFileRoundTripsAndResumeRemovesIt() throws {
        let path = PauseFile.path(in: PeerPaths(root: dir))
        #expect(PauseFile.read(from: path) == nil)
        let timed = PauseFile(pausedAt: 100, until: 7300)
        try timed.write(to: path)
        #expect(PauseFile.read(from: path) == timed && PauseFile.read(from: path)?.pausedUntil == 7300)
        try PauseFile(pausedAt: 100).write(to: path)
        #expect(PauseFile.read(from: path)?.pausedUntil == .infinity)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["pause.json"])
        #expect(PauseFile.remove(at: path))
        #expect(PauseFile.read(from: path) == nil && !PauseFile.remove(at: path))
        // A damaged file still means paused: the volunteer asked for something.
        try Data("{not json".utf8).write(to: URL(fileURLWithPath: path))
        #expect(PauseFile.read(from: path)?.pausedUntil == .infinity)
    }

    @Test func loginctlOutputsCombine() {
        let idle1 = "IdleHint=yes\nIdleSinceHint=1795651200000000\nClass=user\n"
        let idle2 = "IdleHint=yes\nIdleSinceHint=1795651260000000\nClass=user\n"
        let busy = "IdleHint=no\nIdleSinceHint=0\nClass=user\n"
        let greeter = "IdleHint=no\nIdleSinceHint=0\nClass=greeter\n"
        #expect(SuspendProbes.idle(showSessionOutputs: [idle1, idle2, greeter]) == .idle(since: 1_795_651_260))
        #expect(SuspendProbes.idle(showSessionOutputs: [idle1, busy]) == .active)
        if case .unavailable = SuspendProbes.idle(showSessionOutputs: []) {} else {
            Issue.record("expected unavailable")
        }
        if case .unavailable = SuspendProbes.idle(loginctl: dir + "/no-loginctl") {} else {
            Issue.record("a missing loginctl must be reported as unavailable")
        }
    }

    @Test func powerSupplyIsReadFromSysfs() throws {
        func supply(_ name: String, type: String, online: String?) throws {
            try FileManager.default.createDirectory(atPath: dir + "/ps/" + name, withIntermediateDirectories: true)
            try Data((type + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/ps/\(name)/type"))
            if let online { try Data((online + "\n").utf8).write(to: URL(fileURLWithPath: dir + "/ps/\(name)/online")) }
        }
        #expect(SuspendProbes.onBattery(root: dir + "/absent") == nil)
        try supply("BAT0", type: "Battery", online: nil)
        #expect(SuspendProbes.onBattery(root: dir + "/ps") == nil, "no mains entry: unknown")
        try supply("AC", type: "Mains", online: "0")
        #expect(SuspendProbes.onBattery(root: dir + "/ps") == true)
        try supply("AC", type: "Mains", online: "1")
        #expect(SuspendProbes.onBattery(root: dir + "/ps") == false)
    }

    /// A monitor on the real pause file with a settable clock and idle probe.
    final class Clock: Sendable {
        let t = Mutex(1_795_651_200.0)
        let probes = Mutex(0)
        var now: Double { t.withLock { $0 } }
        func advance(_ s: Double) { t.withLock { $0 += s } }
    }

    func monitor(_ clock: Clock, settings: SuspendSettings = SuspendSettings()) -> SuspendMonitor {
        SuspendMonitor(
            policy: SuspendPolicy(settings: settings, timeZone: TimeZone(identifier: "UTC")!),
            pausePath: PauseFile.path(in: PeerPaths(root: dir)),
            probes: .init(
                now: { clock.now }, idle: { clock.probes.withLock { $0 += 1 }; return .active }, onBattery: { false }))
    }

    @Test func monitorReadsThePauseFileAndRateLimitsTheIdleProbe() throws {
        let clock = Clock()
        let m = monitor(clock, settings: SuspendSettings(idleOnlyMinutes: 1))
        let path = PauseFile.path(in: PeerPaths(root: dir))
        #expect(m.evaluate().reasons == [.userActive])
        try PauseFile(pausedAt: clock.now, until: clock.now + 60).write(to: path)
        #expect(m.evaluate().reasons == [.paused, .userActive])
        #expect(clock.probes.withLock { $0 } == 1, "loginctl must not run on every evaluation")
        clock.advance(SuspendMonitor.idleProbeInterval)
        _ = m.evaluate()
        #expect(clock.probes.withLock { $0 } == 2)
        clock.advance(60)
        #expect(m.evaluate().reasons == [.userActive], "an expired pause file no longer pauses")
        #expect(m.sleepSeconds(m.evaluate()) == SuspendMonitor.pollInterval)
    }

    @Test func trainingHoldsWhilePausedAndContinuesOnResume() async throws {
        let clock = Clock()
        let m = monitor(clock)
        let path = PauseFile.path(in: PeerPaths(root: dir))
        let statusPath = dir + "/status.json"
        var base = PeerStatus()
        base.state = .training
        let stop = StopFlag()
        // Not paused: training goes on at once.
        let ranOn = PeerSession.holdWhileSuspended(
            monitor: m, stop: stop, status: base, path: statusPath, deadline: clock.now + 60, output: { _ in })
        #expect(!ranOn)
        try PauseFile(pausedAt: clock.now).write(to: path)
        // Between chunks the last decision is reused for a moment, then the pause file is read again.
        #expect(!m.evaluate(maxAge: 0.25).isSuspended)
        clock.advance(0.25)
        #expect(m.evaluate(maxAge: 0.25).reasons == [.paused])
        let started = Date()
        // The training thread is a real thread (as in the daemon), not a task: a blocked cooperative pool
        // (other suites running) must not delay it.
        let result = Mutex<(stopped: Bool, at: Date)?>(nil)
        let training = base
        let thread = Thread {
            let r = PeerSession.holdWhileSuspended(
                monitor: m, stop: stop, status: training, path: statusPath, deadline: clock.now + 60, output: { _ in })
            result.withLock { $0 = (r, Date()) }
        }
        thread.start()
        // While held, status.json says suspended with the reason.
        // (Checked after every sleep, so a busy machine delaying this task cannot make it miss the file.)
        var seen: PeerStatus?
        repeat {
            if let s = PeerStatus.read(from: statusPath), s.state == .suspended { seen = s; break }
            try await Task.sleep(nanoseconds: 20_000_000)
        } while Date().timeIntervalSince(started) < 10
        if seen == nil, let s = PeerStatus.read(from: statusPath), s.state == .suspended { seen = s }
        #expect(seen?.suspendReasons == ["paused"])
        let resumeAt = Date()
        #expect(PauseFile.remove(at: path))
        var ended: (stopped: Bool, at: Date)?
        repeat {
            ended = result.withLock { $0 }
            if ended == nil { try await Task.sleep(nanoseconds: 10_000_000) }
        } while ended == nil && Date().timeIntervalSince(resumeAt) < 10
        #expect(ended?.stopped == false, "resume continues the same lease")
        // Latency as the training thread saw it (the pause file is re-read about twice a second).
        #expect(ended.map { $0.at.timeIntervalSince(resumeAt) < 1.0 } == true)
        #expect(PeerStatus.read(from: statusPath)?.state == .training)
    }

    @Test func aLeaseWhoseDeadlinePassesWhileSuspendedIsGivenUp() throws {
        let clock = Clock()
        let m = monitor(clock)
        try PauseFile(pausedAt: clock.now).write(to: PauseFile.path(in: PeerPaths(root: dir)))
        let stopped = PeerSession.holdWhileSuspended(
            monitor: m, stop: StopFlag(), status: PeerStatus(), path: dir + "/status.json", deadline: clock.now,
            output: { _ in })
        #expect(stopped)
    }
}
