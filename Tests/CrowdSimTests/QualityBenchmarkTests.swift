import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdSim
import CrowdTraining
import Testing

/// `bench quality` on synthetic images (debug-build sized): every configuration gets the same budget, the curve
/// ends at the reported figure, the crowd learns, and the schedule and inner-state options change the run.
@Suite struct QualityBenchmarkTests {
    static let workload = QualityBenchmark.Workload.fmnistMLP(
        train: SimulatedCrowdTests.train, test: SimulatedCrowdTests.test, batch: 16)

    static func options(budget: Int = 16 * 40) -> QualityBenchmark.Options {
        var o = QualityBenchmark.Options(budget: budget)
        o.peers = [2, 4]
        o.localSteps = [5, 10]
        o.curvePoints = 3
        o.jobs = 2
        return o
    }

    @Test func everyConfigurationGetsTheSameBudgetAndTheBaselineRunsBeside() throws {
        let r = try QualityBenchmark.run(workload: Self.workload, options: Self.options()) { _ in }
        let single = try #require(r.single)
        #expect(single.units == 640 && single.innerSteps == 40 && single.syncs == 0)
        #expect(r.rows.map { "\($0.peers)x\($0.localSteps)" } == ["2x5", "2x10", "4x5", "4x10"])
        for row in r.rows {
            #expect(row.units == 640, "\(row.peers)×\(row.localSteps) used \(row.units) images")
            #expect(row.rounds * row.peers * row.localSteps == 40 && row.syncs == row.rounds)
            #expect(row.curve.last?.value == row.value && row.curve.last?.units == row.units)
            #expect(row.value > 0.5, "a crowd of \(row.peers) reached only \(row.value) on a learnable task")
        }
        #expect(single.value > 0.5)
    }

    @Test func withoutTheBaselineOnlyTheCrowdsRun() throws {
        var o = Self.options()
        o.baseline = false
        o.peers = [2]
        o.localSteps = [5]
        let r = try QualityBenchmark.run(workload: Self.workload, options: o) { _ in }
        #expect(r.single == nil && r.rows.count == 1 && r.rows[0].peers == 2)
    }

    @Test func scheduleAndInnerStateChangeTheRunAndABudgetTooSmallIsRefused() throws {
        var o = Self.options()
        o.peers = [2]
        o.localSteps = [5]
        o.baseline = false
        let plain = try QualityBenchmark.run(workload: Self.workload, options: o) { _ in }.rows[0]
        let again = try QualityBenchmark.run(workload: Self.workload, options: o) { _ in }.rows[0]
        #expect(plain.curve.map(\.value) == again.curve.map(\.value), "a seeded run is repeatable")
        o.schedule = .cosine
        let scheduled = try QualityBenchmark.run(workload: Self.workload, options: o) { _ in }.rows[0]
        o.keepInnerState = true
        let kept = try QualityBenchmark.run(workload: Self.workload, options: o) { _ in }.rows[0]
        #expect(scheduled.curve.map(\.value) != plain.curve.map(\.value))
        #expect(kept.curve.map(\.value) != scheduled.curve.map(\.value))
        var tiny = Self.options(budget: 10)
        tiny.peers = [4]
        #expect(throws: AggregationError.self) { try QualityBenchmark.run(workload: Self.workload, options: tiny) { _ in } }
    }
}
