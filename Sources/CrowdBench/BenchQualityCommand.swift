import CrowdCLI
import ArgumentParser
import CrowdAggregation
import CrowdCodec
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdSim
import CrowdTraining
import Foundation

/// `crowdtrain bench quality`: crowds of P peers × H local steps against one process, every configuration with the
/// same training budget, in one invocation (`QualityBenchmark`; the real engine, codec, defence, aggregator and
/// outer optimizer; no network). Progress lines to stderr, the report to stdout.
struct BenchQualityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quality",
        abstract: "Crowd vs one process at equal tokens/samples: the DiLoCo quality study (simulated, no network).")

    @Option(help: "fmnist-mlp or kjv-gpt.")
    var workload: String = WorkloadName.kjvGPT.rawValue

    @Option(help: "Comma-separated crowd sizes.")
    var peers: String = "1,2,4,8"

    @Option(help: "Comma-separated local (inner) steps per round.")
    var localSteps: String = "25,50,100,200"

    @Option(help: "Token budget of every configuration (kjv-gpt). Default: 2,000 single-process iterations (1,536,000).")
    var tokens: Int?

    @Option(help: "Sample budget of every configuration (fmnist-mlp). Default: 2,000 single-process iterations (128,000).")
    var samples: Int?

    @Option(help: "Outer optimizer: diloco, fedavg, or LR,MOMENTUM[,nesterov][,full=F][,delay] (e.g. 0.5,0.9,nesterov). Default: the campaign default of the workload.")
    var outer: String?

    @Option(help: "Aggregator (default: the campaign default).")
    var aggregator: String = AggregatorKind.campaignDefault.description

    @Option(help: "Update codec (fp32, int8, topk:F, …).")
    var codec: String = "int8"

    @Option(help: "Inner learning-rate schedule over each peer's whole run: const or cosine.")
    var schedule: String = LRSchedule.Kind.const.rawValue

    @Option(help: ArgumentHelp(
        "Batch of each crowd peer: a number (images, or sequences for kjv-gpt), or 'split': the baseline's batch "
            + "divided among the peers (round(B / P), at least 1), so a round's P peers train on as many tokens per "
            + "inner step as one baseline step. Default: the workload's batch (64 or 12). The baseline keeps its batch.",
        valueName: "n|split"))
    var batch: String?

    @Option(help: "Inner learning rate of the crowd peers (default: the workload's; the baseline keeps the workload's).")
    var lr: Float?

    @Flag(help: "Peers keep their inner optimizer state (momentum, Adam moments) across rounds.")
    var keepInnerState = false

    @Flag(help: "Skip the single-process baseline (for sweeps; the goal comparison needs it).")
    var noBaseline = false

    @Option(help: "Runs at once (each on one thread).")
    var jobs: Int = 2

    @Option(help: "Evaluations per run (the curve).")
    var curvePoints: Int = 8

    @Option(help: "Seed (initialisation and batches).")
    var seed: UInt64 = 1337

    @Option(help: "Fashion-MNIST directory (fmnist-mlp).")
    var data: String = FashionMNIST.defaultDirectory

    @Option(help: "Train on the bytes of this file instead of the King James Bible (kjv-gpt).")
    var text: String?

    @Flag(help: "One JSON object: workload, rows [{peers, local_steps, rounds, syncs, inner_steps, tokens|samples, val_loss|test_accuracy, curve}], single_process, …")
    var json = false

    func ints(_ s: String, _ flag: String) throws -> [Int] { try BenchInputs.ints(s, flag) }

    func validate() throws {
        guard WorkloadName(rawValue: workload) != nil else {
            throw ValidationError("--workload must be one of \(WorkloadName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try ints(peers, "--peers")
        _ = try ints(localSteps, "--local-steps")
        guard LRSchedule.Kind(rawValue: schedule) != nil else { throw ValidationError("--schedule must be const or cosine") }
        guard (1...64).contains(jobs), (1...100).contains(curvePoints) else {
            throw ValidationError("--jobs must be in 1…64 and --curve-points in 1…100")
        }
        if let batch, batch != "split" {
            guard let b = Int(batch), (1...4096).contains(b) else {
                throw ValidationError("--batch takes a number in 1…4096 or 'split'; got '\(batch)'")
            }
        }
        if let tokens { guard tokens >= 1 else { throw ValidationError("--tokens must be at least 1") } }
        if let samples { guard samples >= 1 else { throw ValidationError("--samples must be at least 1") } }
        do {
            if let outer { _ = try OuterOptimizerConfig(parsing: outer) }
            _ = try AggregatorKind(parsing: aggregator)
            _ = try CodecSpec(parsing: codec)
        } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        ComputeThreads.set(1)
        let name = WorkloadName(rawValue: workload)!
        let w: QualityBenchmark.Workload
        let make: @Sendable (Int) -> QualityBenchmark.Workload
        let budget: Int
        switch name {
        case .fmnistMLP:
            let (train, test) = try FashionMNIST.load(directory: data)
            w = .fmnistMLP(train: train, test: test)
            make = { .fmnistMLP(train: train, test: test, batch: $0) }
            budget = samples ?? 2000 * 64
        case .kjvGPT:
            let config = GPTConfig()
            let (train, validation) = try BenchInputs.textSplit(text, block: config.block)
            let s = seed
            w = .gpt(train: train, validation: validation, config: config, seed: s)
            make = { .gpt(train: train, validation: validation, config: config, batch: $0, seed: s) }
            budget = tokens ?? 2000 * w.unitsPerBatch
        }
        let base = w.batch, choice = batch, peerLR = lr
        let crowd: @Sendable (Int) -> QualityBenchmark.Workload = { peers in
            let b: Int
            switch choice {
            case nil: b = base
            case "split": b = max(1, Int((Double(base) / Double(peers)).rounded()))
            case let text?: b = Int(text)!
            }
            var c = b == base ? w : make(b)
            if let peerLR { c.peakLR = peerLR }
            return c
        }
        var o = QualityBenchmark.Options(budget: budget)
        o.peers = try ints(peers, "--peers")
        o.localSteps = try ints(localSteps, "--local-steps")
        o.outer = try outer.map(OuterOptimizerConfig.init(parsing:)) ?? CampaignConfig.defaultOuter(name)
        o.aggregator = try AggregatorKind(parsing: aggregator)
        o.codec = try CodecSpec(parsing: codec)
        o.schedule = LRSchedule(kind: LRSchedule.Kind(rawValue: schedule)!)
        o.keepInnerState = keepInnerState
        o.jobs = jobs
        o.baseline = !noBaseline
        o.curvePoints = curvePoints
        o.seed = seed
        let report = try QualityBenchmark.run(workload: w, crowd: crowd, options: o) { printToStandardError($0) }
        if json {
            print(try QualityJSON(report, crowdLR: lr ?? w.peakLR, peerBatch: batch ?? "\(w.batch)").encoded())
        } else {
            let unit = name == .kjvGPT ? "tokens" : "samples"
            if let single = report.single {
                print("single process: \(single.innerSteps) steps, \(single.units) \(unit): "
                    + String(format: "%@ %.4f", w.metric.rawValue, single.value))
            }
            for r in report.rows {
                print(String(
                    format: "%d peers × %d local steps: %d rounds (%d syncs, %.0f× fewer than inner steps), %d %@: %@ %.4f",
                    r.peers, r.localSteps, r.rounds, r.syncs, Double(r.innerSteps) / Double(max(1, r.syncs)), r.units,
                    unit, w.metric.rawValue, r.value))
            }
        }
    }
}

/// The `bench quality --json` object (keys named for the workload: `tokens`/`val_loss` or `samples`/`test_accuracy`).
struct QualityJSON {
    let report: QualityBenchmark.Report
    /// The crowd peers' inner learning rate and `--batch` choice (the baseline's are the workload's).
    let crowdLR: Float
    let peerBatch: String

    init(_ report: QualityBenchmark.Report, crowdLR: Float, peerBatch: String) {
        self.report = report
        self.crowdLR = crowdLR
        self.peerBatch = peerBatch
    }

    func row(_ r: QualityBenchmark.Row) -> [String: Any] {
        let units = report.workload.metric == .valLoss ? "tokens" : "samples"
        return [
            "peers": r.peers, "batch": r.batch, "local_steps": r.localSteps, "rounds": r.rounds, "syncs": r.syncs,
            "inner_steps": r.innerSteps, units: r.units, report.workload.metric.rawValue: r.value,
            "excluded_updates": r.excluded, "seconds": r.seconds,
            "curve": r.curve.map { [units: $0.units, report.workload.metric.rawValue: $0.value] },
        ]
    }

    func encoded() throws -> String {
        let o = report.options
        let object: [String: Any] = [
            "workload": report.workload.name, "metric": report.workload.metric.rawValue, "budget": o.budget,
            "rows": report.rows.map(row), "single_process": report.single.map(row) ?? NSNull(),
            "outer": [
                "lr": o.outer.lr, "momentum": o.outer.momentum, "nesterov": o.outer.nesterov,
                "full_step_updates": o.outer.fullStepUpdates.map { $0 as Any } ?? NSNull(),
                "delay_scaling": o.outer.delayScaling,
            ],
            "aggregator": o.aggregator.description, "codec": o.codec.description, "schedule": o.schedule.kind.rawValue,
            "inner_lr": crowdLR, "baseline_lr": report.workload.peakLR, "peer_batch": peerBatch, "keep_inner_state": o.keepInnerState, "seed": o.seed,
            "seconds": report.seconds, "cpu": CPUName.current,
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
