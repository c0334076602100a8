import CrowdProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// An API failure with a stable code; rendered as `APIErrorBody` JSON with the code's HTTP status.
public struct APIError: Error, HTTPResponseError, CustomStringConvertible, Sendable {
    public let code: APIErrorCode
    public let message: String
    /// Seconds for the `Retry-After` header (rate limits).
    public let retryAfter: Int?

    public init(_ code: APIErrorCode, _ message: String, retryAfter: Int? = nil) {
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    /// The HTTP status of each code.
    public var status: HTTPResponse.Status {
        switch code {
        case .unauthorized: .unauthorized
        case .invalidInvite, .revoked, .suspended, .shardNotLeased: .forbidden
        case .inviteUsed, .nameTaken, .leaseExpired, .staleUpdate, .duplicate, .duplicateUpdate, .noChallenge: .conflict
        case .noSuchLease, .notFound: .notFound
        case .wrongRound, .wrongBaseModel, .schemaMismatch, .elementCountMismatch, .corruptUpdate, .nonFiniteValues,
            .wrongCodec, .updateNormTooLarge, .missingCommitment, .commitmentMismatch:
            .unprocessableContent
        case .bodyTooLarge: .contentTooLarge
        case .badRequest, .invalidName: .badRequest
        case .internalError: .internalServerError
        case .unavailable: .serviceUnavailable
        case .rateLimited: .tooManyRequests
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(try JSONEncoder().encode(APIErrorBody(code: code, message: message)))
        var headers = HTTPFields()
        headers[.contentType] = ProtocolHeaders.json
        if code == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        return Response(status: status, headers: headers, body: .init(byteBuffer: buffer))
    }
}
