import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import CrowdVerification
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
    /// The recorded trajectory when the lease asks for a commitment (its states answer a challenge).
    public var trajectory: Trajectory? = nil
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
        let program: LeaseProgram
        do { program = try LeaseProgram(lease: lease, checkpoint: checkpoint, shards: shards) } catch let e as LeaseInputError {
            throw PeerError(e.description)
        }
        let model = program.model, optimizer = program.optimizer
        let start = checkpoint.params
        var trajectory = lease.verification.map { Trajectory(steps: lease.steps, segmentSteps: $0.segmentSteps) }
        var lossSum = 0.0, samples = 0, seconds = 0.0, done = 0
        if resume == nil, let carriedOptimizer {
            // The previous lease's optimizer state (InnerStateFile checked that it fits); a state that still does
            // not restore leaves the fresh optimizer. Under verification, only the state the lease names may go on.
            let allowed = lease.verification.map { v in
                v.innerState != nil && v.innerState == Hex.lowercase(StateDigest.optimizer(carriedOptimizer))
            } ?? true
            if allowed { try? optimizer.restore(carriedOptimizer) }
        }
        if let resume {
            try restore(resume, lease: lease, model: model, optimizer: optimizer)
            if trajectory != nil {
                guard trajectory!.restoreDigests(resume.trajectoryDigests),
                      trajectory!.recordedLeaves == resume.steps / lease.verification!.segmentSteps + 1
                else {
                    throw LeaseProgressMismatch(
                        "saved progress of lease \(lease.leaseID.prefix(8)) lacks the trajectory digests this lease commits to")
                }
            }
            // The sampler is a seeded stream: skipping the batches already used puts it where the stop left it.
            program.skip(resume.steps)
            (lossSum, samples, seconds, done) = (resume.lossSum, resume.samples, resume.seconds, resume.steps)
        } else {
            trajectory?.record(leaf: 0, params: model.params, optimizer: optimizer.state)
        }
        var savedStep = done, sinceSave = 0.0
        func snapshot() -> LeaseProgress {
            savedStep = done
            sinceSave = 0
            return LeaseProgress(
                lease: lease, steps: done, lossSum: lossSum, samples: samples, seconds: seconds,
                params: model.params.toArray(), optimizer: optimizer.state, savedAt: Date().timeIntervalSince1970,
                trajectoryDigests: trajectory?.digestBytes ?? [])
        }
        while done < lease.steps {
            if done > savedStep && saveNow() { save(snapshot()) }
            if shouldStop() {
                if done > savedStep { save(snapshot()) }
                return nil
            }
            // One step per call keeps the loss sum identical however the run was cut.
            let r = program.step()
            lossSum += Double(r.meanLoss)
            samples += r.samples
            seconds += r.seconds
            sinceSave += r.seconds
            done += 1
            if let leaf = trajectory?.leaf(afterStep: done) {
                trajectory?.record(leaf: leaf, params: model.params, optimizer: optimizer.state)
            }
            if sinceSave >= saveEvery && done < lease.steps { save(snapshot()) }
        }
        var delta = [Float](repeating: 0, count: start.count)
        let end = model.params.base
        for i in 0..<start.count { delta[i] = start[i] - end[i] }
        let run = LocalRun(meanLoss: Float(lossSum / Double(done)), steps: done, samples: samples, seconds: seconds)
        return LeaseWork(
            delta: delta, run: run, schemaHash: checkpoint.schemaHash, optimizerState: optimizer.state,
            trajectory: trajectory)
    }

    /// Puts `progress` into `model` and `optimizer`, after checking it belongs to `lease`.
    static func restore(
        _ progress: LeaseProgress, lease: Lease, model: any TrainableModel, optimizer: any Optimizer
    ) throws {
        let what = "saved progress of lease \(progress.lease.leaseID.prefix(8))"
        guard progress.lease.leaseID == lease.leaseID, progress.lease.modelVersion == lease.modelVersion,
              progress.lease.seed == lease.seed, progress.lease.steps == lease.steps,
              progress.lease.batch == lease.batch, progress.lease.inner == lease.inner,
              progress.lease.progress == lease.progress, progress.lease.progressPerStep == lease.progressPerStep
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
}
