import CrowdEngine
import CrowdProtocol

/// The peer's work cycle as a value that returns actions (SwiftNIO style): re-send a pending update, lease,
/// fetch, train, encode, upload, repeat; with suspension, retries with backoff, challenges and shutdown.
///
/// It does no I/O and reads no clock: every event comes with `now` (Unix seconds from the driver's clock) and
/// the backoff jitter comes from a seeded generator, so a test replays any schedule without sleeping.
/// `PeerSession` is the driver. It performs the returned actions in order; an action that reports back (an
/// *operation*: `loadPending`, `requestLease`, `fetchArtifacts`, `train`, `encode`, `upload`, `sleep`,
/// `waitForResume`, and `refreshOutcomes` when it finds the daemon stopping or suspended) ends the batch, and the
/// machine's answer to its event is the next batch. Every batch ends in exactly one operation or in `finish`.
///
/// Work in flight lives in the state: the lease being fetched or trained, the finished update being uploaded
/// (`PendingUpdate.Info`; its bytes are in `pending.bin` and in the driver's memory). A suspension remembers the
/// state to resume (`suspended(_:resumeTo:)`) and a retry the state to go on with (`backingOff(until:then:reason:)`),
/// so a paused or failed upload is sent again, never trained again.
///
/// Invariants: at most one lease or one pending update is in flight; an update is discarded only on a definitive
/// refusal (an answered, non-retryable error other than a refused credential); the machine never leases while an
/// update is pending; `stop` from any state ends the cycle at once, leaving `progress.bin` and `pending.bin` for
/// the next start.
public struct PeerWorkMachine: Sendable {
    /// Knobs from `PeerRunConfig`.
    public struct Settings: Sendable, Equatable {
        /// First retry delay ceiling (seconds).
        public var backoffBase: Double
        /// Largest retry delay ceiling (seconds).
        public var backoffCap: Double
        /// Stop when the coordinator says the campaign is finished.
        public var exitWhenFinished: Bool
        /// Stop after this many finished (accepted or definitively refused) updates; nil: never.
        public var maxLeases: Int?
        /// Upper bound on the coordinator's `retryAfter` when it has no work (seconds).
        public var maxWait: Double
        /// How long the coordinator may hold a lease request (0: it answers at once).
        public var longPollSeconds: Double

        public init(
            backoffBase: Double = 1, backoffCap: Double = 60, exitWhenFinished: Bool = false, maxLeases: Int? = nil,
            maxWait: Double = 300, longPollSeconds: Double = 20
        ) {
            self.backoffBase = backoffBase
            self.backoffCap = backoffCap
            self.exitWhenFinished = exitWhenFinished
            self.maxLeases = maxLeases
            self.maxWait = maxWait
            self.longPollSeconds = longPollSeconds
        }

        public init(_ c: PeerRunConfig) {
            self.init(
                backoffBase: c.backoffBase, backoffCap: c.backoffCap, exitWhenFinished: c.exitWhenFinished,
                maxLeases: c.maxLeases, maxWait: c.maxWait, longPollSeconds: c.longPollSeconds)
        }
    }

    /// Where the cycle is. The lease or update a state carries is the work in flight.
    public indirect enum State: Sendable, Equatable {
        /// Started; `loadPending` (a previous run's `pending.bin`) is in flight.
        case starting
        /// Between two leases. Only a target (of a retry or a resume): entering it starts the next cycle
        /// (stop at `maxLeases`, else refresh outcomes and lease).
        case idle
        /// A lease request (long-poll) is in flight.
        case leasing
        /// The coordinator had no work; asking again at `until`.
        case waiting(until: Double)
        /// Downloading and decoding the lease's model and shards.
        case fetching(Lease)
        /// The trainer runs the lease (it holds the lease itself while a suspension stops training).
        case training(Lease)
        /// Encoding Δ and writing `pending.bin`.
        case encoding(Lease)
        /// Sending the pending update (after a restart, a retry or a resume: the same bytes).
        case uploading(PendingUpdate.Info)
        /// A suspend reason applies: no requests, no work; the work in flight is held in `resumeTo`.
        case suspended(Suspension, resumeTo: State)
        /// Waiting after a failure until `until`, then entering `then` (`idle`, or `uploading` to re-send).
        case backingOff(until: Double, then: State, reason: String)
        /// Done; the driver has been told to `finish`.
        case stopped(Ending)
    }

