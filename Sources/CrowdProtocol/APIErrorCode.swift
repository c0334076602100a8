/// Stable error codes of the API. Raw values are part of the wire contract: never rename.
public enum APIErrorCode: String, Codable, Sendable, CaseIterable {
    /// Missing or unknown bearer credential (401).
    case unauthorized
    /// The invite token is not one this coordinator issued, or was revoked (403).
    case invalidInvite = "invalid_invite"
    /// The invite was already redeemed (409).
    case inviteUsed = "invite_used"
    /// The join's display name breaks a `DisplayName` rule (invisible, bidi or control characters, too long, mixed
    /// scripts, …); the message names the rule and the code point (400). The invite is not used.
    case invalidName = "invalid_name"
    /// Another peer of the campaign has this display name, or one with the same `DisplayName.key` (case, accents,
    /// spaces and look-alike characters ignored); the message suggests a free one (409). The invite is not used.
    case nameTaken = "name_taken"
    /// The peer's credential was revoked (403).
    case revoked
    /// The lease id is unknown, or belongs to another peer (404).
    case noSuchLease = "no_such_lease"
    /// The lease expired or its round is closed: the update is stale (409).
    case leaseExpired = "lease_expired"
    /// Async aggregation: the update was computed from a model more than `aggregation.maxStaleness` versions
    /// older than the current one; it is not accepted and earns no credit — ask for a new lease (409).
    case staleUpdate = "stale_update"
    /// The envelope's round differs from the lease's round (422).
    case wrongRound = "wrong_round"
    /// The envelope was computed from another base model (422).
    case wrongBaseModel = "wrong_base_model"
    /// The envelope's parameter schema hash differs from the model's (422).
    case schemaMismatch = "schema_mismatch"
    /// The envelope's element count differs from the model's parameter count (422).
    case elementCountMismatch = "element_count_mismatch"
    /// The envelope could not be decoded (the CrowdCodec error code is in the message) (422).
    case corruptUpdate = "corrupt_update"
    /// The decoded update contains NaN or infinity (422).
    case nonFiniteValues = "non_finite_values"
    /// The envelope's codec, int8 block size or top-k density differs from what the lease named (422).
    case wrongCodec = "wrong_codec"
    /// The update's L2 norm is above the campaign's bound (`defence.maxNorm`, or `defence.rejectMultiplier` × the
    /// median norm of recently credited updates) (422). Not credited.
    case updateNormTooLarge = "update_norm_too_large"
    /// The update's values repeat an update the coordinator already holds (a replay or a copy, under any
    /// round or lease) (409). Not credited.
    case duplicateUpdate = "duplicate_update"
    /// The request body exceeds the route's limit (413).
    case bodyTooLarge = "body_too_large"
    /// Unknown path, model version or shard (404).
    case notFound = "not_found"
    /// Malformed request (400).
    case badRequest = "bad_request"
    /// The lease was already used for a different, accepted upload (409). An identical retry gets 200 and the
    /// original receipt instead.
    case duplicate
    /// The server failed; retry later (500).
    case internalError = "internal_error"
    /// The coordinator is shutting down or not ready (503).
    case unavailable
    /// Too many requests from this address or credential, or too many join attempts (429, with `Retry-After`).
    case rateLimited = "rate_limited"
    /// Verified work: the campaign verifies work and the envelope carries no trajectory commitment (422). Update
    /// crowdtrain.
    case missingCommitment = "missing_commitment"
    /// The commitment's claims (steps, samples, segment length, start optimizer state) are not the lease's (422).
    /// Honest software never sends this: it is recorded as evidence and the credential is suspended.
    case commitmentMismatch = "commitment_mismatch"
    /// The peer's credential is suspended after its work failed verification (403); `coordinator audit` shows the
    /// evidence and may invite the volunteer again.
    case suspended
    /// No challenge is open for this update (it was not challenged, or its proof was already received) (409).
    case noChallenge = "no_challenge"
    /// The shard is not named by one of the peer's open leases (the evaluation shard never is) (403).
    case shardNotLeased = "shard_not_leased"
}
