import CrowdClient
import CrowdProtocol
import Testing

@testable import CrowdPeer

/// A volunteer must be able to tell "my network is down" from "the coordinator is up and failing".
@Suite struct CoordinatorErrorTextTests {
    @Test func noAnswerIsUnreachableAnErrorAnswerIsNot() {
        let transport = CoordinatorClientError(status: nil, code: "transport", message: "connection refused")
        let internalError = CoordinatorClientError(status: 500, code: "internal_error", message: "boom")
        let busy = CoordinatorClientError(status: 429, code: "rate_limited", message: "slow down")
        let refused = CoordinatorClientError(status: 422, code: "wrong_codec", message: "int8 expected")
        #expect(PeerSession.describe(transport).contains("unreachable"))
        let five = PeerSession.describe(internalError)
        #expect(five.contains("answered with an error") && five.contains("not a network problem") && !five.contains("unreachable"))
        #expect(PeerSession.describe(busy).contains("busy"))
        #expect(PeerSession.describe(refused).contains("refused") && !PeerSession.describe(refused).contains("unreachable"))
    }
}
