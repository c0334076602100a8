/// `GET /healthz` response: `{"status":"ok"}`.
public struct HealthStatus: Codable, Sendable, Equatable {
    public var status: String

    public init(status: String = "ok") { self.status = status }
}
