import ArgumentParser
import CrowdBench
import CrowdCLI

/// The root command: lists the subcommands of the CLI (CrowdCLI) and the benchmarks (CrowdBench), each in its own file.
struct CrowdTrainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crowdtrain",
        abstract: "CrowdTrain: volunteer distributed training — coordinator, peer daemon and tools in one binary.",
        version: CrowdTrainVersion.string,
        subcommands: CrowdCLICommands.all + [BenchCommand.self])

    init() {}
}


extension CrowdTrainCommand {
    /// Parses `CommandLine.arguments` and runs the chosen subcommand, awaiting async ones.
    ///
    /// Top-level `await CrowdTrainCommand.main()` in another module resolves to argument-parser's
    /// synchronous `main()` (swift-argument-parser issue #688), which cannot run async subcommands;
    /// this entry point opens the existential so the async `run()` is the one called.
    static func runFromCommandLine(_ arguments: [String]? = nil) async {
        do {
            let command = try await asyncParseAsRoot(arguments)
            if let asyncCommand = command as? any AsyncParsableCommand {
                try await runAsync(asyncCommand)
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    private static func runAsync<T: AsyncParsableCommand>(_ command: T) async throws {
        var c = command
        let run: (inout T) async throws -> Void = { try await $0.run() }
        try await run(&c)
    }
}
