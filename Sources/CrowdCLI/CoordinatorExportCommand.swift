import ArgumentParser
import CrowdCoordinator
import Foundation

/// `crowdtrain coordinator export`: the open release — model, evaluation and credits — in a new directory.
struct CoordinatorExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the current model, its evaluation and CREDITS.md + credits.json to a new directory.",
        discussion: """
            Read-only on the campaign (safe while the coordinator runs). The checkpoint is checked against \
            the SHA-256 the database records; credits are sums of the append-only ledger.
            """)

    @OptionGroup var campaign: CampaignDirectoryOption

    @Option(help: "Output directory (created; must not exist or be empty).")
    var out: String

    @Flag(help: "Print the credits as one JSON object.")
    var json = false

    func run() async throws {
        let r = try CampaignExporter.export(directory: campaign.dir, to: out)
        if json {
            print(try DisplayFormat.jsonLine(r.credits))
            return
        }
        let e = r.evaluation
        print("exported \(r.credits.campaign) (round \(e.round), model \(e.modelVersion.prefix(16))…) to "
            + r.directory)
        print("  model.ckpt       \(e.metric) \(DisplayFormat.fixed(e.value, 4)) "
            + "(loss \(DisplayFormat.fixed(e.loss, 4)))")
        print("  CREDITS.md       \(r.credits.contributors.count) contributors, "
            + "\(DisplayFormat.fixed(r.credits.totalCredit, 1)) \(r.credits.creditUnit)")
        print("  credits.json, evaluation.json")
    }
}
