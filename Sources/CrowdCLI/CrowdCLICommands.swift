import ArgumentParser

/// The commands volunteers and operators run, in the order `crowdtrain --help` lists them. The executable adds the
/// benchmarks (CrowdBench) to these.
package enum CrowdCLICommands {
    package static let all: [any ParsableCommand.Type] = [
        DemoCommand.self, PeerCommand.self, StatusCommand.self, StatsCommand.self,
        TrainCommand.self,
        SampleCommand.self, EvalCommand.self,
        ShardsCommand.self,
        CoordinatorCommand.self,
    ]
}
