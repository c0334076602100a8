import CrowdProtocol
import Foundation

/// What `crowdtrain peer status` shows: the daemon's `status.json` plus the receipts in `receipts.jsonl`,
/// read without touching either file.
public struct PeerStatusReport: Sendable {
    /// The status as the daemon last wrote it.
    public var status: PeerStatus
    /// Every receipt in `receipts.jsonl` (oldest first; a torn last line is skipped).
    public var receipts: [Receipt]
    /// The coordinator's decisions the daemon learnt, from `outcomes.jsonl`, by lease.
    public var outcomes: [String: UpdateOutcome] = [:]
    /// Seconds since the daemon last wrote its status.
    public var age: Double
    /// The daemon claims to be active but has not written for longer than `staleAfter`: it probably
    /// died without recording `stopped` (killed, power cut).
    public var isStale: Bool

    /// A daemon writes its status at every state change; a lease rarely runs this long without one.
    public static let staleAfter = 900.0

    /// Reads the status of the peer directory `directory`.
    /// - Throws: `PeerError` saying no daemon has run there yet, or that the status file is damaged.
    public static func read(directory: String, now: Double = Date().timeIntervalSince1970) throws -> PeerStatusReport {
        let paths = PeerPaths(root: directory)
        guard let data = FileManager.default.contents(atPath: paths.status) else {
            if FileManager.default.fileExists(atPath: paths.credential) {
                throw PeerError(
                    "no daemon has run in \(paths.root) yet (\(paths.status) is missing); start one with "
                        + "`crowdtrain peer run --dir \(paths.root)`")
            }
            throw PeerError(
                "\(paths.root) is not a peer directory (no status.json, no credential.json); "
                    + "join a campaign first with `crowdtrain peer join --dir \(paths.root) …`")
        }
        let status: PeerStatus
        do { status = try JSONDecoder().decode(PeerStatus.self, from: data) } catch {
            throw PeerError(
                "\(paths.status) is damaged and cannot be read (\(error)); the daemon rewrites it at its next state "
                    + "change — restart it with `crowdtrain peer run --dir \(paths.root)`; your receipts in "
                    + "\(paths.receipts) are unaffected")
        }
        let receipts = receiptLines(FileManager.default.contents(atPath: paths.receipts) ?? Data())
        let age = max(0, now - status.updatedAt)
        var report = PeerStatusReport(
            status: status, receipts: receipts, age: age, isStale: status.state != .stopped && age > staleAfter)
        for o in OutcomeLog.read(from: paths.outcomes) { report.outcomes[o.leaseID] = o }
        return report
    }

    /// The credit status of a receipt: the decision if known, else the receipt's own (`pending`, or `credited` from
    /// coordinators that credit on upload).
    public func decision(for r: Receipt) -> (status: String, credit: Double, reason: String?, explanation: String?) {
        if let o = outcomes[r.leaseID] { return (o.status, o.credit, o.reason, o.explanation) }
        return (r.status ?? UpdateOutcome.credited, r.credit, nil, nil)
    }

    /// Credit of every receipt as far as the daemon knows it (GFLOP).
    public var creditKnown: Double { receipts.reduce(0) { $0 + decision(for: $1).credit } }

    /// Receipts by credit status: credited, earned nothing, pending.
    public var creditCounts: (credited: Int, uncredited: Int, pending: Int) {
        var c = (0, 0, 0)
        for r in receipts {
            switch decision(for: r).status {
            case UpdateOutcome.credited: c.0 += 1
            case UpdateOutcome.pending: c.2 += 1
            default: c.1 += 1
            }
        }
        return c
    }

    /// Parses `receipts.jsonl` bytes; lines that do not parse (a torn last line) are skipped.
    public static func receiptLines(_ data: Data) -> [Receipt] {
        data.split(separator: 0x0A).compactMap { try? JSONDecoder().decode(Receipt.self, from: Data($0)) }
    }

    /// The settings the daemon runs with, as `peer status` shows them: limits, then schedule; nil for a status
    /// written by an older daemon.
    public var settingsLines: (limits: String, schedule: String)? {
        guard let s = status.settings else { return nil }
        let reloaded = s.generation > 0 ? " (reloaded \(s.generation)×)" : ""
        return (s.limitsText + reloaded + (s.backend.map { "; compute: \($0)" } ?? ""), s.scheduleText)
    }

    /// One sentence on what the daemon is doing.
    public var activity: String {
        let s = status
        var text: String
        switch s.state {
        case .starting: text = "starting"
        case .leasing: text = "asking the coordinator for work"
        case .downloading: text = "downloading the model and data"
        case .training: text = "training"
        case .uploading: text = "uploading its update"
        case .waiting: text = "waiting for work"
        case .backingOff: text = "backing off after an error"
        case .stopped: text = "stopped"
        case .suspended: text = "suspended (no training, no traffic)"
        }
        if let round = s.round, [.downloading, .training, .uploading].contains(s.state) {
            text += " (round \(round)\(s.leaseID.map { ", lease \($0.prefix(8))…" } ?? ""))"
        }
        if let reason = s.reason, !reason.isEmpty { text += ": \(reason)" }
        if isStale {
            text += " — STALE: no update for \(Int(age)) s, the daemon is probably not running any more"
        }
        return text
    }
}
