import Testing
@testable import CrowdEngine

/// Verified work re-executes a peer's inner steps and compares states: the engine must give bit-identical training
/// whatever the thread count (OpenBLAS threads and the GPT's own parallel loops). Sizes are small but above
/// OpenBLAS's threading threshold (M·N·K > 4·65536) for several GEMMs, so 2 threads really split them.
@Suite(.serialized)
struct ThreadDeterminismTests {
    /// θ and optimizer state after the steps.
    struct Outcome {
        var params: [Float]
        var optimizer: OptimizerState
        var workers: Int?
    }

    /// Runs `steps` training steps (forward/backward, optional clipping, optimizer step) at `threads` compute threads.
    static func train(
        threads: Int, steps: Int, model make: () -> any TrainableModel,
        optimizer makeOptimizer: (any TrainableModel) -> any Optimizer, lr: Float, clip: Float,
        batch: (Int) -> Batch
    ) -> Outcome {
        let before = ComputeThreads.current
        ComputeThreads.set(threads)
        defer { ComputeThreads.set(before) }
        let model = make()
        let optimizer = makeOptimizer(model)
        for s in 0..<steps {
            _ = model.forwardBackward(batch(s))
            if clip > 0 { clipGradNorm(model.grads, maxNorm: clip) }
            optimizer.step(params: model.params, grads: model.grads, lr: lr)
        }
        return Outcome(
            params: model.params.toArray(), optimizer: optimizer.state, workers: (model as? GPT)?.acts?.workers)
    }

    /// Elements whose bits differ (`Int.max` for different lengths); compared as a count so a failure stays readable.
    static func differing(_ a: [Float], _ b: [Float]) -> Int {
        guard a.count == b.count else { return .max }
        return zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count
    }

    static func expectIdentical(_ a: Outcome, _ b: Outcome) {
        #expect(a.params.allSatisfy { $0.isFinite })
        #expect(differing(a.params, b.params) == 0, "parameters differ between 1 and 2 threads")
        #expect(a.optimizer.step == b.optimizer.step)
        #expect(a.optimizer.buffers.count == b.optimizer.buffers.count)
        for (x, y) in zip(a.optimizer.buffers, b.optimizer.buffers) {
            #expect(differing(x, y) == 0, "optimizer state differs between 1 and 2 threads")
        }
    }

    @Test func partitionCoversCAlignedAndIgnoresThreads() {
        for (m, n, k) in [(64, 256, 784), (256, 784, 64), (768, 384, 128), (1000, 37, 300), (8, 8, 8), (333, 999, 50)] {
            let p = GemmPartition.plan(m: m, n: n, k: k)
            let extent = p.alongRows ? m : n
            #expect(p.count >= 1 && p.count <= GemmPartition.maxBlocks)
            #expect((p.count - 1) * p.size < extent && p.count * p.size >= extent, "\(m)×\(n)×\(k): \(p)")
            if p.count > 1 { #expect(p.size % GemmPartition.alignment == 0) }
        }
        // Small products stay one call.
        #expect(GemmPartition.plan(m: 64, n: 64, k: 64).count == 1)
    }

    @Test func partitionedGemmIsBitwiseAcrossThreadCountsAndCorrect() {
        // 203×141×100 NT and TN: large enough to be cut into blocks, no dimension a multiple of a register tile.
        var rng = SeededRNG(seed: 77)
        let m = 203, n = 141, k = 100
        let a = (0..<(m * k)).map { _ in rng.uniform(-1, 1) }, b = (0..<(k * n)).map { _ in rng.uniform(-1, 1) }
        let c0 = (0..<(m * n)).map { _ in rng.uniform(-1, 1) }
        #expect(GemmPartition.plan(m: m, n: n, k: k).count > 1)
        for (ta, tb) in [(Transpose.none, Transpose.transposed), (.transposed, .none)] {
            func product(threads: Int, naive: Bool = false) -> [Float] {
                let before = ComputeThreads.current
                ComputeThreads.set(threads)
                defer { ComputeThreads.set(before) }
                var c = c0
                let lda = ta == .none ? k : m, ldb = tb == .none ? n : k
                a.withUnsafeBufferPointer { ap in
                    b.withUnsafeBufferPointer { bp in
                        c.withUnsafeMutableBufferPointer { cp in
                            let f = naive ? Gemm.gemmNaive : Gemm.gemm
                            f(ta, tb, m, n, k, 0.5, ap.baseAddress!, lda, bp.baseAddress!, ldb, 0.25, cp.baseAddress!, n)
                        }
                    }
                }
                return c
            }
            let one = product(threads: 1), two = product(threads: 2), exact = product(threads: 1, naive: true)
            #expect(Self.differing(one, two) == 0, "\(ta)\(tb): 1 and 2 threads differ")
            let err = zip(one, exact).map { abs($0 - $1) }.max() ?? 0
            #expect(err < 1e-3, "\(ta)\(tb): max error \(err) against the naive GEMM")
        }
    }

    @Test func mlpTrainingIsBitwiseAcrossThreadCounts() {
        let config = MLPConfig(inputs: 196, hidden: [128, 64], classes: 10)
        let rows = 32
        func batch(_ s: Int) -> Batch {
            var rng = SeededRNG(seed: 500 + UInt64(s))
            let x = (0..<(rows * config.inputs)).map { _ in rng.uniform(0, 1) }
            let y = (0..<rows).map { _ in Int32(rng.next() % UInt64(config.classes)) }
            return .images(ImageBatch(count: rows, features: config.inputs, inputs: x, labels: y))
        }
        func run(_ threads: Int) -> Outcome {
            Self.train(
                threads: threads, steps: 5, model: { MLP(config: config, seed: 21) },
                optimizer: { SGD(count: $0.layout.count, momentum: 0.9) }, lr: 0.05, clip: 0, batch: batch)
        }
        let one = run(1), two = run(2)
        Self.expectIdentical(one, two)
    }

    @Test func gptTrainingIsBitwiseAcrossThreadCounts() {
        let config = GPTConfig(layers: 2, heads: 2, width: 64, block: 32)
        let sequences = 4
        func batch(_ s: Int) -> Batch {
            var rng = SeededRNG(seed: 900 + UInt64(s))
            let text = (0..<(sequences * (config.block + 1))).map { _ in Int32(rng.next() % 256) }
            var inputs: [Int32] = [], targets: [Int32] = []
            for b in 0..<sequences {
                let row = text[(b * (config.block + 1))..<((b + 1) * (config.block + 1))]
                inputs += row.dropLast()
                targets += row.dropFirst()
            }
            return .tokens(TokenBatch(batch: sequences, block: config.block, inputs: inputs, targets: targets))
        }
        func run(_ threads: Int) -> Outcome {
            Self.train(
                threads: threads, steps: 5, model: { GPT(config: config, seed: 1337) },
                optimizer: { AdamW(layout: $0.layout, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1) },
                lr: 2e-3, clip: 1, batch: batch)
        }
        let one = run(1), two = run(2)
        #expect(one.workers == 1)
        #expect(two.workers == 2, "the GPT's own loops did not run on 2 workers")
        Self.expectIdentical(one, two)
    }
}
