import CrowdAggregation
import CrowdData
import CrowdEngine
import CrowdSim
import CrowdTestSupport
import Testing

/// Small crowds on synthetic images (a bright band per class, learnable in a few steps) so the debug build stays fast;
/// the full grid on Fashion-MNIST is `crowdtrain bench attack` (release).
@Suite struct SimulatedCrowdTests {
    static func images(count: Int, seed: UInt64) -> ImageDataset { SyntheticImages.bands(count: count, seed: seed) }

    static let train = images(count: 1600, seed: 1)
    static let test = images(count: 400, seed: 2)

    static func config(_ aggregator: AggregatorKind, _ defence: DefenceConfig) -> SimulatedCrowd.Config {
        var c = SimulatedCrowd.Config()
        c.peers = 6
        c.rounds = 4
        c.localSteps = 8
        c.batch = 32
        c.model = MLPConfig(inputs: 784, hidden: [32], classes: 10)
        c.probeSamples = 128
        c.aggregator = aggregator
        c.defence = defence
        c.seed = 7
        return c
    }

    func run(_ c: SimulatedCrowd.Config, attack: Attack?, f: Int) throws -> SimulatedCrowd.Result {
        let crowd = SimulatedCrowd(config: c, train: Self.train, test: Self.test)
        let hostile = Array(0..<f)
        return try crowd.run(hostile: Set(hostile)) { view in
            attack?.craft(view, hostile: hostile, peers: c.peers, seed: c.seed) ?? [:]
        }
    }

    @Test func aCleanCrowdLearnsAndIsDeterministic() throws {
        let c = Self.config(.mean, .off)
        let a = try run(c, attack: nil, f: 0)
        let b = try run(c, attack: nil, f: 0)
        #expect(a.testAccuracy > 0.6, "clean crowd reached only \(a.testAccuracy)")
        #expect(a.curve == b.curve)
        #expect(a.testLoss == b.testLoss)
    }

    /// The control shows the damage (undefended mean under one sign-flipped peer), the defended run does not.
    @Test func signFlipBreaksTheMeanButNotTheDefence() throws {
        let clean = try run(Self.config(.mean, .off), attack: nil, f: 0).testAccuracy
        let control = try run(Self.config(.mean, .off), attack: .signFlip, f: 1)
        let defended = try run(Self.config(.campaignDefault, .standard), attack: .signFlip, f: 1)
        #expect(control.testAccuracy < 0.3, "undefended mean kept \(control.testAccuracy) under sign-flip")
        #expect(control.hostileAggregated == 4)
        #expect(defended.testAccuracy > clean - 0.1, "defended \(defended.testAccuracy) vs clean \(clean)")
        #expect(defended.hostileAggregated == 0)
    }

    /// A free-rider (all-zero update) is never aggregated, so it never earns credit.
    @Test func zeroUpdatesAreNeverAggregated() throws {
        let r = try run(Self.config(.campaignDefault, .standard), attack: .zero, f: 2)
        #expect(r.hostileAggregated == 0)
        #expect(r.testAccuracy > 0.6)
    }

    /// Every attack crafts one update per hostile peer, of the model's size.
    @Test func everyAttackCraftsFullUpdates() throws {
        let c = Self.config(.mean, .off)
        let crowd = SimulatedCrowd(config: c, train: Self.train, test: Self.test)
        for attack in Attack.allCases {
            var sizes: [Int] = []
            _ = try crowd.run(hostile: [0, 1]) { view in
                let out = attack.craft(view, hostile: [0, 1], peers: c.peers, seed: 1)
                sizes = out.keys.sorted().map { out[$0]!.count }
                return out
            }
            let n = MLP(config: c.model, seed: 0).params.toArray().count
            #expect(sizes == [n, n], "\(attack.rawValue) crafted \(sizes)")
        }
    }
}
