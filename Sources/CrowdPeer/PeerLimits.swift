import CrowdClient
import Foundation
import Synchronization

/// How much of the volunteer's computer the daemon may use (`peer run` flags, `peer.json`, `CROWDTRAIN_*`).
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `cpuLimit` | percent 1…100 | 100 | share of the allowed cores' time used for training (duty cycling) |
/// | `nice` | 0…19 | 10 | scheduling niceness of every daemon thread (higher = more polite) |
/// | `uploadBytesPerSecond` | int? | nil | upload bandwidth cap |
/// | `downloadBytesPerSecond` | int? | nil | download bandwidth cap |
/// | `memoryLimitBytes` | int? | nil | refuse leases whose training would need more memory than this |
public struct PeerLimits: Sendable, Equatable, Codable {
    public var cpuLimitPercent: Int
    public var nice: Int
    public var uploadBytesPerSecond: Int?
    public var downloadBytesPerSecond: Int?
    public var memoryLimitBytes: Int?

    public init(
        cpuLimitPercent: Int = 100, nice: Int = 10, uploadBytesPerSecond: Int? = nil,
        downloadBytesPerSecond: Int? = nil, memoryLimitBytes: Int? = nil
    ) {
        self.cpuLimitPercent = cpuLimitPercent
        self.nice = nice
        self.uploadBytesPerSecond = uploadBytesPerSecond
        self.downloadBytesPerSecond = downloadBytesPerSecond
        self.memoryLimitBytes = memoryLimitBytes
    }

    /// Throws a `PeerError` naming the first invalid value.
    public func validate() throws {
        guard (1...100).contains(cpuLimitPercent) else { throw PeerError("cpu limit must be 1…100 percent") }
        guard (0...19).contains(nice) else { throw PeerError("nice must be 0…19") }
        if let u = uploadBytesPerSecond, u < 1024 { throw PeerError("upload cap must be at least 1024 bytes/s") }
        if let d = downloadBytesPerSecond, d < 1024 { throw PeerError("download cap must be at least 1024 bytes/s") }
        if let m = memoryLimitBytes, m < 1 << 20 { throw PeerError("memory limit must be at least 1 MiB") }
    }
}

/// The settings a running daemon may change without restarting (SIGHUP reloads them from the config).
///
/// Thread-safe: the training thread, the HTTP client's pacing and the suspend monitor read it on every use.
public final class PeerLiveSettings: Sendable {
    public struct Snapshot: Sendable, Equatable {
        public var threads: Int
        public var limits: PeerLimits
        public var suspend: SuspendSettings

        public init(threads: Int, limits: PeerLimits, suspend: SuspendSettings) {
            self.threads = threads
            self.limits = limits
            self.suspend = suspend
        }
    }

    private let state: Mutex<(snapshot: Snapshot, generation: Int)>

    public init(_ snapshot: Snapshot) {
        state = Mutex((snapshot, 0))
    }

    /// The current settings.
    public var current: Snapshot { state.withLock { $0.snapshot } }

    /// Increases by one on every `update` (readers cache derived values per generation).
    public var generation: Int { state.withLock { $0.generation } }

    /// Replaces the settings (SIGHUP). Takes effect at the next check of each reader (within a second).
    public func update(_ snapshot: Snapshot) {
        state.withLock {
            $0.snapshot = snapshot
            $0.generation += 1
        }
    }
}

extension PeerLiveSettings {
    /// The daemon's bandwidth caps as the coordinator client reads them (at every chunk, so a SIGHUP reload applies
    /// to the transfer in progress).
    public var bandwidthRates: BandwidthRates {
        BandwidthRates(
            upload: { [self] in current.limits.uploadBytesPerSecond },
            download: { [self] in current.limits.downloadBytesPerSecond })
    }
}
