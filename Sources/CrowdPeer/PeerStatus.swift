import CrowdEngine
import Foundation

/// The daemon's local status file `P/status.json`: what it is doing now and what it has contributed.
///
/// Written atomically on every state change, so `cat P/status.json` (and later `crowdtrain peer status`)
/// always sees a complete document. Keys (JSON, camelCase):
///
/// | key | type | meaning |
/// |---|---|---|
/// | `state` | string | `starting`, `leasing`, `downloading`, `training`, `uploading`, `waiting`, `backingOff`, `suspended`, `stopped` |
/// | `reason` | string? | why the daemon waits, backs off or is suspended (coordinator message or network error) |
/// | `suspendReasons` | [string]? | while `suspended`: `paused`, `userActive`, `idleUnknown`, `onBattery`, `outsideHours`, `quotaReached`, `memoryLimit` |
/// | `round`, `leaseID` | number?, string? | the lease being worked on |
/// | `updatedAt` | number | Unix seconds of this write |
/// | `lifetime` | object | totals over all runs: leases, accepted (stored), rejected, credited, uncredited, samples and credit (GFLOP) of the credited ones, bytesUp, bytesDown, trainSeconds |
/// | `lastReceipts` | [object] | the last receipts (newest last), each with `status` (`pending`, `credited`, `no_credit`) and, without credit, `reason` and `explanation` |
/// | `lastRejection` | object? | code, message, round, at |
/// | `settings` | object? | the settings the daemon runs with now (see `Settings`; rewritten after a SIGHUP reload) |
/// | `memory` | object? | the daemon's resident memory at this write: `rssMB`, `peakRSSMB` (Linux) |
public struct PeerStatus: Codable, Sendable, Equatable {
    /// What the daemon is doing.
    public enum State: String, Codable, Sendable {
        case starting, leasing, downloading, training, uploading, waiting, backingOff, stopped
        /// Not working: see `suspendReasons` (paused, user active, on battery, outside hours, quota reached,
        /// memory limit).
        case suspended
    }

    /// Lifetime totals of this peer directory.
    public struct Lifetime: Codable, Sendable, Equatable {
        public var leases = 0
        /// Updates the coordinator stored (credit decided later).
        public var accepted = 0
        public var rejected = 0
        /// Stored updates the coordinator then credited, or not (`no_credit`).
        public var credited = 0
        public var uncredited = 0
        public var samples = 0
        /// GFLOP credited by the coordinator.
        public var credit = 0.0
        public var bytesUp = 0
        public var bytesDown = 0
        /// Seconds of local training of the accepted updates.
        public var trainSeconds = 0.0
        public init() {}

        enum CodingKeys: String, CodingKey {
            case leases, accepted, rejected, credited, uncredited, samples, credit, bytesUp, bytesDown, trainSeconds
        }

