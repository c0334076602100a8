import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// The result of a lease's local training: the pseudo-gradient and how it went.
public struct LeaseWork: Sendable {
    /// Δ = θ_start − θ_end, `layout.count` values.
    public var delta: [Float]
    /// Loss, steps, samples and compute time of the local run.
    public var run: LocalRun
    /// Schema hash of the model trained.
    public var schemaHash: UInt64
    /// The inner optimizer's state after the last step (the next lease may continue it).
    public var optimizerState: OptimizerState? = nil
}

/// Runs a lease's H local steps — the peer's only numeric work.
///
/// Model and optimizer come from the checkpoint and the lease (never from peer settings), the batch
/// sampler is seeded from the lease seed, so a lease replayed on another machine produces the same Δ
/// at the same thread count. `shouldStop` is asked before every step, so a stop costs at most one step;
/// the run can hand out `LeaseProgress` snapshots and start again from one, with exactly the Δ of an
/// uninterrupted run.
public enum LeaseTrainer {
    /// Trains; returns nil when `shouldStop` turned true before the last step.
    /// - Parameters:
    ///   - resume: progress saved by an earlier run of this lease: restores θ and the optimizer state and
    ///     skips the batches already trained on.
    ///   - saveEvery: seconds of training between two periodic snapshots (`.infinity`: none).
    ///   - saveNow: asked before every step; true writes a snapshot first (e.g. a suspension is starting).
    ///   - save: receives each snapshot: periodic, on `saveNow`, and when stopping; never twice for the same
    ///     step, never for the finished lease, never before the first new step.
    ///   - shouldStop: asked before every step; may block (suspension) and returns true to stop.
    /// - Throws: `PeerError`/`CheckpointError`/`ConfigurationError` when the inputs do not fit the lease,
    ///   `LeaseProgressMismatch` when `resume` does not belong to this lease and model.
    public static func train(
        lease: Lease, checkpoint: Checkpoint, shards: [ShardPayload], resume: LeaseProgress? = nil,
        carriedOptimizer: OptimizerState? = nil, saveEvery: Double = .infinity, saveNow: () -> Bool = { false },
        save: (LeaseProgress) -> Void = { _ in }, shouldStop: () -> Bool = { false }
    ) throws -> LeaseWork? {
        guard checkpoint.schemaHash == lease.schemaHash else {
            throw PeerError(
                "model \(lease.modelVersion.prefix(12))… has schema \(hex64(checkpoint.schemaHash)) but the lease says "
                    + "\(hex64(lease.schemaHash)); the coordinator is inconsistent — report this to its operator")
        }
        guard lease.steps >= 1, lease.batch >= 1 else { throw PeerError("lease has \(lease.steps) steps of batch \(lease.batch)") }
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: lease.seed)
        try checkpoint.load(into: model)
        let start = checkpoint.params
        let inner = try InnerOptimizerConfig(peerLease: lease.inner)
        guard [lease.inner.progress, lease.inner.progressPerStep].allSatisfy({ ($0 ?? 0).isFinite && ($0 ?? 0) >= 0 }),
              lease.inner.lr.isFinite, lease.inner.lr >= 0
        else {
            throw PeerError("the lease's learning rate or schedule progress is not a finite non-negative number")
        }
        let optimizer = try inner.make(for: model.layout)
        let nextBatch = try sampler(lease: lease, shards: shards)
        var lossSum = 0.0, samples = 0, seconds = 0.0, done = 0
        if resume == nil, let carriedOptimizer {
            // The previous lease's optimizer state (InnerStateFile checked that it fits); a state that still does
            // not restore leaves the fresh optimizer.
            try? optimizer.restore(carriedOptimizer)
        }
        if let resume {
            try restore(resume, lease: lease, model: model, optimizer: optimizer)
            // The sampler is a seeded stream: skipping the batches already used puts it where the stop left it.
            for _ in 0..<resume.steps { _ = nextBatch() }
            (lossSum, samples, seconds, done) = (resume.lossSum, resume.samples, resume.seconds, resume.steps)
        }
        var savedStep = done, sinceSave = 0.0
        func snapshot() -> LeaseProgress {
            savedStep = done
            sinceSave = 0
            return LeaseProgress(
                lease: lease, steps: done, lossSum: lossSum, samples: samples, seconds: seconds,
                params: model.params.toArray(), optimizer: optimizer.state, savedAt: Date().timeIntervalSince1970)
        }
        let settings = lease.inner, schedule = inner.schedule
        while done < lease.steps {
            let lr = LRSchedule.leaseLR(settings, schedule: schedule, step: done)
            if done > savedStep && saveNow() { save(snapshot()) }
            if shouldStop() {
                if done > savedStep { save(snapshot()) }
                return nil
            }
            // One step per call keeps the loss sum identical however the run was cut.
            let r = LocalTrainer.run(
                model: model, optimizer: optimizer, steps: 1, lr: { _ in lr }, gradClip: inner.gradClip,
                nextBatch: nextBatch)
            lossSum += Double(r.meanLoss)
            samples += r.samples
            seconds += r.seconds
            sinceSave += r.seconds
            done += 1
            if sinceSave >= saveEvery && done < lease.steps { save(snapshot()) }
        }
        var delta = [Float](repeating: 0, count: start.count)
        let end = model.params.base
        for i in 0..<start.count { delta[i] = start[i] - end[i] }
        let run = LocalRun(meanLoss: Float(lossSum / Double(done)), steps: done, samples: samples, seconds: seconds)
        return LeaseWork(
            delta: delta, run: run, schemaHash: checkpoint.schemaHash, optimizerState: optimizer.state)
    }

    /// Puts `progress` into `model` and `optimizer`, after checking it belongs to `lease`.
    static func restore(
        _ progress: LeaseProgress, lease: Lease, model: any TrainableModel, optimizer: any Optimizer
    ) throws {
        let what = "saved progress of lease \(progress.lease.leaseID.prefix(8))"
        guard progress.lease.leaseID == lease.leaseID, progress.lease.modelVersion == lease.modelVersion,
              progress.lease.seed == lease.seed, progress.lease.steps == lease.steps,
              progress.lease.batch == lease.batch, progress.lease.inner == lease.inner
        else { throw LeaseProgressMismatch("\(what) is for other work than lease \(lease.leaseID.prefix(8))") }
        guard progress.steps >= 0, progress.steps < lease.steps else {
            throw LeaseProgressMismatch("\(what) is at \(progress.position)")
        }
        guard progress.params.count == model.params.count else {
            throw LeaseProgressMismatch(
                "\(what) holds \(progress.params.count) parameters; the model has \(model.params.count)")
        }
        do { try optimizer.restore(progress.optimizer) } catch {
            throw LeaseProgressMismatch("\(what): \(error)")
        }
        progress.params.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { model.params.base.update(from: b, count: src.count) }
        }
    }

    /// The lease's batch source over the concatenation of its shards.
    static func sampler(lease: Lease, shards: [ShardPayload]) throws -> () -> Batch {
        guard !shards.isEmpty else { throw PeerError("lease \(lease.leaseID) names no shards") }
        var images: [ImageDataset] = []
        var texts: [TextCorpus] = []
        for s in shards {
            switch s {
            case .images(let d): images.append(d)
            case .text(let c): texts.append(c)
            }
        }
        if !images.isEmpty && texts.isEmpty {
            let data = try concatenate(images)
            guard data.count >= 1 else { throw PeerError("lease shards hold no images") }
            return BatchSampler.images(data, batch: min(lease.batch, data.count), seed: lease.seed)
        }
        if !texts.isEmpty && images.isEmpty {
            guard let block = lease.block, block >= 1 else { throw PeerError("text lease without a block size") }
            let corpus = TextCorpus(bytes: texts.flatMap(\.bytes))
            guard corpus.count > block + 1 else { throw PeerError("lease shards hold \(corpus.count) bytes, fewer than one block") }
            return BatchSampler.text(corpus, batch: lease.batch, block: block, seed: lease.seed)
        }
        throw PeerError("lease mixes image and text shards")
    }

    /// One dataset holding the images of `parts` in order.
    static func concatenate(_ parts: [ImageDataset]) throws -> ImageDataset {
        if parts.count == 1 { return parts[0] }
        let rows = parts[0].rows, cols = parts[0].cols
        guard parts.allSatisfy({ $0.rows == rows && $0.cols == cols }) else {
            throw PeerError("lease shards have images of different sizes")
        }
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        pixels.reserveCapacity(parts.reduce(0) { $0 + $1.pixels.count })
        for p in parts {
            pixels += p.pixels
            labels += p.labels
        }
        return ImageDataset(count: labels.count, rows: rows, cols: cols, pixels: pixels, labels: labels)
    }
}

