import CrowdClient
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation
import Logging
import ServiceLifecycle

/// The volunteer daemon (`crowdtrain peer run`): lease → fetch → train → encode → upload → repeat.
///
/// A `Service`: run it in a `ServiceGroup` whose graceful-shutdown signals are SIGTERM and SIGINT.
/// On shutdown it stops after the current training step, saving the lease's progress to `progress.bin`
/// (the next start resumes it while the lease is valid), or after the upload in flight, and writes
/// `status.json` with state `stopped`. A finished update is written to `pending.bin` before it is
/// sent, so a crash never loses it: the next start re-sends it under the same lease id.
///
/// Before each request and between two training steps it checks `SuspendPolicy` (`pause.json`, idle-only,
/// AC-only, hours, daily data cap; about twice a second while suspended): suspended, it makes no requests,
/// holds a lease in progress (saving its progress) and shows the reasons in `status.json` (state `suspended`).
///
/// Resource limits (`config.limits`, then `live` after reloads): every thread runs at niceness `limits.nice`;
/// training is duty-cycled to `limits.cpuLimitPercent` of `threads` cores (`CPUThrottle`); traffic is paced
/// to the bandwidth caps (`CoordinatorClient`); the daily data cap's count survives restarts (`usage.json`);
/// a lease whose model would not fit `limits.memoryLimitBytes` is refused and the daemon suspends with reason
/// `memoryLimit` until a reload raises the limit (`MemoryGuard`).
public struct PeerDaemon: Service {
    public let paths: PeerPaths
    public let config: PeerRunConfig
    /// When the daemon must not work (idle-only, AC-only, hours, daily data cap; `pause.json` always applies).
    public let suspend: SuspendSettings
    /// Threads, limits and suspend settings as they are now; `live.update` (SIGHUP) changes a running daemon.
    public let live: PeerLiveSettings
    let output: @Sendable (String) -> Void
    let logger: Logger

    /// - Parameters:
    ///   - directory: the peer directory created by `peer join`.
    ///   - output: receives one human-readable progress line per lease (default: stdout).
    public init(
        directory: String, config: PeerRunConfig = PeerRunConfig(), suspend: SuspendSettings = SuspendSettings(),
        logger: Logger = Logger(label: "crowdtrain.peer"),
        output: @escaping @Sendable (String) -> Void = { line in
            print(line)
            fflush(nil)
        }
    ) {
        self.paths = PeerPaths(root: directory)
        self.config = config
        self.suspend = suspend
        self.live = PeerLiveSettings(.init(threads: config.threads, limits: config.limits, suspend: suspend))
        self.output = output
        self.logger = logger
    }

    public func run() async throws {
        let credential = try PeerCredential.read(from: paths.credential)
        // Without the pinned key no model can be checked: say so now, not at every lease.
        if let problem = PeerSession.manifestKeyProblem(credential, paths: paths) { throw PeerError(problem) }
        let client = try CoordinatorClient(
            baseURL: credential.coordinator, caFile: paths.caCertificate, secret: credential.secret, rates: live.bandwidthRates)
        try paths.create()
        ComputeThreads.set(config.threads)
        let stop = StopFlag()
        let monitor = SuspendMonitor(
            policy: SuspendPolicy(settings: live.current.suspend), pausePath: PauseFile.path(in: paths), live: live,
            usagePath: UsageFile.path(in: paths))
        let reniced = Self.applyNiceness(live.current.limits.nice, logger: logger)
        let follower = Task { await Self.followNiceness(live: live, applied: reniced, logger: logger) }
        defer { follower.cancel() }
        let session = PeerSession(
            paths: paths, config: config, client: client, stop: stop, output: output, logger: logger, suspend: monitor,
            live: live, credential: credential)
        do {
            try await withGracefulShutdownHandler {
                try await session.loop()
            } onGracefulShutdown: {
                stop.set()
            }
        } catch {
            session.setState(.stopped, reason: "\(error)")
            await client.shutdown()
            throw error
        }
        session.setState(.stopped, reason: stop.isSet ? "shut down" : "finished")
        await client.shutdown()
    }
}

extension PeerDaemon {
    /// Sets `nice` on every thread of the process; logs the first failure. Returns the value applied.
    static func applyNiceness(_ nice: Int, logger: Logger) -> Int {
        let failures = Niceness.applyToAllThreads(nice)
        if let first = failures.first { logger.warning("\(first)") }
        return nice
    }

    /// Re-applies the niceness when a reload changes it (checked twice a second until cancelled).
    static func followNiceness(live: PeerLiveSettings, applied: Int, logger: Logger) async {
        var applied = applied
        while !Task.isCancelled {
            try? await Task.sleep(nanoseconds: 500_000_000)
            let nice = live.current.limits.nice
            if nice != applied { applied = applyNiceness(nice, logger: logger) }
        }
    }

    /// Runs the daemon in its own `ServiceGroup` until it finishes or SIGTERM/SIGINT arrives
    /// (graceful shutdown); rethrows the daemon's error.
    public func runUntilSignalled() async throws {
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: [
                    .init(
                        service: self, successTerminationBehavior: .gracefullyShutdownGroup,
                        failureTerminationBehavior: .gracefullyShutdownGroup)
                ],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
