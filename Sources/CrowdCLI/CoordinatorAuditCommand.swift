import ArgumentParser
import CrowdClient
import CrowdProtocol
import Foundation

/// `crowdtrain coordinator audit`: checks the campaign's durability invariants (operator API; read-only).
struct CoordinatorAuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract:
            "Check the ledger, the database and the current checkpoint (read-only; safe while serving).",
        discussion:
            "Checks that every receipt in the given receipts.jsonl files (volunteers keep theirs in their peer "
            + "directory) is in the database with the same lease, receipt id and SHA-256; that updates and ledger "
            + "entries match 1:1 and no lease is credited twice; that each peer's credit equals the credit "
            + "recomputed from its accepted updates; that each round's counters match its updates; that PRAGMA "
            + "integrity_check is ok; and that the current checkpoint verifies. Exits 1 if anything is wrong. "
            + "Also lists the peers suspended because their work failed verification, with the evidence."
    )

    @OptionGroup var api: OperatorOptions

    @Option(
        name: .customLong("receipts"),
        help: ArgumentHelp("A peer's receipts.jsonl (repeatable).", valueName: "file"))
    var receiptFiles: [String] = []

    @Flag(help: "Print the report as one JSON object.")
    var json = false

    func run() async throws {
        var receipts: [Receipt] = []
        for file in receiptFiles {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            receipts += data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(Receipt.self, from: Data($0)) }
        }
        let report = try await api.client(timeoutSeconds: 600).using { try await $0.audit(receipts: receipts) }
        if json {
            print(try DisplayFormat.jsonLine(report))
        } else {
            print(Self.render(report))
        }
        if !report.ok { throw ExitCode(1) }
    }

    static func render(_ report: AuditReport) -> String {
        var lines = [
            "audit: \(report.ok ? "ok" : "FAILED") — \(report.receiptsChecked) receipts "
                + "checked, \(report.updates) accepted updates, \(report.ledgerEntries) ledger entries, "
                + "\(report.peers) peers, \(report.rounds) rounds, \(report.checkpoints) checkpoints; integrity_check: "
                + "\(report.integrity); current checkpoint \(report.currentCheckpoint)"
        ]
        for (kind, n) in report.counts.sorted(by: { $0.key < $1.key }) { lines.append("  \(kind): \(n)") }
        for v in report.violations { lines.append("  - \(v)") }
        if !report.verification.isEmpty {
            lines.append(
                "verified work: "
                    + report.verification.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
                    .joined(separator: ", "))
        }
        for p in report.suspended {
            lines.append(
                "  suspended peer \(p.peerID) (\(p.name)) at \(Date(timeIntervalSince1970: p.suspendedAt)): \(p.reason)")
        }
        for e in report.evidence {
            let segment = e.segment < 0 ? "upload claims" : "segment \(e.segment)"
            lines.append(
                "  evidence: lease \(e.leaseID.prefix(8)) (peer \(e.peerID), round \(e.round), \(segment), "
                    + "\(e.verifier) verifier): \(e.result) — \(e.detail)")
        }
        return lines.joined(separator: "\n")
    }
}
