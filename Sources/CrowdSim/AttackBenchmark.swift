import CrowdAggregation
import CrowdData
import CrowdEngine
import Foundation

/// `crowdtrain bench attack`: 16 simulated peers on fmnist-mlp, f of them hostile, every attack against the
/// undefended control (`mean` with no screening: `DefenceConfig.off`) and each robust aggregator with the full
/// defence (`DefenceConfig.standard`), over several seeds.
public enum AttackBenchmark {
    public struct Options: Sendable {
        public var attacks = Attack.allCases
        public var f = [1, 3, 7]
        public var aggregators = AggregatorKind.all
        public var seeds: [UInt64] = [1, 2, 3]
        public var crowd = SimulatedCrowd.Config()
        /// Runs at once (each single-threaded).
        public var jobs = 2
        /// The aggregator the summary figures are for (the campaign default).
        public var defaultAggregator = AggregatorKind.campaignDefault
        /// The defence of the robust rows (the campaign default); `mean` rows always run `DefenceConfig.off`.
        public var defence = DefenceConfig.standard
        public init() {}

        /// The `--quick` subset: three attacks at f = 3 and 7, the control and the default, one seed.
        public static func quick() -> Options {
            var o = Options()
            o.attacks = [.signFlip, .alie, .labelFlip]
            o.f = [3, 7]
            o.aggregators = [.mean, o.defaultAggregator]
            o.seeds = [1]
            return o
        }
    }

    /// One run.
    public struct Row: Codable, Sendable {
        public var attack: String
        public var f: Int
        public var aggregator: String
        public var defended: Bool
        public var seed: UInt64
        public var testAccuracy: Double
        /// Mean test loss; null when the model diverged (non-finite).
        public var loss: Double?
        public var honestExcluded: Int
        public var hostileAggregated: Int
        public var seconds: Double

        enum CodingKeys: String, CodingKey {
            case attack, f, aggregator, defended, seed, loss, seconds
            case testAccuracy = "test_accuracy", honestExcluded = "honest_excluded"
            case hostileAggregated = "hostile_aggregated"
        }

        /// `loss` is always present: null when the model diverged.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(attack, forKey: .attack)
            try c.encode(f, forKey: .f)
            try c.encode(aggregator, forKey: .aggregator)
            try c.encode(defended, forKey: .defended)
            try c.encode(seed, forKey: .seed)
            try c.encode(testAccuracy, forKey: .testAccuracy)
            try c.encode(loss, forKey: .loss)
            try c.encode(honestExcluded, forKey: .honestExcluded)
            try c.encode(hostileAggregated, forKey: .hostileAggregated)
            try c.encode(seconds, forKey: .seconds)
        }
    }

    /// The JSON object.
    public struct Report: Codable, Sendable {
        public var rows: [Row]
        /// Clean (f = 0) test accuracy of the default aggregator with the defence, mean over seeds.
        public var cleanAccuracy: Double
        /// Clean accuracy of the undefended `mean`, mean over seeds.
        public var cleanAccuracyMean: Double
        /// The control: undefended `mean` under sign-flip with the smallest f, mean over seeds.
        public var controlSignflipAccuracy: Double
        /// Default aggregator: clean accuracy minus the worst attack's accuracy (seed means), percentage points.
        public var worstDropF3: Double?
        public var worstDropF7: Double?
        /// The attack behind each worst drop.
        public var worstAttackF3: String?
        public var worstAttackF7: String?
        public var defaultAggregator: String
        public var peers: Int
        public var rounds: Int
        public var localSteps: Int
        public var seconds: Double
        public var cpu: String

        enum CodingKeys: String, CodingKey {
            case rows, peers, rounds, seconds, cpu
            case cleanAccuracy = "clean_accuracy", cleanAccuracyMean = "clean_accuracy_mean"
            case controlSignflipAccuracy = "control_signflip_accuracy"
            case worstDropF3 = "worst_drop_f3", worstDropF7 = "worst_drop_f7"
            case worstAttackF3 = "worst_attack_f3", worstAttackF7 = "worst_attack_f7"
            case defaultAggregator = "default_aggregator", localSteps = "local_steps"
        }
    }

    struct Job: Sendable {
        var attack: Attack?
        var f: Int
        var aggregator: AggregatorKind
        var seed: UInt64
    }

    /// Runs the grid; `progress` receives one line per finished run.
    public static func run(
        options o: Options, train: ImageDataset, test: ImageDataset, progress: @escaping @Sendable (String) -> Void
    ) throws -> Report {
        let start = Date()
        var jobs: [Job] = []
        for seed in o.seeds {
            for agg in o.aggregators { jobs.append(Job(attack: nil, f: 0, aggregator: agg, seed: seed)) }
            for attack in o.attacks {
                for f in o.f {
                    for agg in o.aggregators { jobs.append(Job(attack: attack, f: f, aggregator: agg, seed: seed)) }
                }
            }
        }
        let results = Results(count: jobs.count)
        let next = Counter()
        let total = jobs.count
        let grid = jobs
        DispatchQueue.concurrentPerform(iterations: max(1, o.jobs)) { _ in
            while let k = next.take(below: total) {
                let job = grid[k]
                var config = o.crowd
                config.seed = job.seed
                config.aggregator = job.aggregator
                config.defence = job.aggregator == .mean ? .off : o.defence
                let crowd = SimulatedCrowd(config: config, train: train, test: test)
                let hostile = Array(0..<job.f)
                do {
                    let r = try crowd.run(hostile: Set(hostile)) { view in
                        job.attack?.craft(view, hostile: hostile, peers: config.peers, seed: job.seed) ?? [:]
                    }
                    let row = Row(
                        attack: job.attack?.rawValue ?? "none", f: job.f, aggregator: job.aggregator.description,
                        defended: job.aggregator != .mean, seed: job.seed, testAccuracy: r.testAccuracy,
                        loss: r.testLoss.isFinite ? r.testLoss : nil, honestExcluded: r.honestExcluded, hostileAggregated: r.hostileAggregated,
                        seconds: r.seconds)
                    let done = results.set(k, row)
                    progress(
                        String(
                            format: "[%d/%d] %@ f=%d %@ seed %llu: test_accuracy %.4f (%.1f s)", done, total,
                            row.attack, row.f, row.aggregator, row.seed, row.testAccuracy, row.seconds))
                } catch {
                    progress("run \(k) failed: \(error)")
                }
            }
        }
        let rows = results.all()
        guard rows.count == jobs.count else { throw AggregationError("\(jobs.count - rows.count) runs failed") }
        func meanAcc(_ pick: (Row) -> Bool) -> Double? {
            let a = rows.filter(pick).map(\.testAccuracy)
            return a.isEmpty ? nil : a.reduce(0, +) / Double(a.count)
        }
        let def = o.defaultAggregator.description
        let clean = meanAcc { $0.f == 0 && $0.aggregator == def } ?? .nan
        let cleanMean = meanAcc { $0.f == 0 && $0.aggregator == "mean" } ?? .nan
        let minF = o.f.min() ?? 1
        let control = meanAcc { $0.attack == Attack.signFlip.rawValue && $0.f == minF && $0.aggregator == "mean" } ?? .nan
        func worst(_ f: Int) -> (Double, String)? {
            guard o.f.contains(f), o.aggregators.contains(o.defaultAggregator) else { return nil }
            var w: (Double, String)?
            for a in o.attacks {
                guard let acc = meanAcc({ $0.attack == a.rawValue && $0.f == f && $0.aggregator == def }) else { continue }
                let drop = (clean - acc) * 100
                if w == nil || drop > w!.0 { w = (drop, a.rawValue) }
            }
            return w
        }
        let w3 = worst(3), w7 = worst(7)
        return Report(
            rows: rows, cleanAccuracy: clean, cleanAccuracyMean: cleanMean, controlSignflipAccuracy: control,
            worstDropF3: w3?.0, worstDropF7: w7?.0, worstAttackF3: w3?.1, worstAttackF7: w7?.1, defaultAggregator: def,
            peers: o.crowd.peers, rounds: o.crowd.rounds, localSteps: o.crowd.localSteps,
            seconds: Date().timeIntervalSince(start), cpu: CPUName.current)
    }
}

