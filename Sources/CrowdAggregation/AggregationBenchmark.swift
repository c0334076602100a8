import Foundation

/// `crowdtrain bench aggregate`: the time of one aggregation of K synthetic updates of n parameters, on the calling
/// thread (the aggregators are single-threaded), with the mean measured in the same process for the ratio.
public enum AggregationBenchmark {
    /// One measurement (JSON keys as printed).
    public struct Report: Codable, Sendable, Equatable {
        public var aggregator: String
        public var updates: Int
        public var params: Int
        public var seed: UInt64
        public var repeats: Int
        /// Median wall time of one aggregation over `repeats` runs, milliseconds.
        public var ms: Double
        public var ms_min: Double
        /// The mean aggregator's median time on the same inputs in the same process (nil for `mean` itself).
        public var mean_ms: Double?
        /// ms / mean_ms.
        public var ratio_to_mean: Double?
        /// Size of the K fp32 inputs, MB (10⁶ bytes): the aggregators read fp32 buffers.
        public var input_mb: Double
        /// Peak resident memory of the process (VmHWM of /proc/self/status), MB (2²⁰ bytes); nil off Linux.
        public var peak_rss_mb: Double?
        /// CPU model name from /proc/cpuinfo.
        public var cpu: String
    }

    /// K updates like real int8 block-256 pseudo-gradients: a shared direction plus per-peer noise of equal size,
    /// quantised per block of 256 to q·scale with q ∈ [−127, 127] (so every value is exactly what the int8 codec
    /// decodes), block scales varying over three orders of magnitude as layers do. Seeded.
    public static func syntheticUpdates(count k: Int, params n: Int, seed: UInt64) -> [[Float]] {
        precondition(k >= 1 && n >= 1, "need at least one update and one parameter")
        var rng = SplitMix64(seed: seed)
        let shared = (0..<n).map { _ in rng.nextSymmetric() }
        let blockScale = (0..<((n + 255) / 256)).map { _ in Float.pow10(-4 + 3 * rng.nextUnit()) }
        return (0..<k).map { _ in
            var x = [Float](repeating: 0, count: n)
            var start = 0
            while start < n {
                let end = Swift.min(n, start + 256)
                var peak: Float = 0
                for j in start..<end {
                    x[j] = shared[j] + rng.nextSymmetric()
                    peak = Swift.max(peak, abs(x[j]))
                }
                let scale = blockScale[start / 256] / 127
                let q = peak > 0 ? 127 / peak : 0
                for j in start..<end { x[j] = (x[j] * q).rounded() * scale }
                start = end
            }
            return x
        }
    }

    /// Builds the updates, runs `repeats` timed aggregations of `kind` (and of `mean`, for the ratio).
    public static func run(kind: AggregatorKind, updates k: Int, params n: Int, seed: UInt64, repeats: Int) -> Report {
        precondition(repeats >= 1, "repeats must be at least 1")
        let updates = syntheticUpdates(count: k, params: n, seed: seed)
        let weights = (0..<k).map { Double(1 + ($0 % 3)) }
        var out = [Float](repeating: 0, count: n)
        func time(_ aggregator: any Aggregator) -> [Double] {
            var runs: [Double] = []
            func go(_ i: Int, _ ptrs: [UnsafeBufferPointer<Float>]) {
                if i < updates.count {
                    updates[i].withUnsafeBufferPointer { go(i + 1, ptrs + [$0]) }
                    return
                }
                out.withUnsafeMutableBufferPointer { o in
                    for _ in 0..<repeats {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        aggregator.aggregate(ptrs, weights: weights, into: o)
                        runs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
                    }
                }
            }
            go(0, [])
            return runs.sorted()
        }
        let runs = time(kind.make())
        let meanRuns = kind == .mean ? nil : time(MeanAggregator())
        let ms = median(runs)
        let meanMs = meanRuns.map(median)
        return Report(
            aggregator: kind.description, updates: k, params: n, seed: seed, repeats: repeats, ms: round2(ms),
            ms_min: round2(runs[0]), mean_ms: meanMs.map(round2), ratio_to_mean: meanMs.map { round2(ms / $0) },
            input_mb: round2(Double(k * n * 4) / 1e6), peak_rss_mb: peakRSSMegabytes().map(round2),
            cpu: cpuModel())
    }

    static func median(_ sorted: [Double]) -> Double {
        sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }

    /// VmHWM of this process in MB (2²⁰ bytes), nil where /proc is missing.
    public static func peakRSSMegabytes() -> Double? {
        guard let s = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kb / 1024
    }

    /// The first "model name" of /proc/cpuinfo ("unknown" elsewhere).
    public static func cpuModel() -> String {
        guard let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
              let colon = line.firstIndex(of: ":")
        else { return "unknown" }
        return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
}

/// SplitMix64 (Steele et al.): the benchmark's seeded generator.
struct SplitMix64 {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    mutating func nextUnit() -> Float { Float(next() >> 40) * 0x1p-24 }

    /// Sum of two uniforms minus 1: triangular on [−1, 1), mean 0.
    mutating func nextSymmetric() -> Float { nextUnit() + nextUnit() - 1 }
}

extension Float {
    fileprivate static func pow10(_ e: Float) -> Float { Float(Foundation.pow(10, Double(e))) }
}
