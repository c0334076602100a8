import Foundation
import Testing

@testable import CrowdCoordinator

@Suite struct LeaseDeadlinePolicyTests {
    let policy = LeaseDeadlinePolicy(safetyFactor: 3, minSeconds: 30, maxSeconds: 180, allowanceSeconds: 10)

    @Test func measuredThroughputTimesTheSafetyFactor() {
        // 6400 samples at 320 samples/s = 20 s of training; × 3 + 10 s allowance = 70 s.
        let d = policy.duration(samples: 6400, measured: 320, hint: 10_000)
        #expect(d.basis == .measured && abs(d.seconds - 70) < 1e-9)
    }

    @Test func clampedToMinimumAndMaximum() {
        #expect(policy.duration(samples: 6400, measured: 1e6, hint: nil).seconds == 30)
        #expect(policy.duration(samples: 6400, measured: 1, hint: nil).seconds == 180)
        // A minimum above the maximum never lengthens a lease beyond leaseSeconds.
        let short = LeaseDeadlinePolicy(safetyFactor: 3, minSeconds: 30, maxSeconds: 5, allowanceSeconds: 0)
        #expect(short.duration(samples: 1, measured: 1e6, hint: nil).seconds == 5)
    }

    @Test func hintCanOnlyShortenAndIsUsedWithoutHistory() {
        let fast = policy.duration(samples: 6400, measured: nil, hint: 640)
        #expect(fast.basis == .hint && abs(fast.seconds - 40) < 1e-9)
        // A lying "very slow" hint cannot buy more than leaseSeconds.
        #expect(policy.duration(samples: 6400, measured: nil, hint: 0.001).seconds == 180)
        // No usable estimate: the full leaseSeconds.
        for bad in [nil, 0, -5, Double.nan, Double.infinity] as [Double?] {
            let d = policy.duration(samples: 6400, measured: nil, hint: bad)
            #expect(d.seconds == 180 && d.basis == LeaseDeadlinePolicy.Basis.none)
        }
    }

    @Test func campaignKeysDecodeWithDefaultsAndValidate() throws {
        let json = #"{"workload": "fmnist-mlp", "aggregation": {"mode": "async", "bufferSize": 2}}"#
        let c = try JSONDecoder().decode(CampaignConfig.self, from: Data(json.utf8))
        #expect(c.aggregation.mode == .async && c.aggregation.bufferSize == 2 && c.aggregation.maxStaleness == 4)
        #expect(c.leaseSafetyFactor == 3 && c.minLeaseSeconds == 30 && c.leaseAllowanceSeconds == 10)
        try c.validate()
        let plain = try JSONDecoder().decode(CampaignConfig.self, from: Data(#"{"workload": "fmnist-mlp"}"#.utf8))
        #expect(plain.aggregation == .sync)
        #expect(RoundStateMachine.Settings(plain).closingCount == plain.peersPerRound)

        let bad = #"{"workload": "fmnist-mlp", "aggregation": {"mode": "eventual"}}"#
        #expect(throws: CoordinatorError.self) { try JSONDecoder().decode(CampaignConfig.self, from: Data(bad.utf8)) }
        var c2 = c
        c2.aggregation.maxStaleness = -1
        #expect(throws: CoordinatorError.self) { try c2.validate() }
        var c3 = plain
        c3.aggregation.bufferSize = 7  // sync mode: the quorum is peersPerRound
        #expect(throws: CoordinatorError.self) { try c3.validate() }
        var c4 = plain
        c4.leaseSafetyFactor = 0.5
        #expect(throws: CoordinatorError.self) { try c4.validate() }
        // Round trip through campaign.json keeps the new keys.
        let again = try JSONDecoder().decode(CampaignConfig.self, from: try JSONEncoder().encode(c))
        #expect(again == c)
    }
}