extension AttackBenchmark {
    /// A text summary: accuracy per attack × f (seed means) for each aggregator, then the headline figures.
    public static func table(_ r: Report) -> String {
        var lines: [String] = []
        let aggs = r.rows.map(\.aggregator).uniqued()
        let cells = r.rows.map { ($0.attack, $0.f) }.map { "\($0.0) f=\($0.1)" }.uniqued()
        lines.append("attack".padding(toLength: 18, withPad: " ", startingAt: 0) + aggs.map { $0.leftPad(20) }.joined())
        for cell in cells {
            var line = cell.padding(toLength: 18, withPad: " ", startingAt: 0)
            for a in aggs {
                let acc = r.rows.filter { "\($0.attack) f=\($0.f)" == cell && $0.aggregator == a }.map(\.testAccuracy)
                line += (acc.isEmpty ? "-" : String(format: "%.4f", acc.reduce(0, +) / Double(acc.count))).leftPad(20)
            }
            lines.append(line)
        }
        lines.append(String(format: "clean accuracy (%@): %.4f; undefended mean: %.4f; control sign-flip: %.4f",
            r.defaultAggregator, r.cleanAccuracy, r.cleanAccuracyMean, r.controlSignflipAccuracy))
        if let d = r.worstDropF3 { lines.append(String(format: "worst drop f=3: %.2f points (%@)", d, r.worstAttackF3 ?? "")) }
        if let d = r.worstDropF7 { lines.append(String(format: "worst drop f=7: %.2f points (%@)", d, r.worstAttackF7 ?? "")) }
        lines.append(String(format: "%d runs in %.0f s on %@", r.rows.count, r.seconds, r.cpu))
        return lines.joined(separator: "\n")
    }
}

extension Array where Element: Hashable {
    fileprivate func uniqued() -> [Element] {
        var seen = Set<Element>()
        return filter { seen.insert($0).inserted }
    }
}

extension String {
    fileprivate func leftPad(_ n: Int) -> String { count >= n ? " " + self : String(repeating: " ", count: n - count) + self }
}

/// Thread-safe result slots.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [AttackBenchmark.Row?]
    private var done = 0
    init(count: Int) { rows = Array(repeating: nil, count: count) }
    /// Stores a row; returns how many are done.
    func set(_ i: Int, _ r: AttackBenchmark.Row) -> Int {
        lock.lock()
        defer { lock.unlock() }
        rows[i] = r
        done += 1
        return done
    }
    func all() -> [AttackBenchmark.Row] {
        lock.lock()
        defer { lock.unlock() }
        return rows.compactMap { $0 }
    }
}

/// A shared job counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below n: Int) -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard value < n else { return nil }
        value += 1
        return value - 1
    }
}

/// The CPU's model name (`/proc/cpuinfo`), for the figures' provenance.
public enum CPUName {
    public static var current: String {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
            let name = line.split(separator: ":", maxSplits: 1).last
        else { return "unknown" }
        return name.trimmingCharacters(in: .whitespaces)
    }
}
