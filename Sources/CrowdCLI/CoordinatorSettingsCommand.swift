import ArgumentParser
import CrowdClient
import CrowdProtocol

/// `crowdtrain coordinator settings`: shows the campaign's settings and changes the ones that can change while it
/// serves (operator API).
struct CoordinatorSettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Show the campaign settings; change the goal, round limit, round deadline or lease duration.",
        discussion: "Changes apply at once and are written to campaign.json: the goal when the next round closes, "
            + "the round deadline from the next round, the lease duration from the next lease.")

    @OptionGroup var api: OperatorOptions

    @Option(help: "New goal in samples (images, or tokens for kjv-gpt).")
    var goalSamples: Int?

    @Option(help: "New round limit (0: none).")
    var maxRounds: Int?

    @Option(help: "New round deadline in seconds.")
    var roundDeadlineSeconds: Double?

    @Option(help: "New lease duration in seconds.")
    var leaseSeconds: Double?

    @Flag(help: "Print the settings as one JSON object.")
    var json = false

    func run() async throws {
        let change = CampaignSettingsChange(
            goalSamples: goalSamples, maxRounds: maxRounds, roundDeadlineSeconds: roundDeadlineSeconds,
            leaseSeconds: leaseSeconds)
        let s = try await api.client().using { client in
            change.isEmpty ? try await client.settings() : try await client.changeSettings(change)
        }
        if json {
            print(try DisplayFormat.jsonLine(s))
            return
        }
        print("\(s.name) (\(s.workload)) on \(s.bind):\(s.port), certificate names \(s.publicNames.joined(separator: ", "))")
        print("  quorum \(s.peersPerRound) peers, \(s.localSteps) local steps, aggregator \(s.aggregator), "
            + "verified work \(s.verification ? "on" : "off")")
        print("  goal \(s.goalSamples) samples, rounds \(s.maxRounds.map(String.init) ?? "no limit"), "
            + "round deadline \(DisplayFormat.fixed(s.roundDeadlineSeconds, 0)) s, "
            + "lease \(DisplayFormat.fixed(s.leaseSeconds, 0)) s")
    }
}
