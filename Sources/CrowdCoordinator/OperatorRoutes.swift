import CrowdProtocol
import Foundation
import HTTPTypes
import Hummingbird

/// The operator API's HTTP edge (`/v1/admin/…`, Docs/Protocol.md "Operator API"): every route checks the operator
/// token first, before reading a body. Logic lives in `Coordinator+Operator.swift`.
enum OperatorRoutes {
    static func register(on router: Router<CoordinatorRequestContext>, coordinator: Coordinator) {
        typealias R = CoordinatorRoutes
        @Sendable func authorize(_ request: Request) throws {
            try coordinator.authenticateOperator(authorization: request.headers[.authorization])
        }
        router.post(RouterPath(OperatorAPI.invites)) { request, _ in
            try authorize(request)
            let body = try await R.decodeJSON(InviteRequest.self, request)
            return try R.json(InviteResponse(tokens: try await coordinator.createInvites(body)))
        }
        router.post(RouterPath(OperatorAPI.revokeInvites)) { request, _ in
            try authorize(request)
            let body = try await R.decodeJSON(RevokeInvitesRequest.self, request)
            return try R.json(RevokeInvitesResponse(revoked: try await coordinator.revokeInvites(body)))
        }
        router.post("/v1/admin/peers/:id/revoke") { request, context in
            try authorize(request)
            let id = try context.parameters.require("id")
            return try R.json(try await coordinator.revokePeer(id: id))
        }
        router.post(RouterPath(OperatorAPI.audit)) { request, _ in
            try authorize(request)
            let body = try await R.decodeJSON(AuditRequest.self, request, limit: OperatorAPI.maxBodyBytes)
            return try R.json(try await coordinator.audit(receipts: body.receipts))
        }
        router.get(RouterPath(OperatorAPI.export)) { request, _ in
            try authorize(request)
            return try R.json(try await coordinator.exportBundle())
        }
        router.get("/v1/admin/checkpoints/:version") { request, context in
            try authorize(request)
            let version = try context.parameters.require("version")
            return R.binary(try await coordinator.modelBytes(version: version))
        }
        router.get(RouterPath(OperatorAPI.settings)) { request, _ in
            try authorize(request)
            return try R.json(await coordinator.settings())
        }
        router.patch(RouterPath(OperatorAPI.settings)) { request, _ in
            try authorize(request)
            let body = try await R.decodeJSON(CampaignSettingsChange.self, request)
            return try R.json(try await coordinator.changeSettings(body))
        }
    }
}
