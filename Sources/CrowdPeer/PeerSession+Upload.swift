import CrowdClient
import CrowdData
import CrowdProtocol
import Foundation

/// The operations around an upload (`upload`, `commitUpload`, `discardPending`, proofs) and the volunteer's lines.
extension PeerSession {
    /// Sends the pending update. A suspension cancels the request (the same bytes go again after the resume);
    /// shutdown does not. On a receipt for these bytes, `residual.bin` is replaced (idempotent, before `pending.bin`
    /// goes, so a crash in between re-sends and gets the same receipt).
    func upload(_ info: PendingUpdate.Info) async -> PeerWorkMachine.Event {
        if let interruption = gate(stopToo: false) { return interruption }
        if held.pending?.info != info { held.pending = try? PendingUpdate.read(from: paths.pending) }
        guard let pending = held.pending, pending.info == info else {
            preconditionFailure("the work machine uploads lease \(info.leaseID), but no pending update is held for it")
        }
        let client = self.client, envelope = pending.envelope
        do {
            let raced = try await race(stopToo: false) {
                try await client.putUpdate(leaseID: info.leaseID, envelope: envelope, trainLoss: info.loss)
            }
            guard case .done(let receipt) = raced else {
                if case .interrupted(let event) = raced { return event }
                return .stop
            }
            if let stored = receipt.sha256, stored != ContentDigest.hex(envelope) {
                // The coordinator stored other bytes than these under this lease: keep pending.bin, report.
                return .failed(.local(
                    "the coordinator's receipt for lease \(info.leaseID) names SHA-256 \(stored.prefix(12))…, not the "
                        + "update this peer sent; keeping it to re-send — report this to the campaign's operator"))
            }
            try ResidualFile(schemaHash: info.schemaHash, afterLease: info.leaseID, residual: pending.residualAfter)
                .write(to: paths.residual)
            return .uploadAccepted(receipt)
        } catch {
            return .failed(PeerWorkMachine.Failure(error))
        }
    }

    /// The update is stored: log the receipt, drop `pending.bin`, count it.
    func commit(_ info: PendingUpdate.Info, _ receipt: Receipt) {
        let sent = held.pending?.envelope.count ?? 0
        held.pending = nil
        held.uploaded = sent
        status.lifetime.bytesUp += sent
        suspend.record(bytes: sent)
        do { try ReceiptLog.append(receipt, to: paths.receipts) } catch { logger.warning("\(error)") }
        AtomicFileWriter.remove(paths.pending)
        status.lifetime.accepted += 1
        status.lifetime.trainSeconds += info.trainSeconds
        if receipt.status != UpdateOutcome.pending {
            // A coordinator that credits on upload.
            status.lifetime.credited += 1
            status.lifetime.samples += receipt.samples
            status.lifetime.credit += receipt.credit
        }
        status.record(PeerStatus.ReceiptSummary(
            receiptID: receipt.receiptID, leaseID: receipt.leaseID, round: receipt.round, samples: receipt.samples,
            credit: receipt.credit, acceptedAt: receipt.acceptedAt, status: receipt.status ?? UpdateOutcome.credited))
    }

    /// The coordinator will not take these bytes: drop them and keep the previous residual.
    func discard(_ info: PendingUpdate.Info, _ failure: PeerWorkMachine.Failure) {
        let sent = held.pending?.envelope.count ?? 0
        held.pending = nil
        held.uploaded = sent
        status.lifetime.bytesUp += sent
        suspend.record(bytes: sent)
        AtomicFileWriter.remove(paths.pending)
        status.lifetime.rejected += 1
        let error = failure.clientError
        status.lastRejection = PeerStatus.Rejection(
            code: error?.code ?? "local", message: error?.message ?? failure.description, round: info.round,
            at: now())
    }

    /// Writes the volunteer's line for `notice`.
    func announce(_ notice: PeerWorkMachine.Notice) {
        switch notice {
        case .suspended(let text):
            output("suspended: \(text)")
        case .resumed:
            output("resumed")
        case .campaignFinished:
            output("campaign finished: no more work")
        case .retrying(let failure, let delay):
            guard let error = failure.clientError else {
                logger.debug("\(failure)")
                output("error: \(failure)")
                return
            }
            let text = "\(Self.describe(error)): \(error)"
            logger.debug("\(text); retrying in \(String(format: "%.1f", delay)) s")
            output("\(text) — retrying in \(String(format: "%.1f", delay)) s")
        case .accepted(let info, let receipt):
            let credit = receipt.status == UpdateOutcome.pending
                ? "accepted; credit is decided when round \(receipt.round) is aggregated"
                : String(format: "accepted (%.2f GFLOP credit)", receipt.credit)
            output(summary(info, sent: held.uploaded) + credit)
        case .rejected(let info, let failure):
            let error = failure.clientError
            output(summary(info, sent: held.uploaded)
                + "rejected: \(error?.code ?? "local") — \(error?.message ?? failure.description)")
        case .proofUnavailable(let leaseID, let segment):
            output("lease \(leaseID.prefix(8)) · challenged (segment \(segment)), but its trajectory is no "
                + "longer held (the daemon restarted since training): this update's credit will be forfeited")
        }
    }

    /// `round r · lease l · loss x · n samples/s · up, down · `
    func summary(_ info: PendingUpdate.Info, sent: Int) -> String {
        let speed = info.trainSeconds > 0 ? Double(info.samples) / info.trainSeconds : 0
        return "round \(info.round) · lease \(info.leaseID.prefix(8)) · loss "
            + String(format: "%.4f · %.0f samples/s · ", Double(info.loss), speed)
            + "\(ByteCount.format(sent)) up, \(ByteCount.format(leaseBytesDown)) down · "
    }

    /// Starts sending the proof the upload's challenge asks for, from the trajectory held since training, while the
    /// daemon goes on with its next lease (`finishProof` collects the result before the next upload).
    func sendProof(leaseID: String, segment: Int) {
        guard let held = held.trajectory, held.leaseID == leaseID, let proof = held.trajectory.proof(segment: segment)
        else {
            announce(.proofUnavailable(leaseID: leaseID, segment: segment))
            return
        }
        let body = proof.encoded(), client = self.client
        self.held.proof = (leaseID, segment, body.count, Task {
            do {
                _ = try await client.putProof(leaseID: leaseID, proof: body)
                return nil
            } catch {
                return "\(error)"
            }
        })
    }

    /// Waits for the proof being sent, if any, and reports it.
    func finishProof() async {
        guard let (leaseID, segment, bytes, task) = held.proof else { return }
        held.proof = nil
        if let failure = await task.value {
            output("lease \(leaseID.prefix(8)) · the proof for segment \(segment) was not accepted: \(failure)")
            return
        }
        status.lifetime.bytesUp += bytes
        suspend.record(bytes: bytes)
        output("lease \(leaseID.prefix(8)) · challenged segment \(segment): proof sent (\(ByteCount.format(bytes)))")
    }
}
