import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Re-reads the volunteer's settings on SIGHUP (`systemctl reload`, `kill -HUP`) and hands them to the running
/// daemon through `PeerLiveSettings.update`.
///
/// `load` composes the sources again (config file and environment; the flags of the original command line
/// still win). A file that no longer parses, or a value out of range, changes nothing: the daemon keeps its
/// settings and says why. `threads`, limits and the schedule take effect within a second; `backoffCap`,
/// `maxWait` and `cacheBytes` only at the next start.
public struct PeerConfigReloader: Service {
    let live: PeerLiveSettings
    let started: PeerSettings
    let load: @Sendable () throws -> PeerSettings
    let output: @Sendable (String) -> Void

    /// - Parameters:
    ///   - live: the daemon's `live` settings.
    ///   - started: the settings the daemon started with.
    ///   - load: composes the settings anew (throws `PeerConfigError` for a bad file or value).
    ///   - output: receives one line per reload.
    public init(
        live: PeerLiveSettings, started: PeerSettings, load: @escaping @Sendable () throws -> PeerSettings,
        output: @escaping @Sendable (String) -> Void
    ) {
        self.live = live
        self.started = started
        self.load = load
        self.output = output
    }

    /// Reloads once. Returns the line to show: `config reloaded: threads 2, cpu 50%, …` or
    /// `config not reloaded: <why>; keeping threads 1, cpu 100%, …`.
    @discardableResult
    public func reload() -> String {
        let settings: PeerSettings
        do {
            settings = try load()
        } catch {
            return "config not reloaded: \(error); keeping \(PeerSettings.summary(live.current))"
        }
        live.update(settings.snapshot)
        var line = "config reloaded: \(settings.summary)"
        if settings.backoffCap != started.backoffCap || settings.maxWait != started.maxWait
            || settings.cacheBytes != started.cacheBytes
        {
            line += " (backoffCap, maxWait and cacheBytes apply at the next start)"
        }
        return line
    }

    /// Reloads on every SIGHUP until graceful shutdown. Says once that it is ready (the signal is trapped from
    /// then on; before, SIGHUP is ignored by `PeerRunCommand`).
    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        output("config: \(PeerSettings.summary(live.current)) (SIGHUP reloads it)")
        for await _ in signals.cancelOnGracefulShutdown() {
            output(reload())
        }
    }
}

extension PeerDaemon {
    /// Runs the daemon and `reloader` in one `ServiceGroup` until the daemon finishes or SIGTERM/SIGINT
    /// arrives (graceful shutdown of both); rethrows the daemon's error.
    public func runUntilSignalled(reloader: PeerConfigReloader) async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(
                        service: self, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup),
                    .init(service: reloader, successTerminationBehavior: .ignore,
                          failureTerminationBehavior: .ignore),
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
