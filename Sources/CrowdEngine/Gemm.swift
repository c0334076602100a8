import CBLAS

/// Whether a matrix operand is used as stored or transposed.
public enum Transpose: Sendable {
    case none, transposed
}

/// Matrix multiply `C = alpha · op(A) · op(B) + beta · C` on row-major matrices.
///
/// `op(A)` is M×K, `op(B)` is K×N, `C` is M×N; `lda`, `ldb`, `ldc` are the row strides of the
/// matrices as stored. `gemm` goes through the process's `BLASBackend` (OpenBLAS with a core type chosen
/// from the CPU's features, or `gemmPortable` if OpenBLAS is missing or failed its self-check);
/// `gemmNaive` is the twin of every path, used by parity tests, the self-check and as the documented meaning.
public enum Gemm {
    /// The fast path (`BLASBackend.shared`).
    public static func gemm(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        if m == 0 || n == 0 { return }
        guard !KernelOverride.portable, let sgemm = BLASBackend.shared.sgemm else {
            gemmPortable(transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                         c: c, ldc: ldc)
            return
        }
        // One OpenBLAS thread per call, blocks of C fixed by the shape: bit-identical whatever the thread count.
        GemmPartition.run(
            sgemm, transA, transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c,
            ldc: ldc)
    }

    /// The engine's own GEMM (no BLAS): the fallback when OpenBLAS is missing or fails its self-check.
    /// Row-wise axpy (`C[i,:] += a·B[p,:]`, contiguous and vectorised) when B is not transposed, dot products
    /// with four accumulators when it is. Single-threaded, fixed summation order.
    public static func gemmPortable(
        _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        for i in 0..<m {
            let crow = c + i * ldc
            if beta == 0 {
                for j in 0..<n { crow[j] = 0 }
            } else if beta != 1 {
                for j in 0..<n { crow[j] *= beta }
            }
            if transB == .none {
                for p in 0..<k {
                    let av = alpha * (transA == .none ? a[i * lda + p] : a[p * lda + i])
                    if av == 0 { continue }
                    let brow = b + p * ldb
                    for j in 0..<n { crow[j] += av * brow[j] }
                }
            } else {
                for j in 0..<n {
                    let brow = b + j * ldb
                    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                    if transA == .none {
                        let arow = a + i * lda
                        var p = 0
                        while p + 4 <= k {
                            s0 += arow[p] * brow[p]
                            s1 += arow[p + 1] * brow[p + 1]
                            s2 += arow[p + 2] * brow[p + 2]
                            s3 += arow[p + 3] * brow[p + 3]
                            p += 4
                        }
                        while p < k { s0 += arow[p] * brow[p]; p += 1 }
                    } else {
                        for p in 0..<k { s0 += a[p * lda + i] * brow[p] }
                    }
                    crow[j] += alpha * ((s0 + s1) + (s2 + s3))
                }
            }
        }
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
    /// Sets how many threads the engine uses: large OpenBLAS products are split into shape-fixed blocks of C over
    /// this many workers (`GemmPartition`; OpenBLAS itself always runs one thread per call), and the engine's own
    /// parallel loops read `current`. The portable GEMM is single-threaded. Results are bit-identical for any
    /// value. Call before training; 1 is the benchmark default.
    public static func set(_ n: Int) {
        _ = GemmPartition.initialThreads
        GemmPartition.requested.store(max(1, n), ordering: .relaxed)
    }

    /// The thread count currently in use (before any `set`: OpenBLAS's default, e.g. `OPENBLAS_NUM_THREADS` or the
    /// number of CPUs; 1 on the portable GEMM).
    public static var current: Int { GemmPartition.threads }
}
