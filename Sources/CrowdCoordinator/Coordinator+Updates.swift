import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdProtocol
import Foundation

extension Coordinator {
    /// Validates and stores the update for `leaseID` uploaded by `peer`.
    ///
    /// Every check runs before anything is written; a rejection only bumps the rejection counters. The checks:
    /// lease ownership and freshness, the envelope against the lease (schema, round, base model, element count,
    /// and codec — including int8 block size and top-k density), finite values, the L2 norm within the
    /// campaign's bound (`UploadScreen`), and values never seen before (a replay or byte copy under another lease
    /// or round is `duplicate_update`). The stored update and its fold into the round commit in one transaction,
    /// as `pending`: credit is granted when the round's defence accepts it into the aggregate (`aggregate`).
    /// A retry of a stored upload (same bytes) returns the original receipt.
    public func upload(leaseID: String, peer: PeerRecord, body: Data, trainLoss: Double?) throws -> Receipt {
        let now = clock.now()
        func reject(_ code: APIErrorCode, _ message: String) -> APIError {
            rejected(code, message, peerID: peer.id, leaseID: leaseID, bytes: body.count)
        }
        guard let lease = try store.lease(id: leaseID), lease.peerID == peer.id else {
            throw reject(.noSuchLease, "no lease \(leaseID) for this peer; ask for a new lease")
        }
        let sha = ContentDigest.hex(body)
        if let prior = try store.acceptedUpdate(leaseID: leaseID) {
            if prior.sha256 == sha { return prior.receipt }
            throw reject(.duplicate, "lease \(leaseID) was already credited for a different upload")
        }
        try tick()
        if machine.settings.isAsync && machine.isTooStale(leaseRound: lease.round) {
            throw reject(
                .staleUpdate,
                "lease \(leaseID) trained from model version \(lease.round), which is "
                    + "\(machine.staleness(leaseRound: lease.round)) versions old; the campaign accepts at most "
                    + "\(machine.settings.maxStaleness) (aggregation.maxStaleness). Not credited; ask for a new lease")
        }
        guard machine.accepts(leaseID: leaseID, round: lease.round, now: clock.now()) else {
            throw reject(
                .leaseExpired,
                "lease \(leaseID) (round \(lease.round)) is stale: it expired or its round closed; not credited; "
                    + "ask for a new lease")
        }
        let foldedRound = machine.round
        let leaseBase = try baseDigest(round: lease.round)
        let values: [Float]
        let header: EnvelopeHeader
        do {
            let expectation = EnvelopeExpectation(
                schemaHash: schemaHash, round: lease.round, baseModel: leaseBase, elementCount: elementCount,
                codec: codec)
            (header, values) = try UpdateEnvelope.decode(body, expecting: expectation)
        } catch let e as CodecError {
            throw reject(Self.apiCode(e.code), e.message + " [\(e.code.rawValue)]")
        } catch {
            throw reject(.corruptUpdate, "the update could not be decoded: \(error)")
        }
        let norm: Double
        switch UploadScreen.check(values, config: config.defence, history: normHistory) {
        case .success(let n): norm = n
        case .failure(.nonFinite): throw reject(.nonFiniteValues, "the update contains NaN or infinite values")
        case .failure:
            let bound = [config.defence.maxNorm, normHistory.reference.map { $0 * config.defence.rejectMultiplier }]
                .compactMap { $0 }.min() ?? 0
            throw reject(
                .updateNormTooLarge,
                "the update's L2 norm \(String(format: "%.4g", AggregationMath.l2Norm(values))) exceeds the campaign's "
                    + "bound \(String(format: "%.4g", bound)) (defence.maxNorm / defence.rejectMultiplier × the median "
                    + "of recent updates); not credited. Train the lease as given and upload its Δ")
        }
        let valuesSHA = values.withUnsafeBytes { ContentDigest.hex(Data($0)) }
        if let original = try store.hasUpdate(valuesSHA256: valuesSHA) {
            throw reject(
                .duplicateUpdate,
                "these update values were already uploaded (lease \(original.prefix(8))…); a replayed or copied "
                    + "update earns nothing. Train the lease and upload its own Δ")
        }
        let verification = try verifyAtUpload(lease: lease, header: header, peer: peer, reject: reject)
        var receipt = Receipt(
            receiptID: UUID().uuidString.lowercased(), leaseID: leaseID, round: lease.round, samples: lease.samples,
            credit: 0, acceptedAt: now, sha256: sha, status: UpdateOutcome.pending)
        receipt.challenge = verification.challenge
        var record = AcceptedUpdateRecord(
            receipt: receipt, peerID: peer.id, bytes: body.count, sha256: sha,
            trainLoss: trainLoss.flatMap { $0.isFinite ? $0 : nil }, envelope: body, foldedRound: foldedRound)
        record.norm = norm
        record.valuesSHA256 = valuesSHA
        record.status = UpdateOutcome.pending
        record.commitment = verification.commitment
        record.challenge = verification.challenge
        record.verification = verification.state
        do {
            try store.accept(record, bytesIn: body.count)
            board.accepted(samples: lease.samples, bytes: body.count, at: now)
        } catch {
            // A concurrent identical upload may have committed first: the database is the arbiter.
            if let prior = try store.acceptedUpdate(leaseID: leaseID), prior.sha256 == sha { return prior.receipt }
            throw error
        }
        logger.info(
            "update stored",
            metadata: [
                "round": "\(lease.round)", "folded_into": "\(foldedRound)", "peer": "\(peer.id)", "lease": "\(leaseID)",
                "bytes": "\(body.count)", "norm": "\(String(format: "%.4g", norm))",
                "samples": "\(lease.samples)", "loss": "\(trainLoss.map { String($0) } ?? "-")",
            ])
        let actions = machine.updateAccepted(leaseID: leaseID)
        if machine.settings.isAsync { work.signal() }  // the upload freed one of the open-lease slots
        if actions.contains(where: { if case .aggregate = $0 { true } else { false } }) {
            // Aggregate after this response is sent; `tick` picks it up.
            Task { self.tickLogged() }
        }
        return receipt
    }

