/// The operator API (`/v1/admin/…`): what `coordinator invite|revoke|audit|export|settings` send and receive.
///
/// Every call needs `Authorization: Bearer ct_op_…`, the operator token `coordinator init` writes to
/// `<dir>/operator.token` (mode 0600). Peer credentials and invites are refused on these paths.
public enum OperatorAPI {
    /// `POST /v1/admin/invites`: creates single-use invites.
    public static let invites = "/v1/admin/invites"
    /// `POST /v1/admin/invites/revoke`: revokes one unused invite, or every unused one.
    public static let revokeInvites = "/v1/admin/invites/revoke"
    /// `POST /v1/admin/peers/{id}/revoke`: revokes a peer's credential and frees its open leases at once.
    public static func revokePeer(_ id: String) -> String { "/v1/admin/peers/\(id)/revoke" }
    /// `POST /v1/admin/audit`: checks the ledger's invariants against the receipts in the body.
    public static let audit = "/v1/admin/audit"
    /// `GET /v1/admin/export`: the credits and evaluation of the current model (`ExportBundle`).
    public static let export = "/v1/admin/export"
    /// `GET /v1/admin/checkpoints/{version}`: checkpoint bytes (the export's model).
    public static func checkpoint(_ version: String) -> String { "/v1/admin/checkpoints/\(version)" }
    /// `GET`: the campaign settings; `PATCH`: changes the ones that can change while serving.
    public static let settings = "/v1/admin/settings"

    /// Largest JSON body of an operator call (an audit carries the volunteers' receipts).
    public static let maxBodyBytes = 16 << 20
    /// Most invites per call.
    public static let maxInvites = 10_000
}

/// `POST /v1/admin/invites` body.
public struct InviteRequest: Codable, Sendable, Equatable {
    public var count: Int
    /// Stored with the invites (who they are for).
    public var note: String?

    public init(count: Int, note: String? = nil) {
        self.count = count
        self.note = note
    }
}

/// `POST /v1/admin/invites` answer: the tokens, shown once (only their SHA-256 hashes are stored).
public struct InviteResponse: Codable, Sendable, Equatable {
    public var tokens: [String]

    public init(tokens: [String]) { self.tokens = tokens }
}

/// `POST /v1/admin/invites/revoke` body: exactly one of `token` and `allUnused`.
public struct RevokeInvitesRequest: Codable, Sendable, Equatable {
    public var token: String?
    public var allUnused: Bool?

    public init(token: String? = nil, allUnused: Bool? = nil) {
        self.token = token
        self.allUnused = allUnused
    }
}

/// `POST /v1/admin/invites/revoke` answer.
public struct RevokeInvitesResponse: Codable, Sendable, Equatable {
    /// Invites revoked (0 when the token was unknown, used or already revoked).
    public var revoked: Int

    public init(revoked: Int) { self.revoked = revoked }
}

/// `POST /v1/admin/peers/{id}/revoke` answer. The peer's uploads are refused from then on; its past credit stays.
public struct RevokePeerResponse: Codable, Sendable, Equatable {
    public var peerID: String
    /// False when the peer was already revoked.
    public var revoked: Bool
    /// Open leases that ended with the revocation (their round slots are free for other peers at once).
    public var leasesFreed: Int

    public init(peerID: String, revoked: Bool, leasesFreed: Int) {
        self.peerID = peerID
        self.revoked = revoked
        self.leasesFreed = leasesFreed
    }
}

/// `POST /v1/admin/audit` body: receipts the volunteers hold (from their `receipts.jsonl`).
public struct AuditRequest: Codable, Sendable, Equatable {
    public var receipts: [Receipt]

    public init(receipts: [Receipt]) { self.receipts = receipts }

}

/// The settings of a campaign as the operator API shows them: identity (read-only) and the values that can change
/// while the coordinator serves.
public struct CampaignSettings: Codable, Sendable, Equatable {
    public var name: String
    public var workload: String
    public var bind: String
    public var port: Int
    public var publicNames: [String]
    public var peersPerRound: Int
    public var localSteps: Int
    public var aggregator: String
    public var verification: Bool
    /// Changeable while serving.
    public var goalSamples: Int
    public var maxRounds: Int?
    public var roundDeadlineSeconds: Double
    public var leaseSeconds: Double

    public init(
        name: String, workload: String, bind: String, port: Int, publicNames: [String],
        peersPerRound: Int,
        localSteps: Int, aggregator: String, verification: Bool, goalSamples: Int, maxRounds: Int?,
        roundDeadlineSeconds: Double, leaseSeconds: Double
    ) {
        self.name = name
        self.workload = workload
        self.bind = bind
        self.port = port
        self.publicNames = publicNames
        self.peersPerRound = peersPerRound
        self.localSteps = localSteps
        self.aggregator = aggregator
        self.verification = verification
        self.goalSamples = goalSamples
        self.maxRounds = maxRounds
        self.roundDeadlineSeconds = roundDeadlineSeconds
        self.leaseSeconds = leaseSeconds
    }
}

/// `PATCH /v1/admin/settings` body: the settings to change (absent = unchanged). Applied at once and written to
/// `campaign.json`; a value out of range is refused with `bad_request` and nothing changes.
public struct CampaignSettingsChange: Codable, Sendable, Equatable {
    public var goalSamples: Int?
    /// A number of rounds, or 0 to remove the limit.
    public var maxRounds: Int?
    public var roundDeadlineSeconds: Double?
    public var leaseSeconds: Double?

    public init(
        goalSamples: Int? = nil, maxRounds: Int? = nil, roundDeadlineSeconds: Double? = nil,
        leaseSeconds: Double? = nil
    ) {
        self.goalSamples = goalSamples
        self.maxRounds = maxRounds
        self.roundDeadlineSeconds = roundDeadlineSeconds
        self.leaseSeconds = leaseSeconds
    }

    public var isEmpty: Bool {
        goalSamples == nil && maxRounds == nil && roundDeadlineSeconds == nil && leaseSeconds == nil
    }
}