extension InnerOptimizerConfig {
    /// The training-side optimizer configuration of a lease's wire settings (same fields).
    init(peerLease s: InnerOptimizerSettings) throws {
        self.init(
            kind: s.kind, lr: s.lr, momentum: s.momentum, nesterov: s.nesterov, weightDecay: s.weightDecay,
            beta1: s.beta1, beta2: s.beta2, eps: s.eps, gradClip: s.gradClip,
            schedule: try LRSchedule(peerLease: s))
    }
}

extension LRSchedule {
    /// The lease's schedule; absent fields are the defaults (no `schedule`: constant).
    init(peerLease s: InnerOptimizerSettings) throws {
        guard let name = s.schedule else {
            self = .constant
            return
        }
        guard let kind = Kind(rawValue: name) else {
            throw PeerError(
                "the lease names learning-rate schedule '\(name)', which this crowdtrain does not know; update crowdtrain")
        }
        self.init(kind: kind, warmup: s.warmup ?? Self.defaultWarmup, floor: s.floor ?? Self.defaultFloor)
        do { try validate() } catch { throw PeerError("the lease's \(error)") }
    }

    /// Learning rate of step `step` of a lease (its `progress` and `progressPerStep`, absent = 0).
    static func leaseLR(_ s: InnerOptimizerSettings, schedule: LRSchedule, step: Int) -> Float {
        let p0 = s.progress ?? 0
        let dp = s.progressPerStep ?? 0
        return schedule.lr(progress: p0 + Double(step) * dp, peak: s.lr)
    }
}
