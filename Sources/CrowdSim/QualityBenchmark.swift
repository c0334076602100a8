import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain bench quality`: does a crowd learn as well as one machine for the same data? Every configuration
/// (peers P × local steps H) gets the same budget of training units (tokens for kjv-gpt, samples for fmnist-mlp);
/// it runs R = budget / (P · H · units per batch) rounds, each peer training H steps from the global model, its Δ
/// going through the campaign codec with error feedback and the campaign's `RoundDefence` + aggregator + outer
/// optimizer making the next model, exactly as a campaign does (no network). The single-process baseline trains
/// the same budget as one run in the same invocation.
public enum QualityBenchmark {
    /// What the metric is.
    public enum Metric: String, Sendable, Codable {
        case valLoss = "val_loss"
        case testAccuracy = "test_accuracy"
    }

    /// One workload: model, data, inner optimizer and evaluation.
    public struct Workload: Sendable {
        public var name: String
        public var metric: Metric
        /// Training units (samples or tokens) per inner batch.
        public var unitsPerBatch: Int
        /// Images, or sequences, per inner batch.
        public var batch: Int
        public var peakLR: Float
        public var gradClip: Float
        let makeModel: @Sendable (UInt64) -> any TrainableModel
        let makeOptimizer: @Sendable (ParameterLayout) -> any Optimizer
        /// Endless iid training batches from the whole training set, seeded.
        let sampler: @Sendable (UInt64) -> () -> Batch
        let evaluation: [Batch]
        let probe: [Batch]

        /// fmnist-mlp 784-256-128-10: SGD lr 0.05, momentum 0.9, batch 64 (the campaign's inner optimizer).
        public static func fmnistMLP(train: ImageDataset, test: ImageDataset, batch: Int = 64) -> Workload {
            let config = MLPConfig(inputs: train.features, hidden: [256, 128], classes: 10)
            let inner = InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9)
            return Workload(
                name: "fmnist-mlp", metric: .testAccuracy, unitsPerBatch: batch, batch: batch, peakLR: inner.lr,
                gradClip: 0,
                makeModel: { MLP(config: config, seed: $0) },
                makeOptimizer: { try! inner.make(for: $0) },
                sampler: { BatchSampler.images(train, batch: batch, seed: $0) },
                evaluation: BatchSampler.imageEvaluationBatches(test),
                probe: [.images(train.batch(0..<min(1024, train.count)))])
        }

        /// kjv-gpt (`train --workload kjv-gpt`): AdamW β 0.9/0.99, weight decay 0.1, lr 1e-3, grad clip 1, batch 12
        /// windows of `config.block` bytes; validation loss on `evalBatches` fixed windows of the last 10 %.
        public static func gpt(
            train: TextCorpus, validation: TextCorpus, config: GPTConfig = GPTConfig(), batch: Int = 12,
            lr: Float = 1e-3, evalBatches: Int = 20, seed: UInt64 = 1337
        ) -> Workload {
            Workload(
                name: "kjv-gpt", metric: .valLoss, unitsPerBatch: batch * config.block, batch: batch, peakLR: lr,
                gradClip: 1,
                makeModel: { GPT(config: config, seed: $0) },
                makeOptimizer: { AdamW(layout: $0, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1) },
                sampler: { BatchSampler.text(train, batch: batch, block: config.block, seed: $0) },
                evaluation: BatchSampler.textEvaluationBatches(
                    validation, count: evalBatches, batch: batch, block: config.block, seed: seed &+ 1),
                probe: BatchSampler.textEvaluationBatches(train, count: 2, batch: batch, block: config.block, seed: 9))
        }

        func metricValue(_ s: EvalSums) -> Double { metric == .valLoss ? s.meanLoss : s.accuracy }
    }

    public struct Options: Sendable {
        public var peers = [1, 2, 4, 8]
        public var localSteps = [25, 50, 100, 200]
        /// Training units (tokens or samples) every configuration gets.
        public var budget: Int
        public var outer = OuterOptimizerConfig.diloco
        public var aggregator = AggregatorKind.campaignDefault
        public var defence = DefenceConfig.standard
        public var codec = CodecSpec.int8(block: CodecSpec.defaultInt8Block)
        /// The inner learning rate over each run's progress (as a campaign's leases follow it).
        public var schedule = LRSchedule.constant
        /// Each peer keeps its inner optimizer state (momentum, Adam moments) from round to round, as DiLoCo
        /// workers do; false: a fresh optimizer per round, as a lease starts today.
        public var keepInnerState = false
        public var seed: UInt64 = 1337
        public var jobs = 2
        /// Evaluations per run (the curve), the last at the end.
        public var curvePoints = 8
        /// Run the single-process baseline (the goal comparison needs it; sweeps may skip it).
        public var baseline = true
        public init(budget: Int) { self.budget = budget }
    }

    public struct Point: Codable, Sendable {
        public var units: Int
        public var value: Double
    }

    public struct Row: Codable, Sendable {
        public var peers: Int
        /// Each peer's batch (images or sequences).
        public var batch: Int
        public var localSteps: Int
        public var rounds: Int
        /// Outer synchronisations (= rounds) and inner steps per peer over the run.
        public var syncs: Int
        public var innerSteps: Int
        /// Training units actually used (tokens for kjv-gpt, samples for fmnist-mlp).
        public var units: Int
        public var value: Double
        public var curve: [Point]
        public var excluded: Int
        public var seconds: Double
    }

    public struct Report: Sendable {
        public var workload: Workload
        public var options: Options
        public var rows: [Row]
        /// The single-process baseline (nil when `Options.baseline` is false).
        public var single: Row?
        public var seconds: Double
    }

    /// The configurations run, in order.
    static func grid(_ o: Options, units: (Int) -> Int) -> [(peers: Int, localSteps: Int)] {
        var g: [(Int, Int)] = []
        for p in o.peers {
            for h in o.localSteps where o.budget / (p * h * units(p)) >= 1 { g.append((p, h)) }
        }
        return g
    }

    /// Runs the grid. `crowd` is the workload of the crowds' peers when it differs from the baseline's (another
    /// per-peer batch size: at equal tokens, smaller peer batches give each peer more inner steps).
    public static func run(
        workload w: Workload, crowd peerWorkload: (@Sendable (Int) -> Workload)? = nil, options o: Options,
        progress: @escaping @Sendable (String) -> Void
    ) throws -> Report {
        let start = Date()
        // One workload per crowd size, built once (building one makes its evaluation batches).
        let workloads = Dictionary(uniqueKeysWithValues: Set(o.peers).map { ($0, peerWorkload?($0) ?? w) })
        let configs = grid(o, units: { workloads[$0]!.unitsPerBatch })
        guard !configs.isEmpty else {
            throw AggregationError(
                "the budget \(o.budget) is smaller than one round of every configuration (peers × local steps × "
                    + "units per batch); raise --tokens/--samples or lower --peers/--local-steps")
        }
        let first = o.baseline ? 0 : 1
        let total = configs.count + 1
        let results = Slots<Row>(count: total)
        let next = Counter()
        let errors = Slots<String>(count: total)
        if first == 1 { _ = next.take(below: total) }  // index 0, the baseline, is taken and skipped
        DispatchQueue.concurrentPerform(iterations: max(1, min(o.jobs, total - first))) { _ in
            while let k = next.take(below: total) {
                do {
                    let row: Row
                    if k == 0 {
                        row = single(w, o)
                    } else {
                        let (p, h) = configs[k - 1]
                        row = try crowd(workloads[p]!, o, peers: p, localSteps: h)
                    }
                    let done = results.set(k, row)
                    progress(
                        String(
                            format: "[%d/%d] %@ peers %d × %d local steps: %d rounds, %@ %.4f (%.0f s)", done,
                            total - first,
                            k == 0 ? "single process" : "crowd", row.peers, row.localSteps, row.rounds,
                            w.metric.rawValue, row.value, row.seconds))
                } catch {
                    _ = errors.set(k, "\(error)")
                    progress("run \(k) failed: \(error)")
                }
            }
        }
        let rows = results.all()
        guard rows.count == total - first else {
            throw AggregationError("\(total - first - rows.count) runs failed: \(errors.all().joined(separator: "; "))")
        }
        return Report(
            workload: w, options: o, rows: Array(rows.dropFirst(1 - first)), single: o.baseline ? rows[0] : nil,
            seconds: Date().timeIntervalSince(start))
    }

    /// Curve evaluation rounds: `points` evenly spread, always the last.
    static func evalRounds(_ rounds: Int, points: Int) -> Set<Int> {
        let p = max(1, min(points, rounds))
        return Set((1...p).map { Int((Double($0) * Double(rounds) / Double(p)).rounded(.up)) - 1 })
    }

    /// The single-process baseline: one model, budget / units steps.
    static func single(_ w: Workload, _ o: Options) -> Row {
        let started = Date()
        let steps = o.budget / w.unitsPerBatch
        let model = w.makeModel(o.seed)
        let optimizer = w.makeOptimizer(model.layout)
        let nextBatch = w.sampler(o.seed &+ 17)
        let chunks = evalRounds(steps, points: o.curvePoints).sorted()
        var curve: [Point] = []
        var done = 0
        for end in chunks {
            let from = done
            _ = LocalTrainer.run(
                model: model, optimizer: optimizer, steps: end + 1 - done,
                lr: { o.schedule.lr(progress: Double(from + $0) / Double(steps), peak: w.peakLR) }, gradClip: w.gradClip,
                nextBatch: nextBatch)
            done = end + 1
            curve.append(
                Point(units: done * w.unitsPerBatch, value: w.metricValue(Evaluator.evaluate(model: model, batches: w.evaluation))))
        }
        return Row(
            peers: 1, batch: w.batch, localSteps: steps, rounds: 1, syncs: 0, innerSteps: steps, units: steps * w.unitsPerBatch,
            value: curve.last!.value, curve: curve, excluded: 0, seconds: Date().timeIntervalSince(started))
    }

    /// A crowd of `peers`, `localSteps` each per round.
    static func crowd(_ w: Workload, _ o: Options, peers: Int, localSteps h: Int) throws -> Row {
        let started = Date()
        let rounds = o.budget / (peers * h * w.unitsPerBatch)
        let global = w.makeModel(o.seed)
        var params = global.params.toArray()
        let n = params.count
        var strategy = OuterOptimizerStrategy(
            config: o.outer, aggregator: o.aggregator, parameterCount: n, leaseWeight: Double(h))
        let defence = RoundDefence(config: o.defence)
        var history = NormHistory(capacity: o.defence.historyLength)
        var feedback = (0..<peers).map { _ in ErrorFeedback(count: n) }
        let header = EnvelopeHeader(
            schemaHash: global.layout.schemaHash, round: 0, baseModel: [UInt8](repeating: 0, count: 32), codec: o.codec,
            elementCount: n)
        let expectation = EnvelopeExpectation(
            schemaHash: header.schemaHash, round: 0, baseModel: header.baseModel, elementCount: n, codec: o.codec)
        let workers = (0..<peers).map { _ in w.makeModel(o.seed) }
        let optimizers = workers.map { w.makeOptimizer($0.layout) }
        let samplers = (0..<peers).map { p -> () -> Batch in
            var r = SeededRNG(seed: o.seed).derived(UInt64(1000 + p))
            return w.sampler(r.next())
        }
        func evaluate(_ p: [Float]) -> Double {
            p.withUnsafeBufferPointer { global.params.base.update(from: $0.baseAddress!, count: n) }
            return w.metricValue(Evaluator.evaluate(model: global, batches: w.evaluation))
        }
        let evalAt = evalRounds(rounds, points: o.curvePoints)
        var curve: [Point] = []
        var excluded = 0
        for round in 0..<rounds {
            var candidates: [RoundDefence.Candidate] = []
            for p in 0..<peers {
                let m = workers[p]
                params.withUnsafeBufferPointer { m.params.base.update(from: $0.baseAddress!, count: n) }
                let optimizer = o.keepInnerState ? optimizers[p] : w.makeOptimizer(m.layout)
                let base = round * h
                let run = LocalTrainer.run(
                    model: m, optimizer: optimizer, steps: h,
                    lr: { o.schedule.lr(progress: Double(base + $0) / Double(rounds * h), peak: w.peakLR) },
                    gradClip: w.gradClip,
                    nextBatch: samplers[p])
                guard run.meanLoss.isFinite else {
                    throw AggregationError("peer \(p) diverged in round \(round) (non-finite loss); lower the learning rate")
                }
                let end = m.params.base
                let delta = (0..<n).map { params[$0] - end[$0] }
                let body = try feedback[p].encode(delta, header: header)
                candidates.append(
                    .init(delta: try UpdateEnvelope.decode(body, expecting: expectation).values, weight: Double(h)))
            }
            let probe = w.probe
            let result = defence.run(
                params: params, candidates: candidates, strategy: &strategy, history: history,
                probe: o.defence.probe ? { p in
                    p.withUnsafeBufferPointer { global.params.base.update(from: $0.baseAddress!, count: n) }
                    return Evaluator.evaluate(model: global, batches: probe).meanLoss
                } : nil)
            for v in result.verdicts {
                if v.isAggregated { history.append(v.norm) } else { excluded += 1 }
            }
            params = result.params
            if evalAt.contains(round) {
                curve.append(Point(units: (round + 1) * peers * h * w.unitsPerBatch, value: evaluate(params)))
            }
        }
        return Row(
            peers: peers, batch: w.batch, localSteps: h, rounds: rounds, syncs: rounds, innerSteps: rounds * h,
            units: rounds * peers * h * w.unitsPerBatch, value: curve.last!.value, curve: curve, excluded: excluded,
            seconds: Date().timeIntervalSince(started))
    }
}

/// Thread-safe result slots.
final class Slots<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [T?]
    private var done = 0
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ v: T) -> Int {
        lock.lock()
        defer { lock.unlock() }
        values[i] = v
        done += 1
        return done
    }
    func all() -> [T] {
        lock.lock()
        defer { lock.unlock() }
        return values.compactMap { $0 }
    }
}
