import Foundation

/// The volunteer's config file (`P/peer.json`, or `--config FILE`) and the composition of all sources.
///
/// The file is one JSON object whose keys are the `PeerConfigKey`s (camelCase; see `Config/peer.example.json`).
/// Keys starting with `_` are comments. Every key is optional; an unknown key or a bad value is an error
/// that names the key and says what to write. Numbers may be written as JSON numbers or strings
/// (`"memoryLimit": "2G"`); `null` switches a nullable setting off.
///
/// Precedence, highest first: flags of `peer run` > `CROWDTRAIN_*` environment variables > the file > defaults.
/// The file is found at `--config FILE`, else `CROWDTRAIN_PEER_CONFIG`, else `P/peer.json` (absent: defaults).
public enum PeerConfigFile {
    /// The default file name inside the peer directory.
    public static let defaultName = "peer.json"
    /// The environment variable naming the config file (below `--config`).
    public static let pathVariable = "CROWDTRAIN_PEER_CONFIG"

    /// Parses the JSON of a config file into a layer.
    /// - Parameter path: for error messages only.
    /// - Throws: `PeerConfigError` for invalid JSON, a value that is an array or object, or an unknown key.
    public static func layer(json data: Data, path: String) throws -> PeerConfigLayer {
        let object: RawObject
        do {
            object = try JSONDecoder().decode(RawObject.self, from: data)
        } catch {
            throw PeerConfigError(
                key: nil, "\(path) is not one valid JSON object (\(error)); write an object such as "
                    + "{\"threads\": 2, \"cpuLimit\": 50} — see Config/peer.example.json")
        }
        var layer = PeerConfigLayer(source: .file(path))
        for (name, value) in object.values.sorted(by: { $0.key < $1.key }) where !name.hasPrefix("_") {
            guard let key = PeerConfigKey(rawValue: name) else {
                let hint = PeerConfigKey.closest(to: name).map { "did you mean \"\($0.rawValue)\"? " } ?? ""
                throw PeerConfigError(
                    key: nil, "\(path): unknown key \"\(name)\"; \(hint)the keys are "
                        + PeerConfigKey.allCases.map(\.rawValue).joined(separator: ", ")
                        + " (comments start with _)")
            }
            switch value {
            case .text(let t): layer.values[key] = .some(t)
            case .null: layer.values[key] = .some(nil)
            case .nested: throw PeerConfigError.bad(key, layer.source, "an array or object is not allowed here")
            }
        }
        return layer
    }

    /// A JSON object whose values are kept as the text the other sources would give (`true`, `50`, `200k`).
    struct RawObject: Decodable {
        enum Value { case text(String), null, nested }
        var values: [String: Value] = [:]

        struct Name: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Name.self)
            for k in c.allKeys {
                if try c.decodeNil(forKey: k) {
                    values[k.stringValue] = .null
                } else if let b = try? c.decode(Bool.self, forKey: k) {
                    values[k.stringValue] = .text(b ? "true" : "false")
                } else if let i = try? c.decode(Int64.self, forKey: k) {
                    values[k.stringValue] = .text(String(i))
                } else if let d = try? c.decode(Double.self, forKey: k) {
                    let whole = d.isFinite && d == d.rounded() && abs(d) < 9e18
                    values[k.stringValue] = .text(whole ? String(Int64(d)) : String(d))
                } else if let s = try? c.decode(String.self, forKey: k) {
                    values[k.stringValue] = .text(s)
                } else {
                    values[k.stringValue] = .nested
                }
            }
        }
    }

    /// Reads the config file at `path`.
    /// - Parameter required: whether a missing file is an error (`--config`) or means defaults (`P/peer.json`).
    /// - Returns: nil when the file is absent and not required.
    public static func read(path: String, required: Bool) throws -> PeerConfigLayer? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !required && !FileManager.default.fileExists(atPath: path) { return nil }
            throw PeerConfigError(
                key: nil, "cannot read the config file \(path): check the path and its permissions "
                    + "(an example is in Config/peer.example.json)")
        }
        return try layer(json: data, path: path)
    }

    /// The `CROWDTRAIN_*` variables that name a key (empty values are ignored; other variables too).
    public static func environmentLayer(_ environment: [String: String]) -> PeerConfigLayer {
        var layer = PeerConfigLayer(source: .environment)
        for key in PeerConfigKey.allCases {
            if let v = environment[key.environmentName], !v.trimmingCharacters(in: .whitespaces).isEmpty {
                layer.values[key] = v
            }
        }
        return layer
    }

    /// Which config file applies: `--config`, else `CROWDTRAIN_PEER_CONFIG`, else `P/peer.json`; and whether
    /// it must exist (only the default may be absent).
    public static func location(
        directory: String, explicit: String?, environment: [String: String]
    ) -> (path: String, required: Bool) {
        if let explicit, !explicit.isEmpty { return (explicit, true) }
        if let fromEnv = environment[pathVariable], !fromEnv.isEmpty { return (fromEnv, true) }
        return (PeerPaths(root: directory).config, false)
    }

    /// Merges defaults < file < environment < flags and checks the result.
    /// - Parameters:
    ///   - directory: the peer directory (its `peer.json` is the default file).
    ///   - configPath: `--config FILE`, if given.
    ///   - environment: the process environment.
    ///   - flags: the values of `peer run` flags that were given.
    /// - Throws: `PeerConfigError` (or `PeerError` from `PeerLimits.validate`) naming the bad key.
    public static func resolve(
        directory: String, configPath: String? = nil, environment: [String: String], flags: PeerConfigLayer
    ) throws -> PeerSettings {
        let (path, required) = location(directory: directory, explicit: configPath, environment: environment)
        var settings = PeerSettings()
        if let file = try read(path: path, required: required) { try settings.apply(file) }
        try settings.apply(environmentLayer(environment))
        try settings.apply(flags)
        try settings.limits.validate()
        return settings
    }
}
