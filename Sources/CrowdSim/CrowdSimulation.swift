import CrowdAggregation
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain bench crowd`: a crowd of home peers at scale, simulated honestly. Every inner step, every update's
/// encoding and decoding, every aggregation (the campaign's `RoundDefence`, aggregator, outer optimizer and grid
/// step) and every model delta really runs; only the clock is virtual. The campaign strategies are driven by the
/// coordinator's own `RoundStateMachine` (sync rounds or async FedBuff, with its lease deadlines and expiries); the
/// baseline is per-step fp32 data parallelism through a parameter server over the same links.
///
/// Time model: a peer's H inner steps take H × (this machine's measured seconds per step) / its speed, its encoding
/// this machine's measured encoding time / its speed, the coordinator's aggregation its measured wall time; each request costs a
/// round trip plus its bytes at the peer's uplink or downlink rate (the coordinator's own link is not the bottleneck).
/// Evaluations are not on the clock (the coordinator evaluates beside the campaign).
public enum CrowdSimulation {
    /// How the crowd trains.
    public enum Strategy: String, Sendable, Codable, CaseIterable {
        /// CrowdTrain sync rounds (`aggregation.mode` sync): quorum = the crowd size.
        case sync
        /// CrowdTrain async buffered aggregation (FedBuff): up to N open leases, an outer step per K updates.
        case async
        /// Per-step fp32 data parallelism: every step each online peer sends its fp32 gradient and waits for the mean.
        case dataParallel = "dp"
    }

    public struct Options: Sendable {
        public var peers = [1, 2, 4, 8, 16, 32]
        public var strategies = Strategy.allCases
        /// The campaign the crowd runs: local steps, batch, inner/outer optimizers, aggregator, defence, codec, lease
        /// timing, grid step, and `goalSamples` (the learning-rate schedule's length and the budget of every run).
        public var campaign: CampaignConfig
        /// Async buffer size K; nil: the crowd size.
        public var bufferSize: Int?
        /// The metric to reach (test accuracy, or validation loss).
        public var target: Double
        /// A run stops here even if the target was not reached.
        public var maxVirtualSeconds = 7 * 86_400.0
        public var links = PeerLinks()
        public var population: VolunteerPopulation
        /// Data parallelism and the local reference evaluate every this many steps.
        public var evalEverySteps = 10
        public var jobs = 2
        public init(campaign: CampaignConfig, target: Double, seed: UInt64) {
            self.campaign = campaign
            self.target = target
            self.population = VolunteerPopulation(seed: seed)
        }
        public var seed: UInt64 { population.seed }
    }

    /// This machine's measured speed: what speed 1 means.
    public struct Calibration: Sendable, Codable {
        /// Seconds per inner step of a crowd peer's batch (and of one data-parallel worker's).
        public var stepSeconds: Double
        /// Seconds per step of the single-process batch (the local reference).
        public var singleStepSeconds: Double
        /// Seconds to encode one update with the campaign codec (error feedback, quantization, zstd).
        public var encodeSeconds: Double
        /// A full checkpoint's bytes (a joining peer's download).
        public var checkpointBytes: Int
        public var parameters: Int

        public init(stepSeconds: Double, singleStepSeconds: Double, encodeSeconds: Double, checkpointBytes: Int, parameters: Int) {
            self.stepSeconds = stepSeconds
            self.singleStepSeconds = singleStepSeconds
            self.encodeSeconds = encodeSeconds
            self.checkpointBytes = checkpointBytes
            self.parameters = parameters
        }
    }

    public struct Point: Sendable, Codable {
        public var seconds: Double
        public var units: Int
        public var value: Double
        /// The coordinator's measured wall time closing this round (0 for data parallelism and the local run).
        public var aggregationSeconds = 0.0
    }

    /// One (strategy, crowd size) run.
    public struct Row: Sendable, Codable {
        public var strategy: String
        public var peers: Int
        /// Virtual seconds to the first evaluation at the target; nil if the budget or time ran out first.
        public var timeToTarget: Double?
        /// One average peer's time to target (training alone, `Report.averagePeer`) over this run's (filled by `run`).
        public var speedup: Double?
        /// Virtual seconds the run lasted (to the target, or to its end).
        public var seconds: Double
        /// Training units (images or tokens) in the model at the end (aggregated, or stepped by data parallelism).
        public var units: Int
        /// Outer steps (campaign) or optimizer steps (data parallelism).
        public var steps: Int
        public var updatesSent = 0
        public var updatesAggregated = 0
        /// Leases whose volunteer left before uploading.
        public var updatesLost = 0
        /// Uploads refused as stale or past their deadline.
        public var updatesRefused = 0
        /// Updates the round defence left out, by reason (`ExclusionReason` raw values).
        public var excluded: [String: Int] = [:]
        public var bytesUp = 0
        public var bytesDown = 0
        /// Compute time that reached the model over the time peers were online.
        public var utilisation: Double
        public var value: Double
        public var joins = 0
        public var departures = 0
        public var curve: [Point]
        public var wallSeconds: Double
    }

    public struct Report: Sendable {
        public var options: Options
        public var metric: QualityBenchmark.Metric
        public var calibration: Calibration
        public var rows: [Row]
        /// One peer of the mean speed training alone (the single-process batch and rate, no network): what
        /// `speedup` divides — the time an average volunteer would need by itself.
        public var averagePeer: Row
        /// The same peer as a campaign of one (sync, the campaign's batch, no churn): what the protocol costs alone.
        public var campaignOfOne: Row
        public var wallSeconds: Double
    }

    /// Whether `value` meets the target for this metric.
    static func reached(_ value: Double, _ target: Double, _ metric: QualityBenchmark.Metric) -> Bool {
        metric == .valLoss ? value <= target : value >= target
    }

    /// Measures speed 1: the median of five timed chunks of inner steps of each workload, after a warm-up, and the
    /// median of five encodings of an update with the campaign codec.
    public static func calibrate(
        crowd: QualityBenchmark.Workload, single: QualityBenchmark.Workload, codec: CodecSpec, level: Int32, seed: UInt64
    ) throws -> Calibration {
        func perStep(_ w: QualityBenchmark.Workload) -> Double {
            let model = w.makeModel(seed)
            let optimizer = w.makeOptimizer(model.layout)
            let next = w.sampler(seed &+ 99)
            _ = LocalTrainer.run(model: model, optimizer: optimizer, steps: 3, lr: { _ in w.peakLR }, gradClip: w.gradClip, nextBatch: next)
            // About 0.2 s per chunk on any machine: size the chunk from one timed step.
            let one = LocalTrainer.run(model: model, optimizer: optimizer, steps: 1, lr: { _ in w.peakLR }, gradClip: w.gradClip, nextBatch: next).seconds
            let steps = max(2, min(200, Int(0.2 / max(one, 1e-6))))
            let chunks = (0..<5).map { _ in
                LocalTrainer.run(model: model, optimizer: optimizer, steps: steps, lr: { _ in w.peakLR }, gradClip: w.gradClip, nextBatch: next).seconds / Double(steps)
            }
            return chunks.sorted()[2]
        }
        let model = crowd.makeModel(seed)
        let bytes = try Checkpoint(model: model).encoded().count
        let n = model.layout.count
        var rng = SeededRNG(seed: seed)
        let delta = (0..<n).map { _ in rng.nextNormal() * 1e-3 }
        var feedback = ErrorFeedback(count: n)
        let header = EnvelopeHeader(
            schemaHash: model.layout.schemaHash, round: 1, baseModel: [UInt8](repeating: 0, count: 32), codec: codec,
            elementCount: n)
        let encodings = try (0..<5).map { _ in
            let start = Date()
            _ = try feedback.encode(delta, header: header, level: level)
            return Date().timeIntervalSince(start)
        }
        return Calibration(
            stepSeconds: perStep(crowd), singleStepSeconds: perStep(single), encodeSeconds: encodings.sorted()[2],
            checkpointBytes: bytes, parameters: n)
    }

    /// Runs every (strategy, crowd size) and the two references, `jobs` at a time; `progress` gets a line per run.
    public static func run(
        crowd w: QualityBenchmark.Workload, single: QualityBenchmark.Workload, options o: Options,
        calibration: Calibration? = nil, progress: @escaping @Sendable (String) -> Void
    ) throws -> Report {
        try o.population.validate()
        try o.links.validate()
        guard !o.peers.isEmpty, o.peers.allSatisfy({ $0 >= 1 }), !o.strategies.isEmpty else {
            throw SimulationError("give at least one crowd size (each ≥ 1) and one strategy")
        }
        guard o.evalEverySteps >= 1, o.maxVirtualSeconds > 0 else {
            throw SimulationError("--eval-every must be at least 1 and the time limit positive")
        }
        let started = Date()
        let cal = try calibration
            ?? calibrate(
                crowd: w, single: single, codec: try CodecSpec(parsing: o.campaign.codec),
                level: Int32(o.campaign.codecLevel), seed: o.seed)
        progress(String(
            format: "calibrated: %.3f ms per step of %d (crowd batch), %.3f ms per step of %d (one process), %d parameters",
            cal.stepSeconds * 1000, w.batch, cal.singleStepSeconds * 1000, single.batch, cal.parameters))
        enum Job { case average, local, run(Strategy, Int) }
        var jobs: [Job] = [.average, .local]
        for s in o.strategies { for n in o.peers { jobs.append(.run(s, n)) } }
        let results = Slots<Row>(count: jobs.count)
        let errors = Slots<String>(count: jobs.count)
        let next = Counter()
        let all = jobs
        DispatchQueue.concurrentPerform(iterations: max(1, min(o.jobs, all.count))) { _ in
            while let k = next.take(below: all.count) {
                do {
                    let row: Row
                    switch all[k] {
                    case .average:
                        var solo = o
                        solo.population.speedMin = o.population.meanSpeed
                        solo.population.speedMax = o.population.meanSpeed
                        solo.population.churn = false
                        row = try campaign(w, solo, cal, strategy: .sync, peers: 1, label: "campaign of one")
                    case .local:
                        row = averagePeerAlone(single, o, cal)
                    case .run(let s, let n):
                        row = s == .dataParallel ? dataParallel(w, o, cal, peers: n) : try campaign(w, o, cal, strategy: s, peers: n)
                    }
                    let done = results.set(k, row)
                    progress(String(
                        format: "[%d/%d] %@ × %d: %@ after %@ virtual (%d steps, %@ %.4f, %.1f MB up, %.1f MB down, %.0f s wall)",
                        done, all.count, row.strategy, row.peers,
                        row.timeToTarget == nil ? "target not reached" : "target reached",
                        Self.duration(row.seconds), row.steps, w.metric.rawValue, row.value,
                        Double(row.bytesUp) / 1e6, Double(row.bytesDown) / 1e6, row.wallSeconds))
                } catch {
                    _ = errors.set(k, "\(error)")
                    progress("run \(k) failed: \(error)")
                }
            }
        }
        var rows = results.all()
        guard rows.count == all.count else {
            throw SimulationError("\(all.count - rows.count) runs failed: \(errors.all().joined(separator: "; "))")
        }
        let one = rows.removeFirst()
        let average = rows.removeFirst()
        for i in rows.indices {
            if let t = rows[i].timeToTarget, let a = average.timeToTarget { rows[i].speedup = a / t }
        }
        return Report(
            options: o, metric: w.metric, calibration: cal, rows: rows, averagePeer: average, campaignOfOne: one,
            wallSeconds: Date().timeIntervalSince(started))
    }

    /// "1 h 02 min", "3.4 s".
    public static func duration(_ s: Double) -> String {
        if s < 120 { return String(format: "%.1f s", s) }
        if s < 7200 { return String(format: "%.1f min", s / 60) }
        return String(format: "%.2f h", s / 3600)
    }
}
