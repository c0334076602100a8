import CrowdProtocol
import Foundation
import Testing

@testable import CrowdCoordinator

/// `CampaignAudit` passes a healthy campaign (also while a coordinator has it open) and detects each kind of
/// violation injected into a copy of the database.
@Suite struct CampaignAuditTests {
    @Test func aHealthyCampaignPassesWhileItsCoordinatorIsOpen() async throws {
        let f = try await DurabilityFixture.make(rounds: 2)
        defer { f.remove() }
        let running = try f.open(f.paths)
        let report = try CampaignAudit.run(directory: f.tc.directory, acknowledged: f.receipts)
        #expect(report.ok, "\(report.violations)")
        // Two closed rounds of two credited updates each; the open round's one update is still pending.
        #expect(report.receiptsChecked == 5 && report.updates == 5 && report.ledgerEntries == 4)
        #expect(report.peers == 2 && report.rounds == 4 && report.checkpoints == 3)
        #expect(
            report.integrity == "ok" && report.currentCheckpoint == f.paths.checkpointRelative(round: 2))
        #expect(report.lostAcknowledged == 0 && report.doubleCounted == 0)
        #expect(await running.roundState.round == 3)
    }

    @Test func receiptLinesSkipATornLastLine() throws {
        let r = Receipt(receiptID: "r1", leaseID: "l1", round: 1, samples: 16, credit: 0.5, acceptedAt: 1, sha256: "ab")
        let enc = JSONEncoder()
        var data = try enc.encode(r) + Data("\n".utf8)
        var second = r
        second.receiptID = "r2"
        data += try enc.encode(second) + Data("\n".utf8)
        data += try enc.encode(r).prefix(20)
        #expect(CampaignAudit.receipts(jsonLines: data) == [r, second])
    }

    /// Copies the campaign, runs `sql` on the copy (ledger triggers dropped first), audits it.
    func audit(
        _ f: DurabilityFixture, _ sql: String, acknowledged: [CampaignAudit.AcknowledgedReceipt]? = nil,
        damage: (CampaignPaths) throws -> Void = { _ in }
    ) throws -> CampaignAudit.Report {
        let copy = try f.copy()
        defer { try? FileManager.default.removeItem(atPath: copy.directory) }
        if !sql.isEmpty {
            try SQLiteStore(path: copy.database).execute(
                "DROP TRIGGER ledger_no_update; DROP TRIGGER ledger_no_delete; " + sql)
        }
        try damage(copy)
        return try CampaignAudit.run(
            directory: copy.directory, acknowledged: acknowledged ?? f.receipts)
    }

    @Test func eachInjectedViolationIsDetected() async throws {
        let f = try await DurabilityFixture.make(rounds: 1)
        defer { f.remove() }
        let r = try #require(f.receipts.first)
        let lease = r.receipt.leaseID
        typealias K = CampaignAudit.Violation.Kind

        // An acknowledged update vanished (its credit stays): lost, and the ledger no longer matches.
        let lost = try audit(f, "DELETE FROM updates WHERE lease_id = '\(lease)'")
        #expect(lost.count(.missingReceipt) == 1 && lost.lostAcknowledged == 1)
        #expect(
            lost.count(.ledgerWithoutUpdate) == 1 && lost.count(.foldMismatch) == 1
                && lost.count(.creditMismatch) == 1)

        // The stored body is not the one acknowledged.
        let swapped = try audit(
            f,
            "UPDATE updates SET sha256 = '\(String(repeating: "0", count: 64))' WHERE lease_id = '\(lease)'"
        )
        #expect(
            swapped.count(.receiptMismatch) == 1 && swapped.lostAcknowledged == 1
                && swapped.counts.count == 1)

        // A receipt credited a second time, under another lease of the same peer and round.
        let doubled = try audit(
            f,
            """
            INSERT INTO leases (id, round, peer_id, slot, shard_ids, seed, samples, issued_at, deadline, status)
                SELECT 'extra', round, peer_id, 9, shard_ids, seed, samples, issued_at, deadline, 'accepted'
                FROM leases WHERE id = '\(lease)';
            INSERT INTO ledger (peer_id, lease_id, round, samples, gflop, receipt_id, created_at)
                SELECT peer_id, 'extra', round, samples, gflop, receipt_id, created_at
                FROM ledger WHERE lease_id = '\(lease)';
            """)
        #expect(doubled.count(.duplicateCredit) == 1 && doubled.count(.ledgerWithoutUpdate) == 1)
        #expect(doubled.doubleCounted == 2 && doubled.count(.creditMismatch) == 1)

        // An accepted update lost its credit.
        let uncredited = try audit(f, "DELETE FROM ledger WHERE lease_id = '\(lease)'")
        #expect(uncredited.count(.updateWithoutLedger) == 1 && uncredited.count(.creditMismatch) == 1)
        #expect(uncredited.lostAcknowledged == 0 && uncredited.doubleCounted == 0)

        // Credit inflated.
        let inflated = try audit(f, "UPDATE ledger SET gflop = gflop * 2 WHERE lease_id = '\(lease)'")
        #expect(
            inflated.count(.ledgerMismatch) == 1 && inflated.count(.creditMismatch) == 1
                && inflated.counts.count == 2)

        // Credit under the wrong peer.
        let moved = try audit(
            f, "UPDATE updates SET peer_id = '\(f.peers[1].id)' WHERE lease_id = '\(lease)'")
        #expect(
            moved.count(.receiptMismatch) == 1 && moved.count(.ledgerMismatch) == 1
                && moved.count(.creditMismatch) == 2)

        // A round's counters disagree with what was folded into it.
        let fold = try audit(f, "UPDATE rounds SET updates = updates + 1 WHERE number = 1")
        #expect(fold.count(.foldMismatch) == 1 && fold.counts.count == 1)

        // A receipt the database never issued.
        var forged = r
        forged.receipt.leaseID = "no-such-lease"
        let missing = try audit(f, "", acknowledged: f.receipts + [forged])
        #expect(missing.count(.missingReceipt) == 1 && missing.counts.count == 1)

        // The current checkpoint is torn.
        let torn = try audit(f, "") { copy in
            let path = copy.checkpoint(round: 1)
            let bytes = try #require(FileManager.default.contents(atPath: path))
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: path))
        }
        #expect(torn.count(.checkpoint) == 1 && torn.counts.count == 1)
        #expect(torn.violations.first?.detail.contains("round-000001.ckpt") == true)

        // The database is damaged: an index no longer matches its table.
        let corrupt = try audit(
            f,
            """
            PRAGMA writable_schema = ON;
            UPDATE sqlite_master SET sql = 'CREATE INDEX ledger_peer ON ledger(receipt_id)' WHERE name = 'ledger_peer';
            PRAGMA writable_schema = OFF;
            """)
        #expect(corrupt.count(.integrity) == 1 && corrupt.integrity != "ok", "\(corrupt.integrity)")
    }
}