    /// What the driver observed: the answer of the last operation.
    public enum Event: Sendable, Equatable {
        /// `loadPending` found a previous run's update (nil: none, or a damaged file that was removed).
        case pendingLoaded(PendingUpdate.Info?)
        /// The coordinator handed out a lease (a new one, or the peer's open lease again).
        case leaseGranted(Lease)
        /// No work now: `reason` is a `LeaseWaitReason` raw value (`round_full`, `campaign_finished`, …).
        case noWork(reason: String, retryAfter: Double?)
        /// Model and shards are downloaded, decoded and fit the memory limit.
        case artifactsFetched
        /// The trainer finished the lease's steps (Δ is held by the driver).
        case trainingFinished(samplesPerSecond: Double)
        /// The trainer stopped early: for shutdown, or because the lease's deadline passed while suspended.
        case trainingStopped(byShutdown: Bool)
        /// Δ is encoded and `pending.bin` written; `holdsTrajectory`: the driver keeps the trajectory to answer a
        /// challenge of this upload.
        case encoded(PendingUpdate.Info, holdsTrajectory: Bool)
        /// The coordinator stored the update (the receipt names these bytes; `residual.bin` is replaced).
        case uploadAccepted(Receipt)
        /// The operation failed: no answer (coordinator down or restarting), an error answer, or a local error.
        case failed(Failure)
        /// A suspend reason applies (or the reasons or their description changed while suspended).
        case suspended(Suspension)
        /// No suspend reason applies any more.
        case resumed
        /// A `sleep` ended.
        case tick
        /// Shutdown (SIGTERM, SIGINT, task cancellation).
        case stop
    }

    /// What the driver must do, in order.
    public enum Action: Sendable, Equatable {
        /// Write `status.json` (only what changed is written).
        case setStatus(StatusChange)
        /// One line for the volunteer (and the log).
        case announce(Notice)
        /// Sweep stale temporary files, read `pending.bin`, drop the progress of its lease. Reports `pendingLoaded`.
        case loadPending
        /// Ask what became of updates whose credit is pending. Reports `stop`/`suspended` instead when gated.
        case refreshOutcomes
        /// `POST /v1/lease` (long-poll). Reports `leaseGranted`, `noWork`, `failed`, `stop` or `suspended`.
        case requestLease(samplesPerSecond: Double?)
        /// Download (or take from the cache) and decode the model and shards. Reports `artifactsFetched`, `failed`,
        /// `stop` or `suspended`.
        case fetchArtifacts(Lease)
        /// Train on a thread (resuming `progress.bin` when it fits). Reports `trainingFinished`, `trainingStopped`
        /// or `failed`.
        case train(Lease)
        /// Encode with error feedback, write `pending.bin`, drop `progress.bin`. Reports `encoded` or `failed`.
        case encode(Lease)
        /// Wait for the proof being sent, and report it.
        case awaitProof
        /// Send the pending update; on its receipt replace `residual.bin`. Reports `uploadAccepted`, `failed` or
        /// `suspended` (a suspension cancels the upload; shutdown does not).
        case upload(PendingUpdate.Info)
        /// The update is stored: log the receipt, remove `pending.bin`, count it.
        case commitUpload(PendingUpdate.Info, Receipt)
        /// The coordinator definitively refused the update: remove `pending.bin` (the residual stays), count it.
        case discardPending(PendingUpdate.Info, Failure)
        /// Start sending the proof of `segment` from the held trajectory (while the cycle goes on).
        case sendProof(leaseID: String, segment: Int)
        /// Drop the held trajectory.
        case releaseTrajectory
        /// The lease is lost: drop its `progress.bin` and say why.
        case abandonLease(Lease, LeaseLoss)
        /// Wait until `until`. Reports `tick`, `stop` or `suspended`.
        case sleep(until: Double)
        /// Re-evaluate the suspend reasons about twice a second. Reports `resumed`, `suspended` (changed) or `stop`.
        case waitForResume
        /// End the run: return, or throw `PeerError` for `.failed`.
        case finish(Ending)
    }

    /// Why a lease is given up.
    public enum LeaseLoss: Sendable, Equatable {
        /// Its deadline passed (while training was held by a suspension, or while the daemon was suspended).
        case deadlinePassed
        /// The coordinator serves its shards only to a holder of an open lease, and this peer no longer holds it
        /// (`shard_not_leased`: expired or reissued).
        case notLeased
    }

    /// How the run ended.
    public enum Ending: Sendable, Equatable {
        /// `maxLeases` reached, or the campaign finished with `exitWhenFinished`.
        case finished
        /// Shutdown was asked for.
        case shutDown
        /// The coordinator refused this peer for good (credential refused or revoked, peer suspended).
        case failed(String)
    }

