import CBLAS

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
}

/// Matrix multiply `C = alpha · op(A) · op(B) + beta · C` on row-major matrices.
///
/// `op(A)` is M×K, `op(B)` is K×N, `C` is M×N; `lda`, `ldb`, `ldc` are the row strides of the
/// matrices as stored. `gemm` goes through OpenBLAS (`cblas_sgemm`); `gemmNaive` is its twin,
/// used by parity tests and as the documented meaning of the fast path.
public enum Gemm {
    /// BLAS path.
    @inlinable
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        cblas_sgemm(
            CblasRowMajor,
            transA == .none ? CblasNoTrans : CblasTrans,
            transB == .none ? CblasNoTrans : CblasTrans,
            Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// Reference triple loop with the same contract as `gemm` (accumulates in Double for a stable reference).
    public static func gemmNaive(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA == .none ? a[i * lda + p] : a[p * lda + i]
                    let bv = transB == .none ? b[p * ldb + j] : b[j * ldb + p]
                    s += Double(av) * Double(bv)
                }
                let prev: Float = beta == 0 ? 0 : beta * c[i * ldc + j]
                c[i * ldc + j] = alpha * Float(s) + prev
            }
        }
    }
}

/// Process-wide compute thread settings.
public enum ComputeThreads {
    /// Sets how many threads OpenBLAS uses (the engine's own loops are single-threaded).
    /// Call before training; 1 is the benchmark default.
    public static func set(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
    }

    /// The thread count OpenBLAS currently uses.
    public static var current: Int { Int(openblas_get_num_threads()) }
}
