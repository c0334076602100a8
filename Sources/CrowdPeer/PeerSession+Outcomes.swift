import CrowdProtocol
import Foundation

extension PeerSession {
    /// Asks the coordinator what became of the updates whose credit is still pending (at most `keptReceipts`), and
    /// records each decision: in `status.json` (the receipt's status, reason, and the lifetime credit) and as a
    /// line of `P/outcomes.jsonl`. Failures are not errors: the next cycle asks again.
    func refreshOutcomes() async {
        let open = [UpdateOutcome.pending, UpdateOutcome.held]
        let pending = status.lastReceipts.indices.filter { open.contains(status.lastReceipts[$0].status ?? "") }
        guard !pending.isEmpty else { return }
        var changed = false
        for i in pending {
            let leaseID = status.lastReceipts[i].leaseID
            guard let outcome = try? await client.outcome(leaseID: leaseID),
                  outcome.status != status.lastReceipts[i].status
            else { continue }
            if outcome.status == UpdateOutcome.pending { continue }
            if outcome.status == UpdateOutcome.held {
                // Aggregated; verification (or the audit window) still holds its credit.
                status.lastReceipts[i].status = outcome.status
                output(
                    String(format: "round %llu · lease %@ · aggregated; %.2f GFLOP held until verified", outcome.round,
                           String(leaseID.prefix(8)), outcome.heldCredit ?? 0))
                changed = true
                continue
            }
            status.lastReceipts[i].status = outcome.status
            status.lastReceipts[i].credit = outcome.credit
            status.lastReceipts[i].reason = outcome.reason
            status.lastReceipts[i].explanation = outcome.explanation
            if outcome.status == UpdateOutcome.credited {
                status.lifetime.credited += 1
                status.lifetime.samples += outcome.samples
                status.lifetime.credit += outcome.credit
                output(String(format: "round %llu · lease %@ · credited %.2f GFLOP", outcome.round, String(leaseID.prefix(8)), outcome.credit))
            } else {
                status.lifetime.uncredited += 1
                output(
                    "round \(outcome.round) · lease \(leaseID.prefix(8)) · no credit: \(outcome.reason ?? "?") — "
                        + (outcome.explanation ?? ""))
            }
            OutcomeLog.append(outcome, to: paths.outcomes)
            changed = true
        }
        if changed { setState(status.state, reason: status.reason) }
    }
}

/// `P/outcomes.jsonl`: the coordinator's decision on each stored update (credited, or no credit and why), one JSON
/// object per line, appended. Advisory: the coordinator's ledger is the record.
enum OutcomeLog {
    static func append(_ outcome: UpdateOutcome, to path: String) {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        guard var line = try? enc.encode(outcome) else { return }
        line.append(0x0A)
        if let h = FileHandle(forWritingAtPath: path) {
            defer { try? h.close() }
            _ = try? h.seekToEnd()
            try? h.write(contentsOf: line)
        } else {
            _ = FileManager.default.createFile(atPath: path, contents: line, attributes: [.posixPermissions: 0o644])
        }
    }

    static func read(from path: String) -> [UpdateOutcome] {
        guard let data = FileManager.default.contents(atPath: path) else { return [] }
        return data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(UpdateOutcome.self, from: Data($0)) }
    }
}
