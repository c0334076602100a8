import Foundation
import Testing

/// `crowdtrain bench load` end to end, small: a coordinator process and 20 simulated peers over TLS, every
/// endpoint exercised, nothing refused, and the figures the benchmark promises present.
@Suite(.timeLimit(.minutes(3)))
struct BenchLoadSmokeTests {
    @Test func twentySimulatedPeersJoinLeaseUploadAndPollWithoutErrors() async throws {
        let text = try await CrowdTrainChild.output(
            of: ["bench", "load", "--peers", "20", "--seconds", "3", "--interval", "0.5", "--per-round", "5", "--json"],
            seconds: 150)
        let line = try #require(text.split(separator: "\n").last(where: { $0.hasPrefix("{") }), "\(text)")
        let report = try #require(
            try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
        #expect(report["errors"] as? Int == 0, "\(line)")
        let requests = try #require(report["requests"] as? [String: Int], "\(line)")
        for endpoint in ["join", "status", "lease", "model", "upload"] {
            #expect((requests[endpoint] ?? 0) > 0, "no \(endpoint) requests: \(line)")
        }
        #expect(requests["join"] == 20)
        let p99 = try #require(report["p99_ms"] as? [String: Double], "\(line)")
        #expect(p99.keys.contains("status") && p99.keys.contains("upload"))
        #expect((report["rss_mb"] as? Double ?? 0) > 0 && (report["fds"] as? Int ?? 0) > 20, "\(line)")
        #expect((report["rounds_completed"] as? Int ?? 0) >= 1, "\(line)")
    }
}
