import Foundation

/// One setting of `crowdtrain peer run` that a volunteer can give in `peer.json`, the environment or a flag.
///
/// The same key has three spellings: `cpuLimit` in the file, `CROWDTRAIN_CPU_LIMIT` in the environment and
/// `--cpu-limit` on the command line. Precedence: flags > environment > file > defaults
/// (`PeerConfigFile.resolve`). Sizes (`uploadLimit`, `downloadLimit`, `memoryLimit`, `dailyDataCap`, `cacheBytes`)
/// are bytes with an optional unit: `k`, `M`, `G` are powers of 1000 (SI, as `peer status` prints them), `Ki`, `Mi`,
/// `Gi` powers of 1024; a trailing `B` (and `/s` for the bandwidth caps) is allowed: `200k` = 200 000 B,
/// `1.5G` = 1 500 000 000 B, `512Mi` = 536 870 912 B. Nullable keys accept `none` (`null` in JSON) to mean
/// "no cap / off", which also lets a flag or the environment switch off what the file turned on.
public enum PeerConfigKey: String, CaseIterable, Sendable, Comparable {
    case threads, cpuLimit, nice, uploadLimit, downloadLimit, memoryLimit
    case idleOnlyMinutes, acOnly, hours, dailyDataCap, backoffCap, maxWait, cacheBytes

    public static func < (a: Self, b: Self) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }

    /// The words of the name: `cpuLimit` → ["cpu", "limit"].
    var words: [String] {
        var out: [String] = []
        var word = ""
        for c in rawValue {
            if c.isUppercase, !word.isEmpty {
                out.append(word)
                word = ""
            }
            word.append(Character(c.lowercased()))
        }
        out.append(word)
        return out
    }

    /// `CROWDTRAIN_CPU_LIMIT`.
    public var environmentName: String { "CROWDTRAIN_" + words.map { $0.uppercased() }.joined(separator: "_") }

    /// `--cpu-limit`.
    public var flag: String { "--" + words.joined(separator: "-") }

    /// Whether `none` / `null` is allowed (the setting can be off).
    public var isNullable: Bool {
        switch self {
        case .uploadLimit, .downloadLimit, .memoryLimit, .idleOnlyMinutes, .hours, .dailyDataCap: return true
        case .threads, .cpuLimit, .nice, .acOnly, .backoffCap, .maxWait, .cacheBytes: return false
        }
    }

    /// What a valid value looks like, for error messages and docs.
    public var accepts: String {
        switch self {
        case .threads: return "a whole number of threads 1…256"
        case .cpuLimit: return "a whole percent 1…100 (50 or 50%)"
        case .nice: return "a niceness 0…19 (higher is more polite)"
        case .uploadLimit, .downloadLimit:
            return "bytes per second, at least 1024, with an optional unit (200k = 200 000 B/s, 2M, 1Mi), or none"
        case .memoryLimit: return "bytes, at least 1Mi, with an optional unit (512M, 1.5G, 2Gi), or none"
        case .idleOnlyMinutes: return "whole minutes ≥ 1 without keyboard/mouse input, or none"
        case .acOnly: return "true or false (also yes/no, on/off, 1/0)"
        case .hours: return "start-end hours of the local day like 9-17 or 22-7, or none"
        case .dailyDataCap: return "bytes per day, up plus down, with an optional unit (500M, 2G), or none"
        case .backoffCap: return "seconds ≥ 1 (or 30s, 5m, 1h)"
        case .maxWait: return "seconds > 0 (0.5, 30s, 5m)"
        case .cacheBytes: return "bytes, at least 1Mi, with an optional unit (500M, 2G, 10Gi)"
        }
    }

    /// An example value as written in the environment or on the command line.
    public var example: String {
        switch self {
        case .threads: return "2"
        case .cpuLimit: return "50"
        case .nice: return "10"
        case .uploadLimit: return "200k"
        case .downloadLimit: return "1M"
        case .memoryLimit: return "2G"
        case .idleOnlyMinutes: return "10"
        case .acOnly: return "true"
        case .hours: return "22-7"
        case .dailyDataCap: return "500M"
        case .backoffCap: return "60"
        case .maxWait: return "300"
        case .cacheBytes: return "2G"
        }
    }

    /// The example as a JSON value (strings quoted).
    public var exampleJSON: String {
        switch self {
        case .uploadLimit, .downloadLimit, .memoryLimit, .hours, .dailyDataCap, .cacheBytes: return "\"\(example)\""
        default: return example
        }
    }

    /// One line for `--help` and the docs.
    public var help: String {
        switch self {
        case .threads: return "Compute threads for training (default 1)."
        case .cpuLimit: return "Share of the allowed cores' time used for training, in percent (default 100)."
        case .nice: return "Scheduling niceness of the daemon, 0…19 (default 10)."
        case .uploadLimit: return "Upload bandwidth cap in bytes per second, e.g. 200k (default none)."
        case .downloadLimit: return "Download bandwidth cap in bytes per second, e.g. 1M (default none)."
        case .memoryLimit: return "Refuse leases that would need more memory than this, e.g. 2G (default none)."
        case .idleOnlyMinutes: return "Work only after N minutes without keyboard/mouse input (default none)."
        case .acOnly: return "Work only on AC power (default false)."
        case .hours: return "Allowed hours of the day in local time, start-end; 22-7 wraps midnight (default all day)."
        case .dailyDataCap: return "Bytes up plus down per local day, e.g. 500M (default none)."
        case .backoffCap: return "Largest retry delay in seconds when the coordinator is unreachable (default 60)."
        case .maxWait: return "Wait at most this many seconds when the coordinator has no work (default 300)."
        case .cacheBytes:
            return "Disk kept for downloaded models and shards; least recently used files go first (default 2G)."
        }
    }

    /// The spelling of an unknown name that this key probably meant (`cpu_limit`, `CPU-LIMIT` → `cpuLimit`).
    static func closest(to name: String) -> PeerConfigKey? {
        func fold(_ s: String) -> String { s.lowercased().filter { $0.isLetter || $0.isNumber } }
        let f = fold(name.hasPrefix("CROWDTRAIN_") ? String(name.dropFirst(11)) : name)
        return allCases.first { fold($0.rawValue) == f }
    }
}

