/// The API's paths, shared by coordinator routes and clients.
public enum APIPath {
    public static let health = "/healthz"
    public static let join = "/v1/join"
    public static let lease = "/v1/lease"
    public static let status = "/v1/status"
    public static let stats = "/v1/stats"
    /// `GET`: the evaluation history, paginated (`EvaluationPage`).
    public static let evaluations = "/v1/evaluations"

    /// `GET`: checkpoint bytes whose SHA-256 hex is `version`.
    public static func model(_ version: String) -> String { "/v1/models/\(version)" }
    /// `GET`: the signed manifest of model `version` (`SignedManifest`: its chunks and the round deltas leading to it).
    public static func manifest(_ version: String) -> String { "/v1/models/\(version)/manifest" }
    /// `GET`: an immutable content-addressed blob (a model chunk or a round delta) whose SHA-256 hex is `digest`;
    /// ETag, `If-None-Match` and `Range` as in RFC 9110.
    public static func blob(_ digest: String) -> String { "/v1/blobs/\(digest)" }
    /// `GET`: shard bytes whose SHA-256 hex is `id`.
    public static func shard(_ id: String) -> String { "/v1/shards/\(id)" }
    /// `PUT`: the update envelope for lease `leaseID`; `GET`: its `UpdateOutcome` (pending, credited or not).
    public static func update(_ leaseID: String) -> String { "/v1/updates/\(leaseID)" }
    /// `POST` (`OutcomesRequest`): the `UpdateOutcome`s of up to `OutcomesRequest.maxLeases` of this peer's updates
    /// in one request (`OutcomesResponse`); a daemon asks this every lease for all its open receipts.
    public static let outcomes = "/v1/outcomes"
    /// `PUT`: the answer to the upload's challenge (a `TrajectoryProof`, Docs/WireFormats.md).
    public static func proof(_ leaseID: String) -> String { "/v1/updates/\(leaseID)/proof" }
    /// `GET`: up to `limit` evaluations of rounds after `after` (from the first when nil).
    public static func evaluations(after: UInt64?, limit: Int) -> String {
        "/v1/evaluations?limit=\(limit)" + (after.map { "&after=\($0)" } ?? "")
    }
    /// `GET`: contributors table, at most `top` rows.
    public static func stats(top: Int) -> String { "/v1/stats?top=\(top)" }
}
