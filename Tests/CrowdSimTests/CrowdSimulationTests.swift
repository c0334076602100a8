import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdSim
import Foundation
import Testing

/// `bench crowd`'s discrete-event simulation on synthetic images (debug-build sized): the virtual clock charges
/// exactly the round trips, transfers and compute of the time model; data parallelism sends every gradient in fp32;
/// sync rounds wait for their slowest peer; churn makes volunteers leave mid-lease and others take their places;
/// the population's draws and the plot are what they claim.
@Suite struct CrowdSimulationTests {
    static let crowd = QualityBenchmark.Workload.fmnistMLP(
        train: SimulatedCrowdTests.train, test: SimulatedCrowdTests.test, batch: 16)

    static let calibration: CrowdSimulation.Calibration = {
        let model = MLP(config: MLPConfig(inputs: SimulatedCrowdTests.train.features, hidden: [256, 128], classes: 10), seed: 5)
        let bytes = try! Checkpoint(model: model).encoded().count
        return .init(
            stepSeconds: 0.01, singleStepSeconds: 0.01, encodeSeconds: 0.002, checkpointBytes: bytes, parameters: model.layout.count)
    }()

    /// Options for `rounds` rounds of `peers` × 5 steps × 16 images, a target nobody reaches, speed 1, no churn.
    static func options(peers: Int, rounds: Int, strategies: [CrowdSimulation.Strategy]) -> CrowdSimulation.Options {
        var c = CampaignConfig(workload: .fmnistMLP)
        c.localSteps = 5
        c.batch = 16
        c.goalSamples = peers * 5 * 16 * rounds
        var o = CrowdSimulation.Options(campaign: c, target: 1.01, seed: 3)
        o.peers = [peers]
        o.strategies = strategies
        o.population.speedMin = 1
        o.population.speedMax = 1
        o.population.churn = false
        o.evalEverySteps = 1
        o.jobs = 2
        return o
    }

    static func run(_ o: CrowdSimulation.Options) throws -> CrowdSimulation.Report {
        try CrowdSimulation.run(crowd: crowd, single: crowd, options: o, calibration: calibration) { _ in }
    }

    @Test func aCampaignOfOnePaysItsRoundTripsTransfersAndComputeOnTheVirtualClock() throws {
        let o = Self.options(peers: 1, rounds: 3, strategies: [.sync])
        let r = try Self.run(o)
        let row = try #require(r.rows.first)
        #expect(row.updatesAggregated == 3 && row.steps == 3 && row.units == 3 * 5 * 16 && row.curve.count == 3)
        let links = o.links
        let cal = Self.calibration
        // Lease request and manifest (a round trip each), the checkpoint, 5 steps at speed 1, the upload.
        let upload = Double(row.bytesUp / 3) * 8 / (links.uplinkMbit * 1e6) + links.rttSeconds
        let work = 2 * links.rttSeconds + links.download(cal.checkpointBytes) + 5 * cal.stepSeconds + cal.encodeSeconds
            + upload
        let first = row.curve[0].seconds - row.curve[0].aggregationSeconds
        // Within 2 ms (2.5 kB at 10 Mbit/s: the first update's size against the mean): a missing round trip is 50 ms.
        #expect(abs(first - work) < 0.002, "the first update arrived at \(first) s, its work takes \(work) s")
        #expect(row.curve[0].aggregationSeconds > 0)
        // Later leases download the round's delta, not the checkpoint.
        #expect(row.bytesDown > cal.checkpointBytes && row.bytesDown < cal.checkpointBytes * 2, "\(row.bytesDown) bytes down")
        // The campaign of one of a population of speed 1 is this very campaign: the same virtual time but for the
        // coordinator's measured aggregation walls.
        func busy(_ r: CrowdSimulation.Row) -> Double { r.seconds - r.curve.map(\.aggregationSeconds).reduce(0, +) }
        #expect(abs(busy(r.campaignOfOne) - busy(row)) < 1e-9, "a campaign of one against itself: \(busy(r.campaignOfOne)) s, \(busy(row)) s")
        // The speedup divides the average peer's time alone: steps × step time / mean speed, evaluated every step.
        let alone = r.averagePeer.seconds
        #expect(abs(alone - Double(r.averagePeer.steps) * Self.calibration.singleStepSeconds) < 1e-9)
    }

    @Test func dataParallelismSendsEveryGradientInFullEveryStepAndIsRepeatable() throws {
        let o = Self.options(peers: 2, rounds: 3, strategies: [.dataParallel])
        let a = try Self.run(o).rows[0]
        let b = try Self.run(o).rows[0]
        let cal = Self.calibration
        let n = cal.parameters
        #expect(a.steps == 3 * 5 && a.units == a.steps * 2 * 16)
        #expect(a.bytesUp == a.steps * 2 * 4 * n)
        #expect(a.bytesDown == 2 * cal.checkpointBytes + a.steps * 2 * 4 * n)
        let step = cal.stepSeconds + o.links.upload(4 * n) + o.links.download(4 * n)
        let expected = o.links.download(cal.checkpointBytes) + Double(a.steps) * step
        #expect(abs(a.seconds - expected) < 1e-6, "\(a.seconds) s against \(expected) s")
        #expect(a.curve.map(\.value) == b.curve.map(\.value) && a.seconds == b.seconds, "a seeded run is repeatable")
    }

