import CrowdCLI
import ArgumentParser
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// What a segment of a workload needs: the campaign defaults (`CampaignConfig(workload:)`: model, batch, block, inner
/// optimizer), a seeded model and a seeded batch stream.
struct DeterminismWorkload {
    let name: WorkloadName
    let inner: InnerOptimizerConfig
    let batch: Int
    let makeModel: (UInt64) -> any TrainableModel
    let sampler: (UInt64) -> () -> Batch

    static func load(_ name: WorkloadName) throws -> DeterminismWorkload {
        let campaign = CampaignConfig(workload: name)
        switch name {
        case .fmnistMLP:
            let (train, _) = try FashionMNIST.load()
            let config = MLPConfig(inputs: train.features, hidden: MLPConfig().hidden, classes: FashionMNIST.classes)
            let batch = campaign.batch
            return DeterminismWorkload(
                name: name, inner: campaign.inner, batch: batch, makeModel: { MLP(config: config, seed: $0) },
                sampler: { BatchSampler.images(train, batch: batch, seed: $0) })
        case .kjvGPT:
            let (train, _) = try TextCorpus.kjv().split(trainFraction: 0.9)
            let config = GPTConfig(block: campaign.block ?? GPTConfig().block)
            let batch = campaign.batch
            return DeterminismWorkload(
                name: name, inner: campaign.inner, batch: batch, makeModel: { GPT(config: config, seed: $0) },
                sampler: { BatchSampler.text(train, batch: batch, block: config.block, seed: $0) })
        }
    }

    /// One step at the inner optimizer's peak learning rate (the schedule's largest steps: the hardest case).
    func step(_ model: any TrainableModel, _ optimizer: any Optimizer, _ next: () -> Batch) {
        let lr = inner.lr
        _ = LocalTrainer.run(
            model: model, optimizer: optimizer, steps: 1, lr: { _ in lr }, gradClip: inner.gradClip, nextBatch: next)
    }
}

// MARK: - States and their file

/// θ and the optimizer state at one point of a run.
struct TrainingState {
    var label: String
    var params: [Float]
    var optimizer: OptimizerState

    init(label: String, model: any TrainableModel, optimizer: any Optimizer) {
        self.label = label
        self.params = model.params.toArray()
        self.optimizer = optimizer.state
    }

    init(label: String, params: [Float], optimizer: OptimizerState) {
        self.label = label
        self.params = params
        self.optimizer = optimizer
    }

    /// Same bits in the parameters, the optimizer buffers and the step counter.
    func bitwiseEqual(_ o: TrainingState) -> Bool {
        guard optimizer.kind == o.optimizer.kind, optimizer.step == o.optimizer.step,
              optimizer.buffers.count == o.optimizer.buffers.count
        else { return false }
        return Self.sameBits(params, o.params)
            && zip(optimizer.buffers, o.optimizer.buffers).allSatisfy { Self.sameBits($0, $1) }
    }

    static func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
        guard a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in memcmp(x.baseAddress!, y.baseAddress!, x.count) == 0 } }
    }

    /// ‖a − b‖₂ in Double.
    static func distance(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count, "states of different sizes")
        var s = 0.0
        for i in a.indices {
            let d = Double(a[i]) - Double(b[i])
            s += d * d
        }
        return s.squareRoot()
    }

    static func norm(_ a: [Float]) -> Double {
        var s = 0.0
        for x in a { s += Double(x) * Double(x) }
        return s.squareRoot()
    }

    /// `(param_rel_diff, optimizer_rel_diff)` of `self` against `reference`, both reached from `start`.
    func relativeDiffs(to reference: TrainingState, start: TrainingState) -> (params: Double, optimizer: Double) {
        let movement = Self.distance(reference.params, start.params)
        let dp = Self.distance(params, reference.params)
        let p = dp == 0 ? 0 : dp / movement
        var o = 0.0
        for (b, r) in zip(optimizer.buffers, reference.optimizer.buffers) {
            let d = Self.distance(b, r)
            if d > 0 { o = max(o, d / Self.norm(r)) }
        }
        if optimizer.buffers.count != reference.optimizer.buffers.count { o = .infinity }
        return (p, o)
    }
}

