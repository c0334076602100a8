import CrowdEngine
import Crypto
import CrowdProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization

/// Token buckets keyed by a string, with bounded memory: a flood of distinct keys (addresses, forged credentials)
/// evicts full buckets first, never grows the table past `capacity`.
public final class TokenBuckets: Sendable {
    struct Bucket {
        var tokens: Double
        var updated: Double
    }

    public let rate: Double
    public let burst: Double
    public let capacity: Int
    private let table = Mutex<[String: Bucket]>([:])

    /// - Parameters: rate: tokens per second; burst: bucket size; capacity: most keys held.
    public init(rate: Double, burst: Double, capacity: Int = 100_000) {
        precondition(rate > 0 && burst >= 1 && capacity >= 1, "token bucket needs rate > 0, burst >= 1, capacity >= 1")
        self.rate = rate
        self.burst = burst
        self.capacity = capacity
    }

    /// Takes one token of `key` at `now` (seconds): nil when admitted, else the seconds until a token is available.
    public func take(_ key: String, now: Double) -> Double? {
        table.withLock { t in
            var b = t[key] ?? Bucket(tokens: burst, updated: now)
            b.tokens = min(burst, b.tokens + max(0, now - b.updated) * rate)
            b.updated = now
            let wait: Double?
            if b.tokens >= 1 {
                b.tokens -= 1
                wait = nil
            } else {
                wait = (1 - b.tokens) / rate
            }
            t[key] = b
            if t.count > capacity { Self.evict(&t, now: now, rate: rate, burst: burst, capacity: capacity) }
            return wait
        }
    }

    /// Keys held (tests, metrics).
    public var count: Int { table.withLock { $0.count } }

    /// Drops every bucket that has refilled (it carries no state a new bucket lacks); if that is not enough (a flood
    /// of keys all still draining), drops arbitrary keys down to three quarters of `capacity`.
    private static func evict(_ t: inout [String: Bucket], now: Double, rate: Double, burst: Double, capacity: Int) {
        t = t.filter { $0.value.tokens + max(0, now - $0.value.updated) * rate < burst }
        if t.count > capacity {
            let excess = t.count - capacity * 3 / 4
            for key in t.keys.prefix(excess) { t.removeValue(forKey: key) }
        }
    }
}

/// The request rate limits of `TransportLimits`: per client address (every request), per peer credential (requests
/// that carry one), and join attempts per address. Runs before any route, without the coordinator actor or the
/// database, so a flood costs the coordinator a hash lookup per request.
public final class RequestLimiter: Sendable {
    let limits: TransportLimits
    let perIP: TokenBuckets
    let perCredential: TokenBuckets
    let joins: TokenBuckets
    let metrics: CoordinatorMetrics
    let now: @Sendable () -> Double

    public init(
        limits: TransportLimits, metrics: CoordinatorMetrics,
        now: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) {
        self.limits = limits
        self.perIP = TokenBuckets(rate: limits.ipRequestsPerSecond, burst: limits.ipBurst)
        self.perCredential = TokenBuckets(rate: limits.credentialRequestsPerSecond, burst: limits.credentialBurst)
        self.joins = TokenBuckets(rate: limits.joinsPerMinute / 60, burst: limits.joinBurst)
        self.metrics = metrics
        self.now = now
    }

    /// Throws `rate_limited` (429 with `Retry-After`) when the request is over a limit.
    public func admit(ip: String?, isJoin: Bool, authorization: String?) throws {
        let t = now()
        let exempt = limits.exemptLoopback && ip.map(Self.isLoopback) == true
        if let ip, !exempt {
            if let wait = perIP.take(ip, now: t) { throw refuse("ip", wait, "too many requests from this address") }
            if isJoin, let wait = joins.take(ip, now: t) {
                throw refuse("join", wait, "too many join attempts from this address")
            }
        }
        if let authorization, !authorization.isEmpty {
            // Keyed by a digest: a forged header costs one bucket, and the table never holds secrets.
            let key = Hex.lowercase(SHA256.hash(data: Data(authorization.utf8)).prefix(16))
            if let wait = perCredential.take(key, now: t) {
                throw refuse("credential", wait, "too many requests with this credential")
            }
        }
    }

    private func refuse(_ limit: String, _ wait: Double, _ what: String) -> APIError {
        metrics.limited(limit)
        let seconds = max(1, Int(wait.rounded(.up)))
        return APIError(.rateLimited, "\(what); retry in \(seconds) s", retryAfter: seconds)
    }

    /// Whether `ip` (text form) is a loopback address.
    static func isLoopback(_ ip: String) -> Bool { ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.") }
}

/// Applies `RequestLimiter` to every request.
public struct RateLimitMiddleware<Context: RequestContext & RemoteAddressRequestContext>: RouterMiddleware {
    let limiter: RequestLimiter

    public init(limiter: RequestLimiter) { self.limiter = limiter }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        try limiter.admit(
            ip: context.remoteAddress?.ipAddress, isJoin: request.method == .post && request.uri.path == APIPath.join,
            authorization: request.headers[.authorization])
        return try await next(request, context)
    }
}
