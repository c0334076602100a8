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
}

/// Runs a lease's H local steps — the peer's only numeric work.
///
/// Model and optimizer come from the checkpoint and the lease (never from peer settings), the batch
/// sampler is seeded from the lease seed, so a lease replayed on another machine produces the same Δ
/// at the same thread count. Training runs in chunks so the daemon can stop between two chunks.
public enum LeaseTrainer {
    /// Steps per chunk between two checks of `shouldStop`.
    public static let chunkSteps = 8

    /// Trains; returns nil when `shouldStop` turned true before the last step.
    /// - Throws: `PeerError`/`CheckpointError`/`ConfigurationError` when the inputs do not fit the lease.
    public static func train(
        lease: Lease, checkpoint: Checkpoint, shards: [ShardPayload], shouldStop: () -> Bool = { false }
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
        let inner = InnerOptimizerConfig(peerLease: lease.inner)
        let optimizer = try inner.make(for: model.layout)
        let nextBatch = try sampler(lease: lease, shards: shards)
        let lr = inner.lr
        var lossSum = 0.0, samples = 0, seconds = 0.0, done = 0
        while done < lease.steps {
            if shouldStop() { return nil }
            let n = min(chunkSteps, lease.steps - done)
            let r = LocalTrainer.run(
                model: model, optimizer: optimizer, steps: n, lr: { _ in lr }, gradClip: inner.gradClip,
                nextBatch: nextBatch)
            lossSum += Double(r.meanLoss) * Double(n)
            samples += r.samples
            seconds += r.seconds
            done += n
        }
        var delta = [Float](repeating: 0, count: start.count)
        let end = model.params.base
        for i in 0..<start.count { delta[i] = start[i] - end[i] }
        let run = LocalRun(meanLoss: Float(lossSum / Double(done)), steps: done, samples: samples, seconds: seconds)
        return LeaseWork(delta: delta, run: run, schemaHash: checkpoint.schemaHash)
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
    init(peerLease s: InnerOptimizerSettings) {
        self.init(
            kind: s.kind, lr: s.lr, momentum: s.momentum, nesterov: s.nesterov, weightDecay: s.weightDecay,
            beta1: s.beta1, beta2: s.beta2, eps: s.eps, gradClip: s.gradClip)
    }
}
