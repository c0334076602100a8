import CrowdProtocol
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

/// Thin JSON helpers over a HummingbirdTesting client.
struct APIClient {
    let client: any TestClientProtocol

    func call(
        _ method: HTTPRequest.Method, _ uri: String, token: String? = nil, body: Data? = nil
    ) async throws -> TestResponse {
        var headers = HTTPFields()
        if let token { headers[.authorization] = "Bearer \(token)" }
        return try await client.execute(
            uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(bytes: $0) })
    }

    func json<T: Encodable>(_ method: HTTPRequest.Method, _ uri: String, _ value: T, token: String? = nil)
        async throws -> TestResponse
    {
        try await call(method, uri, token: token, body: try JSONEncoder().encode(value))
    }

    func join(_ invite: String, _ name: String) async throws -> JoinResponse {
        let r = try await json(.post, APIPath.join, JoinRequest(invite: invite, name: name))
        guard r.status == .ok else { throw TestFailure("join failed: \(r.status) \(text(r))") }
        return try decode(JoinResponse.self, r)
    }

    func lease(_ token: String) async throws -> Lease {
        let r = try await json(.post, APIPath.lease, LeaseRequest(threads: 1), token: token)
        guard r.status == .ok, let lease = try decode(LeaseResponse.self, r).lease else {
            throw TestFailure("no lease: \(r.status) \(text(r))")
        }
        return lease
    }

    func bytes(_ uri: String, token: String) async throws -> Data {
        let r = try await call(.get, uri, token: token)
        guard r.status == .ok else { throw TestFailure("GET \(uri): \(r.status) \(text(r))") }
        return Data(r.body.readableBytesView)
    }

    func upload(_ lease: Lease, _ body: Data, token: String) async throws -> TestResponse {
        try await call(.put, APIPath.update(lease.leaseID), token: token, body: body)
    }

    func status() async throws -> CampaignStatus {
        try decode(CampaignStatus.self, try await call(.get, APIPath.status))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

func decode<T: Decodable>(_ type: T.Type, _ r: TestResponse) throws -> T {
    try JSONDecoder().decode(T.self, from: Data(r.body.readableBytesView))
}

func text(_ r: TestResponse) -> String { String(decoding: r.body.readableBytesView, as: UTF8.self) }

/// The `code` of an `APIErrorBody` response, or nil if the body is not one.
func errorCode(_ r: TestResponse) -> String? { try? decode(APIErrorBody.self, r).error.code }

/// Expects an API refusal: the HTTP status and the stable error code (`APIErrorCode`) of the body.
func expectRejected(
    _ r: TestResponse, _ status: HTTPResponse.Status, _ code: APIErrorCode,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    #expect(r.status == status, "status \(r.status): \(text(r))", sourceLocation: sourceLocation)
    #expect(errorCode(r) == code.rawValue, "body \(text(r))", sourceLocation: sourceLocation)
}
