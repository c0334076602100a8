import ArgumentParser
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import Foundation

/// `crowdtrain peer status`: what the local daemon is doing, from `P/status.json` and `P/receipts.jsonl`.
struct PeerStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show what the local peer daemon is doing, its lifetime contribution, last receipts and rejection.",
        discussion: "Reads only local files of the peer directory; nothing is sent over the network.")

    @Option(help: "Peer directory (created by `peer join`).")
    var dir: String

    @Option(help: "Show this many recent receipts.")
    var receipts: Int = 5

    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    /// The `--json` object.
    struct Report: Encodable {
        var status: PeerStatus
        var activity: String
        var stale: Bool
        var ageSeconds: Double
        var receiptsLogged: Int
        var creditLogged: Double
        /// Receipts whose update was credited, earned nothing, or is still pending (credit is decided at aggregation).
        var credited: Int
        var uncredited: Int
        var pending: Int
        /// The decisions on the receipts shown, newest first (`status`, `reason`, `explanation`).
        var recentOutcomes: [UpdateOutcome]
        /// The daemon's resident memory at its last status write (`status.memory` too), MB.
        var daemonRSSMB: Double?
        var daemonPeakRSSMB: Double?
        /// Size of the crowdtrain executable, MB.
        var binaryMB: Double?
    }

    func run() async throws {
        let r = try PeerStatusReport.read(directory: dir)
        if json {
            let counts = r.creditCounts
            print(try DisplayFormat.jsonLine(Report(
                status: r.status, activity: r.activity, stale: r.isStale, ageSeconds: r.age,
                receiptsLogged: r.receipts.count, creditLogged: r.creditKnown, credited: counts.credited,
                uncredited: counts.uncredited, pending: counts.pending,
                recentOutcomes: r.receipts.suffix(max(0, receipts)).reversed().compactMap { r.outcomes[$0.leaseID] },
                daemonRSSMB: r.status.memory?.rssMB, daemonPeakRSSMB: r.status.memory?.peakRSSMB,
                binaryMB: ProcessMemory.executableMB)))
        } else {
            print(Self.render(r, receipts: receipts))
        }
    }

    static func render(
        _ r: PeerStatusReport, receipts shown: Int, now: Double = Date().timeIntervalSince1970
    ) -> String {
        let s = r.status, l = s.lifetime
        var lines: [(String, String)] = [
            ("Now", r.activity),
            ("Updated", DisplayFormat.ago(s.updatedAt, now: now)),
            ("Updates", "\(l.accepted) stored (\(l.credited) credited, \(l.uncredited) earned nothing), \(l.rejected) rejected, "
                + "\(l.leases) leases"),
            ("Contribution", "\(DisplayFormat.grouped(l.samples)) samples, \(DisplayFormat.fixed(l.credit, 1)) GFLOP, "
                + "\(DisplayFormat.duration(l.trainSeconds)) of training"),
            ("Traffic", "\(ByteCount.format(l.bytesUp)) up, \(ByteCount.format(l.bytesDown)) down"),
        ]
        if let settings = r.settingsLines {
            lines.insert(contentsOf: [("Settings", settings.limits), ("Schedule", settings.schedule)], at: 2)
        }
        let counts = r.creditCounts
        lines.append((
            "Receipts",
            "\(r.receipts.count) in receipts.jsonl, \(DisplayFormat.fixed(r.creditKnown, 1)) GFLOP credited "
                + "(\(counts.credited) credited, \(counts.uncredited) earned nothing, \(counts.pending) pending)"))
        if let j = s.lastRejection {
            lines.append((
                "Last rejection",
                "\(j.code)\(j.round.map { " (round \($0))" } ?? ""), "
                    + "\(DisplayFormat.ago(j.at, now: now)): \(j.message)"))
        } else {
            lines.append(("Last rejection", "none"))
        }
        let width = lines.map(\.0.count).max() ?? 0
        var out = lines.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }
        let recent = r.receipts.suffix(max(0, shown))
        if !recent.isEmpty {
            var table = TextTable([("Round", .right), ("Samples", .right), ("Credit (GFLOP)", .right),
                                   ("Credit", .left), ("Stored", .left), ("Receipt", .left)])
            var why: [String] = []
            for x in recent.reversed() {
                let d = r.decision(for: x)
                let label = d.status == UpdateOutcome.noCredit ? "none: \(d.reason ?? "?")" : d.status
                table.add([
                    "\(x.round)", DisplayFormat.grouped(x.samples), DisplayFormat.fixed(d.credit, 1), label,
                    DisplayFormat.ago(x.acceptedAt, now: now), x.receiptID,
                ])
                if let e = d.explanation, d.status == UpdateOutcome.noCredit { why.append("round \(x.round): \(e)") }
            }
            out.append("")
            out.append(table.render())
            if !why.isEmpty { out.append("Why no credit: " + why.joined(separator: "; ")) }
        }
        return out.joined(separator: "\n")
    }
}
