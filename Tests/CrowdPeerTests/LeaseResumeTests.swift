import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation
import Testing

@testable import CrowdPeer

/// A lease stopped at step k and resumed from its saved progress ends with exactly the Δ of an
/// uninterrupted run (same thread count): parameters, optimizer state and sampler position all restored.
@Suite struct LeaseResumeTests {
    let ckpt: Checkpoint
    let shards: [ShardPayload] = [.images(LeaseTrainerTests.images())]

    /// One BLAS thread, as the daemons in other tests set too (both runs of a comparison happen in one test).
    init() throws {
        ComputeThreads.set(1)
        ckpt = try LeaseTrainerTests.checkpoint()
    }

    /// Trains `lease` stopping before step `k`, round-trips the saved progress through the file encoding,
    /// resumes, and returns (uninterrupted, resumed).
    func stopAndResume(_ lease: Lease, at k: Int) throws -> (LeaseWork, LeaseWork, LeaseProgress) {
        let whole = try #require(try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: shards))
        var saved: LeaseProgress?
        var calls = 0
        let stopped = try LeaseTrainer.train(
            lease: lease, checkpoint: ckpt, shards: shards, save: { saved = $0 },
            shouldStop: {
                calls += 1
                return calls > k
            })
        #expect(stopped == nil)
        let progress = try LeaseProgressFile.decode(try LeaseProgressFile.encode(try #require(saved)))
        #expect(progress.steps == k)
        let resumed = try #require(
            try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: shards, resume: progress))
        return (whole, resumed, progress)
    }

    @Test(arguments: [1, 7, 19])
    func sgdWithMomentumResumesBitIdentically(k: Int) throws {
        let lease = LeaseTrainerTests.lease(ckpt, steps: 20)
        let (whole, resumed, progress) = try stopAndResume(lease, at: k)
        #expect(progress.optimizer.kind == "sgd" && progress.optimizer.step == k)
        #expect(whole.delta.map(\.bitPattern) == resumed.delta.map(\.bitPattern))
        #expect(whole.run.meanLoss.bitPattern == resumed.run.meanLoss.bitPattern)
        #expect(whole.run.steps == resumed.run.steps && whole.run.samples == resumed.run.samples)
    }

    @Test func adamWResumesBitIdentically() throws {
        let inner = InnerOptimizerConfig(kind: "adamw", lr: 0.01, weightDecay: 0.1, beta1: 0.9, beta2: 0.99, keepState: false)
        let lease = LeaseTrainerTests.lease(ckpt, steps: 16, inner: inner)
        let (whole, resumed, progress) = try stopAndResume(lease, at: 9)
        #expect(progress.optimizer.kind == "adamw" && progress.optimizer.step == 9)
        #expect(progress.optimizer.buffers.count == 2)
        #expect(whole.delta.map(\.bitPattern) == resumed.delta.map(\.bitPattern))
        #expect(whole.run.meanLoss.bitPattern == resumed.run.meanLoss.bitPattern)
    }

    @Test func byteGPTWithAdamWResumesBitIdentically() throws {
        let config = GPTConfig(layers: 1, heads: 2, width: 8, block: 6, vocab: 16)
        let gpt = try Checkpoint(model: GPT(config: config, seed: 4))
        var rng = SeededRNG(seed: 8)
        let text: [ShardPayload] = [.text(TextCorpus(bytes: (0..<400).map { _ in UInt8(rng.nextInt(below: 16)) }))]
        var lease = LeaseTrainerTests.lease(
            gpt, steps: 8, inner: InnerOptimizerConfig(kind: "adamw", lr: 0.01, weightDecay: 0.1, gradClip: 1, keepState: false))
        lease.modelKind = "gpt"
        lease.workload = "kjv-gpt"
        lease.batch = 2
        lease.block = 6
        let whole = try #require(try LeaseTrainer.train(lease: lease, checkpoint: gpt, shards: text))
        var saved: LeaseProgress?
        var calls = 0
        _ = try LeaseTrainer.train(
            lease: lease, checkpoint: gpt, shards: text, save: { saved = $0 },
            shouldStop: {
                calls += 1
                return calls > 5
            })
        let progress = try LeaseProgressFile.decode(try LeaseProgressFile.encode(try #require(saved)))
        let resumed = try #require(
            try LeaseTrainer.train(lease: lease, checkpoint: gpt, shards: text, resume: progress))
        #expect(progress.steps == 5)
        #expect(whole.delta.map(\.bitPattern) == resumed.delta.map(\.bitPattern))
        #expect(whole.run.meanLoss.bitPattern == resumed.run.meanLoss.bitPattern)
    }

    /// Without the optimizer state or the sampler fast-forward the result differs: the test above could fail.
    @Test func resumingWithoutOptimizerStateWouldDiffer() throws {
        let lease = LeaseTrainerTests.lease(ckpt, steps: 20)
        let (whole, _, progress) = try stopAndResume(lease, at: 7)
        var zeroed = progress
        zeroed.optimizer.buffers = zeroed.optimizer.buffers.map { [Float](repeating: 0, count: $0.count) }
        let wrong = try #require(try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: shards, resume: zeroed))
        #expect(wrong.delta != whole.delta)
    }

    @Test func periodicSavesFollowEveryStepButTheLast() throws {
        var saved: [Int] = []
        let work = try LeaseTrainer.train(
            lease: LeaseTrainerTests.lease(ckpt, steps: 10), checkpoint: ckpt, shards: shards, saveEvery: 0,
            save: { saved.append($0.steps) })
        #expect(work != nil)
        #expect(saved == Array(1...9), "\(saved)")
    }

    @Test func saveNowWritesOnceAndOnlyUnsavedSteps() throws {
        var saved: [Int] = []
        var asked: [Int] = []
        var calls = 0
        let work = try LeaseTrainer.train(
            lease: LeaseTrainerTests.lease(ckpt, steps: 10), checkpoint: ckpt, shards: shards,
            saveNow: {
                calls += 1
                asked.append(calls)
                return calls == 4 || calls == 5
            },
            save: { saved.append($0.steps) },
            shouldStop: { saved.count == 2 })
        #expect(work == nil)
        // Asked before steps 2…: true at 4 and 5 saves at steps 4 and 5; the stop right after has nothing new.
        #expect(saved == [4, 5], "\(saved)")
        #expect(asked.count == 5)
    }

    @Test func progressOfAnotherLeaseOrModelIsRefused() throws {
        let lease = LeaseTrainerTests.lease(ckpt, steps: 20)
        let (_, _, progress) = try stopAndResume(lease, at: 5)
        var other = lease
        other.leaseID = "lease-2"
        #expect(throws: LeaseProgressMismatch.self) {
            _ = try LeaseTrainer.train(lease: other, checkpoint: ckpt, shards: shards, resume: progress)
        }
        var reseeded = lease
        reseeded.seed += 1
        #expect(throws: LeaseProgressMismatch.self) {
            _ = try LeaseTrainer.train(lease: reseeded, checkpoint: ckpt, shards: shards, resume: progress)
        }
        var short = progress
        short.params.removeLast()
        #expect(throws: LeaseProgressMismatch.self) {
            _ = try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: shards, resume: short)
        }
        var adam = progress
        adam.optimizer = OptimizerState(kind: "adamw", step: 5, buffers: [progress.params, progress.params])
        #expect(throws: LeaseProgressMismatch.self) {
            _ = try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: shards, resume: adam)
        }
    }
}
