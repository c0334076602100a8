import CrowdCLI
import ArgumentParser

/// `crowdtrain bench`: measurements to compare against the reference scripts side by side.
package struct BenchCommand: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmarks (release builds; compare with ../shared/bench reference scripts in the same run).",
        subcommands: [
            BenchEngineCommand.self,
            BenchCodecCommand.self,
            BenchCodecTrainingCommand.self,
            BenchChaosCommand.self,
            BenchAsyncCommand.self,
            BenchCrowdCommand.self,
            BenchGuestCommand.self,
            BenchAggregateCommand.self,
            BenchAttackCommand.self,
            BenchQualityCommand.self,
            BenchRoundsCommand.self,
            BenchLoadCommand.self,
            BenchDeterminismCommand.self,
            BenchVerifyCommand.self,
            BenchDistributionCommand.self,
        ])

    package init() {}
}
