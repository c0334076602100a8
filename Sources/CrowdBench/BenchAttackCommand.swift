import CrowdCLI
import ArgumentParser
import CrowdAggregation
import CrowdData
import CrowdEngine
import CrowdSim
import Foundation

/// `crowdtrain bench attack`: 16 simulated peers on fmnist-mlp, f of them hostile, every attack of the grid against
/// the undefended control (`mean`, no screening) and each robust aggregator with the campaign defence, over seeds.
/// Progress goes to stderr (one line per run), the report to stdout.
struct BenchAttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Byzantine attacks against the undefended mean and each robust aggregator (simulated crowd).")

    @Flag(help: "A subset (sign-flip, ALIE, label-flip at f = 3 and 7; mean and the default; one seed).")
    var quick = false

    @Option(help: "Comma-separated attacks (default: all): \(Attack.allCases.map(\.rawValue).joined(separator: ", ")).")
    var attacks: String?

    @Option(help: "Comma-separated attacker counts f (f = 0, the clean run, is always included).")
    var f: String?

    @Option(help: "Comma-separated aggregators (default: all; `mean` is the undefended control).")
    var aggregators: String?

    @Option(help: "Number of seeds (1, 2, …).")
    var seeds: Int?

    @Option(help: "Simulated peers.")
    var peers: Int = 16

    @Option(help: "Rounds per run.")
    var rounds: Int = 10

    @Option(help: "Local SGD steps per peer and round.")
    var localSteps: Int = 25

    @Option(help: "Defence override for the robust rows: agreementFraction (default \(DefenceConfig.standard.agreementFraction)).")
    var agreementFraction: Double?

    @Option(help: "Defence override for the robust rows: clipMultiplier (default \(DefenceConfig.standard.clipMultiplier)).")
    var clipMultiplier: Double?

    @Option(help: "Runs at once (each on one thread).")
    var jobs: Int = 2

    @Option(help: "Fashion-MNIST directory.")
    var data: String = FashionMNIST.defaultDirectory

    @Flag(help: "Print the report as one JSON object (keys rows, clean_accuracy, control_signflip_accuracy, worst_drop_f3, worst_drop_f7, …).")
    var json = false

    func validate() throws {
        guard (2...256).contains(peers) else { throw ValidationError("--peers must be in 2…256") }
        guard rounds >= 1, localSteps >= 1 else { throw ValidationError("--rounds and --local-steps must be at least 1") }
        guard (1...64).contains(jobs) else { throw ValidationError("--jobs must be in 1…64") }
        if let seeds { guard (1...100).contains(seeds) else { throw ValidationError("--seeds must be in 1…100") } }
        _ = try options()
    }

    func options() throws -> AttackBenchmark.Options {
        var o = quick ? AttackBenchmark.Options.quick() : AttackBenchmark.Options()
        if let attacks {
            o.attacks = try attacks.split(separator: ",").map { name in
                guard let a = Attack(rawValue: String(name)) else {
                    throw ValidationError(
                        "unknown attack '\(name)'; choose from \(Attack.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return a
            }
        }
        if let f {
            o.f = try f.split(separator: ",").map { s in
                guard let v = Int(s), v >= 0, v < peers else {
                    throw ValidationError("--f takes attacker counts in 0…\(peers - 1), comma-separated; got '\(s)'")
                }
                return v
            }.filter { $0 > 0 }
        }
        if let aggregators {
            do {
                o.aggregators = try aggregators.split(separator: ",").map { try AggregatorKind(parsing: String($0)) }
            } catch { throw ValidationError("\(error)") }
        }
        if let seeds { o.seeds = (1...seeds).map(UInt64.init) }
        o.crowd.peers = peers
        o.crowd.rounds = rounds
        o.crowd.localSteps = localSteps
        o.jobs = jobs
        if let agreementFraction { o.defence.agreementFraction = agreementFraction }
        if let clipMultiplier { o.defence.clipMultiplier = clipMultiplier }
        do { try o.defence.validate() } catch { throw ValidationError("\(error)") }
        return o
    }

    func run() throws {
        let o = try options()
        ComputeThreads.set(1)  // each run is single-threaded; --jobs runs them side by side
        let (train, test) = try FashionMNIST.load(directory: data)
        let report = try AttackBenchmark.run(options: o, train: train, test: test) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            // A summary with no rows to average (e.g. no clean run of the default) is NaN: written as the string "nan".
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try enc.encode(report), as: UTF8.self))
            return
        }
        print(AttackBenchmark.table(report))
    }
}
