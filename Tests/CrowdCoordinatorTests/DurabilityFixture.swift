import CrowdEngine
import CrowdProtocol
import CrowdTestSupport
import Foundation
import Logging
import Synchronization
import Testing

@testable import CrowdCoordinator

/// A tiny campaign (`TestCampaign`, 2 peers per round) driven in-process through `rounds` closed rounds, plus an
/// open round holding one accepted update and one open lease — the state a crash leaves behind.
struct DurabilityFixture {
    let tc: TestCampaign
    /// Receipts the peers were given, with the peer they went to.
    let receipts: [CampaignAudit.AcknowledgedReceipt]
    /// Checkpoint versions by round (index 0 = initial model).
    let versions: [String]
    /// The open round's lease that has not been uploaded yet.
    let openLease: Lease
    let peers: [PeerRecord]
    let rounds: Int

    static func make(rounds: Int) async throws -> DurabilityFixture {
        let tc = try TestCampaign.make()
        let invites = try tc.invite(2)
        let c = try tc.open()
        var peers: [PeerRecord] = []
        for (i, invite) in invites.enumerated() {
            let joined = try await c.join(JoinRequest(invite: invite, name: "p\(i)"))
            peers.append(try await c.authenticate(authorization: "Bearer \(joined.credential)"))
        }
        var receipts: [CampaignAudit.AcknowledgedReceipt] = []
        var versions = [await c.currentModelVersion]
        var rng = SeededRNG(seed: 7)
        func deliver(_ lease: Lease, _ peer: PeerRecord) async throws {
            let base = try await c.modelBytes(version: lease.modelVersion)
            let n = await c.currentParameters.count
            let values = (0..<n).map { _ in (rng.nextUniform() - 0.5) * 0.02 }
            let receipt = try await c.upload(
                leaseID: lease.leaseID, peer: peer, body: try envelope(values, lease: lease, base: base),
                trainLoss: 1)
            receipts.append(.init(peerID: peer.id, receipt: receipt))
        }
        for _ in 0..<rounds {
            for p in peers {
                try await deliver(
                    try #require(try await c.lease(for: p, request: LeaseRequest(threads: 1)).lease), p)
            }
            try await c.tick()
            versions.append(await c.currentModelVersion)
        }
        let first = try #require(
            try await c.lease(for: peers[0], request: LeaseRequest(threads: 1)).lease)
        let open = try #require(
            try await c.lease(for: peers[1], request: LeaseRequest(threads: 1)).lease)
        try await deliver(first, peers[0])
        #expect(Set(versions).count == rounds + 1)
        return DurabilityFixture(
            tc: tc, receipts: receipts, versions: versions, openLease: open, peers: peers, rounds: rounds)
    }

    var paths: CampaignPaths { CampaignPaths(directory: tc.directory) }

    /// A copy of the campaign directory (database snapshot, checkpoints, shards) to damage.
    ///
    /// The database is copied through SQLite's backup API: the fixture's coordinator may still be closing, and its
    /// pool checkpoints and removes the `-wal` file when the last connection goes, which made a plain directory copy
    /// fail now and then ("coordinator.sqlite-wal: file doesn't exist").
    func copy() throws -> CampaignPaths {
        let dir = NSTemporaryDirectory() + "crowdtrain-durability-\(UUID().uuidString)"
        let fm = FileManager.default
        let source = paths
        let copy = CampaignPaths(directory: dir)
        try fm.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let database = (source.database as NSString).lastPathComponent
        for name in try fm.contentsOfDirectory(atPath: tc.directory) where !name.hasPrefix(database) {
            try fm.copyItem(atPath: tc.directory + "/" + name, toPath: dir + "/" + name)
        }
        try SQLiteStore(path: source.database).backup(to: copy.database)
        return copy
    }

    func open(_ paths: CampaignPaths, logger: Logger = TestCampaign.logger) throws -> Coordinator {
        try Coordinator.open(directory: paths.directory, clock: tc.clock, logger: logger)
    }

    func remove() { tc.remove() }
}

/// A logger whose lines tests can read.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var all: [String] { lines.withLock { $0 } }

    var logger: Logger {
        var l = Logger(label: "crowdtrain.test.captured") { _ in Handler(log: self) }
        l.logLevel = .warning
        return l
    }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(
            level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String,
            file: String,
            function: String, line: UInt
        ) {
            log.lines.withLock { $0.append("\(level) \(message)") }
        }
    }
}
