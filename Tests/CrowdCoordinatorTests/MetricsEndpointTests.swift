import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import Foundation
import HummingbirdTesting
import Testing

@testable import CrowdCoordinator

/// `GET /metrics`: valid Prometheus text whose counters equal the database-derived `/v1/status` figures.
@Suite struct MetricsEndpointTests {
    @Test func metricsParseAndMatchTheDatabaseAcrossARestart() async throws {
        let tc = try TestCampaign.make { $0.peersPerRound = 1 }
        defer { tc.remove() }
        let app = try tc.app()
        let invite = try tc.invite(1)[0]
        let (status, metrics) = try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            let peer = try await api.join(invite, "alice")
            let lease = try await api.lease(peer.credential)
            let base = try await api.bytes(APIPath.model(lease.modelVersion), token: peer.credential)
            let n = try Checkpoint.decode(base).params.count
            let stale = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base, round: 7)
            #expect(try await api.upload(lease, stale, token: peer.credential).status != .ok)
            let good = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
            #expect(try await api.upload(lease, good, token: peer.credential).status == .ok)
            await app.coordinator.tickLogged()
            await app.coordinator.waitForEvaluations()  // evaluation (and its histogram) follows the commit
            let status = try await api.status()
            let r = try await api.call(.get, "/metrics")
            #expect(r.status == .ok)
            #expect(r.headers[.contentType] == DashboardRoutes.prometheusContentType)
            return (status, try PrometheusText.parse(text(r)))
        }
        #expect(status.roundsCompleted == 1 && status.updatesAccepted == 1 && status.updatesRejected == 1)
        #expect(metrics.value("crowdtrain_updates_accepted_total") == Double(status.updatesAccepted))
        #expect(metrics.value("crowdtrain_updates_rejected_total", ["reason": "wrong_round"]) == 1)
        #expect(metrics.sum("crowdtrain_updates_rejected_total") == Double(status.updatesRejected))
        #expect(metrics.value("crowdtrain_updates_rejected_total", ["reason": "wrong_base_model"]) == 0)
        #expect(metrics.value("crowdtrain_rounds_completed_total") == Double(status.roundsCompleted))
        #expect(metrics.value("crowdtrain_samples_trained_total") == Double(status.samplesTrained))
        #expect(metrics.value("crowdtrain_bytes_in_total") == Double(status.bytesIn))
        #expect(metrics.value("crowdtrain_bytes_out_total") == Double(status.bytesOut))
        #expect(metrics.value("crowdtrain_peers_online") == 1)
        #expect(metrics.types["crowdtrain_updates_accepted_total"] == "counter")
        #expect(metrics.types["crowdtrain_peers_online"] == "gauge")
        #expect(metrics.types["crowdtrain_aggregation_seconds"] == "histogram")
        #expect(metrics.value("crowdtrain_aggregation_seconds_count") == 1)
        #expect(metrics.value("crowdtrain_evaluation_seconds_count") == 1)
        #expect(metrics.value("crowdtrain_evaluation_seconds_bucket", ["le": "+Inf"]) == 1)

        // A restarted coordinator exports the database totals on its first scrape; histograms start empty.
        let restarted = try tc.app()
        let again = try await restarted.application.test(.router) { client in
            try PrometheusText.parse(text(try await APIClient(client: client).call(.get, "/metrics")))
        }
        #expect(again.value("crowdtrain_updates_accepted_total") == 1)
        #expect(again.value("crowdtrain_updates_rejected_total", ["reason": "wrong_round"]) == 1)
        #expect(again.value("crowdtrain_rounds_completed_total") == 1)
        #expect(again.value("crowdtrain_bytes_in_total") == Double(status.bytesIn))
        #expect(again.value("crowdtrain_aggregation_seconds_count") == 0)
    }

    @Test func parserRejectsMalformedLines() {
        #expect(throws: TestFailure.self) { try PrometheusText.parse("metric_without_value\n") }
        #expect(throws: TestFailure.self) { try PrometheusText.parse("m{le=\"1\" 3\n") }
        #expect(throws: TestFailure.self) { try PrometheusText.parse("# TYPE m widget\n") }
        let ok = try? PrometheusText.parse("# HELP m a b\n# TYPE m counter\nm{a=\"x\",b=\"y\"} 2.5\n")
        #expect(ok?.value("m", ["a": "x", "b": "y"]) == 2.5)
    }
}

/// A minimal Prometheus text-format (0.0.4) parser: `# HELP`/`# TYPE` comments and `name{labels} value` samples.
struct PrometheusText {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]

    static func parse(_ text: String) throws -> PrometheusText {
        var out = PrometheusText()
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(raw)
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                guard parts.count >= 3, ["HELP", "TYPE"].contains(parts[1]), isName(parts[2]) else {
                    throw TestFailure("bad comment line: \(line)")
                }
                if parts[1] == "TYPE" {
                    let kinds = ["counter", "gauge", "histogram", "summary", "untyped"]
                    guard parts.count == 4, kinds.contains(parts[3]) else { throw TestFailure("bad TYPE: \(line)") }
                    out.types[parts[2]] = parts[3]
                }
                continue
            }
            out.samples.append(try sample(line))
        }
        return out
    }

    static func sample(_ line: String) throws -> Sample {
        var name = "", labels: [String: String] = [:], rest = Substring(line)
        if let brace = line.firstIndex(of: "{") {
            name = String(line[..<brace])
            guard let close = line.lastIndex(of: "}"), close > brace else { throw TestFailure("unclosed {: \(line)") }
            for pair in line[line.index(after: brace)..<close].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2, isName(String(kv[0])), kv[1].count >= 2, kv[1].first == "\"", kv[1].last == "\""
                else { throw TestFailure("bad label in: \(line)") }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            rest = line[line.index(after: close)...]
        } else {
            guard let space = line.firstIndex(of: " ") else { throw TestFailure("no value: \(line)") }
            name = String(line[..<space])
            rest = line[space...]
        }
        let fields = rest.split(separator: " ")
        guard isName(name), (1...2).contains(fields.count), let value = Double(fields[0]) else {
            throw TestFailure("bad sample line: \(line)")
        }
        return Sample(name: name, labels: labels, value: value)
    }

    static func isName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first == "_" || first == ":" || first.properties.isAlphabetic
        else { return false }
        return s.unicodeScalars.allSatisfy { $0 == "_" || $0 == ":" || ($0.isASCII && $0.properties.isAlphabetic)
            || ("0"..."9").contains($0) }
    }

    /// The value of the one sample `name` with exactly `labels`, or nil.
    func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let hits = samples.filter { $0.name == name && $0.labels == labels }
        return hits.count == 1 ? hits[0].value : nil
    }

    /// Sum over every label set of `name`.
    func sum(_ name: String) -> Double { samples.filter { $0.name == name }.reduce(0) { $0 + $1.value } }
}
