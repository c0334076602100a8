import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// Checks a campaign's durability invariants from its files, read-only (safe while a coordinator serves it):
///
/// 1. every acknowledged receipt (as the peers hold them, e.g. from their `receipts.jsonl`) is in the database
///    with the same lease, receipt id, round, samples and SHA-256 of the stored body (and peer, when known);
/// 2. nothing is counted twice: credited updates and ledger entries match 1:1 by lease (same peer, round, samples,
///    receipt and credit), no lease or receipt has two ledger entries, each entry's lease belongs to its peer, and
///    no pending or uncredited (`no_credit`) update has a ledger entry;
/// 3. each peer's ledger credit equals the credit recomputed from its credited updates (samples × the model's
///    FLOPs per sample / 1e9);
/// 4. each round's counters equal the updates folded into it, and no update of a closed round is still pending
///    (credit is decided when the round closes);
/// 5. `PRAGMA integrity_check` is `ok`;
/// 6. the checkpoint the current round needs verifies (size, SHA-256, decodes).
///
/// It also hashes every older checkpoint and lists damaged ones in `Report.damagedHistory` (not a violation: the
/// campaign does not need them to continue, but a fallback would skip them).
public enum CampaignAudit {
    /// A receipt a peer holds; `peerID` when the caller knows whose it is.
    public struct AcknowledgedReceipt: Sendable, Equatable {
        public var peerID: String?
        public var receipt: Receipt

        public init(peerID: String?, receipt: Receipt) {
            self.peerID = peerID
            self.receipt = receipt
        }
    }

    public typealias Violation = AuditViolation
    public typealias Suspension = AuditSuspension
    public typealias Evidence = AuditEvidence
    public typealias Report = AuditReport

    /// Audits the campaign in `directory` against the receipts peers acknowledged.
    public static func run(directory: String, acknowledged: [AcknowledgedReceipt]) throws -> Report {
        let paths = CampaignPaths(directory: directory)
        let snapshot = try SQLiteStore.readOnlySnapshot(path: paths.database)
        return check(snapshot, acknowledged: acknowledged, paths: paths)
    }

    /// The checks over a snapshot; checkpoint files are read from `paths`.
    static func check(_ s: AuditSnapshot, acknowledged: [AcknowledgedReceipt], paths: CampaignPaths)
        -> Report
    {
        var report = Report()
        report.receiptsChecked = acknowledged.count
        report.updates = s.updates.count
        report.ledgerEntries = s.ledger.count
        report.peers = Set(s.ledger.map(\.peerID) + s.updates.map(\.peerID)).count
        report.rounds = s.rounds.count
        report.checkpoints = s.checkpoints.count
        report.integrity = s.integrity
        report.suspended = s.suspended
        report.evidence = s.evidence
        report.verification = s.verification

        let flops = checkCheckpoint(s, paths: paths, into: &report)
        checkReceipts(s, acknowledged: acknowledged, into: &report)
        checkLedger(s, into: &report)
        checkCredit(s, flopsPerSample: flops, into: &report)
        checkFolds(s, into: &report)
        if s.integrity != "ok" { report.add(.integrity, s.integrity) }
        return report
    }

    /// Verifies the checkpoint the current round needs; returns the model's FLOPs per sample (from it, or from any
    /// checkpoint that still checks out) for the credit recomputation.
    static func checkCheckpoint(_ s: AuditSnapshot, paths: CampaignPaths, into report: inout Report)
        -> Double?
    {
        guard let current = s.rounds.last else {
            report.add(.checkpoint, "the database has no rounds")
            return nil
        }
        let needed =
            current.closedAt == nil ? current.baseVersion : (current.resultVersion ?? current.baseVersion)
        var flops: Double?
        for record in s.checkpoints where record.version != needed {
            if case .failure(let p) = CheckpointRecovery.check(record, paths: paths) {
                report.damagedHistory.append("\(record.path): \(p)")
            }
        }
        if let record = s.checkpoints.first(where: { $0.version == needed }) {
            report.currentCheckpoint = record.path
            switch CheckpointRecovery.verify(record, paths: paths, modelKind: nil) {
            case .success(let (checkpoint, _)): flops = flopsPerSample(checkpoint)
            case .failure(let p): report.add(.checkpoint, "\(record.path) (round \(record.round)): \(p)")
            }
        } else {
            report.add(
                .checkpoint,
                "round \(current.number) needs checkpoint \(needed.prefix(12))…, which has no record")
        }
        if flops == nil {
            for record in s.checkpoints {
                if case .success(let (checkpoint, _)) = CheckpointRecovery.verify(
                    record, paths: paths, modelKind: nil),
                    let f = flopsPerSample(checkpoint)
                {
                    flops = f
                    break
                }
            }
        }
        return flops
    }

    static func flopsPerSample(_ c: Checkpoint) -> Double? {
        (try? ModelFactory.make(kind: c.kind, configJSON: c.configJSON, seed: 0))?.flopsPerSample
    }

