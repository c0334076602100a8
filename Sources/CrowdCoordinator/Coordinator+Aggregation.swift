import CrowdCodec
import CrowdEngine
import Foundation

extension Coordinator {
    /// Closes `round`: decodes the updates folded into it (each against its own lease round's base model),
    /// applies the strategy (stale updates scaled by 1/√(1 + s)), writes the checkpoint atomically, and commits
    /// checkpoint, optimizer state, lease expiry and the next round in one transaction. The new model's evaluation
    /// does not delay that: after the commit it is handed to `evaluator`, which records it from its own thread.
    /// Safe to retry: nothing in memory changes until the commit.
    func aggregate(round: UInt64) throws {
        guard machine.phase == .aggregating, machine.round == round else { return }
        let started = Date()
        let folded = try store.foldedUpdates(round: round)
        guard !folded.isEmpty else { throw CoordinatorError("round \(round) has no accepted updates to aggregate") }
        let updates = try folded.map { u in
            let expectation = EnvelopeExpectation(
                schemaHash: schemaHash, round: u.leaseRound, baseModel: try baseDigest(round: u.leaseRound),
                elementCount: elementCount)
            return WeightedUpdate(
                delta: try UpdateEnvelope.decode(u.envelope, expecting: expectation).values, samples: u.samples,
                staleness: Int(clamping: round - min(round, u.leaseRound)))
        }
        var next = strategy
        let newParams = next.aggregate(params: params, updates: updates)
        guard AggregationMath.allFinite(newParams) else {
            throw CoordinatorError("round \(round) produced non-finite parameters; lower the outer learning rate")
        }
        let checkpoint = Checkpoint(
            kind: modelKind, schemaHash: schemaHash, configJSON: modelConfigJSON,
            metadata: ["round": "\(round)", "workload": config.workload, "campaign": config.name], params: newParams)
        let bytes = try checkpoint.encoded()
        let version = Secrets.sha256Hex(bytes)
        try AtomicFile.write(bytes, to: paths.checkpoint(round: round))
        let aggregated = Date()
        let samples = try store.totals(now: clock.now(), onlineWindow: 0, rateWindow: 0).samplesTrained
        let finished = (config.maxRounds.map { round >= UInt64($0) } ?? false) || samples >= config.goalSamples
        let nextSeed = SeedMixer.roundSeed(campaign: config.seed, round: round + 1)
        let now = clock.now()
        try store.closeRound(
            round,
            checkpoint: CheckpointRecord(
                version: version, round: round, path: paths.checkpointRelative(round: round), bytes: bytes.count,
                createdAt: now),
            outerState: FloatBytes.data(next.exportState()), nextSeed: nextSeed, openNext: !finished,
            expireOpenLeasesBefore: finished ? round + 1 : machine.leasesKeptFromRoundAfterClose, at: now)

        strategy = next
        params = newParams
        baseVersion = version
        baseBytes = bytes
        baseDigest = Secrets.sha256(bytes)
        roundSeed = nextSeed
        machine.roundClosed(finished: finished, now: now)
        evaluator.submit(.init(round: round, version: version, source: .memory(checkpoint)))
        metrics.aggregationSeconds.record(.seconds(aggregated.timeIntervalSince(started)))
        logger.info(
            "round closed",
            metadata: [
                "round": "\(round)", "updates": "\(updates.count)",
                "max_staleness": "\(updates.map(\.staleness).max() ?? 0)", "model": "\(version.prefix(12))",
                "aggregate_ms": "\(Int(aggregated.timeIntervalSince(started) * 1000))",
                "commit_ms": "\(Int(Date().timeIntervalSince(aggregated) * 1000))", "finished": "\(finished)",
            ])
    }
}
