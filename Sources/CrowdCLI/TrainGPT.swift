import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// `crowdtrain train --workload kjv-gpt`: the byte GPT of `ref_gpt_bytes.py --mode train` —
/// AdamW (β 0.9/0.99, ε 1e-8, weight decay 0.1 on matrices), grad-norm clip 1.0, random windows
/// of the first 90 % of the text, validation loss on a fixed seeded set of windows of the last 10 %.
struct GPTTrainingRun {
    let common: TrainCommonOptions
    let options: GPTOptions

    init(common: TrainCommonOptions, options: GPTOptions) {
        self.common = common
        self.options = options
    }

    /// One evaluation point.
    struct EvalPoint: Encodable {
        var iter: Int
        var valLoss: Double
        var trainLoss: Double
    }

    /// The final `--json` line.
    struct Summary: Encodable {
        var workload = WorkloadName.kjvGPT.rawValue
        var valLoss: Double
        var trainLoss: Double
        var iters: Int
        var tokensPerS: Double
        var seconds: Double
        var params: Int
        var layers: Int, heads: Int, width: Int, block: Int
        var batch: Int
        var lr: Float
        var schedule: String
        var threads: Int
        var seed: UInt64
        var text: String
        var textBytes: Int
        var evals: [EvalPoint]
        var checkpoint: String?
    }

    func run() throws {
        let setup = try GPTRunSetup(common: common, options: options)
        let (seed, batch, lr, config) = (setup.seed, setup.batch, setup.lr, setup.config)
        let (corpus, source, train, validation) = (setup.corpus, setup.source, setup.train, setup.validation)
        let (model, optimizer, nextBatch) = (setup.model, setup.optimizer, setup.nextBatch)
        let valBatches = BatchSampler.textEvaluationBatches(
            validation, count: options.evalBatches, batch: batch, block: config.block, seed: seed &+ 1)
        let trainBatches = BatchSampler.textEvaluationBatches(
            train, count: options.evalBatches, batch: batch, block: config.block, seed: seed &+ 2)

        let log: (String) -> Void = common.json ? { printToStandardError($0) } : { print($0) }
        let threadsText = "\(common.threads) thread" + (common.threads == 1 ? "" : "s")
        let corpusText = "text \(source), \(groupedThousands(corpus.count)) bytes "
            + "(\(train.count) train, \(validation.count) val)"
        let optimizerText = "AdamW lr \(lr) \(options.schedule.rawValue), batch \(batch)"
        log("kjv-gpt: \(groupedThousands(model.layout.count)) parameters (\(config)); \(corpusText); "
            + "\(optimizerText), \(threadsText), seed \(seed)")
        var evals: [EvalPoint] = []
        let initial = Evaluator.evaluate(model: model, batches: valBatches).meanLoss
        log(String(format: "iter %5d  val %.4f", 0, initial))

        let report = min(100, options.evalEvery)
        var done = 0
        var trainSeconds = 0.0
        var lastTrain = Double.nan, lastVal = initial
        while done < options.iters {
            let nextEval = (done / options.evalEvery + 1) * options.evalEvery
            let nextReport = (done / report + 1) * report
            let stop = min(options.iters, nextEval, nextReport)
            let start = done
            let run = LocalTrainer.run(
                model: model, optimizer: optimizer, steps: stop - done,
                lr: { options.schedule.lr(at: start + $0, iters: options.iters, peak: lr) }, gradClip: 1.0,
                nextBatch: nextBatch)
            done = stop
            trainSeconds += run.seconds
            guard run.meanLoss.isFinite else {
                throw GPTRunError("training diverged (non-finite loss) by iteration \(done); lower --lr")
            }
            let tokensPerSecond = Double(done * batch * config.block) / trainSeconds
            var line = String(format: "iter %5d  loss %.4f  %.0f tok/s", done, run.meanLoss, tokensPerSecond)
            if done % options.evalEvery == 0 || done == options.iters {
                lastVal = Evaluator.evaluate(model: model, batches: valBatches).meanLoss
                lastTrain = Evaluator.evaluate(model: model, batches: trainBatches).meanLoss
                evals.append(EvalPoint(iter: done, valLoss: lastVal, trainLoss: lastTrain))
                line += String(format: "  val %.4f  train_est %.4f", lastVal, lastTrain)
            }
            log(line)
        }

        if let path = common.save {
            let meta = [
                "workload": WorkloadName.kjvGPT.rawValue, "iters": String(options.iters),
                "val_loss": String(format: "%.4f", lastVal), "seed": String(seed), "text": source,
            ]
            try Checkpoint(model: model, metadata: meta).write(to: path)
            log("saved checkpoint \(path) (schema \(model.layout.schemaHashHex))")
        }

        let tokensPerSecond = trainSeconds > 0 ? Double(options.iters * batch * config.block) / trainSeconds : 0
        if common.json {
            let summary = Summary(
                valLoss: lastVal, trainLoss: lastTrain, iters: options.iters, tokensPerS: tokensPerSecond,
                seconds: trainSeconds, params: model.layout.count, layers: config.layers, heads: config.heads,
                width: config.width, block: config.block, batch: batch, lr: lr, schedule: options.schedule.rawValue,
                threads: common.threads, seed: seed, text: source, textBytes: corpus.count, evals: evals,
                checkpoint: common.save)
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(summary), as: UTF8.self))
        } else {
            print(String(
                format: "done: val loss %.4f nats/byte after %d iterations, %.0f tokens/s over %.1f s of training",
                lastVal, options.iters, tokensPerSecond, trainSeconds))
        }
    }
}
