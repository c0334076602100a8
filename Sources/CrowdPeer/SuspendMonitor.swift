import Foundation
import Synchronization

/// The daemon's live view of `SuspendPolicy`: reads `pause.json`, runs the probes (the idle probe at most
/// every `idleProbeInterval` seconds, since it starts `loginctl`), and counts traffic. Thread-safe: the
/// training thread asks it between two chunks.
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
    }

    let pausePath: String
    let probes: Probes
    private let state: Mutex<State>

    init(policy: SuspendPolicy, pausePath: String, probes: Probes = Probes()) {
        self.pausePath = pausePath
        self.probes = probes
        self.state = Mutex(State(policy: policy))
    }

    /// Counts traffic towards the daily cap.
    func record(bytes: Int) {
        let now = probes.now()
        state.withLock { $0.policy.record(bytes: bytes, at: now) }
    }

    func evaluate() -> SuspendPolicy.Decision {
        let now = probes.now()
        let until = PauseFile.read(from: pausePath)?.pausedUntil
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
            let d = s.policy.evaluate(now: now, pausedUntil: until, idle: s.idle, onBattery: battery)
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
        var parts = d.reasons.map { r -> String in
            switch r {
            case .paused: return "paused"
            case .userActive: return "user active"
            case .onBattery: return "on battery"
            case .outsideHours: return "outside allowed hours"
            case .quotaReached: return "daily data cap reached"
            }
        }
        parts += d.notes
        return parts.joined(separator: ", ")
    }
}
