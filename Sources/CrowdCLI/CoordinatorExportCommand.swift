import ArgumentParser
import CrowdClient
import Foundation

/// `crowdtrain coordinator export`: the open release — model, evaluation and credits — in a new directory.
struct CoordinatorExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the current model, its evaluation and CREDITS.md + credits.json to a new directory.",
        discussion: """
            Read-only on the campaign (safe while the coordinator runs). The model is checked against the SHA-256 \
            the database records, on the coordinator and again here; credits are sums of the append-only ledger.
            """)

    @OptionGroup var api: OperatorOptions

    @Option(help: "Output directory (created; must not exist or be empty).")
    var out: String

    @Flag(help: "Print the credits as one JSON object.")
    var json = false

    func run() async throws {
        let (bundle, model) = try await api.client(timeoutSeconds: 600).using { try await $0.export() }
        _ = try ExportWriter.write(bundle, model: model, to: out)
        let credits = bundle.credits
        if json {
            print(try DisplayFormat.jsonLine(credits))
            return
        }
        let e = bundle.evaluation
        print("exported \(credits.campaign) (round \(e.round), model \(e.modelVersion.prefix(16))…) to \(out)")
        print("  model.ckpt       \(e.metric) \(DisplayFormat.fixed(e.value, 4)) "
            + "(loss \(DisplayFormat.fixed(e.loss, 4)))")
        print("  CREDITS.md       \(credits.contributors.count) contributors, "
            + "\(DisplayFormat.fixed(credits.totalCredit, 1)) \(credits.creditUnit)")
        print("  credits.json, evaluation.json")
    }
}
