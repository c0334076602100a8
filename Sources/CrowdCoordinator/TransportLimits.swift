import Foundation

/// How the coordinator's HTTPS edge protects itself from slow, idle, flooding and guessing clients (campaign.json
/// `transport`; every key optional). A volunteer network is open to strangers: every limit here is enforced before a
/// request reaches the coordinator's core, costs O(1) per request, and answers with a clear status (429 with
/// `Retry-After`, or a closed connection) instead of letting one client use up descriptors, memory or the database.
///
/// | key | type | default | meaning |
/// |---|---|---|---|
/// | `idleTimeoutSeconds` | float | 30 | a connection with no request in flight for this long is closed; this is also the header timeout (a request head must arrive whole within it, TLS handshake included) |
/// | `bodyGraceSeconds` | float | 10 | a request body may take this long before the minimum rate applies |
/// | `minBodyBytesPerSecond` | int | 4096 | after the grace, a body arriving slower than this on average is cut (slowloris bodies) |
/// | `maxConnections` | int | 4096 | open connections in all; beyond it the server stops accepting until one closes |
/// | `maxConnectionsPerIP` | int | 64 | open connections from one address; more are closed at once |
/// | `ipRequestsPerSecond` | float | 50 | sustained request rate of one address (token bucket) |
/// | `ipBurst` | float | 200 | bucket size per address |
/// | `credentialRequestsPerSecond` | float | 20 | sustained request rate of one peer credential (an honest daemon makes about 6 requests per lease: lease, manifest, delta, upload, proof, outcomes) |
/// | `credentialBurst` | float | 60 | bucket size per credential |
/// | `joinsPerMinute` | float | 6 | join attempts (good or bad invites) of one address per minute |
/// | `joinBurst` | float | 10 | bucket size of join attempts per address |
/// | `exemptLoopback` | bool | false | whether 127.0.0.0/8 and ::1 skip the per-address limits (a reverse proxy on the same host; never for a public coordinator without one) |
public struct TransportLimits: Codable, Sendable, Equatable {
    public var idleTimeoutSeconds: Double = 30
    public var bodyGraceSeconds: Double = 10
    public var minBodyBytesPerSecond: Int = 4096
    public var maxConnections: Int = 4096
    public var maxConnectionsPerIP: Int = 64
    public var ipRequestsPerSecond: Double = 50
    public var ipBurst: Double = 200
    public var credentialRequestsPerSecond: Double = 20
    public var credentialBurst: Double = 60
    public var joinsPerMinute: Double = 6
    public var joinBurst: Double = 10
    public var exemptLoopback = false

    public init() {}

    /// The limits of a campaign that has none written: the defaults above.
    public static let standard = TransportLimits()

    enum CodingKeys: String, CodingKey {
        case idleTimeoutSeconds, bodyGraceSeconds, minBodyBytesPerSecond, maxConnections, maxConnectionsPerIP
        case ipRequestsPerSecond, ipBurst, credentialRequestsPerSecond, credentialBurst, joinsPerMinute, joinBurst
        case exemptLoopback
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            value = try c.decodeIfPresent(T.self, forKey: key) ?? value
        }
        try read(.idleTimeoutSeconds, &idleTimeoutSeconds)
        try read(.bodyGraceSeconds, &bodyGraceSeconds)
        try read(.minBodyBytesPerSecond, &minBodyBytesPerSecond)
        try read(.maxConnections, &maxConnections)
        try read(.maxConnectionsPerIP, &maxConnectionsPerIP)
        try read(.ipRequestsPerSecond, &ipRequestsPerSecond)
        try read(.ipBurst, &ipBurst)
        try read(.credentialRequestsPerSecond, &credentialRequestsPerSecond)
        try read(.credentialBurst, &credentialBurst)
        try read(.joinsPerMinute, &joinsPerMinute)
        try read(.joinBurst, &joinBurst)
        try read(.exemptLoopback, &exemptLoopback)
    }

    /// Throws a message naming the first invalid key.
    public func validate() throws {
        func check(_ ok: Bool, _ message: String) throws {
            if !ok { throw CoordinatorError("campaign.json: transport.\(message)") }
        }
        try check(idleTimeoutSeconds > 0 && idleTimeoutSeconds <= 3600, "idleTimeoutSeconds must be in (0, 3600]")
        try check(bodyGraceSeconds >= 0 && bodyGraceSeconds.isFinite, "bodyGraceSeconds must be 0 or more")
        try check(minBodyBytesPerSecond >= 0, "minBodyBytesPerSecond must be 0 or more (0 disables the rate)")
        try check(maxConnections >= 1, "maxConnections must be at least 1")
        try check(maxConnectionsPerIP >= 1, "maxConnectionsPerIP must be at least 1")
        for (name, rate, burst) in [
            ("ipRequestsPerSecond/ipBurst", ipRequestsPerSecond, ipBurst),
            ("credentialRequestsPerSecond/credentialBurst", credentialRequestsPerSecond, credentialBurst),
            ("joinsPerMinute/joinBurst", joinsPerMinute, joinBurst),
        ] {
            try check(rate > 0 && rate.isFinite && burst >= 1 && burst.isFinite, "\(name): rate > 0 and burst >= 1")
        }
    }
}
