import CrowdCLI
import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// `crowdtrain bench engine --workload kjv-gpt`: the timed region of `ref_gpt_bytes.py --mode speed`.
/// 20 untimed warm-up steps, then `--iters` timed steps of forward + backward + grad clip (1.0) +
/// AdamW step on batches drawn before the clock starts; tokens/s = iters · batch · block / time.
struct GPTBenchRun {
    let common: TrainCommonOptions
    let options: GPTOptions

    /// Untimed warm-up steps (ref_gpt_bytes.py `--warmup`).
    static let warmup = 20

    init(common: TrainCommonOptions, options: GPTOptions) {
        self.common = common
        self.options = options
    }

    /// JSON line of the benchmark.
    struct Report: Encodable {
        var workload = WorkloadName.kjvGPT.rawValue
        var tokensPerS: Double
        var msPerIter: Double
        var gflops: Double
        var itersTimed: Int
        var warmup: Int
        var params: Int
        var batch: Int
        var block: Int
        var threads: Int
        var seed: UInt64
        var backend = ComputeBackendReport.current
        var cpu = CPUReport.current
    }

    func run() throws {
        let setup = try GPTRunSetup(common: common, options: options)
        let (seed, batch, lr, config) = (setup.seed, setup.batch, setup.lr, setup.config)
        let (model, optimizer, nextBatch) = (setup.model, setup.optimizer, setup.nextBatch)
        let schedule = { (it: Int) in options.schedule.lr(at: it, iters: options.iters, peak: lr) }
        _ = LocalTrainer.run(
            model: model, optimizer: optimizer, steps: Self.warmup, lr: schedule, gradClip: 1.0, nextBatch: nextBatch)
        let batches = (0..<options.iters).map { _ in nextBatch() }
        var index = 0
        let run = LocalTrainer.run(
            model: model, optimizer: optimizer, steps: options.iters, lr: { schedule(Self.warmup + $0) },
            gradClip: 1.0,
            nextBatch: {
                defer { index += 1 }
                return batches[index]
            })
        let tokensPerSecond = Double(run.samples) / run.seconds
        let report = Report(
            tokensPerS: (tokensPerSecond * 10).rounded() / 10, msPerIter: 1000 * run.seconds / Double(run.steps),
            gflops: tokensPerSecond * model.flopsPerSample / 1e9, itersTimed: run.steps, warmup: Self.warmup,
            params: model.layout.count, batch: batch, block: config.block, threads: common.threads, seed: seed)
        if common.json {
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print("backend: \(BLASBackend.shared.summary); cpu: \(CPUReport.current.model) [\(CPUReport.current.simd.joined(separator: " "))]")
            print(String(
                format: "kjv-gpt %@: %.0f tokens/s (%.2f ms/iter, %.1f GFLOP/s), batch %d × block %d, %d thread%@, "
                    + "%d timed iterations after %d warm-up",
                groupedThousands(model.layout.count), tokensPerSecond, report.msPerIter, report.gflops, batch,
                config.block, common.threads, common.threads == 1 ? "" : "s", run.steps, Self.warmup))
        }
    }
}
