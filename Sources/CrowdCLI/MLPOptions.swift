import ArgumentParser
import CrowdData
import CrowdProtocol
import CrowdTraining
import Foundation

/// Options of the Fashion-MNIST MLP workload (`fmnist-mlp`) for `train` and `bench engine`.
///
/// Batch size, learning rate, seed and threads come from `TrainCommonOptions`.
package struct MLPOptions: ParsableArguments {
    package init() {}

    @Option(help: ArgumentHelp("Hidden layer widths, input side first, comma-separated.", valueName: "w1,w2,…"))
    package var hidden: LayerWidths = LayerWidths([256, 128])

    @Option(help: "Passes over the training set. Default: 5 for train, 1 for bench engine.")
    package var epochs: Int?

    @Option(help: "Optimizer: sgd (with momentum) or adamw.")
    package var optimizer: MLPOptimizerKind = .sgd

    @Option(help: "SGD momentum (PyTorch semantics, dampening 0).")
    package var momentum: Float = 0.9

    @Option(help: ArgumentHelp(
        "Weight decay: SGD L2 term, or AdamW decoupled decay on weight matrices. Default: 0 for sgd, 0.01 for adamw."))
    package var weightDecay: Float?

    @Option(help: ArgumentHelp(
        "Directory with MNIST-format IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-…).",
        valueName: "dir"))
    package var data: String = FashionMNIST.defaultDirectory

    package func validate() throws {
        if let epochs, epochs < 1 { throw ValidationError("--epochs must be at least 1") }
        guard momentum >= 0 && momentum < 1 else { throw ValidationError("--momentum must be in [0, 1)") }
        if let weightDecay, !(weightDecay >= 0 && weightDecay.isFinite) {
            throw ValidationError("--weight-decay must be a non-negative number")
        }
    }

    /// The inner optimizer for learning rate `lr`.
    package func optimizerConfig(lr: Float) -> InnerOptimizerConfig {
        switch optimizer {
        case .sgd:
            return InnerOptimizerConfig(kind: "sgd", lr: lr, momentum: momentum, weightDecay: weightDecay ?? 0)
        case .adamw:
            // PyTorch's AdamW defaults: betas (0.9, 0.999), eps 1e-8, weight decay 0.01.
            return InnerOptimizerConfig(
                kind: "adamw", lr: lr, momentum: 0, weightDecay: weightDecay ?? 0.01, beta1: 0.9, beta2: 0.999,
                eps: 1e-8)
        }
    }

    /// Default learning rate of the chosen optimizer.
    package var defaultLR: Float { optimizer == .sgd ? 0.05 : 1e-3 }
}

/// Optimizers offered by `--optimizer`.
package enum MLPOptimizerKind: String, ExpressibleByArgument, CaseIterable, Sendable {
    case sgd, adamw
}

/// Comma-separated positive layer widths, e.g. `256,128`.
package struct LayerWidths: ExpressibleByArgument, Sendable, Equatable {
    package var values: [Int]

    package init(_ values: [Int]) { self.values = values }

    package init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ $0 > 0 && $0 <= 65_536 }) else {
            return nil
        }
        self.values = values
    }

    package var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}
