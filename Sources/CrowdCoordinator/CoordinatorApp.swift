import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import ServiceLifecycle

/// Builds the coordinator's HTTPS application. `coordinator serve` and the tests call the same builder.
public struct CoordinatorApp: Sendable {
    /// The core, for in-process inspection.
    public let coordinator: Coordinator
    /// The Hummingbird application (HTTPS only), with the round ticker as a service.
    public let application: Application<RouterResponder<CoordinatorRequestContext>>
    /// Open connections per address (the transport limits).
    public let connections: ConnectionRegistry

    /// Opens the campaign in `directory` and builds the HTTPS application.
    /// - Parameters:
    ///   - bind, port: override `campaign.json`'s listen address and port (`port: 0` picks a free port; see
    ///     `onServerRunning`).
    ///   - onServerRunning: called with the bound port once the server listens.
    public static func build(
        directory: String, bind: String? = nil, port: Int? = nil,
        clock: any CoordinatorClock = SystemCoordinatorClock(), logger: Logger? = nil,
        tickInterval: Duration = .seconds(1), onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> CoordinatorApp {
        let log = logger ?? Logger(label: "crowdtrain.coordinator")
        let coordinator = try Coordinator.open(directory: directory, clock: clock, logger: log)
        let router = Router(context: CoordinatorRequestContext.self)
        router.add(middleware: LogRequestsMiddleware(.info))
        let limits = coordinator.config.transport
        router.add(middleware: APIErrorMiddleware())
        router.add(
            middleware: RateLimitMiddleware(
                // Wall time, not the campaign clock: limits are about real request rates, also in tests that move
                // the campaign clock by hand.
                limiter: RequestLimiter(limits: limits, metrics: coordinator.metrics)))
        CoordinatorRoutes.register(on: router, coordinator: coordinator)
        OperatorRoutes.register(on: router, coordinator: coordinator)
        DistributionRoutes.register(on: router, coordinator: coordinator)
        DashboardRoutes.register(on: router, coordinator: coordinator)
        let config = coordinator.config
        let tls = try tlsConfiguration(paths: coordinator.paths)
        let registry = ConnectionRegistry(maxPerIP: limits.maxConnectionsPerIP, exemptLoopback: limits.exemptLoopback)
        let application = Application(
            router: router,
            server: .guarded(tls: tls, limits: limits, registry: registry, metrics: coordinator.metrics),
            configuration: .init(
                address: .hostname(bind ?? config.bind, port: port ?? config.port), serverName: "crowdtrain",
                availableConnectionsDelegate: MaximumAvailableConnections(limits.maxConnections, logger: log)),
            services: [RoundTicker(coordinator: coordinator, interval: tickInterval)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: log)
        return CoordinatorApp(coordinator: coordinator, application: application, connections: registry)
    }

    /// Runs the application in a `ServiceGroup` until SIGTERM or SIGINT, then shuts down gracefully.
    /// Holds the campaign lock (`CampaignLock`) while running: a second coordinator on the directory refuses to start.
    /// - Parameter lock: the lock, if the caller took it before `build` (as `coordinator serve` does, so that start-up
    ///   recovery never runs beside a serving coordinator); taken here otherwise.
    public func runUntilSignalled(logger: Logger, lock: CampaignLock? = nil) async throws {
        let lock = try lock ?? CampaignLock(paths: coordinator.paths)
        defer { withExtendedLifetime(lock) {} }
        let group = ServiceGroup(
            configuration: .init(
                services: [application], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Server TLS from the campaign's certificate and key (TLS 1.2+).
    public static func tlsConfiguration(paths: CampaignPaths) throws -> TLSConfiguration {
        do {
            let chain = try NIOSSLCertificate.fromPEMFile(paths.serverCertificate)
            let key = try NIOSSLPrivateKey(file: paths.serverKey, format: .pem)
            var tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
            tls.minimumTLSVersion = .tlsv12
            return tls
        } catch {
            throw CoordinatorError("cannot load the server certificate or key from \(paths.tlsDirectory): \(error)")
        }
    }
}
