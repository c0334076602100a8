import CrowdCLI
import ArgumentParser
import CrowdAggregation
import Foundation

/// `crowdtrain bench aggregate`: one aggregator's time on K synthetic int8-representable updates of n parameters
/// (`AggregationBenchmark`), with the mean timed in the same process. Compare `stream_avg_int8b256` of
/// `../shared/bench/ref_aggregate_numpy.py` run in the same session (release build, one thread).
struct BenchAggregateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregate",
        abstract: "Time one aggregation of K updates × n parameters (ms, peak RSS) against the mean.")

    @Option(help: "Updates K per aggregation.")
    var updates: Int = 32

    @Option(help: "Parameters n per update.")
    var params: Int = 10_000_000

    @Option(help: "mean, trimmed-mean[:β], median, centered-clip[:τ] or nnm-trimmed-mean[:β].")
    var aggregator: String = "mean"

    @Option(help: "Seed of the synthetic updates.")
    var seed: UInt64 = 0

    @Option(help: "int8 (the updates as int8 block-256 codes, dequantised tile by tile) or fp32 (decoded vectors).")
    var input: String = "int8"

    @Option(help: "Timed repetitions (median reported).")
    var repeats: Int = 5

    @Flag(help: "One JSON object (keys aggregator, updates, params, ms, ms_min, mean_ms, ratio_to_mean, peak_rss_mb, cpu, …).")
    var json = false

    func validate() throws {
        guard (1...4096).contains(updates) else { throw ValidationError("--updates must be in 1…4096") }
        guard params >= 1 else { throw ValidationError("--params must be at least 1") }
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard AggregationBenchmark.Input(rawValue: input) != nil else { throw ValidationError("--input must be int8 or fp32") }
        do { _ = try AggregatorKind(parsing: aggregator) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let kind = try AggregatorKind(parsing: aggregator)
        let r = AggregationBenchmark.run(
            kind: kind, updates: updates, params: params, seed: seed, repeats: repeats,
            input: AggregationBenchmark.Input(rawValue: input) ?? .int8)
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(r), as: UTF8.self))
        } else {
            let ratio = r.ratio_to_mean.map { String(format: " (%.2f× the mean's %.1f ms)", $0, r.mean_ms ?? 0) } ?? ""
            print("\(r.aggregator): \(r.updates) updates × \(r.params) params: " + String(format: "%.1f ms", r.ms)
                + ratio + ", peak RSS " + String(format: "%.0f MB", r.peak_rss_mb ?? 0)
                + String(format: " (codes + 2 models: %.0f MB)", r.codes_plus_two_models_mb) + ", \(r.input) input, \(r.cpu)")
        }
    }
}
