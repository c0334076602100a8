import CrowdCLI
import ArgumentParser
import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// `crowdtrain bench engine`: training-step throughput of the CPU engine.
///
/// For `fmnist-mlp` the timed region is exactly that of `ref_mlp_fmnist.py`: batches of each
/// epoch's seeded shuffle are gathered before the clock starts; forward + backward + optimizer
/// step are timed; the first `--warmup` steps of epoch 1 are excluded.
struct BenchEngineCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine",
        abstract: "Measure training throughput (samples/s) of the CPU engine on a workload.")

    @Option(help: "Workload: fmnist-mlp or kjv-gpt.")
    var workload: WorkloadName = .fmnistMLP

    @Option(help: "fmnist-mlp: steps of epoch 1 excluded from the timing (as ref_mlp_fmnist.py --warmup).")
    var warmup: Int = 50

    @OptionGroup(title: "Common options") var common: TrainCommonOptions
    @OptionGroup(title: "fmnist-mlp options") var mlp: MLPOptions
    @OptionGroup(title: "kjv-gpt options") var gpt: GPTOptions

    func validate() throws {
        try common.validate()
        guard warmup >= 0 else { throw ValidationError("--warmup must be at least 0") }
        if common.save != nil { throw ValidationError("--save is not used by bench engine") }
    }

    func run() async throws {
        switch workload {
        case .fmnistMLP: try runMLP()
        case .kjvGPT: try GPTBenchRun(common: common, options: gpt).run()
        }
    }

    /// JSON line of the MLP benchmark.
    struct MLPReport: Encodable {
        var workload = WorkloadName.fmnistMLP.rawValue
        var samplesPerS: Double
        var gflops: Double
        var flopsPerSample: Double
        var epochSamplesPerS: [Double]
        var timedSteps: Int
        var seconds: Double
        var epochs: Int
        var warmup: Int
        var batch: Int
        var hidden: [Int]
        var optimizer: String
        var threads: Int
        var backend = ComputeBackendReport.current
        var cpu = CPUReport.current
    }

    func runMLP() throws {
        ComputeThreads.set(common.threads)
        let (train, _) = try FashionMNIST.load(directory: mlp.data)
        var o = MLPBenchmark.Options()
        o.config = MLPConfig(inputs: train.features, hidden: mlp.hidden.values, classes: FashionMNIST.classes)
        o.batch = common.batch ?? 64
        o.epochs = mlp.epochs ?? 1
        o.warmup = warmup
        o.seed = common.seed ?? 0
        o.optimizer = mlp.optimizerConfig(lr: common.lr ?? mlp.defaultLR)
        guard o.batch <= train.count else {
            throw ConfigurationError("--batch \(o.batch) is larger than the training set (\(train.count) images)")
        }
        guard o.warmup < o.epochs * (train.count / o.batch) else {
            throw ConfigurationError("--warmup \(o.warmup) leaves no timed steps; lower it or raise --epochs")
        }
        let r = try MLPBenchmark.run(o, train: train)
        let flops = MLP(config: o.config, seed: 0).flopsPerSample
        if common.json {
            let report = MLPReport(
                samplesPerS: r.samplesPerSecond, gflops: r.gflops, flopsPerSample: flops,
                epochSamplesPerS: r.epochSamplesPerSecond, timedSteps: r.steps, seconds: r.seconds, epochs: o.epochs,
                warmup: o.warmup, batch: o.batch, hidden: o.config.hidden, optimizer: o.optimizer.kind,
                threads: common.threads)
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            let widths = o.config.widths.map(String.init).joined(separator: "-")
            let threads = "\(common.threads) thread\(common.threads == 1 ? "" : "s")"
            print("backend: \(BLASBackend.shared.summary); cpu: \(CPUReport.current.model) [\(CPUReport.current.simd.joined(separator: " "))]")
            print(
                "fmnist-mlp \(widths): "
                    + String(
                        format: "%.0f samples/s (%.1f GFLOP/s at %.2f MFLOP/sample)", r.samplesPerSecond,
                        r.gflops, flops / 1e6)
                    + ", batch \(o.batch), \(threads), \(r.steps) timed steps")
        }
    }
}

/// The `backend` object of every `bench engine` JSON line: which GEMM actually ran and why.
struct ComputeBackendReport: Encodable {
    /// `openblas` or `portable`.
    var library: String
    /// OpenBLAS's `openblas_get_corename()` after loading (or `portable`).
    var kernel: String
    /// `operator` (OPENBLAS_CORETYPE set), `cpu-features`, `library` (its own choice) or `fallback`.
    var selection: String
    var requestedCoreType: String?
    var selfCheckMaxRelError: Float?
    var detail: String
    var problem: String?

    static var current: ComputeBackendReport {
        let b = BLASBackend.shared
        return ComputeBackendReport(
            library: b.library.rawValue, kernel: b.kernel, selection: b.selection.rawValue,
            requestedCoreType: b.requestedCoreType, selfCheckMaxRelError: b.selfCheckError, detail: b.libraryDetail,
            problem: b.problem)
    }
}

/// The `cpu` object of every `bench engine` JSON line.
struct CPUReport: Encodable {
    var model: String
    var arch: String
    var simd: [String]

    static var current: CPUReport {
        let c = CPUFeatures.current
        return CPUReport(model: c.modelName, arch: c.architecture.rawValue, simd: c.simdSummary)
    }
}
