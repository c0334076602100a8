import CrowdProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The model distribution edge (Docs/Protocol.md "Model distribution"): signed manifests and immutable blobs, both
/// for authenticated peers, both answered from `ModelDistribution` without the coordinator actor.
///
/// Blobs are content-addressed, so their representation never changes: `ETag` is the quoted digest,
/// `If-None-Match` with it answers 304, and one `Range` (`bytes=a-b`, `bytes=a-`, `bytes=-n`) answers 206 with
/// `Content-Range`, or 416 when it starts past the end. Other Range forms (several ranges, other units) are
/// ignored, as RFC 9110 allows, and the whole blob is sent.
enum DistributionRoutes {
    static func register(on router: Router<CoordinatorRequestContext>, coordinator: Coordinator) {
        register(
            on: router, distribution: coordinator.distribution,
            authenticate: { _ = try coordinator.authenticate(authorization: $0) },
            served: { coordinator.served(bytes: $0) })
    }

    /// The routes over `distribution`: `authenticate` checks a request's `Authorization` header (throws `APIError`),
    /// `served` counts the body bytes sent.
    static func register(
        on router: Router<CoordinatorRequestContext>, distribution: ModelDistribution,
        authenticate: @escaping @Sendable (String?) throws -> Void, served: @escaping @Sendable (Int) async -> Void
    ) {
        router.get("/v1/models/:version/manifest") { request, context in
            try authenticate(request.headers[.authorization])
            let version = try context.parameters.require("version")
            guard let signed = distribution.manifest(version: version) else {
                throw APIError(
                    .notFound,
                    "model version \(version.prefix(16)) is not kept (the coordinator keeps its last "
                        + "\(distribution.keep) versions); ask for a new lease")
            }
            return try CoordinatorRoutes.json(signed)
        }
        router.get("/v1/blobs/:digest") { request, context in
            try authenticate(request.headers[.authorization])
            let digest = try context.parameters.require("digest")
            guard let blob = distribution.blob(digest: digest) else {
                throw APIError(.notFound, "no chunk or delta \(digest.prefix(16)) of a kept model version; fetch the manifest again")
            }
            let response = try respond(
                distribution: distribution, blob: blob, digest: digest, range: request.headers[.range],
                ifNoneMatch: request.headers[.ifNoneMatch])
            await served(response.bytes)
            return response.response
        }
    }

    /// Which part of a blob of `length` bytes a `Range` header asks for.
    enum RangeRequest: Equatable {
        /// No (usable) range: the whole blob.
        case whole
        case part(Range<Int>)
        /// Starts at or past the end (416).
        case unsatisfiable
    }

    /// Parses one `bytes=` range (RFC 9110 §14.1.2) against `length`.
    static func parseRange(_ header: String?, length: Int) -> RangeRequest {
        guard var spec = header?.trimmingCharacters(in: .whitespaces), spec.lowercased().hasPrefix("bytes=") else {
            return .whole
        }
        spec = String(spec.dropFirst(6)).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        func number(_ s: String) -> Int? {
            guard !s.isEmpty, s.count <= 18, s.utf8.allSatisfy({ (48...57).contains($0) }) else { return nil }
            return Int(s)
        }
        if first.isEmpty {
            guard let n = number(last) else { return .whole }
            guard n > 0, length > 0 else { return .unsatisfiable }
            return .part(max(0, length - n)..<length)
        }
        guard let a = number(first) else { return .whole }
        guard a < length else { return .unsatisfiable }
        if last.isEmpty { return .part(a..<length) }
        guard let b = number(last), b >= a else { return .whole }
        return .part(a..<(min(b, length - 1) + 1))
    }

    static func respond(
        distribution: ModelDistribution, blob: ModelDistribution.Blob, digest: String, range: String?,
        ifNoneMatch: String?
    ) throws -> (response: Response, bytes: Int) {
        var headers = HTTPFields()
        let etag = "\"\(digest)\""
        headers[.eTag] = etag
        headers[.acceptRanges] = "bytes"
        headers[.cacheControl] = "private, max-age=31536000, immutable"
        if let ifNoneMatch, ifNoneMatch.split(separator: ",").contains(where: {
            let t = $0.trimmingCharacters(in: .whitespaces)
            return t == etag || t == "*" || t == "W/" + etag
        }) {
            return (Response(status: .notModified, headers: headers), 0)
        }
        switch parseRange(range, length: blob.bytes) {
        case .unsatisfiable:
            headers[.contentRange] = "bytes */\(blob.bytes)"
            return (Response(status: .rangeNotSatisfiable, headers: headers), 0)
        case .whole:
            let data = try distribution.read(blob, digest: digest, range: 0..<blob.bytes)
            headers[.contentType] = ProtocolHeaders.octetStream
            return (Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data))), data.count)
        case .part(let r):
            let data = try distribution.read(blob, digest: digest, range: r)
            headers[.contentType] = ProtocolHeaders.octetStream
            headers[.contentRange] = "bytes \(r.lowerBound)-\(r.upperBound - 1)/\(blob.bytes)"
            return (
                Response(status: .partialContent, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data))),
                data.count
            )
        }
    }
}
