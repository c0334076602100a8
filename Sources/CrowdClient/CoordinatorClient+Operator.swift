import CrowdEngine
import CrowdProtocol
import CrowdData
import Foundation

/// The operator API (`/v1/admin/…`, Docs/Protocol.md "Operator API"): the client's `secret` is the operator token.
extension CoordinatorClient {
    /// Reads the operator token from `file` (as `coordinator init` wrote it) for `CoordinatorClient(secret:)`.
    public static func operatorToken(file: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: file) else {
            throw ClientSetupError(
                "cannot read the operator token \(file); pass --operator-token with the operator.token file "
                    + "`coordinator init` wrote to the campaign directory")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard token.hasPrefix(CredentialFormat.operatorPrefix) else {
            throw ClientSetupError(
                "\(file) does not hold an operator token (ct_op_…); pass the campaign's operator.token")
        }
        return token
    }

    /// `POST /v1/admin/invites`.
    public func createInvites(count: Int, note: String?) async throws -> [String] {
        let r: InviteResponse = try await json(
            .POST, OperatorAPI.invites, body: InviteRequest(count: count, note: note), auth: true)
        return r.tokens
    }

    /// `POST /v1/admin/invites/revoke`: one unused invite (`token`) or every unused one.
    public func revokeInvites(_ request: RevokeInvitesRequest) async throws -> Int {
        let r: RevokeInvitesResponse = try await json(.POST, OperatorAPI.revokeInvites, body: request, auth: true)
        return r.revoked
    }

    /// `POST /v1/admin/peers/{id}/revoke`.
    public func revokePeer(id: String) async throws -> RevokePeerResponse {
        try await json(.POST, OperatorAPI.revokePeer(id), body: Optional<Int>.none, auth: true)
    }

    /// `POST /v1/admin/audit` with the receipts volunteers hold.
    public func audit(receipts: [Receipt]) async throws -> AuditReport {
        try await json(.POST, OperatorAPI.audit, body: AuditRequest(receipts: receipts), auth: true)
    }

    /// `GET /v1/admin/export` and the model it names, checked against its SHA-256.
    public func export() async throws -> (bundle: ExportBundle, model: Data) {
        let bundle: ExportBundle = try await json(.GET, OperatorAPI.export, body: Optional<Int>.none, auth: true)
        let version = bundle.evaluation.modelVersion
        let (model, _) = try await bytes(
            .GET, OperatorAPI.checkpoint(version), body: nil, auth: true, maxBytes: max(1, bundle.modelBytes))
        guard ContentDigest.hex(model) == version else {
            throw CoordinatorClientError(
                status: 200, code: "bad_response",
                message: "the exported model does not match its SHA-256 \(version); nothing was written, try again")
        }
        return (bundle, model)
    }

    /// `GET /v1/admin/settings`.
    public func settings() async throws -> CampaignSettings {
        try await json(.GET, OperatorAPI.settings, body: Optional<Int>.none, auth: true)
    }

    /// `PATCH /v1/admin/settings`.
    public func changeSettings(_ change: CampaignSettingsChange) async throws -> CampaignSettings {
        try await json(.PATCH, OperatorAPI.settings, body: change, auth: true)
    }
}

/// Writes an export to a new directory: `model.ckpt`, `evaluation.json`, `credits.json`, `CREDITS.md`.
public enum ExportWriter {
    /// Refuses a directory that exists and is not empty (an export never overwrites); each file is written atomically.
    public static func write(_ bundle: ExportBundle, model: Data, to out: String) throws -> String {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        if fm.fileExists(atPath: out, isDirectory: &isDir) {
            guard isDir.boolValue else { throw ClientSetupError("--out \(out) exists and is not a directory") }
            guard (try fm.contentsOfDirectory(atPath: out)).isEmpty else {
                throw ClientSetupError("--out \(out) is not empty; choose a new directory (an export never overwrites)")
            }
        }
        try fm.createDirectory(atPath: out, withIntermediateDirectories: true)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        func path(_ name: String) -> String { (out as NSString).appendingPathComponent(name) }
        try AtomicFile.write(model, to: path("model.ckpt"))
        try AtomicFile.write(try enc.encode(bundle.evaluation), to: path("evaluation.json"))
        try AtomicFile.write(try enc.encode(bundle.credits), to: path("credits.json"))
        try AtomicFile.write(Data(bundle.creditsMarkdown.utf8), to: path("CREDITS.md"))
        return path("model.ckpt")
    }
}
