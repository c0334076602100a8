import CrowdProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The HTTP edge: authentication, body limits, JSON in/out. Logic lives in `Coordinator`.
///
/// Public: `/healthz`, `/v1/status`, `/v1/stats`, and (in `DashboardRoutes`) `/` and `/metrics`. Invite-authorized: `/v1/join`.
/// `/v1/admin/…` needs the operator token (`OperatorRoutes`). Everything else needs `Authorization: Bearer <peer
/// credential>`; identity never comes from a request body.
public enum CoordinatorRoutes {
    /// Largest JSON request body.
    public static let maxJSONBytes = 64 * 1024

    /// Adds every route to `router`.
    public static func register(on router: Router<CoordinatorRequestContext>, coordinator: Coordinator) {
        router.get(RouterPath(APIPath.health)) { _, _ in try json(HealthStatus()) }
        router.get(RouterPath(APIPath.status)) { _, _ in try json(coordinator.status()) }
        router.get(RouterPath(APIPath.evaluations)) { request, _ in
            let query = request.uri.queryParameters
            let limit = query.get("limit", as: Int.self) ?? 100
            let after = query.get("after", as: UInt64.self)
            return try json(try await coordinator.evaluationHistory(after: after, limit: limit))
        }
        router.get(RouterPath(APIPath.stats)) { request, _ in
            let top = request.uri.queryParameters.get("top", as: Int.self) ?? 100
            return try json(try await coordinator.stats(top: top))
        }
        router.post(RouterPath(APIPath.join)) { request, _ in
            let body = try await decodeJSON(JoinRequest.self, request)
            return try json(try await coordinator.join(body))
        }
        router.post(RouterPath(APIPath.lease)) { request, _ in
            let peer = try coordinator.authenticate(authorization: request.headers[.authorization])
            let body = try await decodeJSON(LeaseRequest.self, request)
            return try json(try await longPollLease(coordinator, peer: peer, request: body))
        }
        router.get("/v1/models/:version") { request, context in
            _ = try coordinator.authenticate(authorization: request.headers[.authorization])
            let version = try context.parameters.require("version")
            return binary(try await coordinator.modelBytes(version: version))
        }
        router.get("/v1/shards/:id") { request, context in
            let peer = try coordinator.authenticate(authorization: request.headers[.authorization])
            let id = try context.parameters.require("id")
            return binary(try await coordinator.shardBytes(id: id, peerID: peer.id))
        }
        router.put("/v1/updates/:leaseID") { request, context in
            var request = request
            let peer = try coordinator.authenticate(authorization: request.headers[.authorization])
            let leaseID = try context.parameters.require("leaseID")
            let limit = coordinator.maxUpdateBytes
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw await coordinator.rejectOversized(leaseID: leaseID, peer: peer, bytes: length)
            }
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: limit)
            } catch is NIOTooManyBytesError {
                throw await coordinator.rejectOversized(leaseID: leaseID, peer: peer, bytes: limit + 1)
            }
            let loss = request.headers[HTTPField.Name(ProtocolHeaders.trainLoss)!].flatMap(Double.init)
            let receipt = try await coordinator.upload(
                leaseID: leaseID, peer: peer, body: Data(buffer.readableBytesView), trainLoss: loss)
            return try json(receipt)
        }
        router.put("/v1/updates/:leaseID/proof") { request, context in
            var request = request
            let peer = try coordinator.authenticate(authorization: request.headers[.authorization])
            let leaseID = try context.parameters.require("leaseID")
            let limit = coordinator.maxProofBytes
            let buffer: ByteBuffer
            do {
                buffer = try await request.collectBody(upTo: limit)
            } catch is NIOTooManyBytesError {
                throw APIError(.bodyTooLarge, "a proof for this model is at most \(limit) bytes")
            }
            return try json(
                try await coordinator.acceptProof(leaseID: leaseID, peer: peer, body: Data(buffer.readableBytesView)))
        }
        router.post(RouterPath(APIPath.outcomes)) { request, _ in
            let peer = try coordinator.authenticate(authorization: request.headers[.authorization])
            let body = try await decodeJSON(OutcomesRequest.self, request)
            guard body.leaseIDs.count <= OutcomesRequest.maxLeases,
                  body.leaseIDs.allSatisfy({ (1...64).contains($0.utf8.count) })
            else {
                throw APIError(
                    .badRequest,
                    "ask for at most \(OutcomesRequest.maxLeases) lease ids of 1–64 characters per request")
            }
            return try json(try await coordinator.outcomes(leaseIDs: body.leaseIDs, peer: peer))
        }
        router.get("/v1/updates/:leaseID") { request, context in
            let peer = try coordinator.authenticate(authorization: request.headers[.authorization])
            let leaseID = try context.parameters.require("leaseID")
            return try json(try await coordinator.outcome(leaseID: leaseID, peer: peer))
        }
    }

    /// Asks for a lease; with `waitSeconds`, holds the request while no work is free, waking on the coordinator's
    /// `WorkSignal` (a round opened, slots freed) and asking again, until a lease, the end of the campaign, or the
    /// deadline. The coordinator actor is never held while waiting.
    /// - Parameters:
    ///   - recheck: how often a held request asks again without a signal (default: the coordinator's own
    ///     `retryAfter` hint; tests lengthen it to show that the signal, not the re-ask, answers).
    ///   - cap: the longest hold (tests lengthen it for the same reason).
    static func longPollLease(
        _ coordinator: Coordinator, peer: PeerRecord, request: LeaseRequest, recheck: Duration? = nil,
        cap: Double = LeaseRequest.maxWaitSeconds
    ) async throws -> LeaseResponse {
        let wait = min(max(request.waitSeconds ?? 0, 0), cap)
        let deadline = ContinuousClock.now + .milliseconds(Int64(wait * 1000))
        while true {
            let seen = coordinator.work.generation
            let response = try await coordinator.lease(for: peer, request: request)
            let left = deadline - ContinuousClock.now
            if response.lease != nil || response.reason == LeaseWaitReason.campaignFinished.rawValue
                || left <= .zero || Task.isCancelled
            {
                return response
            }
            // Re-ask at the coordinator's own retry hint too (a held slot frees by time, not by an event).
            let hint = recheck ?? Duration.milliseconds(Int64(max(0.05, response.retryAfter ?? 1) * 1000))
            await coordinator.work.wait(after: seen, timeout: min(left, hint))
        }
    }

    static func decodeJSON<T: Decodable>(_ type: T.Type, _ request: Request, limit: Int = maxJSONBytes) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.bodyTooLarge, "JSON request bodies are limited to \(limit) bytes")
        }
        do {
            return try JSONDecoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch {
            throw APIError(.badRequest, "the body is not a valid \(T.self) JSON object")
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var headers = HTTPFields()
        headers[.contentType] = ProtocolHeaders.json
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }

    static func binary(_ data: Data) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = ProtocolHeaders.octetStream
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