    /// The suspend reasons that apply and how they read in `status.json`.
    public struct Suspension: Sendable, Equatable {
        public var reasons: [SuspendReason]
        public var text: String

        public init(reasons: [SuspendReason], text: String) {
            self.reasons = reasons
            self.text = text
        }
    }

    /// Why an operation failed.
    public enum Failure: Sendable, Equatable, CustomStringConvertible {
        /// No answer (connection refused, timeout, TLS failure): the network, or a coordinator down or restarting.
        case unreachable(code: String, message: String)
        /// The coordinator answered with an error (`code` is an `APIErrorCode` raw value when known).
        case answered(status: Int, code: String, message: String, retryAfter: Double?)
        /// A local error: corrupt input, disk full, a receipt for other bytes, a model over the memory limit.
        case local(String)

        /// The API error code, if the coordinator named a known one.
        public var apiCode: APIErrorCode? {
            switch self {
            case .unreachable(let code, _), .answered(_, let code, _, _): return APIErrorCode(rawValue: code)
            case .local: return nil
            }
        }

        /// Whether the same request can succeed later: no answer, 5xx, 429, 408, and every local error.
        public var retryable: Bool {
            guard case .answered(let status, _, _, _) = self else { return true }
            return status >= 500 || status == 429 || status == 408
        }

        public var description: String {
            switch self {
            case .unreachable(let code, let message): return "\(code): \(message)"
            case .answered(let status, let code, let message, _): return "\(code) (HTTP \(status)): \(message)"
            case .local(let text): return text
            }
        }
    }

    /// A write of `status.json`: the state shown and what goes with it.
    public struct StatusChange: Sendable, Equatable {
        public var state: PeerStatus.State
        public var reason: String?
        /// Round and lease shown (nil: those shown before stay).
        public var round: UInt64?
        public var leaseID: String?
        /// Shown while suspended; nil clears them.
        public var suspendReasons: [SuspendReason]?

        public init(
            _ state: PeerStatus.State, reason: String? = nil, round: UInt64? = nil, leaseID: String? = nil,
            suspendReasons: [SuspendReason]? = nil
        ) {
            self.state = state
            self.reason = reason
            self.round = round
            self.leaseID = leaseID
            self.suspendReasons = suspendReasons
        }

        public init(_ state: PeerStatus.State, lease: Lease) {
            self.init(state, round: lease.round, leaseID: lease.leaseID)
        }
    }

    /// A line for the volunteer; the driver words it.
    public enum Notice: Sendable, Equatable {
        case suspended(String)
        case resumed
        case retrying(Failure, after: Double)
        case accepted(PendingUpdate.Info, Receipt)
        case rejected(PendingUpdate.Info, Failure)
        /// A challenge came for an update whose trajectory is not held (the daemon restarted since training).
        case proofUnavailable(leaseID: String, segment: Int)
        case campaignFinished
    }

    public let settings: Settings
    public internal(set) var state: State
    /// Failures since the last answer; `min·2ⁿ` capped, × U(0.5, 1) from `rng`.
    public internal(set) var backoff: Backoff
    var rng: SeededRNG
    /// Updates finished this run (accepted or definitively refused).
    public internal(set) var finishedLeases = 0
    /// Last measured training throughput, sent as a hint with lease requests.
    public internal(set) var samplesPerSecond: Double?
    /// The lease whose trajectory the driver holds (to answer a challenge of its upload).
    public internal(set) var heldTrajectory: String?
    /// The lease whose proof is being sent.
    public internal(set) var proofInFlight: String?
    /// When the lease request in flight was sent (a long-poll held to its end needs no extra pause).
    var askedAt = 0.0

    /// A machine in `starting`; call `start(now:)` for its first actions.
    /// - Parameter seed: seed of the backoff jitter.
    public init(settings: Settings, seed: UInt64) {
        self.settings = settings
        self.state = .starting
        self.backoff = Backoff(base: settings.backoffBase, cap: settings.backoffCap)
        self.rng = SeededRNG(seed: seed)
    }

    /// The first actions of a run: show `starting` and look for a previous run's update.
    public mutating func start(now: Double) -> [Action] {
        enter(.starting, now: now)
    }

    /// Whether `maxLeases` updates are finished.
    var reachedMaxLeases: Bool {
        guard let max = settings.maxLeases else { return false }
        return finishedLeases >= max
    }
}
