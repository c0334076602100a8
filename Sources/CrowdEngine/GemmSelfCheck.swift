import CBLAS

/// The numeric gate every BLAS kernel passes before the engine uses it: a forced OpenBLAS core type on a CPU
/// the library does not know could compute garbage, so the chosen `sgemm` is compared with `Gemm.gemmNaive`
/// (Double accumulation) on every transpose combination, with alpha/beta ≠ 1/0 and sizes that are not
/// multiples of any register block, small (OpenBLAS's small-matrix path) and medium (its packed kernels).
/// About 5 M multiply-adds in the naive loop: a few milliseconds once per process in a release build.
public enum GemmSelfCheck {
    /// Largest accepted error, relative to the largest magnitude of the reference result. fp32 GEMM over
    /// k ≤ 300 of values in [-1, 1] stays below 1e-6; a wrong kernel gives errors of order 1.
    public static let tolerance: Float = 1e-4

    /// `(m, n, k, alpha, beta)` of each case; every case runs with all four transpose combinations.
    static let cases: [(Int, Int, Int, Float, Float)] = [
        (1, 1, 1, 1, 0), (7, 5, 3, 0.5, 1), (37, 29, 71, 0.75, 0.5), (17, 130, 33, 1, 1), (130, 97, 150, 1, 0),
    ]

    /// The largest relative error of `sgemm` against the naive GEMM over all cases (`.infinity` on NaN).
    public static func maxRelativeError(_ sgemm: SGEMMFunction) -> Float {
        var rng = SeededRNG(seed: 0x5E1F_C4EC)
        var worst: Float = 0
        for (m, n, k, alpha, beta) in cases {
            for (ta, tb) in [(Transpose.none, Transpose.none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed)] {
                let (lda, ldb, ldc) = (ta == .none ? k + 1 : m + 2, tb == .none ? n + 3 : k, n + 1)
                let a = (0..<(ta == .none ? m : k) * lda).map { _ in rng.uniform(-1, 1) }
                let b = (0..<(tb == .none ? k : n) * ldb).map { _ in rng.uniform(-1, 1) }
                let c0 = (0..<m * ldc).map { _ in rng.uniform(-1, 1) }
                var got = c0, want = c0
                sgemm(
                    CblasRowMajor, ta == .none ? CblasNoTrans : CblasTrans, tb == .none ? CblasNoTrans : CblasTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, &got, Int32(ldc))
                Gemm.gemmNaive(
                    ta, tb, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: &want,
                    ldc: ldc)
                var scale: Float = 1e-30, err: Float = 0
                for i in 0..<m {
                    for j in 0..<n {
                        let w = want[i * ldc + j], g = got[i * ldc + j]
                        guard g.isFinite else { return .infinity }
                        scale = max(scale, abs(w))
                        err = max(err, abs(g - w))
                    }
                    // The padding past column n must be untouched.
                    for j in n..<ldc where got[i * ldc + j] != c0[i * ldc + j] { return .infinity }
                }
                worst = max(worst, err / scale)
            }
        }
        return worst
    }
}
