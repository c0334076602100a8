import CrowdProtocol
import Foundation
import Synchronization

/// The campaign's running totals, kept in memory so that `GET /v1/status` and `GET /metrics` cost the same with a
/// thousand peers and a million ledger rows as with one: no table scan, and no hop onto the coordinator actor (a
/// status poll never waits behind an aggregation or an upload's transaction).
///
/// The board is loaded from the database once when the campaign opens; after that the coordinator updates it at
/// every event that changes a figure (join, authenticated call, stored update, rejection, round close, bytes
/// served), and the evaluator adds each evaluation as it is recorded. The database stays the source of truth: a
/// restart reloads the board from it. Thread-safe; readers take a snapshot under the lock.
public final class StatusBoard: Sendable {
    /// A peer counts as online for this long after its last authenticated call (seconds).
    public static let onlineWindow = 120.0
    /// Throughput is measured over this trailing window (seconds).
    public static let rateWindow = 120.0
    /// Evaluations carried in `/v1/status` (the newest); the whole history is `GET /v1/evaluations`.
    public static let recentEvaluations = 20

    struct State: Sendable {
        var round: UInt64 = 0
        var finished = false
        var modelVersion = ""
        var startedAt: Double = 0
        var samplesTrained = 0
        var creditTotal = 0.0
        var updatesAccepted = 0
        var rejections: [String: Int] = [:]
        var bytesIn = 0
        var bytesOut = 0
        var peersTotal = 0
        var lastSeen: [String: Double] = [:]
        /// Accepted uploads in the rate window, oldest first: (time, samples), and their samples' sum.
        var recent: [Accepted] = []
        var recentSamples = 0
        var evaluations: [EvaluationPoint] = []
        var evaluationsTotal = 0
        /// The campaign's goal (the operator API can change both while serving).
        var goalSamples = 0
        var maxRounds: UInt64?
    }

    struct Accepted: Sendable {
        var time: Double
        var samples: Int
    }

    let name: String
    let workload: String
    private let state: Mutex<State>

    init(config: CampaignConfig, initial: State) {
        self.name = config.name
        self.workload = config.workload
        var initial = initial
        initial.goalSamples = config.goalSamples
        initial.maxRounds = config.maxRounds.map { UInt64($0) }
        self.state = Mutex(initial)
    }

    /// Loads the board from `store` (start-up only: this is the one place that aggregates whole tables).
    static func load(
        store: any CoordinatorRepository, config: CampaignConfig, round: UInt64, finished: Bool, version: String,
        now: Double
    ) throws -> StatusBoard {
        let t = try store.totals(now: now, onlineWindow: 0, rateWindow: 0)
        var s = State()
        s.round = round
        s.finished = finished
        s.modelVersion = version
        s.startedAt = try store.round(0)?.openedAt ?? now
        s.samplesTrained = t.samplesTrained
        s.creditTotal = t.creditTotal
        s.updatesAccepted = t.updatesAccepted
        s.rejections = try store.rejectionCounts()
        s.bytesIn = t.bytesIn
        s.bytesOut = t.bytesOut
        s.peersTotal = t.peersTotal
        s.lastSeen = try store.peersSeen(since: now - onlineWindow)
        s.recent = try store.acceptedSamples(since: now - rateWindow).map { Accepted(time: $0.time, samples: $0.samples) }
        s.recentSamples = s.recent.reduce(0) { $0 + $1.samples }
        s.evaluations = try store.latestEvaluations(limit: recentEvaluations).map(\.point)
        s.evaluationsTotal = try store.evaluationCount()
        return StatusBoard(config: config, initial: s)
    }

    func update(_ body: (inout State) -> Void) { state.withLock { body(&$0) } }

    /// A peer made an authenticated call (or joined) at `time`.
    func seen(peer: String, at time: Double) {
        state.withLock { s in
            s.lastSeen[peer] = time
            if s.lastSeen.count > 4 * 1024, s.lastSeen.count.isMultiple(of: 256) {
                s.lastSeen = s.lastSeen.filter { $0.value >= time - Self.onlineWindow }
            }
        }
    }

    /// An upload was stored (pending credit).
    func accepted(samples: Int, bytes: Int, at time: Double) {
        state.withLock { s in
            s.updatesAccepted += 1
            s.bytesIn += bytes
            s.recent.append(Accepted(time: time, samples: samples))
            s.recentSamples += samples
            Self.prune(&s, now: time)
        }
    }

    /// An upload was refused with `code` (its body counts as bytes in).
    func rejected(code: String, bytes: Int) {
        state.withLock { s in
            s.rejections[code, default: 0] += 1
            s.bytesIn += bytes
        }
    }

    /// An evaluation was recorded.
    func evaluated(_ point: EvaluationPoint) {
        state.withLock { s in
            s.evaluations.removeAll { $0.round == point.round }
            s.evaluations.append(point)
            s.evaluations.sort { $0.round < $1.round }
            if s.evaluations.count > Self.recentEvaluations {
                s.evaluations.removeFirst(s.evaluations.count - Self.recentEvaluations)
            }
            s.evaluationsTotal += 1
        }
    }

    /// Changes the goal shown in the status (`PATCH /v1/admin/settings`).
    func setGoal(samples: Int, maxRounds: Int?) {
        state.withLock {
            $0.goalSamples = samples
            $0.maxRounds = maxRounds.map { UInt64($0) }
        }
    }

    /// Samples credited so far.
    var samplesTrained: Int { state.withLock { $0.samplesTrained } }

    /// Rejection counts per API error code.
    public var rejectionCounts: [String: Int] { state.withLock { $0.rejections } }

    /// The public status at `now`. Cost: O(peers seen recently) for the online count, nothing else.
    public func status(now: Double) -> CampaignStatus {
        state.withLock { s in
            Self.prune(&s, now: now)
            let span = min(Self.rateWindow, max(1, now - s.startedAt))
            let rate = Double(s.recentSamples) / span
            let online = s.lastSeen.values.reduce(0) { $0 + ($1 >= now - Self.onlineWindow ? 1 : 0) }
            let remaining = max(0, s.goalSamples - s.samplesTrained)
            return CampaignStatus(
                name: name, workload: workload, round: s.round,
                roundsCompleted: s.finished ? s.round : s.round - min(1, s.round), maxRounds: s.maxRounds,
                finished: s.finished, modelVersion: s.modelVersion, goalSamples: s.goalSamples,
                samplesTrained: s.samplesTrained,
                percentFunded: min(100, 100 * Double(s.samplesTrained) / Double(max(1, s.goalSamples))),
                peersOnline: online, peersTotal: s.peersTotal, samplesPerSecond: rate,
                latestEvaluation: s.evaluations.last, evaluations: s.evaluations,
                updatesAccepted: s.updatesAccepted, updatesRejected: s.rejections.values.reduce(0, +),
                bytesIn: s.bytesIn, bytesOut: s.bytesOut,
                etaSeconds: s.finished ? 0 : (rate > 0 ? Double(remaining) / rate : nil),
                evaluationsTotal: s.evaluationsTotal)
        }
    }

    private static func prune(_ s: inout State, now: Double) {
        let cutoff = now - rateWindow
        let keep = s.recent.firstIndex(where: { $0.time >= cutoff }) ?? s.recent.count
        guard keep > 0 else { return }
        s.recentSamples -= s.recent[..<keep].reduce(0) { $0 + $1.samples }
        s.recent.removeFirst(keep)
    }
}
