import AsyncHTTPClient
import CrowdProtocol
import Foundation
import NIOCore

extension CoordinatorClient {
    /// `GET /v1/models/{version}/manifest`: the signed manifest (not yet verified: the peer checks it with the key it
    /// pinned at join, `ManifestVerifier`).
    public func manifest(version: String) async throws -> SignedManifest {
        try await json(.GET, APIPath.manifest(version), body: Optional<Int>.none, auth: true)
    }

    /// `GET /v1/blobs/{digest}` from byte `offset` on, handed over as it arrives (so a cut connection keeps what
    /// came, and the next call resumes with `Range`).
    ///
    /// - Parameters:
    ///   - offset: bytes already held; above 0 the request carries `Range: bytes=offset-`.
    ///   - total: the blob's size from the manifest; the answer may not exceed it.
    ///   - begin: called once before any byte with where the body starts: `offset` for a 206 whose `Content-Range`
    ///     starts there, 0 when the server sent the whole blob (200); anything else is refused.
    ///   - chunk: each piece of the body in order.
    /// - Throws: `CoordinatorClientError` for transport failures and non-2xx answers; `code == "bad_range"` for a
    ///   206 that is not the range asked for or a body longer than the blob.
    public func blob(
        digest: String, from offset: Int, total: Int, begin: (Int) throws -> Void, chunk: (ByteBuffer) throws -> Void
    ) async throws {
        let path = APIPath.blob(digest)
        let headers = offset > 0 ? [("Range", "bytes=\(offset)-")] : []
        let (request, deadline) = try request(.GET, path, body: nil, auth: true, headers: headers)
        do {
            let response = try await http.execute(request, timeout: deadline)
            let status = Int(response.status.code)
            guard (200..<300).contains(status) else {
                // The error's first 64 KiB are enough to explain it; a longer (or endless) body is not read on.
                var buffer = ByteBuffer()
                for try await piece in response.body {
                    var piece = piece
                    buffer.writeBuffer(&piece)
                    if buffer.readableBytes >= 65_536 { break }
                }
                throw Self.failure(
                    status: status, retryAfterHeader: response.headers.first(name: "retry-after"),
                    data: Data(buffer.readableBytesView))
            }
            let start: Int
            if status == 206 {
                let expected = "bytes \(offset)-\(total - 1)/\(total)"
                guard response.headers.first(name: "content-range") == expected else {
                    throw CoordinatorClientError(
                        status: status, code: "bad_range",
                        message: "\(path) answered range \(response.headers.first(name: "content-range") ?? "none"), not \(expected)")
                }
                start = offset
            } else {
                start = 0
            }
            try begin(start)
            var received = start
            for try await piece in response.body {
                received += piece.readableBytes
                guard received <= total else {
                    throw CoordinatorClientError(
                        status: status, code: "bad_range", message: "\(path) sent more than the blob's \(total) bytes")
                }
                try chunk(piece)
                try await download.acquire(piece.readableBytes)
            }
        } catch let error as CoordinatorClientError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            if error is PeerSideError { throw error }
            throw CoordinatorClientError(
                status: nil, code: "transport", message: "GET \(baseURL)\(path) failed: \(Self.describe(error))")
        }
    }
}

/// Marks errors a `blob` sink throws (a full disk, a stop): passed through as they are, not turned into
/// transport errors.
public protocol PeerSideError: Error {}
