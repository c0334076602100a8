import CrowdEngine
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Hands `peer` work for the current round, its existing open lease, or a wait.
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
            return LeaseResponse(lease: wireLease(record))
        case .issue(let slot, let deadline):
            let shards = SeedMixer.shards(
                slot: slot, perLease: config.shardsPerLease, count: trainShards.count, roundSeed: roundSeed
            ).map { trainShards[$0].id }
            let record = LeaseRecord(
                id: UUID().uuidString.lowercased(), round: machine.round, peerID: peer.id, slot: slot, shardIDs: shards,
                seed: SeedMixer.mix(roundSeed, UInt64(slot) &+ 0x5EED), samples: config.samplesPerLease, issuedAt: now,
                deadline: deadline, status: .open)
            try store.insertLease(record)
            machine.leaseIssued(id: record.id, peerID: peer.id, slot: slot, deadline: deadline)
            logger.info(
                "lease issued",
                metadata: [
                    "round": "\(record.round)", "slot": "\(slot)", "peer": "\(peer.id)", "lease": "\(record.id)",
                ])
            return LeaseResponse(lease: wireLease(record))
        }
    }

    func wireLease(_ r: LeaseRecord) -> Lease {
        let i = config.inner
        return Lease(
            leaseID: r.id, round: r.round, modelVersion: baseVersion, schemaHash: schemaHash, workload: config.workload,
            modelKind: modelKind, shardIDs: r.shardIDs, steps: config.localSteps, batch: config.batch,
            block: config.block,
            inner: InnerOptimizerSettings(
                kind: i.kind, lr: i.lr, momentum: i.momentum, nesterov: i.nesterov, weightDecay: i.weightDecay,
                beta1: i.beta1, beta2: i.beta2, eps: i.eps, gradClip: i.gradClip),
            codec: codec.description, codecLevel: config.codecLevel, seed: r.seed, deadline: r.deadline,
            samples: r.samples)
    }

    /// Advances the round state machine to `clock.now()` and performs its actions (lease expiry, round close).
    public func tick() throws {
        if machine.phase == .aggregating {
            try aggregate(round: machine.round)
        }
        try perform(machine.tick(now: clock.now()))
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
                logger.info("leases expired", metadata: ["count": "\(ids.count)", "round": "\(machine.round)"])
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
