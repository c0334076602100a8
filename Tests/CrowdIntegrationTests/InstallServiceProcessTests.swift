import CrowdPeer
import Foundation
import Testing

/// `crowdtrain peer install-service` as a volunteer runs it: the unit it writes names the peer directory and
/// binary by absolute path, passes `systemd-analyze verify`, and the next steps are printed.
@Suite(.serialized, .timeLimit(.minutes(1)))
struct InstallServiceProcessTests {
    @Test func writesAVerifiedUserUnitAndSaysWhatToRunNext() async throws {
        // Not under /tmp (install-service refuses that: the service's PrivateTmp would hide it), and not next to
        // the binary either, since a checkout may itself live under /tmp: the user's cache directory.
        let base = FileManager.default.homeDirectoryForCurrentUser.path
            + "/.cache/crowdtrain-tests/install-service-\(UUID().uuidString)"
        let peer = base + "/peer", units = base + "/units"
        try FileManager.default.createDirectory(atPath: peer, withIntermediateDirectories: true)
        // systemd-analyze --user needs a runtime directory with a short path (socket addresses are limited).
        let runtime = NSTemporaryDirectory() + "ct-rt-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer {
            try? FileManager.default.removeItem(atPath: base)
            try? FileManager.default.removeItem(atPath: runtime)
        }

        let notJoined = try await CrowdTrainChild.output(of: ["peer", "install-service", "--dir", peer])
        #expect(notJoined.contains("is not a peer directory (no credential.json); join first"), "\(notJoined)")

        FileManager.default.createFile(atPath: peer + "/credential.json", contents: Data("{}".utf8))
        let out = try await CrowdTrainChild.output(of: [
            "peer", "install-service", "--dir", peer, "--unit-dir", units, "--binary", "/bin/true",
        ])
        let file = units + "/crowdtrain-peer.service"
        #expect(out.contains("wrote \(file)"), "\(out)")
        for step in ["systemctl --user daemon-reload", "systemctl --user enable --now crowdtrain-peer",
                     "loginctl enable-linger", "journalctl --user -u crowdtrain-peer", "systemctl --user reload"] {
            #expect(out.contains(step), "missing '\(step)' in \(out)")
        }
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text == PeerServiceUnit(kind: .user, binary: "/bin/true", directory: peer).text)
        #expect(text.contains("ExecStart=/bin/true peer run --dir \(peer)\n"))
        #expect(text.contains("ReadWritePaths=\(peer)\n"))

        let printed = try await CrowdTrainChild.output(of: [
            "peer", "install-service", "--dir", peer, "--print", "--binary", "/bin/true",
        ])
        #expect(printed + "\n" == text)

        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: "/usr/bin/systemd-analyze")
        verify.arguments = ["--user", "verify", file]
        verify.environment = ProcessInfo.processInfo.environment.merging(["XDG_RUNTIME_DIR": runtime]) { $1 }
        let pipe = Pipe()
        verify.standardOutput = pipe
        verify.standardError = pipe
        try verify.run()
        let said = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        verify.waitUntilExit()
        #expect(verify.terminationStatus == 0 && said.isEmpty, "systemd-analyze verify: \(said)")
    }
}
