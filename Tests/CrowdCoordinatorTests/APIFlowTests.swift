import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import CrowdTraining
import Foundation
import HummingbirdTesting
import Testing

@testable import CrowdCoordinator

@Suite struct APIFlowTests {
    @Test func joinLeaseUploadCloseRoundAndRestart() async throws {
        let tc = try TestCampaign.make()
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        let theta0 = await app.coordinator.currentParameters
        let status = try await app.application.test(.router) { client -> CampaignStatus in
            let api = APIClient(client: client)
            #expect(try await api.call(.get, APIPath.health).status == .ok)
            let a = try await api.join(invites[0], "alice")
            let b = try await api.join(invites[1], "bob")
            let la = try await api.lease(a.credential)
            let lb = try await api.lease(b.credential)
            #expect(la.leaseID != lb.leaseID && la.shardIDs != lb.shardIDs && la.round == 1)
            #expect(la.samples == 2 * 8)
            let base = try await api.bytes(APIPath.model(la.modelVersion), token: a.credential)
            #expect(ContentDigest.hex(base) == la.modelVersion)
            // Shards travel compressed; the id is the SHA-256 of the inflated file, whose size the lease gives.
            let wire = try await api.bytes(APIPath.shard(la.shardIDs[0]), token: a.credential)
            let shard = try CompressedShard.decode(wire, expectedBytes: la.shardBytes?[0])
            #expect(ContentDigest.hex(shard) == la.shardIDs[0] && wire.count < shard.count)
            let n = try Checkpoint.decode(base).params.count

            let body = try envelope([Float](repeating: 0.01, count: n), lease: la, base: base)
            let r1 = try await api.upload(la, body, token: a.credential)
            #expect(r1.status == .ok)
            let receipt = try decode(Receipt.self, r1)
            #expect(receipt.samples == 16 && receipt.round == 1)
            let retry = try await api.upload(la, body, token: a.credential)
            #expect(try decode(Receipt.self, retry) == receipt)  // idempotent: same receipt, credited once

            let other = try envelope([Float](repeating: 0.02, count: n), lease: la, base: base)
            let dup = try await api.upload(la, other, token: a.credential)
            #expect(dup.status == .conflict && errorCode(dup) == "duplicate")

            #expect(
                try await api.upload(
                    lb, try envelope([Float](repeating: 0.01, count: n), lease: lb, base: base),
                    token: b.credential
                ).status == .ok)
            await app.coordinator.tickLogged()
            await app.coordinator.waitForEvaluations()  // evaluation runs after the round commits
            let s = try await api.status()
            let stats = try decode(ContributorStats.self, try await api.call(.get, APIPath.stats(top: 10)))
            #expect(stats.contributors.count == 2)
            #expect(stats.contributors.allSatisfy { $0.acceptedUpdates == 1 && $0.samples == 16 })
            #expect(stats.contributors.first { $0.name == "alice" }?.rejectedUpdates == 1)
            let flops = await app.coordinator.flopsPerSample
            #expect(abs(stats.contributors[0].credit - 16 * flops / 1e9) < 1e-12)
            return s
        }
        #expect(status.round == 2 && status.roundsCompleted == 1 && !status.finished)
        #expect(status.updatesAccepted == 2 && status.samplesTrained == 32 && status.peersTotal == 2)
        #expect(status.evaluations.map(\.round) == [0, 1] && status.latestEvaluation?.metric == "test_accuracy")

        // The campaign's outer Nesterov step on identical deltas 0.01: θ1 = θ0 − lr·(1 + μ)·s·0.01, with s the
        // evidence scale of two fresh 16-sample leases (2/3 with the default full step at 3 leases).
        let outer = CampaignConfig.defaultOuter(.fmnistMLP)
        let scale = outer.evidenceScale(weight: 2 * 16, leaseWeight: 16)
        #expect(outer.fullStepUpdates == nil || scale < 1)
        let move = outer.lr * (1 + outer.momentum) * scale * 0.01
        let theta1 = await app.coordinator.currentParameters
        #expect(zip(theta0, theta1).allSatisfy { abs(($0 - move) - $1) < 1e-5 })
        #expect(try tc.count("ledger") == 2)
        #expect(try tc.count("updates") == 2)

        // A restarted coordinator continues from the database.
        let reopened = try tc.open()
        #expect(await reopened.roundState.round == 2)
        #expect(await reopened.currentModelVersion == status.modelVersion)
        #expect(await reopened.currentParameters == theta1)
        let momentum = await app.coordinator.strategy.momentum
        #expect(await reopened.strategy.momentum == momentum)
    }

    @Test func localTrainingRoundsImproveTheHeldOutAccuracy() async throws {
        let tc = try TestCampaign.make {
            $0.localSteps = 15
            $0.batch = 16
            $0.codec = "int8"
            $0.maxRounds = 3
            $0.inner = InnerOptimizerConfig(kind: "sgd", lr: 0.1, momentum: 0.9)
        }
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        let final = try await app.application.test(.router) { client -> CampaignStatus in
            let api = APIClient(client: client)
            var peers: [JoinResponse] = []
            for (i, inv) in invites.enumerated() { peers.append(try await api.join(inv, "peer\(i)")) }
            for _ in 1...3 {
                for peer in peers {
                    let lease = try await api.lease(peer.credential)
                    let base = try await api.bytes(APIPath.model(lease.modelVersion), token: peer.credential)
                    let ckpt = try Checkpoint.decode(base)
                    let model = try ModelFactory.make(kind: ckpt.kind, configJSON: ckpt.configJSON, seed: 0)
                    try ckpt.load(into: model)
                    let shardBytes = try CompressedShard.decode(
                        try await api.bytes(APIPath.shard(lease.shardIDs[0]), token: peer.credential))
                    guard case .images(let data) = try ShardFile.decode(shardBytes, name: "s", expectedID: nil) else {
                        throw TestFailure("expected an image shard")
                    }
                    let opt = try InnerOptimizerConfig(kind: "sgd", lr: lease.inner.lr, momentum: lease.inner.momentum)
                        .make(for: model.layout)
                    let next = BatchSampler.images(data, batch: lease.batch, seed: lease.seed)
                    _ = LocalTrainer.run(
                        model: model, optimizer: opt, steps: lease.steps, lr: { _ in lease.inner.lr }, gradClip: 0,
                        nextBatch: next)
                    let delta = zip(ckpt.params, model.params.toArray()).map { $0 - $1 }
                    let body = try envelope(delta, lease: lease, base: base, codec: try CodecSpec(parsing: lease.codec))
                    #expect(try await api.upload(lease, body, token: peer.credential).status == .ok)
                }
                await app.coordinator.tickLogged()
            }
            await app.coordinator.waitForEvaluations()
            return try await api.status()
        }
        #expect(final.finished && final.roundsCompleted == 3)
        let first = try #require(final.evaluations.first).value
        let last = try #require(final.latestEvaluation).value
        #expect(last > first + 0.2, "accuracy \(first) → \(last)")
    }
}
