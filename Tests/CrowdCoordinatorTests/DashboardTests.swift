import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import Foundation
import HummingbirdTesting
import Testing

@testable import CrowdCoordinator

/// `GET /`: the campaign page renders progress, chart, leaderboard and rounds, and escapes peer names.
@Suite struct DashboardTests {
    @Test func dashboardShowsTheCampaignAndEscapesHostilePeerNames() async throws {
        let tc = try TestCampaign.make { $0.peersPerRound = 2 }
        defer { tc.remove() }
        let app = try tc.app()
        let invites = try tc.invite(2)
        let hostile = "<script>alert('x')</script>"
        let (html, contentType) = try await app.application.test(.router) { client in
            let api = APIClient(client: client)
            for (invite, name) in zip(invites, ["alice", hostile]) {
                let peer = try await api.join(invite, name)
                let lease = try await api.lease(peer.credential)
                let base = try await api.bytes(APIPath.model(lease.modelVersion), token: peer.credential)
                let n = try Checkpoint.decode(base).params.count
                let body = try envelope([Float](repeating: 0.01, count: n), lease: lease, base: base)
                #expect(try await api.upload(lease, body, token: peer.credential).status == .ok)
            }
            await app.coordinator.tickLogged()
            await app.coordinator.waitForEvaluations()  // evaluation runs after the round commits
            let r = try await api.call(.get, "/")
            #expect(r.status == .ok)
            return (text(r), r.headers[.contentType])
        }
        #expect(contentType == DashboardRoutes.htmlContentType)
        #expect(html.hasPrefix("<!DOCTYPE html>"))
        #expect(html.contains("<h1>test campaign</h1>"))
        #expect(html.contains("<meta http-equiv=\"refresh\" content=\"10\">"))
        #expect(html.contains("class=\"progress\"") && html.contains("class=\"fill\""))
        #expect(html.contains("<svg") && html.contains("<polyline"))
        // Rounds 0 and 1 are evaluated: two chart points.
        #expect(html.components(separatedBy: "<circle").count - 1 == 2)
        #expect(html.components(separatedBy: "<tr class=\"contributor\">").count - 1 == 2)
        #expect(html.contains("<td>alice</td>"))
        #expect(html.components(separatedBy: "<tr class=\"round\"><td>1</td>").count - 1 == 1)
        #expect(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"))
        #expect(!html.contains("<script"), "a peer name reached the page unescaped")
        #expect(!html.contains("src=") && !html.contains("<link"), "the page must not load external resources")
    }

    @Test func escapeCoversEveryMarkupCharacter() {
        #expect(HTMLEscape.text(#"a&b<c>d"e'f"#) == "a&amp;b&lt;c&gt;d&quot;e&#39;f")
        #expect(HTMLEscape.text("Zoë 🚀") == "Zoë 🚀")
    }

    @Test func progressBarWidthFollowsPercentFunded() throws {
        var status = try JSONDecoder().decode(CampaignStatus.self, from: Data(Self.statusJSON.utf8))
        status.percentFunded = 42.5
        let html = DashboardPage(status: status, contributors: [], recentRounds: []).render()
        #expect(html.contains("style=\"width:42.50%\""))
        #expect(html.contains("42.5% funded"))
        #expect(html.contains("no evaluations yet") && html.contains("no contributors yet"))
    }

    static let statusJSON = """
        {"name":"n","workload":"w","round":1,"roundsCompleted":0,"finished":false,"modelVersion":"abc",
        "goalSamples":100,"samplesTrained":0,"percentFunded":0,"peersOnline":0,"peersTotal":0,"samplesPerSecond":0,
        "evaluations":[],"updatesAccepted":0,"updatesRejected":0,"bytesIn":0,"bytesOut":0}
        """
}
