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
                throw APIError(
                    .notFound,
                    "no model version \(version) (unknown, or older than the last \(config.distribution.keepVersions) the coordinator keeps)")
            }
            data = try Self.loadCheckpoint(paths: paths, record: record).1
        }
        served(bytes: data.count)
        return data
    }

    /// The body of `GET /v1/shards/{id}`: shard `id` compressed (`CompressedShard`, made once by `ShardBodies` and
    /// verified against the id on first read, then kept in memory).
    ///
    /// Only training shards named by one of `peerID`'s open leases are served: the evaluation shard stays with the
    /// coordinator (a peer that could read it could fit the held-out set), and a peer cannot pull the whole
    /// training set either.
    public func shardBytes(id: String, peerID: String) throws -> Data {
        guard let entry = trainShardsByID[id], id != evaluationShardID,
              try store.holdsLeasedShard(peerID: peerID, shardID: id)
        else {
            throw APIError(.shardNotLeased, "shard \(id.prefix(16)) is not in one of this peer's open leases; ask for a lease")
        }
        let body: Data
        if let known = shardBodies[id] {
            body = known
        } else {
            do {
                body = try ShardBodies.body(for: entry, directory: shardDirectory)
            } catch {
                logger.error("cannot serve a shard", metadata: ["shard": "\(id)", "error": "\(error)"])
                throw APIError(.internalError, "shard \(id) is missing or damaged on the coordinator")
            }
            shardBodies[id] = body
        }
        served(bytes: body.count)
        return body
    }

    /// The bytes of a shard of the campaign (training or evaluation), checked against its id.
    func storedShard(_ id: String, path: String? = nil) throws -> Data {
        guard let path = path ?? shardFiles[id] else { throw APIError(.notFound, "no shard \(id)") }
        let data: Data
        if let cached = shardCache[id] {
            data = cached
        } else {
            guard let bytes = FileManager.default.contents(atPath: path), ContentDigest.hex(bytes) == id else {
                throw APIError(.internalError, "shard \(id) is missing or damaged on the coordinator")
            }
            shardCache[id] = bytes
            data = bytes
        }
        return data
    }

    /// Counts bytes served: in the board at once, in the database at the next `tick` (one write per second, not one
    /// per download). Needs no actor: the blob route calls it as its response goes.
    nonisolated func served(bytes: Int) {
        board.update { $0.bytesOut += bytes }
        unflushedBytesOut.withLock { $0 += bytes }
    }

    /// Writes the bytes served and the peers' `last_seen` times gathered since the last flush (at most once a
    /// second of the campaign clock unless `force`: graceful shutdown flushes everything).
    func flushCounters(force: Bool = false) throws {
        let now = clock.now()
        guard force || now - lastCounterFlush >= 1 || now < lastCounterFlush else { return }
        lastCounterFlush = now
        try flushPeerTouches()
        let pending = unflushedBytesOut.withLock { n -> Int in
            defer { n = 0 }
            return n
        }
        guard pending > 0 else { return }
        do { try store.addBytesOut(pending) } catch {
            unflushedBytesOut.withLock { $0 += pending }  // counted again at the next flush
            throw error
        }
    }

    /// Flushes the pending counters and `last_seen` times (graceful shutdown; logs instead of throwing).
    public func flushPending() {
        do { try flushCounters(force: true) } catch {
            logger.error("could not write the pending counters", metadata: ["error": "\(error)"])
        }
    }

    /// Closes a round whose quorum arrived but whose aggregation is still queued (an upload schedules it to run after
    /// its response), then waits until every closed round queued for evaluation has been evaluated and recorded (or
    /// failed, logged). Evaluation runs after a round commits, off the actor; `status()` reads the running totals
    /// without the actor: call this before reading a round's result or evaluation.
    public func waitForEvaluations() async {
        if machine.phase == .aggregating { tickLogged() }
        await waitForVerifications()
        await evaluator.waitUntilIdle()
    }

    /// Whether a closed round's evaluation is queued or running.
    public nonisolated var evaluationsPending: Bool { evaluator.isBusy }

    /// The public campaign status, from the running totals (`StatusBoard`): no table scan and no wait for the actor.
    /// `latestEvaluation` is the newest *evaluated* round, which may trail `roundsCompleted` while the evaluation of
    /// the newest round runs (or if an old one was skipped). `evaluations` holds the newest 20.
    public nonisolated func status() -> CampaignStatus { board.status(now: clock.now()) }

    /// `GET /v1/evaluations`: up to `limit` (1…500) evaluations of rounds after `after`, oldest first.
    public func evaluationHistory(after: UInt64?, limit: Int) throws -> EvaluationPage {
        let n = max(1, min(limit, EvaluationPage.maxLimit))
        let rows = try store.evaluationPage(after: after, limit: n + 1)
        let page = rows.prefix(n).map(\.point)
        return EvaluationPage(evaluations: Array(page), next: rows.count > n ? page.last?.round : nil)
    }

    /// The public contributors table, highest credit first.
    public func stats(top: Int) throws -> ContributorStats {
        ContributorStats(contributors: try store.contributors(top: max(1, min(top, 1000))))
    }

    static func isHex64(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

extension Coordinator {
    /// Round records 1…current (benchmarks: round wall times).
    public func roundRecords() throws -> [RoundRecord] {
        try (1...max(1, machine.round)).compactMap { try store.round($0) }
    }
}
