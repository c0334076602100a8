import CrowdAggregation
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// A crowd of peers simulated in one process with the real engine, codec and aggregation — only the network is
/// left out. Each round every peer trains `localSteps` SGD steps from the global model on its own iid slice of the
/// training set (a fresh optimizer per round, as `LeaseTrainer` does per lease), its Δ goes through the campaign
/// codec with error feedback (as the peer daemon sends it) and `RoundDefence` turns the round's updates into the
/// next model, exactly as `Coordinator.aggregate` does. A caller-supplied `Adversary` may replace some peers'
/// updates each round (`bench attack`).
public struct SimulatedCrowd: Sendable {
    /// What to simulate.
    public struct Config: Sendable {
        public var peers = 16
        public var rounds = 10
        public var localSteps = 25
        public var batch = 64
        public var inner = InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9)
        public var outer = OuterOptimizerConfig.diloco
        public var aggregator = AggregatorKind.mean
        public var defence = DefenceConfig.off
        public var codec = CodecSpec.int8(block: CodecSpec.defaultInt8Block)
        public var model = MLPConfig()
        /// Training images in the probe batch (the first ones of the training set, as the coordinator's first shard).
        public var probeSamples = 1024
        public var seed: UInt64 = 0
        public init() {}
    }

    /// What one run produced.
    public struct Result: Sendable {
        public var testAccuracy: Double
        public var testLoss: Double
        /// Test accuracy after each round.
        public var curve: [Double]
        /// Honest updates left out by the defence, and hostile ones aggregated (credited), over all rounds.
        public var honestExcluded: Int
        public var hostileAggregated: Int
        public var seconds: Double
    }

    /// What an adversary sees each round and returns: replacement updates for the peers it controls.
    public struct RoundView {
        public let round: Int
        /// The global parameters the round trains from.
        public let params: [Float]
        /// The decoded updates of the honest peers this round (omniscient attacker, as in ByzFL).
        public let honest: [[Float]]
        /// Trains `localSteps` from `params` on the given peer's slice with relabelled data (label flipping).
        public let trainShuffled: (Int) -> [Float]
    }

    public let config: Config
    let slices: [ImageDataset]
    let probe: [Batch]
    let test: [Batch]

    /// Splits `train` into `config.peers` iid slices (a seeded permutation) and keeps `test` for evaluation.
    public init(config: Config, train: ImageDataset, test: ImageDataset) {
        self.config = config
        var rng = SeededRNG(seed: config.seed ^ 0x5EED_C0DE)
        let order = rng.permutation(train.count)
        let per = train.count / config.peers
        slices = (0..<config.peers).map { p in Self.subset(train, order[(p * per)..<((p + 1) * per)]) }
        probe = [.images(train.batch(0..<min(config.probeSamples, train.count)))]
        self.test = BatchSampler.imageEvaluationBatches(test)
    }

    static func subset<C: Collection>(_ d: ImageDataset, _ idx: C) -> ImageDataset where C.Element == Int {
        var pixels: [UInt8] = []
        var labels: [UInt8] = []
        pixels.reserveCapacity(idx.count * d.features)
        for i in idx {
            pixels.append(contentsOf: d.pixels[(i * d.features)..<((i + 1) * d.features)])
            labels.append(d.labels[i])
        }
        return ImageDataset(count: labels.count, rows: d.rows, cols: d.cols, pixels: pixels, labels: labels)
    }

    /// Runs the simulation; `hostile` peers (indices) get their updates from `adversary` (nil: they are honest).
    public func run(hostile: Set<Int> = [], adversary: ((RoundView) -> [Int: [Float]])? = nil) throws -> Result {
        let start = Date()
        let c = config
        let model = MLP(config: c.model, seed: c.seed)
        _ = try c.inner.make(for: model.layout)  // an unknown optimizer fails here, not inside a peer
        var params = model.params.toArray()
        let n = params.count
        var strategy = OuterOptimizerStrategy(
            config: c.outer, aggregator: c.aggregator, parameterCount: n, leaseWeight: Double(c.localSteps * c.batch))
        let defence = RoundDefence(config: c.defence)
        var history = NormHistory(capacity: c.defence.historyLength)
        var sketches: [UpdateSketch] = []
        var feedback = (0..<c.peers).map { _ in ErrorFeedback(count: n) }
        let header = EnvelopeHeader(
            schemaHash: model.layout.schemaHash, round: 0, baseModel: [UInt8](repeating: 0, count: 32), codec: c.codec,
            elementCount: n)
        let expectation = EnvelopeExpectation(
            schemaHash: header.schemaHash, round: 0, baseModel: header.baseModel, elementCount: n, codec: c.codec)
        let probeModel = MLP(config: c.model, seed: 0)
        func loss(_ p: [Float], on batches: [Batch]) -> EvalSums {
            p.withUnsafeBufferPointer { probeModel.params.base.update(from: $0.baseAddress!, count: n) }
            return Evaluator.evaluate(model: probeModel, batches: batches)
        }
        var curve: [Double] = []
        var honestExcluded = 0, hostileAggregated = 0
        for round in 0..<c.rounds {
            let seed = SeededRNG(seed: c.seed).derived(UInt64(round + 1))
            func train(_ peer: Int, shuffledLabels: Bool) -> [Float] {
                var data = slices[peer]
                if shuffledLabels {
                    var r = seed.derived(0xF11B ^ UInt64(peer))
                    let labels = r.permutation(data.count).map { data.labels[$0] }
                    data = ImageDataset(count: data.count, rows: data.rows, cols: data.cols, pixels: data.pixels, labels: labels)
                }
                let m = MLP(config: c.model, seed: 0)
                params.withUnsafeBufferPointer { m.params.base.update(from: $0.baseAddress!, count: n) }
                let optimizer = try! c.inner.make(for: m.layout)
                var batchSeed = seed.derived(UInt64(peer))
                _ = LocalTrainer.run(
                    model: m, optimizer: optimizer, steps: c.localSteps, lr: { _ in c.inner.lr }, gradClip: c.inner.gradClip,
                    nextBatch: BatchSampler.images(data, batch: min(c.batch, data.count), seed: batchSeed.next()))
                let end = m.params.base
                return (0..<n).map { params[$0] - end[$0] }
            }
            // Honest peers: train, encode with error feedback, decode (what the coordinator receives).
            var updates = [[Float]](repeating: [], count: c.peers)
            var diverged = false
            for p in 0..<c.peers where !hostile.contains(p) {
                let delta = train(p, shuffledLabels: false)
                // Training from an exploded (finite but huge) model overflows: the run has diverged.
                guard AggregationMath.allFinite(delta) else {
                    diverged = true
                    break
                }
                let body = try feedback[p].encode(delta, header: header)
                updates[p] = try UpdateEnvelope.decode(body, expecting: expectation).values
            }
            if diverged {
                params = [Float](repeating: .nan, count: n)
                curve += [Double](repeating: 0, count: c.rounds - round)
                break
            }
            if let adversary, !hostile.isEmpty {
                let view = RoundView(
                    round: round, params: params, honest: (0..<c.peers).filter { !hostile.contains($0) }.map { updates[$0] },
                    trainShuffled: { train($0, shuffledLabels: true) })
                let crafted = adversary(view)
                for p in hostile {
                    guard let v = crafted[p] else { continue }
                    // Hostile updates travel through the same codec; values it cannot represent are sent raw as fp32
                    // would be refused at upload, so they are left out (as the coordinator would refuse them).
                    if let body = try? UpdateEnvelope.encode(v, header: header),
                        let decoded = try? UpdateEnvelope.decode(body, expecting: expectation).values
                    {
                        updates[p] = decoded
                    }
                }
            }
            let order = (0..<c.peers).filter { !updates[$0].isEmpty }
            // The upload screen, then the round's defence.
            var candidates: [RoundDefence.Candidate] = []
            var owners: [Int] = []
            for p in order {
                if case .success = UploadScreen.check(updates[p], config: c.defence, history: history) {
                    candidates.append(.init(delta: updates[p], weight: Double(c.localSteps * c.batch)))
                    owners.append(p)
                } else if !hostile.contains(p) {
                    honestExcluded += 1
                }
            }
            let probeBatches = probe
            let result = defence.run(
                params: params, candidates: candidates, strategy: &strategy, history: history, recent: sketches,
                probe: c.defence.probe ? { loss($0, on: probeBatches).meanLoss } : nil)
            for (k, v) in result.verdicts.enumerated() {
                let hostileOwner = hostile.contains(owners[k])
                if v.isAggregated {
                    history.append(v.norm)
                    if hostileOwner { hostileAggregated += 1 }
                    if c.defence.copyCosine <= 1 { sketches.append(UpdateSketch(candidates[k].delta)) }
                } else if !hostileOwner {
                    honestExcluded += 1
                }
            }
            if result.stepped, c.defence.copyCosine <= 1 {
                sketches.append(UpdateSketch(zip(params, result.params).map { $0 - $1 }))
            }
            if sketches.count > c.defence.historyLength + 8 { sketches.removeFirst(sketches.count - c.defence.historyLength - 8) }
            params = result.params
            guard AggregationMath.allFinite(params) else {
                // The model diverged (only possible without the defence): every later round would train from
                // NaN, so the run ends here with accuracy 0 for the remaining rounds.
                curve += [Double](repeating: 0, count: c.rounds - round)
                break
            }
            curve.append(loss(params, on: test).accuracy)
        }
        let final = loss(params, on: test)
        return Result(
            testAccuracy: AggregationMath.allFinite(params) ? final.accuracy : 0,
            testLoss: final.meanLoss.isFinite ? final.meanLoss : .infinity, curve: curve,
            honestExcluded: honestExcluded, hostileAggregated: hostileAggregated,
            seconds: Date().timeIntervalSince(start))
    }
}
