import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Evaluates each closed round's model on the held-out set, off the coordinator actor.
///
/// Aggregation commits a round (checkpoint, outer state, next round) without waiting for its evaluation, then hands
/// the new checkpoint here; a dedicated thread (not the cooperative pool, which serves requests) evaluates it with
/// its own model instance and records the evaluation row. Jobs run one at a time in round order. At most
/// `backlogLimit` rounds wait behind the running one: when evaluation falls further behind, the oldest waiting round
/// is skipped (logged; the dashboard's curve tolerates gaps), so the newest closed round is always evaluated.
/// On open, the newest closed rounds without an evaluation (a crash or a skip) are queued again.
///
/// Readers treat a missing row as "not evaluated yet"; `waitUntilIdle()` (`Coordinator.waitForEvaluations()`)
/// returns once every queued round is recorded.
final class CoordinatorEvaluator: Sendable {
    /// Rounds that may wait behind the one being evaluated.
    static let backlogLimit = 2

    /// What the evaluator needs, fixed when the coordinator opens.
    struct Context: Sendable {
        var store: any CoordinatorRepository
        var paths: CampaignPaths
        var set: EvaluationSet
        var clock: any CoordinatorClock
        var metrics: CoordinatorMetrics
        var board: StatusBoard
        var logger: Logger
    }

    /// One round to evaluate: its checkpoint as just aggregated, or as recorded (after a restart).
    struct Job: Sendable {
        enum Source: Sendable {
            case memory(Checkpoint)
            case recorded(CheckpointRecord)
        }

        var round: UInt64
        var version: String
        var source: Source
    }

    private struct State {
        var context: Context?
        var queue: [Job] = []
        var running = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    /// Installs the context and queues the newest closed rounds that have no evaluation yet.
    func start(_ context: Context) throws {
        let missing = try context.store.roundsAwaitingEvaluation(limit: Self.backlogLimit + 1)
        for record in missing {
            context.logger.info(
                "round has no evaluation; evaluating it in the background", metadata: ["round": "\(record.round)"])
        }
        enqueue(
            missing.sorted { $0.round < $1.round }.map {
                Job(round: $0.round, version: $0.version, source: .recorded($0))
            }, context: context)
    }

    /// Queues `job` (after its round's commit) and starts the worker thread if idle.
    func submit(_ job: Job) { enqueue([job], context: nil) }

    private func enqueue(_ jobs: [Job], context: Context?) {
        let (spawn, skipped, logger) = state.withLock { s -> (Bool, [UInt64], Logger?) in
            if let context { s.context = context }
            let rounds = Self.schedule(
                queued: s.queue.map(\.round), adding: jobs.map(\.round), running: s.running)
            let all = s.queue + jobs
            s.queue = rounds.kept.compactMap { r in all.last { $0.round == r } }
            let skipped = rounds.skipped
            guard s.context != nil, !s.running, !s.queue.isEmpty else { return (false, skipped, s.context?.logger) }
            s.running = true
            return (true, skipped, s.context?.logger)
        }
        if !skipped.isEmpty {
            logger?.notice(
                "evaluation is behind; skipping older rounds (the newest closed round is always evaluated)",
                metadata: ["skipped": "\(skipped)", "queued": "\(jobs.last?.round ?? 0)"])
        }
        if spawn {
            let thread = Thread { [self] in drain() }
            thread.name = "crowdtrain-evaluator"
            thread.start()
        }
    }

    /// The queue policy: `adding` (rounds just closed) joins `queued` in round order, a round queued twice once;
    /// at most `backlogLimit` rounds wait (one more when no evaluation is `running`, as the first starts at once);
    /// beyond that the oldest are skipped, so the newest closed round is always kept.
    static func schedule(queued: [UInt64], adding: [UInt64], running: Bool) -> (kept: [UInt64], skipped: [UInt64]) {
        let all = Array(Set(queued + adding)).sorted()
        let excess = max(0, all.count - backlogLimit - (running ? 0 : 1))
        return (Array(all.dropFirst(excess)), Array(all.prefix(excess)))
    }

    /// Returns once no evaluation is queued or running.
    func waitUntilIdle() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { s -> Bool in
                guard s.running else { return true }
                s.waiters.append(c)
                return false
            }
            if idle { c.resume() }
        }
    }

    /// Whether an evaluation is queued or running.
    var isBusy: Bool { state.withLock { $0.running } }

    private enum Step {
        case evaluate(Job, Context)
        case idle([CheckedContinuation<Void, Never>])
    }

    /// Niceness of the evaluator thread: background work yields the CPU to request handling (and, on a shared
    /// machine, to peers). Linux keeps niceness per thread, so only this thread is affected.
    static let niceness: Int32 = 10

    /// The worker: evaluates queued jobs in order with one model instance, then wakes the waiters.
    private func drain() {
        Self.deprioritizeCurrentThread()
        var model: (any TrainableModel)?
        while true {
            let step = state.withLock { s -> Step in
                if let context = s.context, !s.queue.isEmpty { return .evaluate(s.queue.removeFirst(), context) }
                s.running = false
                defer { s.waiters = [] }
                return .idle(s.waiters)
            }
            switch step {
            case .evaluate(let job, let context):
                do {
                    try evaluate(job, context: context, model: &model)
                } catch {
                    context.logger.error(
                        "round evaluation failed; the round stays without an evaluation",
                        metadata: ["round": "\(job.round)", "error": "\(error)"])
                }
            case .idle(let waiters):
                for w in waiters { w.resume() }
                return
            }
        }
    }

    /// Runs the calling thread at `niceness` (never lowers it), with single-threaded BLAS: the coordinator's only
    /// BLAS user is this thread, and OpenBLAS's own workers would not inherit the niceness.
    static func deprioritizeCurrentThread() {
        #if os(Linux)
        let which = __priority_which_t(PRIO_PROCESS.rawValue)
        errno = 0
        let current = getpriority(which, 0)
        if errno == 0, current < niceness { _ = setpriority(which, 0, niceness) }
        #endif
        if ComputeThreads.current != 1 { ComputeThreads.set(1) }
    }

    private func evaluate(_ job: Job, context: Context, model: inout (any TrainableModel)?) throws {
        let started = Date()
        let checkpoint: Checkpoint
        switch job.source {
        case .memory(let c): checkpoint = c
        case .recorded(let record): checkpoint = try Coordinator.loadCheckpoint(paths: context.paths, record: record).0
        }
        let m: any TrainableModel
        if let model {
            m = model
        } else {
            m = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: 0)
            model = m
        }
        try checkpoint.load(into: m)
        let result = context.set.evaluate(m)
        let seconds = Date().timeIntervalSince(started)
        context.metrics.evaluationSeconds.record(.seconds(seconds))
        let record = EvaluationRecord(
            round: job.round, version: job.version, metric: context.set.metric, value: result.value,
            loss: result.loss, samples: result.samples)
        try context.store.insertEvaluation(record, at: context.clock.now())
        context.board.evaluated(record.point)
        context.logger.info(
            "round evaluated",
            metadata: [
                "round": "\(job.round)", context.set.metric: "\(result.value)", "loss": "\(result.loss)",
                "model": "\(job.version.prefix(12))", "evaluate_ms": "\(Int(seconds * 1000))",
            ])
    }
}