/// Where a configuration value came from, for error messages that say what to write where.
public enum PeerConfigSource: Sendable, Equatable {
    /// A JSON config file at this path.
    case file(String)
    /// A `CROWDTRAIN_*` environment variable.
    case environment
    /// A flag of `peer run`.
    case flags

    /// How to name `key` in this source: `peer.json key "cpuLimit"`, `CROWDTRAIN_CPU_LIMIT`, `--cpu-limit`.
    func name(_ key: PeerConfigKey) -> String {
        switch self {
        case .file(let path): return "\(path): key \"\(key.rawValue)\""
        case .environment: return key.environmentName
        case .flags: return key.flag
        }
    }

    /// A valid setting of `key` as written in this source.
    func example(_ key: PeerConfigKey) -> String {
        switch self {
        case .file: return "\"\(key.rawValue)\": \(key.exampleJSON)"
        case .environment: return "\(key.environmentName)=\(key.example)"
        case .flags: return "\(key.flag) \(key.example)"
        }
    }
}

/// A configuration value that cannot be used: names the key, where it came from and what to write instead.
public struct PeerConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The key concerned (nil for a file that is not a JSON object, or cannot be read).
    public var key: PeerConfigKey?
    public var description: String

    public init(key: PeerConfigKey?, _ description: String) {
        self.key = key
        self.description = description
    }

    /// "`source name`: `problem`; expected `accepts`, for example `example`".
    static func bad(_ key: PeerConfigKey, _ source: PeerConfigSource, _ problem: String) -> PeerConfigError {
        PeerConfigError(
            key: key, "\(source.name(key)): \(problem); expected \(key.accepts), for example \(source.example(key))")
    }
}
