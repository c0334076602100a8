import Foundation
import Testing
@testable import CrowdPeer

/// `peer.json`, `CROWDTRAIN_*` and `peer run` flags: parsing of every key, human sizes, precedence and the
/// error messages a volunteer sees.
struct PeerConfigFileTests {
    func directory() throws -> String {
        let dir = NSTemporaryDirectory() + "crowdtrain-peerconfig-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    func settings(json: String) throws -> PeerSettings {
        var s = PeerSettings()
        try s.apply(try PeerConfigFile.layer(json: Data(json.utf8), path: "peer.json"))
        return s
    }

    func error(json: String) -> String {
        do {
            _ = try settings(json: json)
            return "no error"
        } catch { return "\(error)" }
    }

    @Test func humanSizesUseSIAndBinaryUnits() throws {
        #expect(try PeerSettings.parseSize("4096") == 4096)
        #expect(try PeerSettings.parseSize("200k") == 200_000)
        #expect(try PeerSettings.parseSize("200K") == 200_000)
        #expect(try PeerSettings.parseSize("200kB") == 200_000)
        #expect(try PeerSettings.parseSize("200kB/s", perSecond: true) == 200_000)
        #expect(try PeerSettings.parseSize("2M") == 2_000_000)
        #expect(try PeerSettings.parseSize("1.5G") == 1_500_000_000)
        #expect(try PeerSettings.parseSize("1Ki") == 1024)
        #expect(try PeerSettings.parseSize("512MiB") == 512 << 20)
        #expect(try PeerSettings.parseSize("2Gi") == 2 << 30)
        #expect(try PeerSettings.parseSize(" 3 M ") == 3_000_000)
        for bad in ["", "k", "12x", "-5", "1e3", "2i", "1..5M", "5M/s", "99999999999T"] {
            #expect(throws: PeerError.self, "\(bad)") { try PeerSettings.parseSize(bad) }
        }
    }

