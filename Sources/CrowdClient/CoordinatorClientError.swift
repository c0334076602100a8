import CrowdProtocol

/// A call to the coordinator failed.
///
/// `retryable` separates "try again later" (connection refused, timeout, 5xx, 429) from answers the
/// coordinator will not change its mind on (4xx: bad credential, stale lease, corrupt update …).
public struct CoordinatorClientError: Error, CustomStringConvertible, Sendable {
    /// HTTP status, nil when no response arrived (connection or TLS failure).
    public let status: Int?
    /// Stable API error code (`APIErrorCode` raw value), `transport` without a response,
    /// `bad_response` when the body was not what the API promises.
    public let code: String
    public let message: String
    /// The coordinator's `Retry-After` (seconds), when it sent one (429, 503).
    public let retryAfter: Double?

    public init(status: Int?, code: String, message: String, retryAfter: Double? = nil) {
        self.status = status; self.code = code; self.message = message; self.retryAfter = retryAfter
    }

    /// Whether waiting and retrying the same request can succeed.
    public var retryable: Bool {
        guard let status else { return true }
        return status >= 500 || status == 429 || status == 408
    }

    public var description: String {
        if let status { return "\(code) (HTTP \(status)): \(message)" }
        return "\(code): \(message)"
    }

    /// The API error code as an enum, if known.
    public var apiCode: APIErrorCode? { APIErrorCode(rawValue: code) }
}

/// The client could not be set up or a call could not be made as asked (bad URL, unreadable CA, missing
/// credential): the message says what to pass instead.
public struct ClientSetupError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Bandwidth caps in bytes per second, asked at every chunk (nil: no cap). The peer daemon passes its live settings.
public struct BandwidthRates: Sendable {
    public var upload: @Sendable () -> Int?
    public var download: @Sendable () -> Int?

    public init(upload: @escaping @Sendable () -> Int?, download: @escaping @Sendable () -> Int?) {
        self.upload = upload
        self.download = download
    }
}
