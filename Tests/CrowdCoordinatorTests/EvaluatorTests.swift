import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import CrowdTraining
import Foundation
import Testing

@testable import CrowdCoordinator

/// Evaluation runs after a round commits, off the actor, and is recorded later; a restart catches up.
@Suite struct EvaluatorTests {
    /// One peer, one accepted update, one closed round.
    func closeOneRound(_ tc: TestCampaign, _ coordinator: Coordinator) async throws {
        let joined = try await coordinator.join(JoinRequest(invite: try tc.invite(1)[0], name: "ada"))
        let peer = try await coordinator.authenticate(authorization: "Bearer \(joined.credential)")
        let lease = try #require(try await coordinator.lease(for: peer, request: LeaseRequest(threads: 1)).lease)
        let base = try await coordinator.modelBytes(version: lease.modelVersion)
        let n = await coordinator.currentParameters.count
        let body = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
        _ = try await coordinator.upload(leaseID: lease.leaseID, peer: peer, body: body, trainLoss: 1)
        await coordinator.tickLogged()
    }

    /// The figures of evaluating `version`'s checkpoint file directly on the campaign's held-out set.
    func directEvaluation(_ tc: TestCampaign, version: String) throws -> (value: Double, loss: Double, samples: Int) {
        let paths = CampaignPaths(directory: tc.directory)
        let store = try SQLiteStore(path: paths.database)
        let record = try #require(try store.checkpoint(version: version))
        let checkpoint = try Coordinator.loadCheckpoint(paths: paths, record: record).0
        let model = try ModelFactory.make(kind: checkpoint.kind, configJSON: checkpoint.configJSON, seed: 0)
        try checkpoint.load(into: model)
        let set = try EvaluationSet.load(
            paths: paths, manifest: try ShardManifest.load(directory: paths.shards), config: tc.config)
        return set.evaluate(model)
    }

    @Test func theClosedRoundIsEvaluatedInTheBackgroundWithTheNewModel() async throws {
        let tc = try TestCampaign.make { $0.peersPerRound = 1 }
        defer { tc.remove() }
        let coordinator = try tc.open()
        try await closeOneRound(tc, coordinator)
        #expect(await coordinator.roundState.round == 2)
        await coordinator.waitForEvaluations()
        #expect(!coordinator.evaluationsPending)

        let version = await coordinator.currentModelVersion
        let status = try await coordinator.status()
        #expect(status.roundsCompleted == 1 && status.evaluations.map(\.round) == [0, 1])
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let recorded = try #require(try store.evaluations().last)
        #expect(recorded.round == 1 && recorded.version == version && recorded.metric == "test_accuracy")
        let direct = try directEvaluation(tc, version: version)
        #expect(recorded.value == direct.value && recorded.loss == direct.loss && recorded.samples == direct.samples)
        #expect(try store.roundsAwaitingEvaluation(limit: 10).isEmpty)
        let metrics = try PrometheusText.parse(try await coordinator.metricsText())
        #expect(metrics.value("crowdtrain_evaluation_seconds_count") == 1)
    }

    @Test func aRestartEvaluatesClosedRoundsThatHaveNoEvaluation() async throws {
        let tc = try TestCampaign.make { $0.peersPerRound = 1 }
        defer { tc.remove() }
        let first = try tc.open()
        try await closeOneRound(tc, first)
        await first.waitForEvaluations()
        let version = await first.currentModelVersion
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let before = try #require(try store.evaluations().last)
        // As if the coordinator died between the round's commit and its evaluation.
        try await store.pool.write { db in try db.execute(sql: "DELETE FROM evaluations WHERE round = 1") }
        let awaiting = try store.roundsAwaitingEvaluation(limit: 10)
        #expect(awaiting.map(\.round) == [1] && awaiting.map(\.version) == [version])

        let reopened = try tc.open()
        await reopened.waitForEvaluations()
        #expect(reopened.status().latestEvaluation?.round == 1)  // the board learns of the late evaluation
        let after = try #require(try store.evaluations().last)
        #expect(after.round == 1 && after.version == version && after.value == before.value)
        #expect(try store.roundsAwaitingEvaluation(limit: 10).isEmpty)
    }

    @Test func anExportEvaluatesAModelTheCoordinatorHasNotEvaluatedYet() async throws {
        let tc = try TestCampaign.make { $0.peersPerRound = 1 }
        defer { tc.remove() }
        let coordinator = try tc.open()
        try await closeOneRound(tc, coordinator)
        await coordinator.waitForEvaluations()
        let store = try SQLiteStore(path: CampaignPaths(directory: tc.directory).database)
        let recorded = try #require(try store.evaluations().last)
        try await store.pool.write { db in try db.execute(sql: "DELETE FROM evaluations WHERE round = 1") }
        let out = NSTemporaryDirectory() + "crowdtrain-export-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let result = try ExportTests.export(tc.directory, to: out)
        #expect(result.evaluation.round == 1 && result.evaluation.value == recorded.value)
        #expect(result.evaluation.modelVersion == recorded.version)
        #expect(try store.evaluations().map(\.round) == [0])  // the export records nothing
    }

    @Test func theQueueKeepsRoundOrderAndSkipsOnlyTheOldestWaitingRounds() {
        let limit = CoordinatorEvaluator.backlogLimit
        #expect(limit == 2)
        // Idle: the first job starts at once, so three may be kept.
        let idle = CoordinatorEvaluator.schedule(queued: [], adding: [4, 5, 6, 7], running: false)
        #expect(idle.kept == [5, 6, 7] && idle.skipped == [4])
        // Running: two wait; a round queued twice counts once; the newest is always kept.
        let busy = CoordinatorEvaluator.schedule(queued: [3, 4], adding: [4, 5], running: true)
        #expect(busy.kept == [4, 5] && busy.skipped == [3])
        let calm = CoordinatorEvaluator.schedule(queued: [8], adding: [9], running: true)
        #expect(calm.kept == [8, 9] && calm.skipped.isEmpty)
    }
}
