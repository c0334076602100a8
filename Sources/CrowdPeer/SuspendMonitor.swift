import Foundation
import Synchronization

/// The daemon's live view of `SuspendPolicy`: reads `pause.json`, runs the probes (the idle probe at most
/// every `idleProbeInterval` seconds, since it starts `loginctl`), and counts traffic. Thread-safe: the
/// training thread asks it between two chunks.
///
/// With `live`, every evaluation uses `live.current.suspend` (a SIGHUP reload applies at the next check)
/// and adds `memoryLimit` while a refused model's need exceeds `live.current.limits.memoryLimitBytes`.
/// With `usagePath`, the day's traffic survives restarts (`usage.json`, written after each count).
final class SuspendMonitor: Sendable {
    struct Probes: Sendable {
        var now: @Sendable () -> Double = { Date().timeIntervalSince1970 }
        var idle: @Sendable () -> IdleState = { SuspendProbes.idle() }
        var onBattery: @Sendable () -> Bool? = { SuspendProbes.onBattery() }
    }

    /// How often a suspended daemon re-evaluates (pause and resume take effect within about this long).
    static let pollInterval = 0.5
    static let idleProbeInterval = 5.0

    private struct State {
        var policy: SuspendPolicy
        var idle: IdleState = .unavailable("not probed yet")
        var idleProbedAt = -Double.infinity
        var last: (at: Double, decision: SuspendPolicy.Decision)?
        /// Bytes the campaign's model needs, once `MemoryGuard` refused it.
        var memoryNeeded: Int?
    }

    let pausePath: String
    let probes: Probes
    let live: PeerLiveSettings?
    let usagePath: String?
    /// The CPU cap, applied by the training thread between chunks (nil without live settings).
    let throttle: CPUThrottle?
    private let state: Mutex<State>

    init(
        policy: SuspendPolicy, pausePath: String, probes: Probes = Probes(), live: PeerLiveSettings? = nil,
        usagePath: String? = nil
    ) {
        self.pausePath = pausePath
        self.probes = probes
        self.live = live
        self.usagePath = usagePath
        self.throttle = live.map { CPUThrottle(live: $0) }
        var policy = policy
        if let usagePath, let usage = UsageFile.read(from: usagePath) {
            policy.restore(bytes: usage.bytes, dayStart: usage.dayStart)
        }
        self.state = Mutex(State(policy: policy))
    }

    /// Counts traffic towards the daily cap (and saves the day's count when the monitor has a usage file).
    func record(bytes: Int) {
        let now = probes.now()
        let usage = state.withLock { s -> UsageFile in
            s.policy.record(bytes: bytes, at: now)
            return UsageFile(dayStart: s.policy.dayStart, bytes: s.policy.bytesToday)
        }
        guard let usagePath else { return }
        // Advisory: a failed write only loses the count since the last successful one.
        try? usage.write(to: usagePath)
    }

    /// Bytes counted towards today's cap.
    var bytesToday: Int { state.withLock { $0.policy.bytesToday } }

    /// Remembers that the campaign's model needs `bytes` of memory; `memoryLimit` applies while the live limit
    /// is below that (raising it with a reload resumes work).
    func refuseModel(needing bytes: Int) {
        state.withLock { $0.memoryNeeded = bytes }
    }

    /// The need of a refused model while it still exceeds the limit, else nil.
    var memoryShortfall: Int? {
        guard let need = state.withLock({ $0.memoryNeeded }) else { return nil }
        let limit = live?.current.limits.memoryLimitBytes ?? Int.max
        return need > limit ? need : nil
    }

    func evaluate() -> SuspendPolicy.Decision {
        let now = probes.now()
        let until = PauseFile.read(from: pausePath)?.pausedUntil
        if let live {
            let settings = live.current.suspend
            state.withLock { if $0.policy.settings != settings { $0.policy.settings = settings } }
        }
        let memory = memoryShortfall
        let needsIdle = state.withLock { s in
            s.policy.settings.idleOnlyMinutes != nil && now - s.idleProbedAt >= Self.idleProbeInterval
        }
        let idle = needsIdle ? probes.idle() : nil
        let battery = state.withLock { $0.policy.settings.acOnly } ? probes.onBattery() : nil
        return state.withLock { s in
            if let idle {
                s.idle = idle
                s.idleProbedAt = now
            }
            var d = s.policy.evaluate(now: now, pausedUntil: until, idle: s.idle, onBattery: battery)
            if let memory {
                d.reasons.append(.memoryLimit)
                let limit = live?.current.limits.memoryLimitBytes ?? 0
                d.notes.append(
                    "the model needs about \(MemoryGuard.mib(memory)), the memory limit is \(MemoryGuard.mib(limit)): "
                        + "raise --memory-limit or leave the campaign")
            }
            s.last = (now, d)
            return d
        }
    }

    /// The last decision if younger than `maxAge` seconds, else a fresh one: the training thread asks after
    /// every chunk, which can be thousands of times a second for a small model.
    func evaluate(maxAge: Double) -> SuspendPolicy.Decision {
        let now = probes.now()
        if let last = state.withLock({ $0.last }), now - last.at < maxAge, now >= last.at { return last.decision }
        return evaluate()
    }

    /// Seconds to sleep before the next evaluation while suspended.
    func sleepSeconds(_ d: SuspendPolicy.Decision) -> Double {
        let now = probes.now()
        guard let next = d.nextChange else { return Self.pollInterval }
        return max(0.01, min(Self.pollInterval, next - now))
    }

    /// Human-readable summary for `status.json`'s `reason`.
    static func describe(_ d: SuspendPolicy.Decision, now: Double) -> String {
        var parts = d.reasons.compactMap { r -> String? in
            switch r {
            case .paused: return "paused"
            case .userActive: return "user active"
            case .idleUnknown: return nil  // its note says why and what to do
            case .onBattery: return "on battery"
            case .outsideHours: return "outside allowed hours"
            case .quotaReached: return "daily data cap reached"
            case .memoryLimit: return "the campaign's model needs more memory than --memory-limit"
            }
        }
        parts += d.notes
        return parts.joined(separator: ", ")
    }
}
