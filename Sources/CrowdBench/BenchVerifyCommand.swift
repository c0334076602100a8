import CrowdCLI
import ArgumentParser
import CrowdData
import CrowdEngine
import CrowdSim
import CrowdVerification
import Foundation

/// `crowdtrain bench verify`: honest peers and cheaters of every kind against the coordinator's verification
/// (commitment check, challenge, proof, re-execution, second verifier), with the defence-only control.
/// Progress goes to stderr, the report to stdout.
struct BenchVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verified work: false rejects of honest peers, how fast each kind of cheater is caught, verification cost.")

    @Option(help: "Honest updates to make (each is also verified in the shadow to count false rejects).")
    var honestUpdates: Int = 1000

    @Option(help: "Runs per cheater kind (a run: one new cheater identity until caught or --max-updates).")
    var runs: Int = 50

    @Option(help: "A cheater not caught after this many of its updates counts as missed.")
    var maxUpdates: Int = 50

    @Option(help: "Inner steps per lease.")
    var steps: Int = 20

    @Option(help: "Steps per committed segment.")
    var segmentSteps: Int = 2

    @Option(help: "Comma-separated thread counts of the honest peers (one peer each; default 16 peers at 1 and 2).")
    var honestThreads: String = Array(repeating: "1,2", count: 8).joined(separator: ",")

    @Option(help: "Comma-separated cheater kinds (default: all): \(VerifyBenchmark.Cheater.allCases.map(\.rawValue).joined(separator: ", ")).")
    var cheaters: String?

    @Option(help: "Seed.")
    var seed: UInt64 = 1

    @Option(help: "Fashion-MNIST directory.")
    var data: String = FashionMNIST.defaultDirectory

    @Flag(help: "Print the report as one JSON object (keys honest_updates, false_rejects, cheaters.<kind>.caught, cheaters.<kind>.updates_until_caught, verify_compute_fraction, …).")
    var json = false

    func options() throws -> VerifyBenchmark.Options {
        var o = VerifyBenchmark.Options()
        guard honestUpdates >= 1, runs >= 1, maxUpdates >= 1 else {
            throw ValidationError("--honest-updates, --runs and --max-updates must be at least 1")
        }
        guard steps >= 2, (1...steps).contains(segmentSteps) else {
            throw ValidationError("--steps must be at least 2 and --segment-steps in 1…steps")
        }
        o.honestUpdates = honestUpdates
        o.runs = runs
        o.maxCheaterUpdates = maxUpdates
        o.steps = steps
        o.policy.segmentSteps = segmentSteps
        o.seed = seed
        o.honestThreads = try honestThreads.split(separator: ",").map { s in
            guard let t = Int(s), (1...64).contains(t) else {
                throw ValidationError("--honest-threads takes thread counts in 1…64, comma-separated; got '\(s)'")
            }
            return t
        }
        guard !o.honestThreads.isEmpty else { throw ValidationError("--honest-threads names no peer") }
        if let cheaters {
            o.cheaters = try cheaters.split(separator: ",").map { name in
                guard let c = VerifyBenchmark.Cheater(rawValue: String(name)) else {
                    throw ValidationError(
                        "unknown cheater '\(name)'; choose from "
                            + VerifyBenchmark.Cheater.allCases.map(\.rawValue).joined(separator: ", "))
                }
                return c
            }
        }
        return o
    }

    func validate() throws { _ = try options() }

    func run() throws {
        let o = try options()
        let (train, _) = try FashionMNIST.load(directory: data)
        let report = try VerifyBenchmark.run(options: o, train: train) { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try enc.encode(report), as: UTF8.self))
            return
        }
        print("bench verify · \(report.cpu) · \(report.kernel)")
        print("honest: \(report.honestUpdates) updates, \(report.honestVerified) verified, \(report.falseRejects) false rejects, "
            + "\(report.honestBitwise) bit for bit, largest distance \(String(format: "%.3g", report.honestMaxParamDistance))")
        for (kind, c) in report.cheaters.sorted(by: { $0.key < $1.key }) {
            let until = c.updatesUntilCaught.map { String(format: "mean %.1f, max %.0f", $0.mean, $0.max) } ?? "-"
            print(String(format: "%-12@ caught %5.1f%% of %d runs (%@ updates); control credits %5.1f%%; by %@",
                         kind as NSString, 100 * c.caught, c.runs, until as NSString, 100 * c.controlCredited,
                         c.caughtBy.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") as NSString))
        }
        print(String(format: "verification compute: %.2f%% of training (%.2f%% of the steps); proofs %.1f MB on average",
                     100 * report.verifyComputeFraction, 100 * report.verifyStepsFraction, report.proofBytesMean / 1e6))
    }
}
