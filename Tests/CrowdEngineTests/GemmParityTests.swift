import Testing
@testable import CrowdEngine

/// `Gemm.gemm` (OpenBLAS) against its naive twin on odd shapes, every transpose combination,
/// padded leading dimensions and alpha/beta variants. Tolerance: 1e-4 relative to the magnitude
/// of the accumulated terms (float32 accumulation over k ≤ 129).
struct GemmParityTests {
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (3, 7, 5), (7, 3, 1), (1, 9, 13), (65, 129, 33), (64, 10, 128), (17, 1, 64),
    ]
    static let transposes: [(Transpose, Transpose)] = [
        (.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ]

    @Test(arguments: 0..<4)
    func blasMatchesNaive(transposeCase: Int) {
        let (ta, tb) = Self.transposes[transposeCase]
        var rng = SeededRNG(seed: 42 + UInt64(transposeCase))
        for s in Self.shapes {
            for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (-2, 0.25)] {
                // Stored shapes, with one extra column of padding to exercise leading dimensions.
                let (ar, ac) = ta == .none ? (s.m, s.k) : (s.k, s.m)
                let (br, bc) = tb == .none ? (s.k, s.n) : (s.n, s.k)
                let lda = ac + 1, ldb = bc + 1, ldc = s.n + 1
                let a = (0..<(ar * lda)).map { _ in rng.uniform(-1, 1) }
                let b = (0..<(br * ldb)).map { _ in rng.uniform(-1, 1) }
                let c0 = (0..<(s.m * ldc)).map { _ in rng.uniform(-1, 1) }
                var fast = c0, slow = c0
                Gemm.gemm(
                    ta, tb, m: s.m, n: s.n, k: s.k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    beta: beta, c: &fast, ldc: ldc)
                Gemm.gemmNaive(
                    ta, tb, m: s.m, n: s.n, k: s.k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                    beta: beta, c: &slow, ldc: ldc)
                var worst: Float = 0
                for i in 0..<s.m {
                    for j in 0..<s.n {
                        worst = max(worst, abs(fast[i * ldc + j] - slow[i * ldc + j]))
                    }
                    // Padding columns are never written.
                    #expect(fast[i * ldc + s.n] == c0[i * ldc + s.n])
                }
                #expect(
                    worst <= 1e-4 * Float(s.k) * max(1, abs(alpha)), "shape \(s) \(ta)/\(tb) α=\(alpha) β=\(beta)")
            }
        }
    }

    @Test func naiveComputesAKnownProduct() {
        // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        Gemm.gemmNaive(.none, .none, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, beta: 0, c: &c, ldc: 2)
        #expect(c == [19, 22, 43, 50])
        var ct = [Float](repeating: 0, count: 4)
        // Aᵀ · B = [[1,3],[2,4]] · [[5,6],[7,8]] = [[26,30],[38,44]]
        Gemm.gemm(.transposed, .none, m: 2, n: 2, k: 2, a: a, lda: 2, b: b, ldb: 2, beta: 0, c: &ct, ldc: 2)
        #expect(ct == [26, 30, 38, 44])
    }
}
