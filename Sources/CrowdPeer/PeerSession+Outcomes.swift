import CrowdClient
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
        let known = await openOutcomes(pending.map { status.lastReceipts[$0].leaseID })
        for i in pending {
            let leaseID = status.lastReceipts[i].leaseID
            guard let outcome = known[leaseID], outcome.status != status.lastReceipts[i].status else { continue }
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

    /// The outcomes of `leaseIDs` in one `POST /v1/outcomes` (one request per lease was ~40% of a daemon's requests,
    /// enough to meet the per-credential rate limit on fast rounds); from a coordinator without that route (404), one
    /// `GET /v1/updates/{id}` each. Leases that fail are left out.
    func openOutcomes(_ leaseIDs: [String]) async -> [String: UpdateOutcome] {
        var out: [String: UpdateOutcome] = [:]
        do {
            for o in try await client.outcomes(leaseIDs: Array(leaseIDs.prefix(OutcomesRequest.maxLeases))).outcomes {
                out[o.leaseID] = o
            }
            return out
        } catch let error as CoordinatorClientError where error.status == 404 {
            for id in leaseIDs { out[id] = try? await client.outcome(leaseID: id) }
        } catch {}
        return out
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
