import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// Inputs of a lease that do not fit (wrong schema, empty shards, a schedule this build does not know…).
public struct LeaseInputError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A lease made executable: the model loaded from the base checkpoint, the inner optimizer, the lease-seeded batch
/// stream and the per-step learning rate. The peer's `LeaseTrainer` and the coordinator's `SegmentVerifier` both
/// run a lease through this type, so a verifier replays exactly the steps a peer took: step `i` draws the `i`-th
/// batch of the stream and uses the learning rate of step `i`.
public final class LeaseProgram {
    public let lease: Lease
    public let model: any TrainableModel
    public let optimizer: any Optimizer
    public let inner: InnerOptimizerConfig
    /// SHA-256 (`StateDigest.optimizer`) of a fresh optimizer for this lease.
    public let freshOptimizerDigest: [UInt8]
    /// Batches drawn from the stream so far (= the step the next `step()` runs).
    public private(set) var position = 0
    let batches: BatchStream

    /// - Throws: `LeaseInputError` when the checkpoint, shards or settings do not fit the lease.
    public init(lease: Lease, checkpoint: Checkpoint, shards: [ShardPayload]) throws {
        guard checkpoint.schemaHash == lease.schemaHash else {
            throw LeaseInputError(
                "model \(lease.modelVersion.prefix(12))… has schema \(hex64(checkpoint.schemaHash)) but the lease says "
                    + "\(hex64(lease.schemaHash)); the coordinator is inconsistent — report this to its operator")
        }
        guard lease.steps >= 1, lease.batch >= 1 else {
            throw LeaseInputError("lease has \(lease.steps) steps of batch \(lease.batch)")
        }
        let model: any TrainableModel
        do {
            model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: lease.seed)
            try checkpoint.load(into: model)
        } catch let e as LeaseInputError { throw e } catch { throw LeaseInputError("\(error)") }
        let inner = lease.inner
        guard [lease.progress, lease.progressPerStep].allSatisfy({ ($0 ?? 0).isFinite && ($0 ?? 0) >= 0 }),
              lease.inner.lr.isFinite, lease.inner.lr >= 0
        else {
            throw LeaseInputError("the lease's learning rate or schedule progress is not a finite non-negative number")
        }
        let optimizer: any Optimizer
        do { optimizer = try inner.make(for: model.layout) } catch { throw LeaseInputError("\(error)") }
        self.lease = lease
        self.model = model
        self.optimizer = optimizer
        self.inner = inner
        self.freshOptimizerDigest = StateDigest.optimizer(optimizer.state)
        self.batches = try Self.sampler(lease: lease, shards: shards)
    }

    /// Learning rate of step `step` of the lease.
    public func lr(step: Int) -> Float { LRSchedule.leaseLR(lease, step: step) }

    /// Advances past `n` batches without gathering them (a resume or a verifier starting at a segment).
    public func skip(_ n: Int) {
        batches.skip(n)
        position += max(0, n)
    }

    /// Runs step `position` (one optimizer step on the next batch with that step's learning rate).
    public func step() -> LocalRun {
        let lr = self.lr(step: position)
        position += 1
        return LocalTrainer.run(
            model: model, optimizer: optimizer, steps: 1, lr: { _ in lr }, gradClip: inner.gradClip,
            nextBatch: batches.next)
    }

    /// Puts θ and the optimizer state into the program (a verifier's revealed segment start).
    public func load(params: [Float], optimizer state: OptimizerState) throws {
        guard params.count == model.params.count else {
            throw LeaseInputError("the state holds \(params.count) parameters; the model has \(model.params.count)")
        }
        do { try optimizer.restore(state) } catch { throw LeaseInputError("\(error)") }
        params.withUnsafeBufferPointer { src in
            if let b = src.baseAddress { model.params.base.update(from: b, count: src.count) }
        }
    }

    /// Digest of the model's current parameters.
    public var paramsDigest: [UInt8] {
        StateDigest.params(UnsafeBufferPointer(start: model.params.base, count: model.params.count))
    }

    /// What an uninterrupted run of a lease produced.
    public struct Execution {
        /// Δ = θ_start − θ_end.
        public var delta: [Float]
        /// The recorded trajectory (when the lease asks for verification).
        public var trajectory: Trajectory?
        /// Seconds of local compute.
        public var seconds: Double
        /// The program after the run (its model and optimizer hold the end state).
        public var program: LeaseProgram
    }

    /// Trains the first `steps` (default: all) steps of `lease` in one go, recording the trajectory the lease asks
    /// for (simulated peers, the load generator and tests; the daemon's `LeaseTrainer` adds stopping and resuming).
    public static func execute(
        lease: Lease, checkpoint: Checkpoint, shards: [ShardPayload], steps: Int? = nil, segmentSteps: Int? = nil
    ) throws -> Execution {
        let program = try LeaseProgram(lease: lease, checkpoint: checkpoint, shards: shards)
        let k = segmentSteps ?? lease.verification?.segmentSteps
        var trajectory = k.map { Trajectory(steps: lease.steps, segmentSteps: $0) }
        trajectory?.record(leaf: 0, params: program.model.params, optimizer: program.optimizer.state)
        var seconds = 0.0
        for done in 1...max(1, min(steps ?? lease.steps, lease.steps)) {
            seconds += program.step().seconds
            if let leaf = trajectory?.leaf(afterStep: done) {
                trajectory?.record(leaf: leaf, params: program.model.params, optimizer: program.optimizer.state)
            }
        }
        let end = program.model.params
        let delta = (0..<checkpoint.params.count).map { checkpoint.params[$0] - end.base[$0] }
        return Execution(delta: delta, trajectory: trajectory, seconds: seconds, program: program)
    }

    /// The lease's batch source over the concatenation of its shards.
    public static func sampler(lease: Lease, shards: [ShardPayload]) throws -> BatchStream {
        guard !shards.isEmpty else { throw LeaseInputError("lease \(lease.leaseID) names no shards") }
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
            guard data.count >= 1 else { throw LeaseInputError("lease shards hold no images") }
            return BatchSampler.imageStream(data, batch: min(lease.batch, data.count), seed: lease.seed)
        }
        if !texts.isEmpty && images.isEmpty {
            guard let block = lease.block, block >= 1 else { throw LeaseInputError("text lease without a block size") }
            let corpus = TextCorpus(bytes: texts.flatMap(\.bytes))
            guard corpus.count > block + 1 else {
                throw LeaseInputError("lease shards hold \(corpus.count) bytes, fewer than one block")
            }
            return BatchSampler.textStream(corpus, batch: lease.batch, block: block, seed: lease.seed)
        }
        throw LeaseInputError("lease mixes image and text shards")
    }

    /// One dataset holding the images of `parts` in order.
    public static func concatenate(_ parts: [ImageDataset]) throws -> ImageDataset {
        if parts.count == 1 { return parts[0] }
        let rows = parts[0].rows, cols = parts[0].cols
        guard parts.allSatisfy({ $0.rows == rows && $0.cols == cols }) else {
            throw LeaseInputError("lease shards have images of different sizes")
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

extension LRSchedule {
    /// Learning rate of step `step` of a lease (its `progress` and `progressPerStep`, absent = 0).
    public static func leaseLR(_ lease: Lease, step: Int) -> Float {
        let p0 = lease.progress ?? 0
        let dp = lease.progressPerStep ?? 0
        return lease.inner.schedule.lr(progress: p0 + Double(step) * dp, peak: lease.inner.lr)
    }
}