        /// Missing keys (files of older daemons) read as 0.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            leases = try c.decodeIfPresent(Int.self, forKey: .leases) ?? 0
            accepted = try c.decodeIfPresent(Int.self, forKey: .accepted) ?? 0
            rejected = try c.decodeIfPresent(Int.self, forKey: .rejected) ?? 0
            credited = try c.decodeIfPresent(Int.self, forKey: .credited) ?? 0
            uncredited = try c.decodeIfPresent(Int.self, forKey: .uncredited) ?? 0
            samples = try c.decodeIfPresent(Int.self, forKey: .samples) ?? 0
            credit = try c.decodeIfPresent(Double.self, forKey: .credit) ?? 0
            bytesUp = try c.decodeIfPresent(Int.self, forKey: .bytesUp) ?? 0
            bytesDown = try c.decodeIfPresent(Int.self, forKey: .bytesDown) ?? 0
            trainSeconds = try c.decodeIfPresent(Double.self, forKey: .trainSeconds) ?? 0
        }
    }

    /// A coordinator receipt as the peer keeps it.
    public struct ReceiptSummary: Codable, Sendable, Equatable {
        public var receiptID: String
        public var leaseID: String
        public var round: UInt64
        public var samples: Int
        public var credit: Double
        public var acceptedAt: Double
        /// `pending` until the coordinator aggregates the round, then `credited` or `no_credit` (absent in files of
        /// older daemons, whose receipts were credited on upload).
        public var status: String?
        /// Why the update earned nothing (`UpdateOutcome.reason`), and in words.
        public var reason: String?
        public var explanation: String?
        public init(
            receiptID: String, leaseID: String, round: UInt64, samples: Int, credit: Double, acceptedAt: Double,
            status: String? = nil, reason: String? = nil, explanation: String? = nil
        ) {
            self.receiptID = receiptID; self.leaseID = leaseID; self.round = round
            self.samples = samples; self.credit = credit; self.acceptedAt = acceptedAt
            self.status = status; self.reason = reason; self.explanation = explanation
        }
    }

    /// The last update the coordinator refused.
    public struct Rejection: Codable, Sendable, Equatable {
        public var code: String
        public var message: String
        public var round: UInt64?
        public var at: Double
        public init(code: String, message: String, round: UInt64?, at: Double) {
            self.code = code; self.message = message; self.round = round; self.at = at
        }
    }

    /// The settings a daemon runs with: threads, limits and schedule (from flags, environment and `peer.json`).
    ///
    /// Keys: `threads`, `cpuLimitPercent`, `nice`, `uploadBytesPerSecond`?, `downloadBytesPerSecond`?,
    /// `memoryLimitBytes`?, `idleOnlyMinutes`?, `acOnly`, `hours`? (`start-end`), `dailyDataCap`? (bytes),
    /// `generation` (0 as started, +1 per reload), `backend`? (the GEMM the engine runs, `BLASBackend.summary`).
    /// Absent keys mean "no cap" / "off".
    public struct Settings: Codable, Sendable, Equatable {
        public var threads: Int
        public var cpuLimitPercent: Int
        public var nice: Int
        public var uploadBytesPerSecond: Int?
        public var downloadBytesPerSecond: Int?
        public var memoryLimitBytes: Int?
        public var idleOnlyMinutes: Int?
        public var acOnly: Bool
        public var hours: String?
        public var dailyDataCap: Int?
        public var generation: Int
        /// The compute backend this daemon's engine runs (absent in files of older daemons).
        public var backend: String?

        public init(_ s: PeerLiveSettings.Snapshot, generation: Int = 0) {
            threads = s.threads
            cpuLimitPercent = s.limits.cpuLimitPercent
            nice = s.limits.nice
            uploadBytesPerSecond = s.limits.uploadBytesPerSecond
            downloadBytesPerSecond = s.limits.downloadBytesPerSecond
            memoryLimitBytes = s.limits.memoryLimitBytes
            idleOnlyMinutes = s.suspend.idleOnlyMinutes
            acOnly = s.suspend.acOnly
            hours = s.suspend.hours?.description
            dailyDataCap = s.suspend.dailyDataCap
            self.generation = generation
            backend = BLASBackend.shared.summary
        }

        /// `upload 200.0 kB/s, download unlimited`.
        public var bandwidthText: String {
            "upload " + (uploadBytesPerSecond.map { ByteCount.format($0) + "/s" } ?? "unlimited") + ", download "
                + (downloadBytesPerSecond.map { ByteCount.format($0) + "/s" } ?? "unlimited")
        }

        /// `memory 2.00 GB` or `memory unlimited`.
        public var memoryText: String { "memory " + (memoryLimitBytes.map { ByteCount.format($0) } ?? "unlimited") }

        /// `2 threads, cpu 50%, nice 10, upload …, download …, memory …`.
        public var limitsText: String {
            "\(threads) thread\(threads == 1 ? "" : "s"), cpu \(cpuLimitPercent)%, nice \(nice), \(bandwidthText), "
                + memoryText
        }

        /// `always` or `idle 10 min, AC only, hours 22-7, data cap 500.00 MB/day`.
        public var scheduleText: String {
            var parts: [String] = []
            if let m = idleOnlyMinutes { parts.append("idle \(m) min") }
            if acOnly { parts.append("AC only") }
            if let h = hours { parts.append("hours \(h)") }
            if let c = dailyDataCap { parts.append("data cap \(ByteCount.format(c))/day") }
            return parts.isEmpty ? "always" : parts.joined(separator: ", ")
        }
    }

    public var state: State = .starting
    public var reason: String?
    /// Raw values of `SuspendReason` while suspended (absent in files of older daemons).
    public var suspendReasons: [String]?
    public var round: UInt64?
    public var leaseID: String?
    public var updatedAt: Double = 0
    public var lifetime = Lifetime()
    public var lastReceipts: [ReceiptSummary] = []
    public var lastRejection: Rejection?
    /// The settings the daemon runs with (absent in files of older daemons).
    public var settings: Settings?
    /// The daemon's resident memory when this was written (absent off Linux and in files of older daemons).
    public var memory: ProcessMemory?

    /// How many receipts `lastReceipts` keeps.
    public static let keptReceipts = 10

    public init() {}

    /// Appends a receipt, keeping the newest `keptReceipts`.
    public mutating func record(_ receipt: ReceiptSummary) {
        lastReceipts.append(receipt)
        if lastReceipts.count > Self.keptReceipts { lastReceipts.removeFirst(lastReceipts.count - Self.keptReceipts) }
    }

    /// Writes the status atomically (temp file + rename: readers never see a torn file).
    /// - Parameter durable: also fsync file and directory. The daemon writes its status often and treats it
    ///   as advisory (a lost update after a power cut only affects the local display), so it passes false.
    public func write(to path: String, durable: Bool = true) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try enc.encode(self)
        if durable {
            try AtomicFile.write(data, to: path, mode: 0o644)
            return
        }
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: data, attributes: [.posixPermissions: 0o644]) else {
            throw PeerError("cannot write \(tmp): check that the peer directory exists and is writable")
        }
        guard rename(tmp, path) == 0 else {
            unlink(tmp)
            throw PeerError("cannot rename \(tmp) to \(path) (errno \(errno))")
        }
    }

    /// Reads a status file; `nil` if there is none yet or it cannot be parsed (the daemon then starts fresh
    /// totals, which only affects the local display: credit is kept by the coordinator).
    public static func read(from path: String) -> PeerStatus? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(PeerStatus.self, from: data)
    }
}
