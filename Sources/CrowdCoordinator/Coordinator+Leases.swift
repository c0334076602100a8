import CrowdEngine
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Accepted leases of a peer that its measured throughput is computed from.
    static let throughputHistory = 5

    /// Hands `peer` work for the current round, its existing open lease, or a wait.
    ///
    /// The deadline follows `LeaseDeadlinePolicy`: the peer's measured throughput (or its hint) × the safety factor.
    public func lease(for peer: PeerRecord, request: LeaseRequest) throws -> LeaseResponse {
        try tick()
        let now = clock.now()
        switch machine.requestLease(peerID: peer.id, now: now) {
        case .wait(let after, let reason):
            return LeaseResponse(retryAfter: after, reason: reason)
        case .existing(let id):
            guard let record = try store.lease(id: id) else {
                throw APIError(.internalError, "lease \(id) vanished from the database")
            }
            return LeaseResponse(lease: try wireLease(record))
        case .issue(let slot, _):
            let (duration, basis) = LeaseDeadlinePolicy(config).duration(
                samples: config.samplesPerLease,
                measured: try store.recentThroughput(peerID: peer.id, last: Self.throughputHistory),
                hint: request.samplesPerSecond)
            let deadline = now + duration
            let shards = SeedMixer.shards(
                slot: slot, perLease: config.shardsPerLease, count: trainShards.count, roundSeed: roundSeed
            ).map { trainShards[$0].id }
            let record = LeaseRecord(
                id: UUID().uuidString.lowercased(), round: machine.round, peerID: peer.id, slot: slot, shardIDs: shards,
                seed: SeedMixer.mix(roundSeed, UInt64(slot) &+ 0x5EED), samples: config.samplesPerLease, issuedAt: now,
                deadline: deadline, status: .open,
                innerState: config.verification.enabled && config.inner.keepState ? peer.innerState : nil)
            let reissued = machine.freeSlots[slot] != nil
            try store.insertLease(record)
            machine.leaseIssued(id: record.id, peerID: peer.id, slot: slot, deadline: deadline)
            logger.info(
                "lease issued",
                metadata: [
                    "round": "\(record.round)", "slot": "\(slot)", "peer": "\(peer.id)", "lease": "\(record.id)",
                    "seconds": "\(Int(duration.rounded()))", "deadline_basis": "\(basis.rawValue)",
                    "reissued": "\(reissued)",
                ])
            return LeaseResponse(lease: try wireLease(record))
        }
    }

    /// SHA-256 hex of the base model of `round` (the current model, or an older round's from the database).
    func baseVersion(round: UInt64) throws -> String {
        if round == machine.round { return baseVersion }
        guard let r = try store.round(round) else { throw APIError(.internalError, "round \(round) is not recorded") }
        return r.baseVersion
    }

    /// Raw SHA-256 of the base model of `round` (what an update envelope for a lease of that round names).
    func baseDigest(round: UInt64) throws -> [UInt8] {
        if round == machine.round { return baseDigest }
        if let known = olderBaseDigests[round] { return known }
        let hex = Array(try baseVersion(round: round).utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c &- 0x30 : (c | 0x20) &- 0x57 }
        let digest = stride(from: 0, to: hex.count - 1, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) }
        if olderBaseDigests.count > 64 { olderBaseDigests.removeAll() }
        olderBaseDigests[round] = digest
        return digest
    }

    func wireLease(_ r: LeaseRecord) throws -> Lease {
        let progress = config.inner.schedule.kind == .const
            ? nil : scheduleProgress(round: r.round, leaseSamples: r.samples)
        var lease = Lease(
            leaseID: r.id, round: r.round, modelVersion: try baseVersion(round: r.round), schemaHash: schemaHash,
            workload: config.workload,
            modelKind: modelKind, shardIDs: r.shardIDs, steps: config.localSteps, batch: config.batch,
            block: config.block,
            inner: config.inner, progress: progress?.0, progressPerStep: progress?.1,
            codec: codec.description, codecLevel: config.codecLevel, seed: r.seed, deadline: r.deadline,
            samples: r.samples)
        if config.verification.enabled {
            lease.verification = LeaseVerification(
                segmentSteps: config.verification.segmentSteps(localSteps: config.localSteps), innerState: r.innerState)
        }
        return lease
    }

    /// Where a lease of `round` starts on the campaign's learning-rate schedule, and how far each of its steps moves
    /// it: the *planned* progress, the training units of all earlier rounds (each closing with `closingCount`
    /// updates of `localSteps` steps) over `goalSamples`; within a round the `closingCount` leases advance side by
    /// side. Deterministic (no store query) and the same rule as `bench quality`'s crowds.
    func scheduleProgress(round: UInt64, leaseSamples: Int) -> (progress: Double, perStep: Double) {
        let goal = Double(max(1, self.goal.samples))
        let unitsPerStep = Double(leaseSamples) / Double(max(1, config.localSteps))
        let perStep = Double(machine.settings.closingCount) * unitsPerStep / goal
        return (Double(round > 0 ? round - 1 : 0) * Double(config.localSteps) * perStep, perStep)
    }

    /// Advances the round state machine to `clock.now()` and performs its actions (lease expiry, round close).
    public func tick() throws {
        try flushCounters()
        if machine.phase == .aggregating {
            try aggregate(round: machine.round)
        }
        try perform(machine.tick(now: clock.now()))
        let now = clock.now()
        if config.verification.enabled && now - lastSettle >= 1 {
            lastSettle = now
            let finished = machine.phase == .finished
            let closed = finished ? machine.round : machine.round - min(machine.round, 1)
            try settleHeldCredit(closedRound: closed, finished: finished)
        }
    }

    /// `tick()` for background callers: logs instead of throwing.
    public func tickLogged() {
        do { try tick() } catch { logger.error("round processing failed; will retry", metadata: ["error": "\(error)"]) }
    }

    func perform(_ actions: [RoundStateMachine.Action]) throws {
        for action in actions {
            switch action {
            case .expireLeases(let ids):
                try store.markLeasesExpired(ids: ids)
                work.signal()
                logger.info(
                    "leases expired; their slots will be reissued",
                    metadata: ["count": "\(ids.count)", "round": "\(machine.round)"])
            case .extendDeadline(let round, let until):
                logger.notice(
                    "round deadline passed without enough updates; extended",
                    metadata: ["round": "\(round)", "until": "\(until)"])
            case .aggregate(let round):
                try aggregate(round: round)
            }
        }
    }
}