    static func checkReceipts(
        _ s: AuditSnapshot, acknowledged: [AcknowledgedReceipt], into report: inout Report
    ) {
        let updates = Dictionary(s.updates.map { ($0.leaseID, $0) }, uniquingKeysWith: { a, _ in a })
        for ack in acknowledged {
            let r = ack.receipt
            guard let u = updates[r.leaseID] else {
                report.add(
                    .missingReceipt, "receipt \(r.receiptID) for lease \(r.leaseID) (round \(r.round))")
                continue
            }
            var differences: [String] = []
            if u.receiptID != r.receiptID {
                differences.append("receipt id \(u.receiptID) ≠ \(r.receiptID)")
            }
            if u.round != r.round { differences.append("round \(u.round) ≠ \(r.round)") }
            if u.samples != r.samples { differences.append("samples \(u.samples) ≠ \(r.samples)") }
            if let sha = r.sha256, sha != u.sha256 {
                differences.append("sha256 \(u.sha256.prefix(12))… ≠ \(sha.prefix(12))…")
            }
            if let peer = ack.peerID, peer != u.peerID {
                differences.append("peer \(u.peerID) ≠ \(peer)")
            }
            if !differences.isEmpty {
                report.add(.receiptMismatch, "lease \(r.leaseID): " + differences.joined(separator: ", "))
            }
        }
    }

    static func checkLedger(_ s: AuditSnapshot, into report: inout Report) {
        let updates = Dictionary(s.updates.map { ($0.leaseID, $0) }, uniquingKeysWith: { a, _ in a })
        let leases = Dictionary(s.leases.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var byLease: [String: Int] = [:]
        var byReceipt: [String: Int] = [:]
        for e in s.ledger {
            byLease[e.leaseID, default: 0] += 1
            byReceipt[e.receiptID, default: 0] += 1
            if byLease[e.leaseID] == 2 {
                report.add(.duplicateCredit, "lease \(e.leaseID) has several ledger entries")
            } else if byReceipt[e.receiptID] == 2 {
                report.add(.duplicateCredit, "receipt \(e.receiptID) has several ledger entries")
            }
            guard let u = updates[e.leaseID] else {
                report.add(
                    .ledgerWithoutUpdate,
                    "ledger entry \(e.id) credits lease \(e.leaseID) with no accepted update")
                continue
            }
            var differences: [String] = []
            if u.peerID != e.peerID { differences.append("peer \(e.peerID) ≠ \(u.peerID)") }
            if u.round != e.round { differences.append("round \(e.round) ≠ \(u.round)") }
            if u.samples != e.samples { differences.append("samples \(e.samples) ≠ \(u.samples)") }
            if u.receiptID != e.receiptID {
                differences.append("receipt \(e.receiptID) ≠ \(u.receiptID)")
            }
            if !close(u.credit, e.gflop) { differences.append("credit \(e.gflop) ≠ \(u.credit)") }
            if u.status != UpdateOutcome.credited { differences.append("the update is \(u.status), not credited") }
            if let l = leases[e.leaseID] {
                if l.peerID != e.peerID { differences.append("the lease belongs to peer \(l.peerID)") }
                if l.round != e.round { differences.append("the lease is of round \(l.round)") }
            } else {
                differences.append("no such lease")
            }
            if !differences.isEmpty {
                report.add(
                    .ledgerMismatch,
                    "ledger entry \(e.id) (lease \(e.leaseID)): " + differences.joined(separator: ", "))
            }
        }
        for u in s.updates where byLease[u.leaseID] == nil && u.status == UpdateOutcome.credited {
            report.add(
                .updateWithoutLedger,
                "accepted update for lease \(u.leaseID) (peer \(u.peerID)) has no ledger entry")
        }
    }

    static func checkCredit(_ s: AuditSnapshot, flopsPerSample: Double?, into report: inout Report) {
        var ledger: [String: Double] = [:]
        for e in s.ledger { ledger[e.peerID, default: 0] += e.gflop }
        var recomputed: [String: Double] = [:]
        for u in s.updates where u.status == UpdateOutcome.credited {
            // Without a verifiable checkpoint the model's FLOPs are unknown: fall back to the stored credit.
            recomputed[u.peerID, default: 0] +=
                flopsPerSample.map { Double(u.samples) * $0 / 1e9 } ?? u.credit
        }
        for peer in Set(ledger.keys).union(recomputed.keys).sorted() {
            let a = ledger[peer] ?? 0
            let b = recomputed[peer] ?? 0
            if !close(a, b) {
                report.add(
                    .creditMismatch, "peer \(peer): ledger \(a) GFLOP, recomputed from accepted updates \(b)")
            }
        }
    }

    static func checkFolds(_ s: AuditSnapshot, into report: inout Report) {
        var count: [UInt64: Int] = [:]
        var samples: [UInt64: Int] = [:]
        for u in s.updates {
            count[u.foldedRound, default: 0] += 1
            samples[u.foldedRound, default: 0] += u.samples
        }
        let closed = Set(s.rounds.filter { $0.closedAt != nil }.map(\.number))
        for u in s.updates where u.status == UpdateOutcome.pending && closed.contains(u.foldedRound) {
            report.add(
                .undecidedUpdate, "update for lease \(u.leaseID) is still pending although round \(u.foldedRound) closed")
        }
        for r in s.rounds
        where r.updates != (count[r.number] ?? 0) || r.samples != (samples[r.number] ?? 0) {
            report.add(
                .foldMismatch,
                "round \(r.number) counts \(r.updates) updates / \(r.samples) samples, the database holds "
                    + "\(count[r.number] ?? 0) / \(samples[r.number] ?? 0)")
        }
    }

    static func close(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= 1e-9 * max(1, abs(a), abs(b))
    }

    /// Receipts from the lines of a peer's `receipts.jsonl` (a torn last line is skipped).
    public static func receipts(jsonLines data: Data) -> [Receipt] {
        data.split(separator: 0x0A).compactMap {
            try? JSONDecoder().decode(Receipt.self, from: Data($0))
        }
    }
}
