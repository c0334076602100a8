import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation
import Testing

@testable import CrowdPeer

/// The memory estimate of a lease, the refusal, and the `memoryLimit` suspend reason it leaves.
@Suite struct MemoryGuardTests {
    func lease(batch: Int, block: Int? = nil, optimizer: String = "sgd") -> Lease {
        Lease(
            leaseID: "0123456789abcdef", round: 1, modelVersion: String(repeating: "a", count: 64), schemaHash: 1,
            workload: "w", modelKind: "mlp", shardIDs: [], steps: 1, batch: batch, block: block,
            inner: InnerOptimizerConfig(
                kind: optimizer, lr: 0.1, momentum: 0.9, nesterov: false, weightDecay: 0, beta1: 0.9, beta2: 0.99,
                eps: 1e-8, gradClip: 0, keepState: false),
            codec: "int8", codecLevel: 3, seed: 1, deadline: 0, samples: 1)
    }

    @Test func mlpEstimateCountsEachPart() throws {
        let config = MLPConfig(inputs: 784, hidden: [256, 128], classes: 10)
        let model = MLP(config: config, seed: 1)
        let checkpoint = try Checkpoint(model: model)
        let n = checkpoint.params.count
        #expect(n == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10)
        let e = try MemoryGuard.estimate(checkpoint, lease: lease(batch: 64), threads: 1)
        #expect(e.parameters == n)
        #expect(e.parameterBytes == MemoryGuard.parameterCopies * 4 * n)
        #expect(e.optimizerBytes == 4 * n)
        #expect(e.activationBytes == 64 * (784 + 2 * (256 + 128 + 10) + 10 + 1) * 4)
        #expect(e.total == e.parameterBytes + e.optimizerBytes + e.activationBytes + MemoryGuard.baselineBytes)
        let adam = try MemoryGuard.estimate(checkpoint, lease: lease(batch: 64, optimizer: "adamw"), threads: 1)
        #expect(adam.optimizerBytes == 8 * n)
        // Verified work: 20 steps committed every 2 keep 11 states (params + momentum) and a proof's 2 + θ_H.
        var verified = lease(batch: 64)
        verified.steps = 20
        verified.verification = LeaseVerification(segmentSteps: 2)
        let v = try MemoryGuard.estimate(checkpoint, lease: verified, threads: 1)
        #expect(e.trajectoryBytes == 0 && v.trajectoryBytes == (11 + 2) * 2 * 4 * n + 4 * n)
        #expect(v.total == e.total + v.trajectoryBytes && v.description.contains("trajectory for verification"))
    }

    @Test func gptEstimateGrowsWithBatchAndBlock() throws {
        let config = GPTConfig(layers: 2, heads: 2, width: 32, block: 32, vocab: 256)
        let json = try JSONEncoder().encode(config)
        func est(_ b: Int, _ t: Int) throws -> MemoryEstimate {
            try MemoryGuard.estimate(
                kind: "gpt", configJSON: json, parameters: config.parameterCount, batch: b, block: t,
                optimizer: "adamw", threads: 1)
        }
        let small = try est(4, 16), wide = try est(8, 16), long = try est(4, 32)
        #expect(small.parameterBytes == MemoryGuard.parameterCopies * 4 * config.parameterCount)
        #expect(small.optimizerBytes == 8 * config.parameterCount)
        // Attention grows with T², the rest linearly with B·T.
        #expect(wide.activationBytes == 2 * small.activationBytes - 4 * 16 * 16 - 0)
        #expect(long.activationBytes > 2 * small.activationBytes)
        // Lower bound: the logits alone are B·T·V floats.
        #expect(small.activationBytes > 4 * 16 * 256 * 4)
        #expect(throws: PeerError.self) {
            try MemoryGuard.estimate(
                kind: "rnn", configJSON: json, parameters: 1, batch: 1, block: nil, optimizer: "sgd", threads: 1)
        }
    }

    @Test func aLeaseOverTheLimitIsRefusedWithWhatToDo() throws {
        let checkpoint = try Checkpoint(model: MLP(config: MLPConfig(inputs: 784, hidden: [256, 128]), seed: 1))
        let need = try MemoryGuard.estimate(checkpoint, lease: lease(batch: 64), threads: 1).total
        try MemoryGuard.check(checkpoint, lease: lease(batch: 64), threads: 1, limit: nil)
        try MemoryGuard.check(checkpoint, lease: lease(batch: 64), threads: 1, limit: need)
        let error = try #require(throws: MemoryGuardError.self) {
            try MemoryGuard.check(checkpoint, lease: lease(batch: 64), threads: 1, limit: need - 1)
        }
        #expect(error.needed == need && error.limit == need - 1)
        let text = error.description
        #expect(text.contains("--memory-limit") && text.contains("leave the campaign"), "\(text)")
        #expect(text.contains("takes no more work") && text.contains("01234567"), "\(text)")
    }

    @Test func refusalSuspendsUntilTheLimitIsRaised() throws {
        let dir = NSTemporaryDirectory() + "crowdpeer-mem-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let live = PeerLiveSettings(
            .init(threads: 1, limits: PeerLimits(memoryLimitBytes: 64 << 20), suspend: SuspendSettings()))
        let monitor = SuspendMonitor(
            policy: SuspendPolicy(settings: SuspendSettings()), pausePath: dir + "/pause.json",
            probes: .init(now: { 1_795_651_200 }, idle: { .active }, onBattery: { nil }), live: live)
        let checkpoint = try Checkpoint(model: MLP(config: MLPConfig(inputs: 784, hidden: [256, 128]), seed: 1))
        #expect(throws: MemoryGuardError.self) {
            try MemoryGuard.check(checkpoint, lease: lease(batch: 64), live: live, monitor: monitor)
        }
        let d = monitor.evaluate()
        #expect(d.reasons == [.memoryLimit] && d.stopsTraining)
        #expect(d.notes.contains { $0.contains("raise --memory-limit") })
        var raised = live.current
        raised.limits.memoryLimitBytes = 1 << 30
        live.update(raised)
        #expect(monitor.evaluate().reasons.isEmpty)
        try MemoryGuard.check(checkpoint, lease: lease(batch: 64), live: live, monitor: monitor)
    }
}
