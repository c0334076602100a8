import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdPeer
import CrowdProtocol
import CrowdTraining
import CrowdVerification
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A tiny real campaign for the integration tests: 4×4 two-class images, an MLP 16-8-2, a coordinator
/// on 127.0.0.1 (free port, its own CA, real TLS, real SQLite), and peers that are `PeerDaemon`s.
package struct LiveCampaign {
    package let root: String
    package var coordinatorDir: String { root + "/coordinator" }
    package var caFile: String { coordinatorDir + "/ca.pem" }
    package func peerDir(_ i: Int) -> String { root + "/peer-\(i)" }

    /// - Parameters:
    ///   - localSteps: steps per lease; longer leases let a test pause one mid-way.
    ///   - leaseSeconds: lease and round deadline.
    ///   - transport: the HTTPS edge's limits (default: the campaign defaults).
    ///   - hidden: the MLP's hidden widths (a wide one makes a model that takes a while under a download cap).
    package init(
        peersPerRound: Int = 2, rounds: Int = 3, localSteps: Int = 20, leaseSeconds: Double = 30,
        transport: TransportLimits = .standard, verification: VerificationConfig = VerificationConfig(),
        hidden: [Int] = [8]
    ) throws {
        root = NSTemporaryDirectory() + "crowdtrain-it-\(UInt64.random(in: 0...UInt64.max))"
        var config = CampaignConfig(workload: .fmnistMLP, name: "integration")
        config.port = 0
        config.peersPerRound = peersPerRound
        config.minUpdates = 1
        config.maxRounds = rounds
        config.goalSamples = 10_000_000
        config.inner.schedule = .constant  // the goal is far beyond these runs (LeaseScheduleTests covers schedules)
        config.localSteps = localSteps
        config.batch = 8
        config.inner = InnerOptimizerConfig(kind: "sgd", lr: 0.1, momentum: 0.9)
        config.outer = .fedAvg
        config.roundDeadlineSeconds = leaseSeconds
        config.leaseSeconds = leaseSeconds
        config.evalSamples = 128
        config.transport = transport
        config.verification = verification
        let model = try JSONEncoder().encode(MLPConfig(inputs: 16, hidden: hidden, classes: 2))
        _ = try CampaignInitializer.create(
            directory: coordinatorDir, config: config,
            data: .images(train: Self.images(count: 512, seed: 1), evaluation: Self.images(count: 128, seed: 2)),
            modelConfigJSON: model, shardSize: 128)
    }

    package func remove() { try? FileManager.default.removeItem(atPath: root) }

    /// Separable but noisy: class 1 is bright in the top half of a 4×4 image.
    package static func images(count: Int, seed: UInt64) -> ImageDataset {
        SyntheticImages.halves(count: count, seed: seed, bright: 90...249, dark: 0...139)
    }

    /// Joins peer `i` (directory `peerDir(i)`) with a fresh invite, trusting this campaign's CA.
    package func joinPeer(_ i: Int, at url: String, name: String = "p") async throws {
        _ = try await PeerEnrollment.join(
            coordinator: url, caPEM: caPEM, invite: try invites(1)[0], name: name, directory: peerDir(i))
    }

    package func invites(_ n: Int) throws -> [String] {
        try CampaignInitializer.invite(directory: coordinatorDir, count: n, note: "test")
    }

    package var caPEM: [UInt8] { Array(FileManager.default.contents(atPath: caFile) ?? Data()) }
}

/// A coordinator served in-process over TLS; `stop()` shuts it down gracefully.
package final class RunningCoordinator: Sendable {
    package let app: CoordinatorApp
    package let group: ServiceGroup
    package let task: Task<Void, any Error>
    package let port: Int
    package var url: String { "https://127.0.0.1:\(port)" }

    private init(app: CoordinatorApp, group: ServiceGroup, task: Task<Void, any Error>, port: Int) {
        self.app = app; self.group = group; self.task = task; self.port = port
    }

    package static func start(directory: String, port: Int = 0) async throws -> RunningCoordinator {
        var logger = Logger(label: "it.coordinator")
        logger.logLevel = .warning
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let app = try CoordinatorApp.build(
            directory: directory, bind: "127.0.0.1", port: port, logger: logger, tickInterval: .milliseconds(100),
            onServerRunning: { port in continuation.yield(port) })
        let group = ServiceGroup(services: [app.application], logger: logger)
        let task = Task { try await group.run() }
        var port = 0
        for await p in ports {
            port = p
            break
        }
        return RunningCoordinator(app: app, group: group, task: task, port: port)
    }

    package func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }
}

/// Collects a daemon's progress lines.
package final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    package init() {}
    package func append(_ s: String) { lines.withLock { $0.append(s) } }
    package var all: [String] { lines.withLock { $0 } }
}

