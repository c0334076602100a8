import Foundation

/// Suspend reasons, shutdown and waiting: how the driver observes the events `stop`, `suspended`, `resumed` and
/// `tick` for `PeerWorkMachine`.
extension PeerSession {
    /// An operation's result, or the event that interrupted it.
    enum Raced<T: Sendable>: Sendable {
        case done(T)
        case interrupted(PeerWorkMachine.Event)
    }

    /// The suspension that applies now (nil: none); logs each new probe note once.
    func suspension() -> PeerWorkMachine.Suspension? { suspension(suspend.evaluate()) }

    /// The suspension `d` decides (nil: none); logs each new probe note once.
    func suspension(_ d: SuspendPolicy.Decision) -> PeerWorkMachine.Suspension? {
        for note in d.notes where !notesShown.contains(note) {
            notesShown.insert(note)
            logger.warning("\(note)")
        }
        guard d.isSuspended else { return nil }
        return PeerWorkMachine.Suspension(reasons: d.reasons, text: SuspendMonitor.describe(d, now: suspend.probes.now()))
    }

    /// The check before a request: `stop` (unless `stopToo` is false) or `suspended` instead of starting it.
    func gate(stopToo: Bool = true) -> PeerWorkMachine.Event? {
        if stopToo && stopping { return .stop }
        return suspension().map { .suspended($0) }
    }

    /// Runs `operation` (a request), cancelling it when a suspend reason appears or, with `stopToo`, the daemon stops.
    func race<T: Sendable>(stopToo: Bool = true, _ operation: @escaping @Sendable () async throws -> T) async throws
        -> Raced<T>
    {
        let stop = self.stop
        let suspend = self.suspend
        return try await withThrowingTaskGroup(of: Raced<T>?.self) { group in
            group.addTask { .done(try await operation()) }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .milliseconds(250))
                    if Task.isCancelled { return nil }
                    if stopToo && stop.isSet { return .interrupted(.stop) }
                    let d = suspend.evaluate()
                    if d.isSuspended {
                        let text = SuspendMonitor.describe(d, now: suspend.probes.now())
                        return .interrupted(.suspended(PeerWorkMachine.Suspension(reasons: d.reasons, text: text)))
                    }
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = try await group.next() {
                if let next { return next }
            }
            return .interrupted(.stop)  // cancelled
        }
    }

    /// Sleeps until `until` (the machine's clock), waking for shutdown and at once when a suspend reason starts (so
    /// `peer status` shows it within a second).
    func sleep(until: Double) async -> PeerWorkMachine.Event {
        while !stopping {
            if let s = suspension() { return .suspended(s) }
            let left = until - now()
            if left <= 0 { return .tick }
            await pause(min(left, SuspendMonitor.pollInterval))
        }
        return .stop
    }

    /// While suspended: makes no requests and does no work, re-evaluating about twice a second; reports `resumed`
    /// once no reason applies, `suspended` when the reasons or their description change, `stop` on shutdown.
    func waitForResume() async -> PeerWorkMachine.Event {
        guard case .suspended(let shown, _) = machine.state else { return .resumed }
        while !stopping {
            let d = suspend.evaluate()
            guard let s = suspension(d) else { return .resumed }
            if s != shown { return .suspended(s) }
            await pause(suspend.sleepSeconds(d))
        }
        return .stop
    }

    /// The training thread's check between two chunks: true to stop (shutdown, or the lease expired while
    /// suspended); while a reason that stops training applies it blocks, keeping the lease in memory.
    static func holdWhileSuspended(
        monitor: SuspendMonitor, stop: StopFlag, status: PeerStatus, path: String, deadline: Double,
        output: @Sendable (String) -> Void
    ) -> Bool {
        // The CPU cap first: a pause that starts during its sleep is seen right after.
        monitor.throttle?.pace(shouldStop: { stop.isSet })
        var shown: [SuspendReason] = []
        while !stop.isSet {
            let d = shown.isEmpty ? monitor.evaluate(maxAge: SuspendMonitor.pollInterval / 2) : monitor.evaluate()
            guard d.stopsTraining else {
                if !shown.isEmpty {
                    var s = status
                    s.updatedAt = monitor.probes.now()
                    try? s.write(to: path, durable: false)
                    output("resumed the lease in progress")
                    monitor.throttle?.reset()
                }
                return false
            }
            if monitor.probes.now() >= deadline {
                output("the lease's deadline passed while suspended")
                return true
            }
            if shown != d.reasons {
                shown = d.reasons
                var s = status
                s.state = .suspended
                s.reason = SuspendMonitor.describe(d, now: monitor.probes.now()) + " (lease held, training paused)"
                s.suspendReasons = d.reasons.map(\.rawValue)
                s.updatedAt = monitor.probes.now()
                try? s.write(to: path, durable: false)
                output("suspended mid-lease: \(s.reason ?? "")")
            }
            usleep(useconds_t(monitor.sleepSeconds(d) * 1e6))
        }
        return true
    }
}
