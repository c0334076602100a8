import Foundation
import Synchronization

/// The CPU cap's arithmetic: how long to sleep so that the process's CPU time stays at `percent` % of
/// `cores × wall time`. Pure: the caller passes the clocks' readings, so tests need no real time.
///
/// It keeps one window (wall and CPU time at its start). At each check the CPU used since the window
/// started must not exceed `percent/100 × cores × elapsed`; the shortfall of wall time is the sleep.
/// It only asks for a sleep once the shortfall reaches a full cycle's off-time
/// (`period × (1 − percent/100)`), so work and sleep alternate about every `period` seconds rather than
/// in many tiny sleeps. Credit never builds up: once the window is at least `window` seconds old and
/// not in debt (e.g. after waiting for work or a pause), it restarts, so idle time is not spent later as
/// a burst at 100 %.
public struct DutyCycle: Sendable, Equatable {
    /// Length of one work + sleep cycle, seconds.
    public static let period = 0.1
    /// Longest window before unused allowance is dropped, seconds.
    public static let window = 1.0

    /// Wall and CPU seconds at the start of the window (nil: no window yet).
    public private(set) var start: (wall: Double, cpu: Double)?

    public init() {}

    public static func == (a: DutyCycle, b: DutyCycle) -> Bool {
        a.start?.wall == b.start?.wall && a.start?.cpu == b.start?.cpu
    }

    /// Seconds to sleep now (0: keep working).
    /// - Parameters:
    ///   - wall: a monotonic wall clock reading, seconds.
    ///   - cpu: the process's CPU time (user + system, all threads), seconds.
    ///   - percent: the cap, 1…100; 100 disables duty cycling.
    ///   - cores: the cores the daemon may use (its training threads).
    public mutating func sleepNeeded(wall: Double, cpu: Double, percent: Int, cores: Int) -> Double {
        guard percent < 100 else {
            start = nil
            return 0
        }
        guard let s = start else {
            start = (wall, cpu)
            return 0
        }
        let share = Double(max(1, percent)) / 100
        let allowedCores = share * Double(max(1, cores))
        let elapsed = wall - s.wall
        // The wall time that has to pass for the CPU time used so far to be within the cap.
        let debt = (cpu - s.cpu) / allowedCores - elapsed
        if debt >= Self.period * (1 - share) { return debt }
        if debt <= 0 && elapsed >= Self.window { start = (wall, cpu) }
        return 0
    }

    /// Forgets the window (after a long hold; the next check starts a new one).
    public mutating func reset() { start = nil }
}

/// The CPU cap as the training thread applies it between two chunks (or steps): reads the cap and the
/// thread count from `PeerLiveSettings` on every check, so a reload takes effect at the next chunk.
final class CPUThrottle: Sendable {
    /// The clocks and the sleep, injectable for tests.
    struct Clock: Sendable {
        var wall: @Sendable () -> Double = { CPUThrottle.monotonicSeconds() }
        var cpu: @Sendable () -> Double = { CPUThrottle.processCPUSeconds() }
        var sleep: @Sendable (Double) -> Void = { usleep(useconds_t(max(0, min($0, 1)) * 1e6)) }
    }

    /// Longest single sleep, so shutdown and pause are noticed quickly while throttled.
    static let sleepSlice = 0.1

    let live: PeerLiveSettings
    let clock: Clock
    private let cycle = Mutex(DutyCycle())

    init(live: PeerLiveSettings, clock: Clock = Clock()) {
        self.live = live
        self.clock = clock
    }

    /// Sleeps as long as the cap requires (in slices, stopping early when `shouldStop` turns true);
    /// returns the seconds slept.
    @discardableResult
    func pace(shouldStop: () -> Bool = { false }) -> Double {
        let settings = live.current
        let wall = clock.wall()
        let need = cycle.withLock {
            $0.sleepNeeded(
                wall: wall, cpu: clock.cpu(), percent: settings.limits.cpuLimitPercent, cores: settings.threads)
        }
        guard need > 0 else { return 0 }
        var left = need
        while left > 0 && !shouldStop() {
            let slice = min(left, Self.sleepSlice)
            clock.sleep(slice)
            left -= slice
        }
        return need - max(0, left)
    }

    /// Drops the current window (after the lease was held while suspended).
    func reset() { cycle.withLock { $0.reset() } }

    /// CLOCK_MONOTONIC in seconds.
    static func monotonicSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// User + system CPU time of the whole process (every thread), seconds: what `getrusage` and
    /// `/proc/<pid>/stat` report.
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
