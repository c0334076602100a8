import Foundation
import Synchronization
import Testing

@testable import CrowdPeer

/// The CPU cap's duty cycle with simulated clocks, the throttle's live reload, and per-thread niceness.
@Suite struct CPUThrottleTests {
    /// Simulates `seconds` of training in chunks of `chunk` seconds of CPU on `busyCores` cores, sleeping what
    /// the duty cycle asks; returns (CPU used, wall elapsed, longest sleep).
    func simulate(
        percent: Int, cores: Int, busyCores: Double, chunk: Double, seconds: Double, cycle: inout DutyCycle,
        wall: inout Double, cpu: inout Double
    ) -> (cpu: Double, wall: Double, longestSleep: Double) {
        let cpu0 = cpu, wall0 = wall
        var longest = 0.0
        _ = cycle.sleepNeeded(wall: wall, cpu: cpu, percent: percent, cores: cores)
        while wall - wall0 < seconds {
            wall += chunk
            cpu += chunk * busyCores
            let s = cycle.sleepNeeded(wall: wall, cpu: cpu, percent: percent, cores: cores)
            #expect(s >= 0)
            wall += s
            longest = max(longest, s)
        }
        return (cpu - cpu0, wall - wall0, longest)
    }

    @Test(arguments: [10, 25, 50, 75, 90])
    func dutyCycleHoldsTheShareOfOneCore(percent: Int) {
        for chunk in [0.0005, 0.01, 0.04] {
            var cycle = DutyCycle()
            var wall = 1000.0, cpu = 3.0
            let r = simulate(
                percent: percent, cores: 1, busyCores: 1, chunk: chunk, seconds: 30, cycle: &cycle, wall: &wall,
                cpu: &cpu)
            let share = r.cpu / r.wall
            #expect(abs(share - Double(percent) / 100) < 0.01, "chunk \(chunk): \(share)")
            // Smooth: one sleep is about one cycle's off-time, never many cycles.
            #expect(r.longestSleep <= DutyCycle.period + chunk * 100 / Double(percent), "\(r.longestSleep)")
        }
    }

    @Test func dutyCycleCountsAllAllowedCores() {
        // Two training threads busy, a 25 % cap of 2 cores: half a core on average.
        var cycle = DutyCycle()
        var wall = 0.0, cpu = 0.0
        let r = simulate(
            percent: 25, cores: 2, busyCores: 2, chunk: 0.005, seconds: 20, cycle: &cycle, wall: &wall, cpu: &cpu)
        #expect(abs(r.cpu / r.wall - 0.5) < 0.01)
    }

    @Test func idleTimeIsNotSpentLaterAsABurst() {
        var cycle = DutyCycle()
        var wall = 0.0, cpu = 0.0
        _ = cycle.sleepNeeded(wall: wall, cpu: cpu, percent: 50, cores: 1)
        // Ten seconds without training (waiting for work, paused): no credit beyond one window.
        wall += 10
        #expect(cycle.sleepNeeded(wall: wall, cpu: cpu, percent: 50, cores: 1) == 0)
        var worked = 0.0
        while true {
            wall += 0.001
            cpu += 0.001
            worked += 0.001
            if cycle.sleepNeeded(wall: wall, cpu: cpu, percent: 50, cores: 1) > 0 { break }
        }
        #expect(worked < 0.06, "worked \(worked) s at full speed before the first sleep")
    }

    @Test func noCapNeverSleeps() {
        var cycle = DutyCycle()
        for i in 0..<100 {
            #expect(cycle.sleepNeeded(wall: Double(i), cpu: Double(i), percent: 100, cores: 1) == 0)
        }
        #expect(cycle.start == nil)
    }

    /// A fake process: CPU advances while "working", the sleep advances wall time only.
    final class FakeMachine: Sendable {
        let state = Mutex((wall: 0.0, cpu: 0.0, slept: 0.0))
        func work(_ s: Double) { state.withLock { $0.wall += s; $0.cpu += s } }
        var clock: CPUThrottle.Clock {
            CPUThrottle.Clock(
                wall: { self.state.withLock { $0.wall } }, cpu: { self.state.withLock { $0.cpu } },
                sleep: { s in self.state.withLock { $0.wall += s; $0.slept += s } })
        }
    }

    @Test func throttleReadsTheLiveCapAtEveryChunk() {
        let live = PeerLiveSettings(.init(threads: 1, limits: PeerLimits(cpuLimitPercent: 100), suspend: .init()))
        let machine = FakeMachine()
        let throttle = CPUThrottle(live: live, clock: machine.clock)
        func run(_ seconds: Double) -> Double {
            let start = machine.state.withLock { $0 }
            while machine.state.withLock({ $0.wall }) - start.wall < seconds {
                machine.work(0.002)
                throttle.pace()
            }
            let end = machine.state.withLock { $0 }
            return (end.cpu - start.cpu) / (end.wall - start.wall)
        }
        #expect(run(5) == 1)
        var s = live.current
        s.limits.cpuLimitPercent = 30
        live.update(s)
        #expect(abs(run(10) - 0.3) < 0.02)
        s.limits.cpuLimitPercent = 80
        live.update(s)
        _ = run(1)
        #expect(abs(run(10) - 0.8) < 0.02)
        // Sleeps go in slices, and stop at once on shutdown.
        s.limits.cpuLimitPercent = 1
        live.update(s)
        machine.work(1)
        throttle.pace()
        machine.work(1)
        let slept = throttle.pace(shouldStop: { true })
        #expect(slept == 0)
    }

    @Test func nicenessIsSetOnEveryThread() throws {
        let before = try #require(Niceness.value(thread: Niceness.currentThreadID ?? 0))
        let wantedBefore = Niceness.wanted.load(ordering: .relaxed)
        // 10 is the daemon's default: in-process daemons of other tests that start meanwhile set the same value.
        let target = max(10, before)
        let started = DispatchSemaphore(value: 0), finish = DispatchSemaphore(value: 0)
        let other = Mutex<Int32?>(nil)
        let thread = Thread {
            other.withLock { $0 = Niceness.currentThreadID }
            started.signal()
            finish.wait()
        }
        thread.start()
        started.wait()
        defer { finish.signal() }
        let failures = Niceness.applyToAllThreads(target)
        #expect(failures.isEmpty, "\(failures)")
        let tids = Niceness.threadIDs()
        #expect(tids.count >= 2)
        let otherID = try #require(other.withLock { $0 })
        #expect(tids.contains(otherID))
        #expect(Niceness.value(thread: otherID) == target)
        for tid in tids {
            if let v = Niceness.value(thread: tid) { #expect(v >= target, "thread \(tid)") }
        }
        // A thread started later applies the wanted value itself (the daemon's training thread).
        let late = Mutex<Int?>(nil)
        let done = DispatchSemaphore(value: 0)
        Niceness.wanted.store(min(19, target + 1), ordering: .relaxed)
        Thread {
            Niceness.applyToCurrentThread()
            late.withLock { $0 = Niceness.value(thread: Niceness.currentThreadID ?? 0) }
            done.signal()
        }.start()
        done.wait()
        Niceness.wanted.store(wantedBefore, ordering: .relaxed)
        #expect(late.withLock { $0 } == min(19, target + 1))
    }
}
