import Foundation
import Testing
@testable import CrowdPeer

/// The systemd units: what `peer install-service` generates, that the shipped `Config/` units are the same
/// text, and that all of them pass `systemd-analyze verify` with no warning.
@Suite(.serialized)
struct PeerServiceUnitTests {
    static let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Config").standardizedFileURL.path

    /// The shipped user unit: `%h` is the volunteer's home.
    static let shippedUser = PeerServiceUnit(
        kind: .user, binary: "/usr/local/bin/crowdtrain", directory: "%h/.crowdtrain/peer",
        summary: "CrowdTrain volunteer peer")
    /// The shipped system template: `crowdtrain-peer@NAME` runs the peer in /var/lib/crowdtrain/NAME.
    static let shippedSystem = PeerServiceUnit(
        kind: .system(user: "crowdtrain", stateDirectory: "crowdtrain/%i"), binary: "/usr/local/bin/crowdtrain",
        directory: "/var/lib/crowdtrain/%i", summary: "CrowdTrain volunteer peer %i")

    @Test func userUnitRunsTheBinaryOnTheDirectoryWithTheSandbox() {
        let text = PeerServiceUnit(kind: .user, binary: "/opt/ct/crowdtrain", directory: "/home/al/.crowdtrain/p").text
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            "ExecStart=/opt/ct/crowdtrain peer run --dir /home/al/.crowdtrain/p", "ExecReload=/bin/kill -HUP $MAINPID",
            "KillSignal=SIGTERM", "TimeoutStopSec=30", "Restart=on-failure", "NoNewPrivileges=yes", "PrivateTmp=yes",
            "ProtectSystem=strict", "ProtectHome=read-only", "ReadWritePaths=/home/al/.crowdtrain/p",
            "IOSchedulingClass=idle", "Nice=10", "CPUWeight=20", "MemoryMax=75%", "WantedBy=default.target",
        ] {
            #expect(lines.contains(line), "missing \(line)")
        }
        #expect(!text.contains("User="))
        let system = PeerServiceUnit(
            kind: .system(user: "ct", stateDirectory: nil), binary: "/usr/bin/crowdtrain", directory: "/srv/peer").text
        #expect(system.contains("\nUser=ct\nGroup=ct\n") && system.contains("ProtectHome=yes\n"))
        #expect(system.contains("WantedBy=multi-user.target") && system.contains("After=network-online.target"))
        let binaryAtHome = PeerServiceUnit(kind: .user, binary: "/home/al/bin/crowdtrain", directory: "/srv/peer").text
        #expect(binaryAtHome.contains("ProtectHome=read-only\n"), "the binary must stay visible")
    }

    @Test func pathsThatAUnitWouldMisreadAreRefused() throws {
        try PeerServiceUnit.check(path: "/home/al/.crowdtrain/fmnist-1", what: "peer directory")
        for bad in ["relative/dir", "/home/al/my peer", "/home/al/100%", "/a/$HOME", "/a/\"q\"", "/a\\b", "/a\nb"] {
            #expect { try PeerServiceUnit.check(path: bad, what: "peer directory") } throws: {
                "\($0)".contains("peer directory")
            }
        }
    }

    @Test func unitDirectoryFollowsXDG() {
        #expect(PeerServiceUnit.defaultDirectory(system: false, environment: [:], home: "/home/al")
            == "/home/al/.config/systemd/user")
        #expect(PeerServiceUnit.defaultDirectory(system: false, environment: ["XDG_CONFIG_HOME": "/x"], home: "/h")
            == "/x/systemd/user")
        #expect(PeerServiceUnit.defaultDirectory(system: true, environment: [:], home: "/h") == "/etc/systemd/system")
    }

    @Test func shippedUnitsAreTheGeneratedText() throws {
        let user = try String(contentsOfFile: Self.config + "/crowdtrain-peer.service", encoding: .utf8)
        #expect(user == Self.shippedUser.text)
        let system = try String(contentsOfFile: Self.config + "/crowdtrain-peer@.service", encoding: .utf8)
        #expect(system == Self.shippedSystem.text)
    }

    @Test func generatedAndShippedUnitsPassSystemdAnalyzeVerify() throws {
        let dir = NSTemporaryDirectory() + "crowdtrain-units-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/runtime", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // verify checks that ExecStart's program exists: point it at a real executable.
        let real = "/bin/true"
        let generated = PeerServiceUnit(kind: .user, binary: real, directory: dir).text
        try generated.write(toFile: dir + "/crowdtrain-peer.service", atomically: true, encoding: .utf8)
        try verify(["--user", "verify", dir + "/crowdtrain-peer.service"], runtime: dir + "/runtime")

        let generatedSystem = PeerServiceUnit(kind: .system(user: "crowdtrain", stateDirectory: nil), binary: real,
                                              directory: dir).text
        try FileManager.default.createDirectory(atPath: dir + "/system", withIntermediateDirectories: true)
        try generatedSystem.write(toFile: dir + "/system/crowdtrain-peer.service", atomically: true, encoding: .utf8)
        try verify(["verify", dir + "/system/crowdtrain-peer.service"], runtime: dir + "/runtime")

        let shippedUser = try String(contentsOfFile: Self.config + "/crowdtrain-peer.service", encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/shipped", withIntermediateDirectories: true)
        try shippedUser.replacingOccurrences(of: "/usr/local/bin/crowdtrain", with: real)
            .write(toFile: dir + "/shipped/crowdtrain-peer.service", atomically: true, encoding: .utf8)
        try verify(["--user", "verify", dir + "/shipped/crowdtrain-peer.service"], runtime: dir + "/runtime")
        // A template is verified through an instance name; systemd reads crowdtrain-peer@.service.
        let template = try String(contentsOfFile: Self.config + "/crowdtrain-peer@.service", encoding: .utf8)
        try template.replacingOccurrences(of: "/usr/local/bin/crowdtrain", with: real)
            .write(toFile: dir + "/shipped/crowdtrain-peer@.service", atomically: true, encoding: .utf8)
        try verify(["verify", dir + "/shipped/crowdtrain-peer@fmnist.service"], runtime: dir + "/runtime")

        // The check can fail: a typo in a setting is reported.
        try generated.replacingOccurrences(of: "Nice=10", with: "Nice=ten")
            .write(toFile: dir + "/bad.service", atomically: true, encoding: .utf8)
        let bad = try run(["--user", "verify", dir + "/bad.service"], runtime: dir + "/runtime")
        #expect(bad.output.contains("nice priority 'ten'"), "\(bad.output)")
    }

    /// Runs `systemd-analyze ARGS`; fails the test on a non-zero exit or any output (warnings).
    func verify(_ arguments: [String], runtime: String) throws {
        let r = try run(arguments, runtime: runtime)
        #expect(r.status == 0 && r.output.isEmpty, "systemd-analyze \(arguments.joined(separator: " ")): \(r.output)")
    }

    func run(_ arguments: [String], runtime: String) throws -> (status: Int32, output: String) {
        let tool = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
        let path = try #require(tool, "systemd-analyze is missing: apt-get install systemd (.ci/setup installs it)")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["XDG_RUNTIME_DIR"] = runtime  // --user needs one, even offline
        env["SYSTEMD_LOG_COLOR"] = "0"
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
