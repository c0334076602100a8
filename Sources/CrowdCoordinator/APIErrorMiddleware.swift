import CrowdProtocol
import Hummingbird
import Logging
import NIOCore

/// Turns every error into an `APIError`, so each non-2xx response is an `APIErrorBody` with a stable code.
public struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as HTTPError {
            throw Self.translate(error)
        } catch is NIOTooManyBytesError {
            throw APIError(.bodyTooLarge, "request body too large")
        } catch is DecodingError {
            throw APIError(.badRequest, "the JSON body does not match the expected request type")
        } catch {
            context.logger.error("request failed", metadata: ["error": "\(error)", "path": "\(request.uri.path)"])
            throw APIError(.internalError, "internal error; try again later")
        }
    }

    static func translate(_ e: HTTPError) -> APIError {
        let message = e.body ?? e.status.reasonPhrase
        switch e.status.code {
        case 404: return APIError(.notFound, e.body ?? "no such endpoint")
        case 413: return APIError(.bodyTooLarge, message)
        case 401: return APIError(.unauthorized, message)
        case 400..<500: return APIError(.badRequest, message)
        case 503: return APIError(.unavailable, message)
        default: return APIError(.internalError, message)
        }
    }
}
