import HTTPTypes
import Hummingbird
import NIOCore

/// Public, unauthenticated read routes for people and monitoring: `GET /` (HTML dashboard) and
/// `GET /metrics` (Prometheus text exposition 0.0.4).
public enum DashboardRoutes {
    /// Content type of `GET /metrics`.
    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
    /// Content type of `GET /`.
    public static let htmlContentType = "text/html; charset=utf-8"

    /// Adds `/` and `/metrics` to `router`.
    public static func register(on router: Router<CoordinatorRequestContext>, coordinator: Coordinator) {
        router.get("/") { _, _ in
            text(try await coordinator.dashboardHTML(), contentType: htmlContentType)
        }
        router.get("/metrics") { _, _ in
            text(coordinator.metricsText(), contentType: prometheusContentType)
        }
    }

    static func text(_ body: String, contentType: String) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = contentType
        headers[.cacheControl] = "no-store"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
