import CrowdProtocol
import Foundation

/// The operator API's logic (routes in `OperatorRoutes`): invites, revocation, audit, export and live settings.
extension Coordinator {
    /// Throws `unauthorized` unless `authorization` is `Bearer <the operator token>`. Peer credentials and invites
    /// never pass.
    public nonisolated func authenticateOperator(authorization: String?) throws {
        guard OperatorToken.matches(authorization: authorization, hash: operatorTokenHash) else {
            throw APIError(
                .unauthorized,
                "the operator API needs `Authorization: Bearer ct_op_…`, the token in the campaign's operator.token "
                    + "(pass it with --operator-token)")
        }
    }

    /// Creates `count` single-use invites; returns the tokens (only their hashes are stored).
    public func createInvites(_ request: InviteRequest) throws -> [String] {
        guard (1...OperatorAPI.maxInvites).contains(request.count) else {
            throw APIError(.badRequest, "count must be 1…\(OperatorAPI.maxInvites)")
        }
        if let note = request.note, note.utf8.count > 500 {
            throw APIError(.badRequest, "the note is limited to 500 bytes")
        }
        let tokens = (0..<request.count).map { _ in Secrets.newInvite() }
        try store.insertInvites(hashes: tokens.map(Secrets.hash), note: request.note, at: clock.now())
        logger.notice("invites created", metadata: ["count": "\(tokens.count)"])
        return tokens
    }

    /// Revokes one unused invite or every unused one; returns how many.
    public func revokeInvites(_ request: RevokeInvitesRequest) throws -> Int {
        switch (request.token, request.allUnused ?? false) {
        case (let token?, false):
            return try store.revokeInvite(hash: Secrets.hash(token), at: clock.now()) ? 1 : 0
        case (nil, true):
            let n = try store.revokeUnusedInvites(at: clock.now())
            logger.notice("unused invites revoked", metadata: ["count": "\(n)"])
            return n
        default:
            throw APIError(.badRequest, "pass exactly one of token and allUnused")
        }
    }

    /// Revokes a peer's credential: its next call is refused (`revoked`), and its open leases end now, so their
    /// round slots go to other peers at once instead of when the lease would have expired. Past credit stays.
    public func revokePeer(id: String) throws -> RevokePeerResponse {
        guard id.utf8.count <= 64, try store.peer(id: id) != nil else {
            throw APIError(.notFound, "no peer \(id.prefix(64)); peer ids are in `crowdtrain stats`")
        }
        guard try store.revokePeer(id: id, at: clock.now()) else {
            return RevokePeerResponse(peerID: id, revoked: false, leasesFreed: 0)
        }
        let freed = machine.dropLeases(peerID: id)
        work.signal()
        logger.notice("peer revoked", metadata: ["peer": "\(id)", "leases_freed": "\(freed.count)"])
        return RevokePeerResponse(peerID: id, revoked: true, leasesFreed: freed.count)
    }

    /// The ledger audit against `receipts` (read-only, on its own connection; off the actor).
    public nonisolated func audit(receipts: [Receipt]) async throws -> AuditReport {
        let directory = paths.directory
        return try await Task.detached {
            try CampaignAudit.run(
                directory: directory, acknowledged: receipts.map { .init(peerID: nil, receipt: $0) })
        }.value
    }

    /// The export of the current model (read-only; off the actor).
    public nonisolated func exportBundle() async throws -> ExportBundle {
        let directory = paths.directory
        return try await Task.detached { try CampaignExporter.bundle(directory: directory).bundle }.value
    }

    /// The settings as they are now.
    public func settings() -> CampaignSettings {
        CampaignSettings(
            name: config.name, workload: config.workload, bind: config.bind, port: config.port,
            publicNames: config.publicNames, peersPerRound: config.peersPerRound, localSteps: config.localSteps,
            aggregator: "\(config.aggregator)", verification: config.verification.enabled, goalSamples: goal.samples,
            maxRounds: goal.maxRounds, roundDeadlineSeconds: machine.settings.roundDeadlineSeconds,
            leaseSeconds: machine.settings.leaseSeconds)
    }

    /// Changes the settings that can change while serving, checks them all first (nothing changes on a bad value),
    /// writes `campaign.json` atomically, then applies them: the goal at once (the campaign finishes when the next
    /// round closes past it), the round deadline from the next round, the lease duration from the next lease.
    public func changeSettings(_ change: CampaignSettingsChange) throws -> CampaignSettings {
        guard !change.isEmpty else { throw APIError(.badRequest, "nothing to change; pass at least one setting") }
        var next = try CampaignConfig.load(paths: paths)
        next.goalSamples = goal.samples
        next.maxRounds = goal.maxRounds
        next.roundDeadlineSeconds = machine.settings.roundDeadlineSeconds
        next.leaseSeconds = machine.settings.leaseSeconds
        if let g = change.goalSamples { next.goalSamples = g }
        if let m = change.maxRounds { next.maxRounds = m == 0 ? nil : m }
        if let d = change.roundDeadlineSeconds { next.roundDeadlineSeconds = d }
        if let l = change.leaseSeconds { next.leaseSeconds = l }
        guard next.goalSamples >= 1, next.goalSamples <= 1 << 50 else {
            throw APIError(.badRequest, "goalSamples must be 1…2^50")
        }
        if let m = next.maxRounds, m < 1 || m > 10_000_000 {
            throw APIError(.badRequest, "maxRounds must be 1…10000000, or 0 for no limit")
        }
        guard next.roundDeadlineSeconds.isFinite, (1...86_400.0).contains(next.roundDeadlineSeconds) else {
            throw APIError(.badRequest, "roundDeadlineSeconds must be 1…86400")
        }
        guard next.leaseSeconds.isFinite, (1...86_400.0).contains(next.leaseSeconds) else {
            throw APIError(.badRequest, "leaseSeconds must be 1…86400")
        }
        do { try next.validate() } catch { throw APIError(.badRequest, "\(error)") }
        try next.write(paths: paths)
        goal = (next.goalSamples, next.maxRounds)
        board.setGoal(samples: next.goalSamples, maxRounds: next.maxRounds)
        machine.changeTimings(roundDeadlineSeconds: next.roundDeadlineSeconds, leaseSeconds: next.leaseSeconds)
        logger.notice(
            "campaign settings changed",
            metadata: [
                "goal_samples": "\(next.goalSamples)", "max_rounds": "\(next.maxRounds.map(String.init) ?? "none")",
                "round_deadline_seconds": "\(next.roundDeadlineSeconds)", "lease_seconds": "\(next.leaseSeconds)",
            ])
        work.signal()
        return settings()
    }
}
