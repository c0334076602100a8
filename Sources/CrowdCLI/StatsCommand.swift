import ArgumentParser
import CrowdPeer
import CrowdProtocol
import Foundation

/// `crowdtrain stats`: the contributors table from the public `GET /v1/stats`.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show the contributors: accepted/rejected updates, samples, credit (GFLOP), last seen; sorted by credit.")

    @OptionGroup var api: APIClientOptions

    @Option(help: "Show at most this many contributors.")
    var top: Int = 20

    @Flag(help: "Print the table as one JSON object (ContributorStats).")
    var json = false

    func validate() throws {
        guard (1...10_000).contains(top) else { throw ValidationError("--top must be between 1 and 10000") }
    }

    func run() async throws {
        let stats = try await api.client().using { try await $0.stats(top: top) }
        print(json ? try DisplayFormat.jsonLine(stats) : Self.render(stats))
    }

    /// The contributors sorted by credit, highest first, as an aligned table.
    static func render(_ stats: ContributorStats, now: Double = Date().timeIntervalSince1970) -> String {
        let rows = stats.contributors.sorted { $0.credit > $1.credit }
        guard !rows.isEmpty else { return "no contributors yet" }
        var table = TextTable([
            ("#", .right), ("Name", .left), ("Accepted", .right), ("Rejected", .right), ("Samples", .right),
            ("Credit (\(stats.creditUnit))", .right), ("Last seen", .left),
        ])
        for (i, r) in rows.enumerated() {
            table.add([
                "\(i + 1)", r.name, DisplayFormat.grouped(r.acceptedUpdates), DisplayFormat.grouped(r.rejectedUpdates),
                DisplayFormat.grouped(r.samples), DisplayFormat.fixed(r.credit, 1), DisplayFormat.ago(r.lastSeen, now: now),
            ])
        }
        return table.render()
    }
}
