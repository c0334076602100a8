import ArgumentParser
import CrowdTraining

extension WorkloadName: ExpressibleByArgument {}

/// `crowdtrain train`: trains a workload on this machine alone (no network).
struct TrainCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a workload locally on this machine (no coordinator).")

    @Option(help: "Workload to train: fmnist-mlp or kjv-gpt.")
    package var workload: WorkloadName = .fmnistMLP

    @OptionGroup(title: "Common options") package var common: TrainCommonOptions
    @OptionGroup(title: "fmnist-mlp options") package var mlp: MLPOptions
    @OptionGroup(title: "kjv-gpt options") package var gpt: GPTOptions

    package func validate() throws {
        try common.validate()
    }

    package func run() async throws {
        switch workload {
        case .fmnistMLP: try MLPTrainingRun(common: common, options: mlp).run()
        case .kjvGPT: try GPTTrainingRun(common: common, options: gpt).run()
        }
    }
}

/// Options every workload's `train` and `bench engine` take.
package struct TrainCommonOptions: ParsableArguments {
    package init() {}

    @Option(help: "Compute threads (OpenBLAS). 1 is the benchmark default.")
    package var threads: Int = 1

    @Option(help: "Random seed (initialisation, shuffling, batches). Default: 0 for fmnist-mlp, 1337 for kjv-gpt.")
    package var seed: UInt64?

    @Option(help: "Learning rate. Default: 0.05 for fmnist-mlp (SGD), 1e-3 for kjv-gpt (AdamW).")
    package var lr: Float?

    @Option(help: "Batch size. Default: 64 for fmnist-mlp, 12 for kjv-gpt.")
    package var batch: Int?

    @Option(help: "Write the trained model to this checkpoint file.")
    package var save: String?

    @Flag(help: "Print one final JSON line instead of the summary.")
    package var json = false

    package func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be between 1 and 256") }
        if let lr, !(lr > 0 && lr.isFinite) { throw ValidationError("--lr must be a positive number") }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1") }
    }
}
