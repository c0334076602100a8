import CrowdData
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Checkpoint bytes of `version` (the current model, or an older one recorded in the database).
    public func modelBytes(version: String) throws -> Data {
        let data: Data
        if version == baseVersion {
            data = baseBytes
        } else {
            guard Self.isHex64(version), let record = try store.checkpoint(version: version) else {
                throw APIError(.notFound, "no model version \(version)")
            }
            data = try Self.loadCheckpoint(paths: paths, record: record).1
        }
        try store.addBytesOut(data.count)
        return data
    }

    /// Shard bytes of `id` (verified against the id on first read, then cached).
    public func shardBytes(id: String) throws -> Data {
        guard let path = shardFiles[id] else { throw APIError(.notFound, "no shard \(id)") }
        let data: Data
        if let cached = shardCache[id] {
            data = cached
        } else {
            guard let bytes = FileManager.default.contents(atPath: path), Secrets.sha256Hex(bytes) == id else {
                throw APIError(.internalError, "shard \(id) is missing or damaged on the coordinator")
            }
            shardCache[id] = bytes
            data = bytes
        }
        try store.addBytesOut(data.count)
        return data
    }

    /// Waits until every closed round queued for evaluation has been evaluated and recorded (or failed, logged).
    /// Evaluation runs after a round commits, off the actor: call this before reading a round's evaluation.
    public nonisolated func waitForEvaluations() async { await evaluator.waitUntilIdle() }

    /// Whether a closed round's evaluation is queued or running.
    public nonisolated var evaluationsPending: Bool { evaluator.isBusy }

    /// The public campaign status. `latestEvaluation` is the newest *evaluated* round, which may trail
    /// `roundsCompleted` while the evaluation of the newest round runs (or if an old one was skipped).
    public func status() throws -> CampaignStatus {
        let now = clock.now()
        let window = 120.0
        let t = try store.totals(now: now, onlineWindow: 120, rateWindow: window)
        let started = try store.round(0)?.openedAt ?? now
        let span = min(window, max(1, now - started))
        let rate = Double(t.recentSamples) / span
        let evals = try store.evaluations().map {
            EvaluationPoint(round: $0.round, metric: $0.metric, value: $0.value, loss: $0.loss)
        }
        let remaining = max(0, config.goalSamples - t.samplesTrained)
        let finished = machine.phase == .finished
        return CampaignStatus(
            name: config.name, workload: config.workload, round: machine.round,
            roundsCompleted: finished ? machine.round : machine.round - 1,
            maxRounds: config.maxRounds.map { UInt64($0) }, finished: finished, modelVersion: baseVersion,
            goalSamples: config.goalSamples, samplesTrained: t.samplesTrained,
            percentFunded: min(100, 100 * Double(t.samplesTrained) / Double(config.goalSamples)),
            peersOnline: t.peersOnline, peersTotal: t.peersTotal, samplesPerSecond: rate,
            latestEvaluation: evals.last, evaluations: evals, updatesAccepted: t.updatesAccepted,
            updatesRejected: t.updatesRejected, bytesIn: t.bytesIn, bytesOut: t.bytesOut,
            etaSeconds: finished ? 0 : (rate > 0 ? Double(remaining) / rate : nil))
    }

    /// The public contributors table, highest credit first.
    public func stats(top: Int) throws -> ContributorStats {
        ContributorStats(contributors: try store.contributors(top: max(1, min(top, 1000))))
    }

    static func isHex64(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
