import Foundation
import Testing

/// `crowdtrain bench chaos` with a few kills against the debug binary: coordinator and peers are real processes
/// SIGKILLed at seeded instants; every invariant must hold.
@Suite struct ChaosTests {
    @Test(.timeLimit(.minutes(3)))
    func coordinatorAndPeerKillsLoseNothingAndCountNothingTwice() throws {
        let dir = NSTemporaryDirectory() + "crowdtrain-chaos-test-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try CrowdTrainBinary.path())
        process.arguments = [
            "bench", "chaos", "--kills", "3", "--peer-kills", "2", "--seed", "1", "--steps", "5",
            "--max-delay", "1",
            "--recovery-limit", "30", "--dir", dir, "--json",
        ]
        let out = Pipe()
        let err = FileHandle(forWritingAtPath: "/dev/null")
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // The harness stops its own children on SIGTERM; never leave it running.
        defer {
            if process.isRunning {
                process.terminate()
                process.waitUntilExit()
            }
        }
        let deadline = Date().addingTimeInterval(150)
        while process.isRunning && Date() < deadline { usleep(100_000) }
        #expect(!process.isRunning, "bench chaos did not finish within 150 s")
        guard !process.isRunning else { return }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let line = try #require(text.split(separator: "\n").last, "no output")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        #expect(process.terminationStatus == 0, "\(line)")
        #expect(json["kills"] as? Int == 3 && json["recovered"] as? Int == 3, "\(line)")
        #expect(json["lost_acked"] as? Int == 0 && json["double_counted"] as? Int == 0, "\(line)")
        #expect(json["audit_failures"] as? Int == 0 && json["audits"] as? Int == 4, "\(line)")
        #expect(json["peer_kills"] as? Int == 2 && json["peers_recovered"] as? Int == 2, "\(line)")
        #expect((json["max_leases_lost_per_peer_kill"] as? Int ?? 99) <= 1, "\(line)")
        #expect(json["peers_resumed"] as? Int == 3, "\(line)")
        #expect((json["max_recovery_s"] as? Double ?? 99) <= 30, "\(line)")
        #expect((json["updates_accepted"] as? Int ?? 0) > 0 && json["ok"] as? Bool == true, "\(line)")
    }
}
