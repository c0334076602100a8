import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation
import Logging
import Synchronization

import CrowdCoordinator

/// A clock tests move by hand.
package final class ManualClock: CoordinatorClock {
    private let time = Mutex<Double>(1_000_000)
    package init() {}
    package func now() -> Double { time.withLock { $0 } }
    package func advance(_ seconds: Double) { time.withLock { $0 += seconds } }
}

/// A tiny campaign in a temporary directory: synthetic 28×28 images whose class is a bright
/// horizontal band, an MLP 784-8-10, 2 local steps of 8 images per lease.
package struct TestCampaign {
    package let directory: String
    package let clock: ManualClock
    package let config: CampaignConfig

    /// 28×28 images whose class is a bright horizontal band (`SyntheticImages.bands`).
    package static func syntheticImages(count: Int, seed: UInt64) -> ImageDataset {
        SyntheticImages.bands(count: count, seed: seed, noise: 40)
    }

    /// Creates the campaign; `configure` edits the defaults first.
    package static func make(_ configure: (inout CampaignConfig) -> Void = { _ in }) throws -> TestCampaign {
        let dir = NSTemporaryDirectory() + "crowdtrain-coord-\(UUID().uuidString)"
        var config = CampaignConfig(workload: .fmnistMLP, name: "test campaign")
        config.port = 0
        config.peersPerRound = 2
        config.minUpdates = 1
        config.localSteps = 2
        config.batch = 8
        config.evalSamples = 100
        config.goalSamples = 1_000_000
        config.inner.schedule = .constant  // the goal is far beyond these runs (LeaseScheduleTests covers schedules)
        config.roundDeadlineSeconds = 100
        config.leaseSeconds = 50
        config.codec = "fp32"
        // These tests check the coordinator's mechanics with synthetic deltas (constant vectors, exact sums), so
        // the plain mean and no copy/probe/clip rules; the defence has its own tests (DefenceTests).
        config.aggregator = .mean
        config.defence = TestCampaign.mechanicsDefence
        // Synthetic deltas carry no trajectory: verified work has its own tests (VerifiedWorkTests), which turn it on.
        config.verification.enabled = false
        configure(&config)
        let clock = ManualClock()
        _ = try CampaignInitializer.create(
            directory: dir, config: config,
            data: .images(
                train: syntheticImages(count: 240, seed: 1), evaluation: syntheticImages(count: 100, seed: 2)),
            modelConfigJSON: try JSONEncoder().encode(MLPConfig(hidden: [8])), shardSize: 60, now: clock.now())
        return TestCampaign(directory: dir, clock: clock, config: config)
    }

    /// Finite values and the duplicate-values rule only: no tiny, copy, probe, clip or explode checks.
    package static let mechanicsDefence = DefenceConfig(
        rejectMultiplier: 1e12, clipMultiplier: 1e12, tinyFraction: 0, copyCosine: 2, probe: false, explodeFactor: 1e30)

    /// Tests log warnings and errors only.
    package static let logger: Logger = {
        var l = Logger(label: "crowdtrain.coordinator.test")
        l.logLevel = .warning
        return l
    }()

    package func open() throws -> Coordinator { try Coordinator.open(directory: directory, clock: clock, logger: Self.logger) }

    package func app() throws -> CoordinatorApp {
        try CoordinatorApp.build(
            directory: directory, port: 0, clock: clock, logger: Self.logger, tickInterval: .seconds(3600))
    }

    package func invite(_ n: Int = 1) throws -> [String] {
        try CampaignInitializer.invite(directory: directory, count: n, note: "test", now: clock.now())
    }

    /// Raw SQL count on the campaign database (read-only check that nothing was recorded).
    package func count(_ table: String) throws -> Int {
        try SQLiteStore(path: CampaignPaths(directory: directory).database).count(table)
    }

    package func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Encodes an update envelope for `lease` from the base checkpoint bytes `base`.
///
/// The coordinator refuses values it already holds (a replay), and these tests upload the same synthetic vector for
/// several leases, so one lease-specific value gets a nudge of 1e-6 (below every tolerance used).
/// `exact: true` sends the values unchanged.
package func envelope(
    _ values: [Float], lease: Lease, base: Data, codec: CodecSpec = .fp32, round: UInt64? = nil,
    schemaHash: UInt64? = nil, baseModel: [UInt8]? = nil, exact: Bool = false, commitment: WorkCommitment? = nil
) throws -> Data {
    var values = values
    if !exact, !values.isEmpty {
        let h = lease.leaseID.utf8.reduce(UInt64(14_695_981_039_346_656_037)) { ($0 ^ UInt64($1)) &* 1_099_511_628_211 }
        values[Int(h % UInt64(values.count))] += 1e-6
    }
    let header = EnvelopeHeader(
        schemaHash: schemaHash ?? lease.schemaHash, round: round ?? lease.round,
        baseModel: baseModel ?? ContentDigest.bytes(base), codec: codec, elementCount: values.count,
        commitment: commitment)
    return try UpdateEnvelope.encode(values, header: header)
}

extension Coordinator {
    /// Moves the test clock and runs the round timer once (closes a round whose deadline passed).
    package func advanceAndTick(_ tc: TestCampaign, seconds: Double) async {
        tc.clock.advance(seconds)
        tickLogged()
    }
}