/// A file of `TrainingState`s after a JSON header: `u32 headerLength, header`, then per state `u32 labelLength,
/// label, u32 kindLength, kind, i64 step, u64 paramCount, params, u32 bufferCount, (u64 count, floats)…`; native
/// byte order (written and read by the same binary on the same machine).
enum TrainingStateFile {
    static func write<H: Encodable>(_ states: [TrainingState], header: H, to path: String) throws {
        var d = Data()
        func u32(_ v: Int) { withUnsafeBytes(of: UInt32(v)) { d.append(contentsOf: $0) } }
        func u64(_ v: Int) { withUnsafeBytes(of: UInt64(v)) { d.append(contentsOf: $0) } }
        func string(_ s: String) { u32(s.utf8.count); d.append(contentsOf: Array(s.utf8)) }
        func floats(_ a: [Float]) { u64(a.count); a.withUnsafeBytes { d.append(contentsOf: $0) } }
        let h = try JSONEncoder().encode(header)
        u32(h.count)
        d.append(h)
        u32(states.count)
        for s in states {
            string(s.label)
            string(s.optimizer.kind)
            u64(s.optimizer.step)
            floats(s.params)
            u32(s.optimizer.buffers.count)
            for b in s.optimizer.buffers { floats(b) }
        }
        try d.write(to: URL(fileURLWithPath: path))
    }

    static func read<H: Decodable>(_ path: String, header: H.Type) throws -> (H, [TrainingState]) {
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        var at = 0
        func take(_ n: Int) throws -> Data {
            guard n >= 0, at + n <= d.count else { throw DeterminismError("\(path) is truncated") }
            defer { at += n }
            return d.subdata(in: at..<(at + n))
        }
        func u32() throws -> Int { Int(try take(4).withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) }
        func u64() throws -> Int { Int(try take(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }) }
        func string() throws -> String { String(decoding: try take(try u32()), as: UTF8.self) }
        func floats() throws -> [Float] {
            let n = try u64()
            let bytes = try take(n * 4)
            return bytes.withUnsafeBytes { raw in
                [Float](unsafeUninitializedCapacity: n) { buf, count in
                    if n > 0 { memcpy(buf.baseAddress!, raw.baseAddress!, n * 4) }
                    count = n
                }
            }
        }
        let header = try JSONDecoder().decode(H.self, from: try take(try u32()))
        var states: [TrainingState] = []
        for _ in 0..<(try u32()) {
            let label = try string()
            let kind = try string()
            let step = try u64()
            let params = try floats()
            var buffers: [[Float]] = []
            for _ in 0..<(try u32()) { buffers.append(try floats()) }
            states.append(TrainingState(
                label: label, params: params, optimizer: OptimizerState(kind: kind, step: step, buffers: buffers)))
        }
        return (header, states)
    }
}

// MARK: - The child

/// What the parent asks a child to run.
struct DeterminismChildSpec: Codable {
    var workload: String
    var threads: Int
    var modelSeed: UInt64
    var samplerSeed: UInt64
    /// File of start states (labels `init`, `warm`).
    var startFile: String
    /// Steps after which the state is saved (labelled `start@k`).
    var snapshots: [Int]
}

/// What a child reports about itself (the header of its output file).
struct DeterminismChildHeader: Codable {
    var variant: String
    var kernel: String
    var summary: String
    var threads: Int
    var seconds: Double
}

enum DeterminismChild {
    static func run(variant: String, specPath: String, outPath: String) throws {
        let spec = try JSONDecoder().decode(DeterminismChildSpec.self, from: Data(contentsOf: URL(fileURLWithPath: specPath)))
        guard let name = WorkloadName(rawValue: spec.workload) else {
            throw DeterminismError("unknown workload \(spec.workload)")
        }
        // Before any model exists: the GPT's own loops take their worker count from here.
        ComputeThreads.set(spec.threads)
        let workload = try DeterminismWorkload.load(name)
        let (_, starts) = try TrainingStateFile.read(spec.startFile, header: [String: String].self)
        let clock = DispatchTime.now().uptimeNanoseconds
        var out: [TrainingState] = []
        let snapshots = Set(spec.snapshots)
        let last = spec.snapshots.max() ?? 0
        for start in starts {
            let model = workload.makeModel(spec.modelSeed)
            guard model.params.count == start.params.count else {
                throw DeterminismError("start state \(start.label) has \(start.params.count) parameters, the model \(model.params.count)")
            }
            start.params.withUnsafeBufferPointer { model.params.base.update(from: $0.baseAddress!, count: $0.count) }
            let optimizer = try workload.inner.make(for: model.layout)
            try optimizer.restore(start.optimizer)
            let next = workload.sampler(spec.samplerSeed)
            for k in 1...max(1, last) {
                workload.step(model, optimizer, next)
                if snapshots.contains(k) {
                    out.append(TrainingState(label: "\(start.label)@\(k)", model: model, optimizer: optimizer))
                }
            }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - clock) / 1e9
        let b = BLASBackend.shared
        let header = DeterminismChildHeader(
            variant: variant, kernel: b.kernel, summary: b.summary, threads: ComputeThreads.current, seconds: seconds)
        try TrainingStateFile.write(out, header: header, to: outPath)
    }
}

/// `bench determinism` failed; the message says why.
struct DeterminismError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
