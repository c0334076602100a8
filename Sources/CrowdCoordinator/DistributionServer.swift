import CrowdCodec
import CrowdData
import CrowdEngine
import Foundation
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL

extension ModelDistribution {
    /// A distribution outside a campaign (`bench distribution`): its own directory with a fresh signing key; the
    /// caller writes each version's checkpoint file (`CampaignPaths.checkpoint(round:)`) and publishes it.
    public static func standalone(directory: String, campaign: String, keep: Int, logger: Logger) throws -> ModelDistribution {
        let paths = CampaignPaths(directory: directory)
        let fm = FileManager.default
        for dir in [paths.directory, paths.checkpoints, paths.manifests, paths.deltas] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        return ModelDistribution(
            paths: paths, campaign: campaign, signer: try loadOrCreateKey(paths: paths, logger: logger), keep: keep,
            logger: logger)
    }

    /// Publishes checkpoint `bytes` of `round` (already written to `CampaignPaths.checkpoint(round:)`) with the delta
    /// from the previous version.
    public func publish(round: UInt64, bytes: Data, delta: ModelDelta?) throws {
        let record = CheckpointRecord(
            version: ContentDigest.hex(bytes), round: round, path: paths.checkpointRelative(round: round),
            bytes: bytes.count, createdAt: Date().timeIntervalSince1970)
        try publish(record: record, bytes: bytes, delta: delta)
    }
}

/// The distribution routes alone behind HTTPS (the campaign's CA and server certificate under `directory/tls`), for
/// one bearer secret: what `bench distribution` measures peers against, with the coordinator's exact edge code.
public enum DistributionServer {
    /// The application, listening on 127.0.0.1:`port` (0: any free port, reported to `onServerRunning`).
    public static func application(
        distribution: ModelDistribution, directory: String, secret: String, port: Int = 0, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void
    ) throws -> some ApplicationProtocol {
        let router = Router(context: CoordinatorRequestContext.self)
        router.add(middleware: APIErrorMiddleware())
        let expected = "Bearer \(secret)"
        DistributionRoutes.register(
            on: router, distribution: distribution,
            authenticate: { header in
                guard header == expected else { throw APIError(.unauthorized, "this server takes one bearer secret") }
            },
            served: { _ in })
        let tls = try CoordinatorApp.tlsConfiguration(paths: CampaignPaths(directory: directory))
        return Application(
            router: router,
            server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "crowdtrain-distribution"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: logger)
    }
}
