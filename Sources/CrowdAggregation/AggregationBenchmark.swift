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
        /// Size of the K inputs as the aggregator reads them, MB (10⁶ bytes).
        public var input_mb: Double
        /// Peak resident memory of the process (VmHWM of /proc/self/status), MB (2²⁰ bytes); nil off Linux.
        public var peak_rss_mb: Double?
        /// CPU model name from /proc/cpuinfo.
        public var cpu: String
        /// `int8` (codes) or `fp32` (decoded vectors).
        public var input: String
        /// The K updates as int8 codes plus two fp32 model copies (the codes are larger than the zstd-compressed envelopes), MB (2²⁰ bytes).
        public var codes_plus_two_models_mb: Double
    }

    /// One update as int8 block codes (`UpdateSource.int8`).
    public struct Codes: Sendable {
        public var q: [Int8]
        public var scales: [Float]
        public static let block = 256

        /// The floats these codes decode to.
        public var values: [Float] {
            var out = [Float](repeating: 0, count: q.count)
            q.withUnsafeBufferPointer { qp in
                scales.withUnsafeBufferPointer { sp in
                    out.withUnsafeMutableBufferPointer { o in
                        UpdateSource.int8(q: qp, scales: sp, block: Self.block).load(0, q.count, into: o.baseAddress!)
                    }
                }
            }
            return out
        }
    }

    /// K updates like real int8 block-256 pseudo-gradients: a shared direction plus per-peer noise of equal size,
    /// quantised per block of 256 to q·scale with q ∈ [−127, 127] (so every value is exactly what the int8 codec
    /// decodes), block scales varying over three orders of magnitude as layers do. Seeded. Generated as codes, one
    /// update at a time: the K fp32 vectors never exist.
    public static func syntheticCodes(count k: Int, params n: Int, seed: UInt64) -> [Codes] {
        precondition(k >= 1 && n >= 1, "need at least one update and one parameter")
        var rng = SplitMix64(seed: seed)
        let shared = (0..<n).map { _ in rng.nextSymmetric() }
        let blocks = (n + Codes.block - 1) / Codes.block
        let blockScale = (0..<blocks).map { _ in Float.pow10(-4 + 3 * rng.nextUnit()) }
        var x = [Float](repeating: 0, count: Codes.block)
        return (0..<k).map { _ in
            var codes = Codes(q: [Int8](repeating: 0, count: n), scales: [Float](repeating: 0, count: blocks))
            for b in 0..<blocks {
                let start = b * Codes.block
                let end = Swift.min(n, start + Codes.block)
                var peak: Float = 0
                for j in start..<end {
                    x[j - start] = shared[j] + rng.nextSymmetric()
                    peak = Swift.max(peak, abs(x[j - start]))
                }
                let scale = blockScale[b] / 127
                let q = peak > 0 ? 127 / peak : 0
                for j in start..<end { codes.q[j] = Int8((x[j - start] * q).rounded()) }
                codes.scales[b] = scale
            }
            return codes
        }
    }

    /// The same updates as fp32 vectors (`syntheticCodes` decoded).
    public static func syntheticUpdates(count k: Int, params n: Int, seed: UInt64) -> [[Float]] {
        syntheticCodes(count: k, params: n, seed: seed).map(\.values)
    }

    /// How the benchmark hands the updates to the aggregator.
    public enum Input: String, Sendable, CaseIterable {
        /// int8 block-256 codes, dequantised tile by tile (what the coordinator can keep per update).
        case int8
        /// Decoded fp32 vectors (K × 4 bytes per parameter resident).
        case fp32
    }

    /// Builds the updates, runs `repeats` timed aggregations of `kind` (and of `mean`, for the ratio).
    public static func run(
        kind: AggregatorKind, updates k: Int, params n: Int, seed: UInt64, repeats: Int, input: Input = .int8
    ) -> Report {
        precondition(repeats >= 1, "repeats must be at least 1")
        let codes = syntheticCodes(count: k, params: n, seed: seed)
        let fp32 = input == .fp32 ? codes.map(\.values) : []
        let weights = (0..<k).map { Double(1 + ($0 % 3)) }
        var out = [Float](repeating: 0, count: n)
        func time(_ aggregator: any Aggregator) -> [Double] {
            var runs: [Double] = []
            func go(_ i: Int, _ sources: [UpdateSource]) {
                if i < k {
                    switch input {
                    case .fp32: fp32[i].withUnsafeBufferPointer { go(i + 1, sources + [.fp32($0)]) }
                    case .int8:
                        codes[i].q.withUnsafeBufferPointer { q in
                            codes[i].scales.withUnsafeBufferPointer { s in
                                go(i + 1, sources + [.codes(q: q, scales: s, block: Codes.block)])
                            }
                        }
                    }
                    return
                }
                out.withUnsafeMutableBufferPointer { o in
                    for _ in 0..<repeats {
                        let t0 = DispatchTime.now().uptimeNanoseconds
                        aggregator.aggregate(sources, weights: weights, into: o)
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
        let inputBytes = input == .fp32 ? k * n * 4 : k * (n + ((n + Codes.block - 1) / Codes.block) * 4)
        let compressedBytes = k * (n + ((n + Codes.block - 1) / Codes.block) * 4)
        return Report(
            aggregator: kind.description, updates: k, params: n, seed: seed, repeats: repeats, ms: round2(ms),
            ms_min: round2(runs[0]), mean_ms: meanMs.map(round2), ratio_to_mean: meanMs.map { round2(ms / $0) },
            input_mb: round2(Double(inputBytes) / 1e6), peak_rss_mb: peakRSSMegabytes().map(round2),
            cpu: cpuModel(), input: input.rawValue,
            codes_plus_two_models_mb: round2(Double(compressedBytes + 2 * n * 4) / 1_048_576))
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
