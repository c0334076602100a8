import Foundation

/// The volunteer's settings of `crowdtrain peer run` after merging defaults, `peer.json`, the environment and
/// the flags (`PeerConfigFile.resolve`). Every key is a `PeerConfigKey`; the defaults suit a desktop.
///
/// `threads`, `limits` and `suspend` can change in a running daemon (SIGHUP → `PeerLiveSettings.update`);
/// `backoffCap`, `maxWait` and `cacheBytes` apply from the next start.
public struct PeerSettings: Sendable, Equatable {
    public var threads = 1
    public var limits = PeerLimits()
    public var suspend = SuspendSettings()
    public var backoffCap = 60.0
    public var maxWait = 300.0
    /// Bound of the artifact cache (`ArtifactCache.limitBytes`).
    public var cacheBytes = PeerSettings.defaultCacheBytes

    /// The default cache bound: 2 GB, some 250 Fashion-MNIST shards or a model and a whole small data set.
    public static let defaultCacheBytes = 2_000_000_000
    /// The smallest cache bound accepted (the files of the lease in progress are kept even beyond it).
    public static let minCacheBytes = 1 << 20

    public init() {}

    /// The part a running daemon can take over.
    public var snapshot: PeerLiveSettings.Snapshot { .init(threads: threads, limits: limits, suspend: suspend) }

    /// The daemon configuration with these settings.
    public func runConfig(exitWhenFinished: Bool = false, maxLeases: Int? = nil, seed: UInt64? = nil) -> PeerRunConfig {
        PeerRunConfig(
            threads: threads, backoffBase: 1, backoffCap: backoffCap, exitWhenFinished: exitWhenFinished,
            maxLeases: maxLeases, seed: seed, maxWait: maxWait, limits: limits, cacheBytes: cacheBytes)
    }

    /// Applies the values of one source on top of these settings.
    /// - Throws: `PeerConfigError` naming the first value that does not parse or is out of range.
    public mutating func apply(_ layer: PeerConfigLayer) throws {
        for (key, text) in layer.values.sorted(by: { $0.key < $1.key }) {
            try apply(key, text, from: layer.source)
        }
    }

    mutating func apply(_ key: PeerConfigKey, _ text: String?, from source: PeerConfigSource) throws {
        func fail(_ problem: String) -> PeerConfigError { .bad(key, source, problem) }
        let trimmed = text?.trimmingCharacters(in: .whitespaces)
        let isNone = trimmed.map { ["none", "null", "off", "unlimited", ""].contains($0.lowercased()) } ?? true
        if isNone && key.isNullable {
            switch key {
            case .uploadLimit: limits.uploadBytesPerSecond = nil
            case .downloadLimit: limits.downloadBytesPerSecond = nil
            case .memoryLimit: limits.memoryLimitBytes = nil
            case .idleOnlyMinutes: suspend.idleOnlyMinutes = nil
            case .hours: suspend.hours = nil
            case .dailyDataCap: suspend.dailyDataCap = nil
            default: break
            }
            return
        }
        guard let value = trimmed, !value.isEmpty else {
            throw fail("a value is required (remove the key to use the default)")
        }
        func integer(_ range: ClosedRange<Int>, unit: String = "") throws -> Int {
            var t = Substring(value)
            if !unit.isEmpty, t.hasSuffix(unit) { t = t.dropLast(unit.count) }
            guard let n = Int(t.trimmingCharacters(in: .whitespaces)) else {
                throw fail("'\(value)' is not a whole number")
            }
            guard range.contains(n) else { throw fail("\(n) is out of range \(range.lowerBound)…\(range.upperBound)") }
            return n
        }
        func size(min: Int, perSecond: Bool) throws -> Int {
            let n: Int
            do { n = try Self.parseSize(value, perSecond: perSecond) } catch { throw fail("'\(value)' is not a size") }
            guard n >= min else { throw fail("\(value) is below the smallest allowed \(min) bytes") }
            return n
        }
        func seconds(min: Double, inclusive: Bool) throws -> Double {
            let s: Double
            if let d = Double(value), d.isFinite { s = d } else {
                do { s = try PauseFile.parseDuration(value) } catch { throw fail("'\(value)' is not a duration") }
            }
            guard inclusive ? s >= min : s > min else { throw fail("\(value) is too small") }
            return s
        }
        switch key {
        case .threads: threads = try integer(1...256)
        case .cpuLimit: limits.cpuLimitPercent = try integer(1...100, unit: "%")
        case .nice: limits.nice = try integer(0...19)
        case .uploadLimit: limits.uploadBytesPerSecond = try size(min: 1024, perSecond: true)
        case .downloadLimit: limits.downloadBytesPerSecond = try size(min: 1024, perSecond: true)
        case .memoryLimit: limits.memoryLimitBytes = try size(min: 1 << 20, perSecond: false)
        case .idleOnlyMinutes: suspend.idleOnlyMinutes = try integer(1...(7 * 24 * 60))
        case .acOnly:
            switch value.lowercased() {
            case "true", "yes", "on", "1": suspend.acOnly = true
            case "false", "no", "off", "0": suspend.acOnly = false
            default: throw fail("'\(value)' is not true or false")
            }
        case .hours:
            do { suspend.hours = try HourWindow(parsing: value) } catch {
                throw fail("'\(value)' is not an hour range")
            }
        case .dailyDataCap: suspend.dailyDataCap = try size(min: 1, perSecond: false)
        case .backoffCap: backoffCap = try seconds(min: 1, inclusive: true)
        case .maxWait: maxWait = try seconds(min: 0, inclusive: false)
        case .cacheBytes: cacheBytes = try size(min: Self.minCacheBytes, perSecond: false)
        }
    }