    @Test func everyKeyParsesFromTheFile() throws {
        let s = try settings(json: """
            {"_comment": "ignored", "threads": 3, "cpuLimit": "40%", "nice": 15, "uploadLimit": "200k",
             "downloadLimit": 2048, "memoryLimit": "1.5G", "idleOnlyMinutes": 10, "acOnly": true, "hours": "22-7",
             "dailyDataCap": "500M", "backoffCap": "2m", "maxWait": 0.5}
            """)
        #expect(s.threads == 3)
        #expect(s.limits == PeerLimits(
            cpuLimitPercent: 40, nice: 15, uploadBytesPerSecond: 200_000, downloadBytesPerSecond: 2048,
            memoryLimitBytes: 1_500_000_000))
        #expect(s.suspend == SuspendSettings(
            idleOnlyMinutes: 10, acOnly: true, hours: try HourWindow(parsing: "22-7"), dailyDataCap: 500_000_000))
        #expect(s.backoffCap == 120 && s.maxWait == 0.5)
        let config = s.runConfig(maxLeases: 2)
        #expect(config.threads == 3 && config.limits == s.limits && config.backoffCap == 120 && config.maxLeases == 2)
    }

    @Test func defaultsWithoutAnyValue() throws {
        let s = try settings(json: "{}")
        #expect(s == PeerSettings())
        #expect(s.threads == 1 && s.limits == PeerLimits() && s.suspend == SuspendSettings())
        #expect(s.backoffCap == 60 && s.maxWait == 300)
    }

    @Test func badValuesNameTheKeyAndWhatToWrite() throws {
        let cpu = error(json: #"{"cpuLimit": 150}"#)
        #expect(cpu.contains("peer.json: key \"cpuLimit\"") && cpu.contains("150 is out of range 1…100"))
        #expect(cpu.contains(#"for example "cpuLimit": 50"#), "\(cpu)")
        #expect(error(json: #"{"threads": 0}"#).contains("key \"threads\": 0 is out of range 1…256"))
        #expect(error(json: #"{"threads": 1.5}"#).contains("'1.5' is not a whole number"))
        #expect(error(json: #"{"threads": null}"#).contains("a value is required"))
        #expect(error(json: #"{"nice": 20}"#).contains("\"nice\": 20 is out of range 0…19"))
        #expect(error(json: #"{"nice": -1}"#).contains("out of range 0…19"))
        #expect(error(json: #"{"uploadLimit": "100"}"#).contains("below the smallest allowed 1024 bytes"))
        #expect(error(json: #"{"downloadLimit": "fast"}"#).contains("'fast' is not a size"))
        #expect(error(json: #"{"memoryLimit": "10k"}"#).contains("key \"memoryLimit\""))
        #expect(error(json: #"{"idleOnlyMinutes": 0}"#).contains("key \"idleOnlyMinutes\""))
        #expect(error(json: #"{"acOnly": "maybe"}"#).contains("'maybe' is not true or false"))
        #expect(error(json: #"{"acOnly": 2}"#).contains("key \"acOnly\""))
        #expect(error(json: #"{"hours": "9-9"}"#).contains("'9-9' is not an hour range"))
        #expect(error(json: #"{"hours": [9, 17]}"#).contains("an array or object is not allowed"))
        #expect(error(json: #"{"dailyDataCap": 0}"#).contains("key \"dailyDataCap\""))
        #expect(error(json: #"{"backoffCap": 0.5}"#).contains("key \"backoffCap\": 0.5 is too small"))
        #expect(error(json: #"{"maxWait": "soon"}"#).contains("'soon' is not a duration"))
        let typo = error(json: #"{"cpu_limit": 50}"#)
        #expect(typo.contains("unknown key \"cpu_limit\"; did you mean \"cpuLimit\"?"), "\(typo)")
        #expect(typo.contains("the keys are threads, cpuLimit, nice"))
        #expect(error(json: #"{"threads": 2"#).contains("not one valid JSON object"))
        #expect(error(json: #"[1, 2]"#).contains("not one valid JSON object"))
    }

    @Test func nullSwitchesANullableSettingOff() throws {
        var s = PeerSettings()
        try s.apply(PeerConfigLayer(
            source: .flags, values: [.uploadLimit: "1M", .hours: "9-17", .idleOnlyMinutes: "5"]))
        #expect(s.limits.uploadBytesPerSecond == 1_000_000 && s.suspend.hours != nil)
        try s.apply(try PeerConfigFile.layer(json: Data(#"{"uploadLimit": null, "hours": "none"}"#.utf8), path: "f"))
        try s.apply(PeerConfigLayer(source: .environment, values: [.idleOnlyMinutes: "off"]))
        #expect(s.limits.uploadBytesPerSecond == nil && s.suspend.hours == nil && s.suspend.idleOnlyMinutes == nil)
    }

    @Test func environmentAndFlagErrorsUseTheirOwnSpelling() {
        var s = PeerSettings()
        #expect(PeerConfigKey.cpuLimit.environmentName == "CROWDTRAIN_CPU_LIMIT")
        #expect(PeerConfigKey.idleOnlyMinutes.environmentName == "CROWDTRAIN_IDLE_ONLY_MINUTES")
        #expect(PeerConfigKey.dailyDataCap.flag == "--daily-data-cap")
        #expect { try s.apply(PeerConfigFile.environmentLayer(["CROWDTRAIN_NICE": "x"])) } throws: {
            "\($0)".hasPrefix("CROWDTRAIN_NICE: 'x' is not a whole number") && "\($0)".contains("CROWDTRAIN_NICE=10")
        }
        #expect { try s.apply(PeerConfigLayer(source: .flags, values: [.memoryLimit: "lots"])) } throws: {
            "\($0)".hasPrefix("--memory-limit: 'lots' is not a size") && "\($0)".contains("--memory-limit 2G")
        }
    }

    @Test func precedenceIsFlagsThenEnvironmentThenFileThenDefaults() throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(#"{"threads": 2, "cpuLimit": 30, "nice": 12, "acOnly": true}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/peer.json"))
        let env = ["CROWDTRAIN_CPU_LIMIT": "40", "CROWDTRAIN_NICE": "14", "CROWDTRAIN_HOURS": "", "PATH": "/bin"]
        let flags = PeerConfigLayer(source: .flags, values: [.nice: "16"])
        let s = try PeerConfigFile.resolve(directory: dir, environment: env, flags: flags)
        #expect(s.threads == 2)  // file
        #expect(s.limits.cpuLimitPercent == 40)  // environment over file
        #expect(s.limits.nice == 16)  // flag over environment and file
        #expect(s.suspend.acOnly == true && s.suspend.hours == nil)  // empty variable ignored
        #expect(s.maxWait == 300)  // default

        // --config beats CROWDTRAIN_PEER_CONFIG beats P/peer.json; an explicit file must exist.
        try Data(#"{"threads": 5}"#.utf8).write(to: URL(fileURLWithPath: dir + "/other.json"))
        try Data(#"{"threads": 6}"#.utf8).write(to: URL(fileURLWithPath: dir + "/third.json"))
        let viaEnv = ["CROWDTRAIN_PEER_CONFIG": dir + "/third.json"]
        #expect(try PeerConfigFile.resolve(directory: dir, environment: viaEnv, flags: flags).threads == 6)
        let explicit = try PeerConfigFile.resolve(
            directory: dir, configPath: dir + "/other.json", environment: viaEnv, flags: flags)
        #expect(explicit.threads == 5)
        #expect { try PeerConfigFile.resolve(directory: dir, configPath: dir + "/nope.json", environment: [:],
                                             flags: flags) } throws: { "\($0)".contains("cannot read the config file") }
        // No peer.json at all: defaults.
        try FileManager.default.removeItem(atPath: dir + "/peer.json")
        let none = PeerConfigLayer(source: .flags)
        #expect(try PeerConfigFile.resolve(directory: dir, environment: [:], flags: none) == PeerSettings())
    }

    @Test func theExampleFileParsesAndDocumentsEveryKey() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Config/peer.example.json").standardizedFileURL.path
        let data = try #require(FileManager.default.contents(atPath: path), "missing \(path)")
        let layer = try PeerConfigFile.layer(json: data, path: path)
        #expect(Set(layer.values.keys) == Set(PeerConfigKey.allCases))
        var s = PeerSettings()
        try s.apply(layer)
        try s.limits.validate()
        let text = String(decoding: data, as: UTF8.self)
        for key in PeerConfigKey.allCases {
            #expect(text.contains("\"_\(key.rawValue)\""), "no comment for \(key.rawValue)")
            #expect(text.contains(key.environmentName), "no environment name for \(key.rawValue)")
            #expect(text.contains(key.flag), "no flag for \(key.rawValue)")
        }
    }

    @Test func cacheBytesHasEverySpellingADefaultAndAFloor() throws {
        #expect(PeerSettings().cacheBytes == 2_000_000_000)
        #expect(PeerSettings().runConfig().cacheBytes == 2_000_000_000)
        #expect(try settings(json: #"{"cacheBytes": "500M"}"#).runConfig().cacheBytes == 500_000_000)
        #expect(PeerConfigKey.cacheBytes.environmentName == "CROWDTRAIN_CACHE_BYTES")
        #expect(PeerConfigKey.cacheBytes.flag == "--cache-bytes")
        var s = PeerSettings()
        try s.apply(PeerConfigFile.environmentLayer(["CROWDTRAIN_CACHE_BYTES": "10Gi"]))
        #expect(s.cacheBytes == 10 << 30)
        #expect(error(json: #"{"cacheBytes": "100k"}"#).contains("below the smallest allowed 1048576 bytes"))
        #expect(error(json: #"{"cacheBytes": null}"#).contains("a value is required"))
    }

    @Test func summaryNamesEverySetting() throws {
        let s = try settings(json: #"{"threads": 2, "cpuLimit": 50, "uploadLimit": "200k", "hours": "22-7"}"#)
        #expect(s.summary == "threads 2, cpu 50%, nice 10, upload 200.0 kB/s, download unlimited, memory unlimited; "
            + "hours 22-7")
        #expect(PeerSettings().summary.hasSuffix("; always"))
    }
}