    /// The outcome of `peer`'s upload for `leaseID`: pending until its round closes, then credited or not, and why.
    public func outcome(leaseID: String, peer: PeerRecord) throws -> UpdateOutcome {
        guard let u = try store.acceptedUpdate(leaseID: leaseID), u.peerID == peer.id else {
            throw APIError(.notFound, "this peer stored no update for lease \(leaseID)")
        }
        let reason = u.reason.flatMap { ExclusionReason(rawValue: $0) }
        let credited = u.status == UpdateOutcome.credited
        var outcome = UpdateOutcome(
            leaseID: leaseID, round: u.foldedRound ?? u.receipt.round, status: u.status,
            credit: credited ? u.receipt.credit : 0, samples: credited ? u.receipt.samples : 0, reason: u.reason,
            explanation: reason?.explanation ?? Self.verificationExplanation(u.reason) ?? u.reason, norm: u.norm,
            clipScale: u.clipScale)
        outcome.verification = u.verification
        if u.status == UpdateOutcome.held { outcome.heldCredit = u.receipt.credit }
        return outcome
    }

    /// `POST /v1/outcomes`: `outcome(leaseID:peer:)` of each distinct id this peer stored an update for, in order
    /// (the others are left out, as `GET /v1/updates/{id}` would answer them 404).
    public func outcomes(leaseIDs: [String], peer: PeerRecord) throws -> OutcomesResponse {
        var seen: Set<String> = []
        var out: [UpdateOutcome] = []
        for id in leaseIDs where seen.insert(id).inserted {
            do { out.append(try outcome(leaseID: id, peer: peer)) } catch let error as APIError where error.status == .notFound {
                continue
            }
        }
        return OutcomesResponse(outcomes: out)
    }

    /// The sentence for the verification reasons of `no_credit` / `forfeited`.
    static func verificationExplanation(_ reason: String?) -> String? {
        switch reason {
        case "cheater": "this peer's work failed verification: its held and not yet aggregated updates earn nothing"
        case "unverified": "the update's challenge was not answered in time; its credit is forfeited"
        default: nil
        }
    }

    /// Records a rejection (counter only) and returns the error to throw.
    func rejected(_ code: APIErrorCode, _ message: String, peerID: String?, leaseID: String?, bytes: Int) -> APIError {
        do {
            try store.recordRejection(
                peerID: peerID, leaseID: leaseID, code: code.rawValue, bytes: bytes, at: clock.now())
            board.rejected(code: code.rawValue, bytes: bytes)
        } catch {
            logger.error("could not record a rejection", metadata: ["error": "\(error)"])
        }
        logger.notice(
            "update rejected",
            metadata: ["code": "\(code.rawValue)", "peer": "\(peerID ?? "-")", "lease": "\(leaseID ?? "-")"])
        return APIError(code, message)
    }

    /// Records an upload refused at the HTTP edge (body too large) and returns the error.
    public func rejectOversized(leaseID: String, peer: PeerRecord, bytes: Int) -> APIError {
        rejected(
            .bodyTooLarge, "update body exceeds \(maxUpdateBytes) bytes, the largest envelope this model can produce",
            peerID: peer.id, leaseID: leaseID, bytes: bytes)
    }

    static func apiCode(_ code: CodecError.Code) -> APIErrorCode {
        switch code {
        case .roundMismatch: .wrongRound
        case .baseModelMismatch: .wrongBaseModel
        case .schemaMismatch: .schemaMismatch
        case .elementCountMismatch: .elementCountMismatch
        case .codecMismatch: .wrongCodec
        case .nonFiniteValue: .nonFiniteValues
        default: .corruptUpdate
        }
    }
}