    @Test func syncRoundsWaitForTheirSlowestPeerAndAsyncClosesNoLater() throws {
        var o = Self.options(peers: 4, rounds: 2, strategies: [.sync, .async])
        o.population.speedMin = 0.25
        o.population.speedMax = 2
        let r = try Self.run(o)
        let sync = try #require(r.rows.first { $0.strategy == "sync" })
        let async = try #require(r.rows.first { $0.strategy == "async" })
        let slowest = (0..<4).map { o.population.session(place: $0, generation: 0).speed }.min()!
        let work = 5 * Self.calibration.stepSeconds / slowest + o.links.download(Self.calibration.checkpointBytes)
        #expect(sync.curve[0].seconds >= work, "sync closed round 1 at \(sync.curve[0].seconds) s, before its slowest peer's \(work) s")
        // Async closes its first version at the fourth update from anyone: never after the slowest first lease.
        #expect(async.curve[0].seconds - async.curve[0].aggregationSeconds <= sync.curve[0].seconds - sync.curve[0].aggregationSeconds + 1e-9)
        #expect(sync.updatesAggregated + sync.excluded.values.reduce(0, +) == 8)
    }

    @Test func churnMakesVolunteersLeaveMidLeaseAndOthersTakeTheirPlaces() throws {
        var o = Self.options(peers: 4, rounds: 3, strategies: [.sync])
        o.population.churn = true
        o.population.sessionSeconds = 1.5
        o.population.rejoinSeconds = 0.2
        var c = o.campaign
        c.minLeaseSeconds = 1
        c.leaseAllowanceSeconds = 0.5
        o.campaign = c
        let row = try Self.run(o).rows[0]
        #expect(row.departures > 0 && row.joins > 0, "\(row.departures) departures, \(row.joins) joins")
        #expect(row.updatesLost > 0, "no lease was lost to a departure")
        #expect(row.steps >= 1 && row.units > 0, "the campaign made no progress under churn")
        #expect(row.utilisation > 0 && row.utilisation < 1)
    }

    @Test func badOptionsAreRefusedWithWhatToChange() throws {
        var o = Self.options(peers: 1, rounds: 1, strategies: [.sync])
        o.population.speedMin = 0
        #expect(throws: SimulationError.self) { try Self.run(o) }
        o = Self.options(peers: 1, rounds: 1, strategies: [])
        #expect(throws: SimulationError.self) { try Self.run(o) }
        o = Self.options(peers: 1, rounds: 1, strategies: [.sync])
        o.links.uplinkMbit = 0
        #expect(throws: SimulationError.self) { try Self.run(o) }
    }

    @Test func speedsAreLogUniformAroundTheirMeanAndDrawsAreRepeatable() {
        var p = VolunteerPopulation(seed: 9)
        let speeds = (0..<20_000).map { p.session(place: $0, generation: 0).speed }
        #expect(speeds.allSatisfy { $0 >= 0.25 && $0 <= 2 })
        let mean = speeds.reduce(0, +) / Double(speeds.count)
        #expect(abs(mean - p.meanSpeed) / p.meanSpeed < 0.02, "sample mean \(mean) against \(p.meanSpeed)")
        #expect(p.session(place: 3, generation: 2) == p.session(place: 3, generation: 2))
        #expect(p.session(place: 3, generation: 2) != p.session(place: 3, generation: 1))
        let lengths = (0..<20_000).map { p.session(place: $0, generation: 1).length }
        #expect(abs(lengths.reduce(0, +) / 20_000 - p.sessionSeconds) / p.sessionSeconds < 0.05)
        p.churn = false
        #expect(p.session(place: 0, generation: 0).length == .infinity)
    }

    @Test func thePlotHasALineAndPointsPerStrategyAndThePerfectScalingLine() {
        let svg = SpeedupPlot.svg(
            title: "a & b", subtitle: "<test>",
            series: [
                .init(name: "sync", points: [(1, 1), (4, 2.5), (16, 5)]),
                .init(name: "dp", points: [(1, 0.01), (4, 0.02)]),
            ])
        #expect(svg.hasPrefix("<svg") && svg.hasSuffix("</svg>\n"))
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 3)
        #expect(svg.components(separatedBy: "<circle").count - 1 == 5)
        #expect(svg.contains("a &amp; b") && svg.contains("&lt;test&gt;"))
    }
}
