import CrowdClient
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import CrowdTraining
import Foundation
import CrowdVerification
import Testing

@testable import CrowdPeer

/// The peer's local work on a tiny MLP: Δ = θ_start − θ_end, seeded, stoppable.
@Suite struct LeaseTrainerTests {
    /// 64 synthetic 4×4 images of 2 classes: class 1 is bright in the top half.
    static func images(count: Int = 64, seed: UInt64 = 1) -> ImageDataset {
        SyntheticImages.halves(count: count, seed: seed, dark: 0...59, alternating: true)
    }

    static func checkpoint() throws -> Checkpoint {
        let model = MLP(config: MLPConfig(inputs: 16, hidden: [8], classes: 2), seed: 3)
        return try Checkpoint(model: model)
    }

    static func lease(
        _ ckpt: Checkpoint, steps: Int = 12, seed: UInt64 = 9,
        inner: InnerOptimizerConfig = InnerOptimizerConfig(kind: "sgd", lr: 0.1, momentum: 0.9, keepState: false),
        progress: Double? = nil, perStep: Double? = nil
    ) -> Lease {
        Lease(
            leaseID: "lease-1", round: 1, modelVersion: String(repeating: "0", count: 64), schemaHash: ckpt.schemaHash,
            workload: "fmnist-mlp", modelKind: "mlp", shardIDs: ["a"], steps: steps, batch: 8, block: nil,
            inner: inner, progress: progress, progressPerStep: perStep, codec: "int8", codecLevel: 1, seed: seed,
            deadline: 0, samples: steps * 8)
    }

    @Test func deltaIsStartMinusEndAndReducesLoss() throws {
        let ckpt = try Self.checkpoint()
        let data = Self.images()
        let lease = Self.lease(ckpt, steps: 40)
        let work = try #require(try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: [.images(data)]))
        #expect(work.delta.count == ckpt.params.count)
        #expect(work.delta.allSatisfy { $0.isFinite })
        #expect(work.run.steps == 40 && work.run.samples == 320)
        // Applying −Δ to θ_start reproduces the trained model; it must fit the data better than θ_start.
        let before = try ModelFactory.make(kind: "mlp", configJSON: ckpt.configJSON, seed: 0)
        try ckpt.load(into: before)
        let after = try ModelFactory.make(kind: "mlp", configJSON: ckpt.configJSON, seed: 0)
        try Checkpoint(
            kind: ckpt.kind, schemaHash: ckpt.schemaHash, configJSON: ckpt.configJSON,
            params: zip(ckpt.params, work.delta).map { $0 - $1 }
        ).load(into: after)
        let batches = BatchSampler.imageEvaluationBatches(data, batch: 64)
        let lossBefore = Evaluator.evaluate(model: before, batches: batches).meanLoss
        let lossAfter = Evaluator.evaluate(model: after, batches: batches).meanLoss
        #expect(lossAfter < lossBefore * 0.8, "loss \(lossBefore) → \(lossAfter)")
    }

    /// The lease's schedule position sets each step's learning rate: at the end of a cosine schedule a lease trains
    /// exactly as a constant one at the floor rate; further back it trains differently; unknown schedules and
    /// negative or non-finite positions are refused with a clear error.
    @Test func theLeasesSchedulePositionSetsTheLearningRate() throws {
        let ckpt = try Self.checkpoint()
        let shards: [ShardPayload] = [.images(Self.images())]
        func lease(_ schedule: LRSchedule, lr: Float = 0.1, progress: Double? = nil, perStep: Double? = nil) -> Lease {
            Self.lease(
                ckpt, inner: InnerOptimizerConfig(kind: "sgd", lr: lr, momentum: 0.9, schedule: schedule, keepState: false),
                progress: progress, perStep: perStep)
        }
        let end = try #require(try LeaseTrainer.train(
            lease: lease(.cosine, progress: 1, perStep: 0.01), checkpoint: ckpt, shards: shards))
        let floorLR = LRSchedule.cosine.lr(progress: 1, peak: 0.1)
        let constant = try #require(try LeaseTrainer.train(
            lease: lease(.constant, lr: floorLR), checkpoint: ckpt, shards: shards))
        #expect(end.delta == constant.delta)
        let middle = try #require(try LeaseTrainer.train(
            lease: lease(.cosine, progress: 0.4, perStep: 0.01), checkpoint: ckpt, shards: shards))
        #expect(middle.delta != end.delta)
        for bad in [lease(.cosine, progress: -0.5), lease(.cosine, progress: .nan),
                    lease(.cosine, progress: 0, perStep: .infinity)] {
            #expect(throws: PeerError.self) {
                try LeaseTrainer.train(lease: bad, checkpoint: ckpt, shards: shards)
            }
        }
        // A schedule this build does not know cannot even be read from the coordinator's answer.
        let json = String(decoding: try JSONEncoder().encode(lease(.cosine, progress: 0)), as: UTF8.self)
        #expect(json.contains("\"kind\":\"cosine\""))
        let unknown = json.replacingOccurrences(of: "\"kind\":\"cosine\"", with: "\"kind\":\"linear\"")
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Lease.self, from: Data(unknown.utf8)) }
    }

    @Test func sameLeaseSameDelta() throws {
        let ckpt = try Self.checkpoint()
        let shards: [ShardPayload] = [.images(Self.images())]
        let a = try #require(try LeaseTrainer.train(lease: Self.lease(ckpt), checkpoint: ckpt, shards: shards))
        let b = try #require(try LeaseTrainer.train(lease: Self.lease(ckpt), checkpoint: ckpt, shards: shards))
        let c = try #require(try LeaseTrainer.train(lease: Self.lease(ckpt, seed: 10), checkpoint: ckpt, shards: shards))
        #expect(a.delta == b.delta)
        #expect(a.delta != c.delta)
    }

    @Test func stopsWithinOneStepAndSavesWhereItStopped() throws {
        let ckpt = try Self.checkpoint()
        var calls = 0
        var saved: [LeaseProgress] = []
        let work = try LeaseTrainer.train(
            lease: Self.lease(ckpt, steps: 100), checkpoint: ckpt, shards: [.images(Self.images())],
            save: { saved.append($0) },
            shouldStop: {
                calls += 1
                return calls > 2
            })
        #expect(work == nil)
        #expect(calls == 3, "asked before every step")
        #expect(saved.map(\.steps) == [2] && saved[0].samples == 16 && saved[0].lossSum > 0)
    }

    @Test func refusesAModelOfAnotherSchema() throws {
        let ckpt = try Self.checkpoint()
        var lease = Self.lease(ckpt)
        lease.schemaHash ^= 1
        #expect(throws: PeerError.self) {
            _ = try LeaseTrainer.train(lease: lease, checkpoint: ckpt, shards: [.images(Self.images())])
        }
    }

    @Test func concatenatesShards() throws {
        let a = Self.images(count: 10, seed: 1), b = Self.images(count: 6, seed: 2)
        let c = try LeaseProgram.concatenate([a, b])
        #expect(c.count == 16 && c.labels.count == 16 && c.pixels == a.pixels + b.pixels)
    }

    @Test func refusesPlaintextCoordinatorURLs() throws {
        #expect(throws: ClientSetupError.self) { _ = try CoordinatorClient(baseURL: "http://127.0.0.1:8443", caPEM: []) }
    }
}