    /// Parses a byte count with an optional unit: `k`/`M`/`G`/`T` = 1000ⁿ, `Ki`/`Mi`/`Gi`/`Ti` = 1024ⁿ, an
    /// optional `B` after it and, with `perSecond`, an optional `/s`: `200k`, `200kB/s`, `1.5G`, `512Mi`, `4096`.
    /// - Throws: `PeerError` when `text` is not a non-negative size that fits in an `Int`.
    public static func parseSize(_ text: String, perSecond: Bool = false) throws -> Int {
        var t = text.trimmingCharacters(in: .whitespaces)
        if perSecond, t.lowercased().hasSuffix("/s") { t = String(t.dropLast(2)) }
        if t.hasSuffix("B") || t.hasSuffix("b") { t = String(t.dropLast()) }
        var scale = 1.0
        let binary = t.hasSuffix("i") || t.hasSuffix("I")
        if binary { t = String(t.dropLast()) }
        let units: [Character: Double] = ["k": 1, "K": 1, "m": 2, "M": 2, "g": 3, "G": 3, "t": 4, "T": 4]
        if let last = t.last, let power = units[last] {
            scale = pow(binary ? 1024 : 1000, power)
            t = String(t.dropLast())
        } else if binary {
            throw PeerError("size '\(text)': 'i' needs a unit before it (Ki, Mi, Gi, Ti)")
        }
        t = t.trimmingCharacters(in: .whitespaces)
        guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let v = Double(t) else {
            throw PeerError("size '\(text)' must be a number with an optional unit: 4096, 200k, 2M, 1.5G, 512Mi")
        }
        let bytes = (v * scale).rounded()
        guard bytes.isFinite, bytes < 9e18 else { throw PeerError("size '\(text)' is too large") }
        return Int(bytes)
    }

    /// One line for logs and the reload message: `threads 2, cpu 50%, nice 10, upload 200.0 kB/s, …`.
    public var summary: String { Self.summary(snapshot) }

    /// The summary of a daemon's live settings.
    public static func summary(_ s: PeerLiveSettings.Snapshot) -> String {
        let settings = PeerStatus.Settings(s)
        return "threads \(s.threads), cpu \(s.limits.cpuLimitPercent)%, nice \(s.limits.nice), "
            + settings.bandwidthText + ", " + settings.memoryText + "; " + settings.scheduleText
    }
}

/// The values one source gave: key → text as written (nil or `none`: explicitly off).
public struct PeerConfigLayer: Sendable, Equatable {
    public var source: PeerConfigSource
    public var values: [PeerConfigKey: String?]

    public init(source: PeerConfigSource, values: [PeerConfigKey: String?] = [:]) {
        self.source = source
        self.values = values
    }
}
