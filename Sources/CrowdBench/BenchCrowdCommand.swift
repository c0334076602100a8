import ArgumentParser
import CrowdAggregation
import CrowdCLI
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdSim
import CrowdTraining
import Foundation

/// `crowdtrain bench crowd`: home peers at scale as a discrete-event simulation (`CrowdSimulation`): the real engine,
/// codec, aggregation, round state machine and model deltas, with a virtual clock, heterogeneous speeds, home links
/// and churn. Progress lines to stderr; the table, or with `--json` one object, to stdout; `--svg` writes the plot.
struct BenchCrowdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crowd",
        abstract: "Simulated crowd of home peers (virtual clock, real training): time to target against one average peer and per-step data parallelism.")

    @Option(help: "fmnist-mlp or kjv-gpt.")
    var workload: String = WorkloadName.fmnistMLP.rawValue

    @Option(help: "Comma-separated crowd sizes.")
    var peers: String = "1,2,4,8,16,32"

    @Option(help: "Comma-separated strategies: sync, async (CrowdTrain campaigns), dp (per-step fp32 data parallelism).")
    var strategies: String = "sync,async,dp"

    @Option(help: "Target: test accuracy (fmnist-mlp, default 0.85) or validation loss in nats per byte (kjv-gpt, default 1.9).")
    var target: Double?

    @Option(help: "Local steps H per lease (default: the campaign's, 100).")
    var localSteps: Int?

    @Option(help: "Batch of each peer, images or sequences (default: the campaign's, 21 or 4).")
    var batch: Int?

    @Option(help: "Outer optimizer: diloco, fedavg or LR,MOMENTUM[,nesterov][,full=F][,delay] (default: the campaign's).")
    var outer: String?

    @Option(help: "Aggregator (default: the campaign's, trimmed-mean).")
    var aggregator: String?

    @Option(help: "Async buffer size K (default: the crowd size).")
    var buffer: Int?

    @Option(help: "Async maximum staleness (default: the campaign's, 4).")
    var maxStaleness: Int?

    @Option(help: "Budget of every run in images (fmnist-mlp; default the campaign goal, 600,000) — also the learning-rate schedule's length.")
    var samples: Int?

    @Option(help: "Budget of every run in tokens (kjv-gpt; default 3,072,000: 4,000 single-process iterations).")
    var tokens: Int?

    @Option(help: "Peer uplink, Mbit/s.")
    var uplinkMbit: Double = 10

    @Option(help: "Peer downlink, Mbit/s.")
    var downlinkMbit: Double = 50

    @Option(help: "Round-trip time of every request, milliseconds.")
    var rttMs: Double = 50

    @Option(help: "Slowest peer, times this machine's measured speed (speeds are log-uniform between the two).")
    var speedMin: Double = 0.25

    @Option(help: "Fastest peer, times this machine's measured speed.")
    var speedMax: Double = 2

    @Option(help: "Mean online session of a volunteer, hours (exponential).")
    var sessionHours: Double = 2

    @Option(help: "Mean time before a departed volunteer's place is taken by a new one, minutes (exponential).")
    var rejoinMinutes: Double = 30

    @Flag(help: "No churn: every volunteer stays for the whole run.")
    var noChurn = false

    @Option(help: "Data parallelism and the local reference evaluate every this many steps.")
    var evalEvery: Int = 10

    @Option(help: "Give a run up after this many virtual hours.")
    var maxVirtualHours: Double = 168

    @Option(help: "Runs at once (each on one thread).")
    var jobs: Int = 2

    @Option(help: "Seed (initialisation, batches, speeds, churn).")
    var seed: UInt64 = 1337

    @Option(help: "Write the speedup plot (SVG) to this file.")
    var svg: String?

    @Option(help: "Fashion-MNIST directory (fmnist-mlp).")
    var data: String = FashionMNIST.defaultDirectory

    @Option(help: "Train on the bytes of this file instead of the King James Bible (kjv-gpt).")
    var text: String?

    @Flag(help: "One JSON object: calibration, links, population, average_peer, campaign_of_one, rows [{strategy, peers, time_to_target_s, speedup, bytes_up, bytes_down, utilisation, …}], goals.")
    var json = false

    func list(_ s: String, _ flag: String) throws -> [Int] { try BenchInputs.ints(s, flag, in: 1...1024) }

    func parsedStrategies() throws -> [CrowdSimulation.Strategy] {
        try strategies.split(separator: ",").map {
            let name = $0.trimmingCharacters(in: .whitespaces)
            guard let s = CrowdSimulation.Strategy(rawValue: name) else {
                throw ValidationError("--strategies takes sync, async and dp, comma-separated; got '\(name)'")
            }
            return s
        }
    }

    func validate() throws {
        guard WorkloadName(rawValue: workload) != nil else {
            throw ValidationError("--workload must be one of \(WorkloadName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard !(try list(peers, "--peers")).isEmpty, !(try parsedStrategies()).isEmpty else {
            throw ValidationError("give at least one crowd size and one strategy")
        }
        if let localSteps { guard (1...100_000).contains(localSteps) else { throw ValidationError("--local-steps must be in 1…100000") } }
        if let batch { guard (1...4096).contains(batch) else { throw ValidationError("--batch must be in 1…4096") } }
        do {
            if let outer { _ = try OuterOptimizerConfig(parsing: outer) }
            if let aggregator { _ = try AggregatorKind(parsing: aggregator) }
        } catch { throw ValidationError("\(error)") }
        if let buffer { guard buffer >= 1 else { throw ValidationError("--buffer must be at least 1") } }
        if let maxStaleness { guard (0...64).contains(maxStaleness) else { throw ValidationError("--max-staleness must be in 0…64") } }
        if let samples { guard samples >= 1 else { throw ValidationError("--samples must be at least 1") } }
        if let tokens { guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") } }
        if let target { guard target.isFinite, target > 0 else { throw ValidationError("--target must be a positive number") } }
        guard uplinkMbit > 0, downlinkMbit > 0, rttMs >= 0, [uplinkMbit, downlinkMbit, rttMs].allSatisfy(\.isFinite) else {
            throw ValidationError("--uplink-mbit and --downlink-mbit must be positive, --rtt-ms non-negative")
        }
        guard speedMin > 0, speedMax >= speedMin, speedMax.isFinite else {
            throw ValidationError("speeds must satisfy 0 < --speed-min ≤ --speed-max")
        }
        guard sessionHours > 0, rejoinMinutes >= 0, sessionHours.isFinite, rejoinMinutes.isFinite else {
            throw ValidationError("--session-hours must be positive and --rejoin-minutes non-negative")
        }
        guard evalEvery >= 1, maxVirtualHours > 0, (1...64).contains(jobs) else {
            throw ValidationError("--eval-every ≥ 1, --max-virtual-hours > 0 and --jobs in 1…64")
        }
    }

    func run() throws {
        ComputeThreads.set(1)
        let name = WorkloadName(rawValue: workload)!
        var campaign = CampaignConfig(workload: name)
        if let localSteps { campaign.localSteps = localSteps }
        if let batch { campaign.batch = batch }
        if let maxStaleness { campaign.aggregation.maxStaleness = maxStaleness }
        if let outer { campaign.outer = try OuterOptimizerConfig(parsing: outer) }
        if let aggregator { campaign.aggregator = try AggregatorKind(parsing: aggregator) }
        let crowd: QualityBenchmark.Workload
        let single: QualityBenchmark.Workload
        switch name {
        case .fmnistMLP:
            let (train, test) = try FashionMNIST.load(directory: data)
            single = .fmnistMLP(train: train, test: test)
            crowd = .fmnistMLP(train: train, test: test, batch: campaign.batch)
            campaign.goalSamples = samples ?? campaign.goalSamples
        case .kjvGPT:
            let config = GPTConfig()
            let (train, validation) = try BenchInputs.textSplit(text, block: config.block)
            single = .gpt(train: train, validation: validation, config: config, seed: seed)
            var c = QualityBenchmark.Workload.gpt(
                train: train, validation: validation, config: config, batch: campaign.batch, seed: seed)
            c.peakLR = campaign.inner.lr
            crowd = c
            campaign.goalSamples = tokens ?? 4000 * single.unitsPerBatch
        }
        var o = CrowdSimulation.Options(
            campaign: campaign, target: target ?? (name == .kjvGPT ? 1.9 : 0.85), seed: seed)
        o.peers = try list(peers, "--peers")
        o.strategies = try parsedStrategies()
        o.bufferSize = buffer
        o.links.uplinkMbit = uplinkMbit
        o.links.downlinkMbit = downlinkMbit
        o.links.rttSeconds = rttMs / 1000
        o.population.speedMin = speedMin
        o.population.speedMax = speedMax
        o.population.sessionSeconds = sessionHours * 3600
        o.population.rejoinSeconds = rejoinMinutes * 60
        o.population.churn = !noChurn
        o.evalEverySteps = evalEvery
        o.maxVirtualSeconds = maxVirtualHours * 3600
        o.jobs = jobs
        let report: CrowdSimulation.Report
        do {
            report = try CrowdSimulation.run(crowd: crowd, single: single, options: o) { printToStandardError($0) }
        } catch let e as SimulationError {
            throw ValidationError(e.description)
        }
        let out = CrowdJSON(report: report, workload: name)
        if let svg {
            let plot = SpeedupPlot.svg(
                title: "bench crowd: \(name.rawValue), time to \(report.metric.rawValue) \(o.target)",
                subtitle: "\(CPUReport.current.model), \(o.links.uplinkMbit)/\(o.links.downlinkMbit) Mbit/s, RTT \(rttMs) ms, speeds \(speedMin)–\(speedMax)×",
                series: o.strategies.map { s in
                    SpeedupPlot.Series(
                        name: s == CrowdSimulation.Strategy.dataParallel ? "fp32 data parallel" : "CrowdTrain \(s.rawValue)",
                        points: report.rows.filter { $0.strategy == s.rawValue }.compactMap { r in r.speedup.map { (r.peers, $0) } })
                })
            try AtomicFile.write(Data(plot.utf8), to: svg)
        }
        if json {
            print(try out.encoded())
        } else {
            print(out.table())
        }
    }
}

/// The `bench crowd --json` object and the text table.
struct CrowdJSON {
    let report: CrowdSimulation.Report
    let workload: WorkloadName

    var unitKey: String { workload == .kjvGPT ? "tokens" : "samples" }

    func orNull<T>(_ x: T?) -> Any { x.map { $0 as Any } ?? NSNull() }

    func row(_ r: CrowdSimulation.Row) -> [String: Any] {
        let metric = report.metric.rawValue
        return [
            "strategy": r.strategy, "peers": r.peers, "reached": r.timeToTarget != nil,
            "time_to_target_s": orNull(r.timeToTarget), "speedup": orNull(r.speedup), "seconds": r.seconds,
            unitKey: r.units, "steps": r.steps, "updates_sent": r.updatesSent, "updates_aggregated": r.updatesAggregated,
            "updates_lost": r.updatesLost, "updates_refused": r.updatesRefused, "updates_excluded": r.excluded, "bytes_up": r.bytesUp,
            "bytes_down": r.bytesDown, "utilisation": r.utilisation, metric: orNull(r.value.isFinite ? r.value : nil),
            "joins": r.joins, "departures": r.departures, "wall_seconds": r.wallSeconds,
            "curve": r.curve.map { ["seconds": $0.seconds, unitKey: $0.units, metric: $0.value] },
        ]
    }

    func time(_ strategy: String, _ peers: Int) -> Double? {
        report.rows.first { $0.strategy == strategy && $0.peers == peers }?.timeToTarget
    }

    /// The issue's goals at 16 peers: ≥ 8× one average peer, ≥ 50× per-step fp32 data parallelism.
    var goals: [String: Any] {
        var g: [String: Any] = [:]
        for s in ["sync", "async"] {
            guard let t = time(s, 16) else { continue }
            if let a = report.averagePeer.timeToTarget { g["\(s)_16_speedup"] = a / t }
            if let d = time("dp", 16) { g["\(s)_16_vs_dp"] = d / t }
        }
        return g
    }

    func encoded() throws -> String {
        let o = report.options
        let c = o.campaign
        let object: [String: Any] = [
            "workload": workload.rawValue, "metric": report.metric.rawValue, "target": o.target, "seed": o.seed,
            "cpu": ["model": CPUReport.current.model, "simd": CPUReport.current.simd],
            "backend": ["library": ComputeBackendReport.current.library, "kernel": ComputeBackendReport.current.kernel],
            "calibration": [
                "step_seconds": report.calibration.stepSeconds, "single_step_seconds": report.calibration.singleStepSeconds,
                "checkpoint_bytes": report.calibration.checkpointBytes, "parameters": report.calibration.parameters,
            ],
            "links": ["uplink_mbit": o.links.uplinkMbit, "downlink_mbit": o.links.downlinkMbit, "rtt_ms": o.links.rttSeconds * 1000],
            "population": [
                "speed_min": o.population.speedMin, "speed_max": o.population.speedMax, "mean_speed": o.population.meanSpeed,
                "session_hours": o.population.sessionSeconds / 3600, "rejoin_minutes": o.population.rejoinSeconds / 60,
                "churn": o.population.churn,
            ],
            "campaign": [
                "local_steps": c.localSteps, "batch": c.batch, "inner": c.inner.kind, "inner_lr": c.inner.lr,
                "outer": [
                    "lr": c.outer.lr, "momentum": c.outer.momentum, "nesterov": c.outer.nesterov,
                    "full_step_updates": orNull(c.outer.fullStepUpdates), "delay_scaling": c.outer.delayScaling,
                ],
                "aggregator": c.aggregator.description, "codec": c.codec, "grid_step": c.distribution.gridStep,
                "buffer": orNull(o.bufferSize), "max_staleness": c.aggregation.maxStaleness, "budget": c.goalSamples,
            ],
            "average_peer": row(report.averagePeer), "campaign_of_one": row(report.campaignOfOne),
            "rows": report.rows.map(row), "goals": goals, "wall_seconds": report.wallSeconds,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    func table() -> String {
        func t(_ x: Double?) -> String { x.map { CrowdSimulation.duration($0) } ?? "not reached" }
        var lines = [
            "\(workload.rawValue): time to \(report.metric.rawValue) \(report.options.target) (virtual), "
                + "\(CPUReport.current.model), step \(String(format: "%.2f", report.calibration.stepSeconds * 1000)) ms",
            "one average peer alone: \(t(report.averagePeer.timeToTarget)); the same peer as a campaign of one: \(t(report.campaignOfOne.timeToTarget))",
            "strategy  peers  time to target  speedup   MB up   MB down  utilisation",
        ]
        for r in report.rows {
            lines.append(String(
                format: "%-8@ %6d  %14@  %7@  %7.1f  %8.1f  %10.2f", r.strategy, r.peers, t(r.timeToTarget),
                r.speedup.map { String(format: "%.2f×", $0) } ?? "–", Double(r.bytesUp) / 1e6, Double(r.bytesDown) / 1e6,
                r.utilisation))
        }
        return lines.joined(separator: "\n")
    }
}
