import ArgumentParser
import CrowdPeer
import CrowdProtocol
import Foundation

/// `crowdtrain status`: the campaign's progress from the public `GET /v1/status`.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show a campaign's progress: goal, round, model, latest evaluation, peers online, crowd speed.")

    @OptionGroup var api: APIClientOptions

    @Flag(help: "Print the status as one JSON object (CampaignStatus) instead of the table.")
    var json = false

    func run() async throws {
        let status = try await api.client().using { try await $0.status() }
        print(json ? try DisplayFormat.jsonLine(status) : Self.render(status))
    }

    /// The status as aligned `label  value` lines with a progress bar for the goal.
    static func render(_ s: CampaignStatus) -> String {
        let fraction = s.goalSamples > 0 ? Double(s.samplesTrained) / Double(s.goalSamples) : 0
        var lines: [(String, String)] = []
        lines.append(("Campaign", "\(s.name) (\(s.workload))\(s.finished ? " — finished" : "")"))
        lines.append((
            "Goal",
            "\(DisplayFormat.progressBar(fraction)) \(DisplayFormat.fixed(s.percentFunded, 1)) %  "
                + "(\(DisplayFormat.grouped(s.samplesTrained)) / \(DisplayFormat.grouped(s.goalSamples)) samples)"
        ))
        var round = "\(s.round) (\(s.roundsCompleted) completed"
        if let max = s.maxRounds { round += " of \(max)" }
        lines.append(("Round", round + ")"))
        lines.append(("Model", String(s.modelVersion.prefix(16)) + "…"))
        if let e = s.latestEvaluation {
            var text = "\(e.metric) \(DisplayFormat.fixed(e.value, 4)) after round \(e.round)"
            if e.metric != "val_loss", let loss = e.loss { text += " (loss \(DisplayFormat.fixed(loss, 4)))" }
            lines.append(("Evaluation", text))
        } else {
            lines.append(("Evaluation", "none yet"))
        }
        lines.append(("Peers", "\(s.peersOnline) online / \(s.peersTotal) joined"))
        var crowd = "\(DisplayFormat.grouped(Int(s.samplesPerSecond.rounded()))) samples/s"
        if let eta = s.etaSeconds { crowd += " · goal in \(DisplayFormat.duration(eta))" }
        lines.append(("Crowd", crowd))
        lines.append(("Updates", "\(s.updatesAccepted) accepted, \(s.updatesRejected) rejected"))
        lines.append(("Traffic", "\(ByteCount.format(s.bytesIn)) in (updates), \(ByteCount.format(s.bytesOut)) out (models, shards)"))
        let width = lines.map(\.0.count).max() ?? 0
        return lines.map { $0.0 + String(repeating: " ", count: width - $0.0.count) + "  " + $0.1 }.joined(separator: "\n")
    }
}
