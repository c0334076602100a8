import Foundation
import Synchronization

/// The engine's own GEMM threading: OpenBLAS runs one thread per call, and a large product is cut into blocks of C
/// whose boundaries depend only on the shape (never on the thread count), each block one `cblas_sgemm` call,
/// the blocks spread over `ComputeThreads.current` workers.
///
/// Why: OpenBLAS's own threading partitions C by the thread count, and its kernels do not compute an element the
/// same way in every register tile (the Haswell/Zen sgemm kernel, `sgemm_kernel_8x4_haswell_2.c`, sums even and odd
/// k in separate accumulators in its 8×4 and 8×6 tiles but not in its 16×6 or 8×12 ones), and its threaded driver
/// halves a long K differently from the single-threaded one (seen on `Sandybridge` at K = 784) — so 1 and 2 threads
/// gave results differing in the last bits on most of the workloads' shapes (`crowdtrain bench determinism`). With a fixed partition each element is computed by the same sgemm call on
/// the same block whatever the thread count: training is bit-identical across thread counts on one kernel,
/// which verification by re-execution needs (Docs/Architecture.md "Deterministic training").
enum GemmPartition {
    /// Fewest multiply-accumulates a block gets (below twice this a product is one call).
    static let minBlockMACs = 1 << 20
    /// Fewest rows (or columns) of C a block gets; block edges are multiples of `alignment`.
    static let minBlockExtent = 64
    static let alignment = 16
    /// Most blocks a product is cut into, so at most this many threads share one product (the engine's own loops
    /// use every thread). Each block packs the other operand again: at one thread, on the workloads' shapes, two
    /// blocks cost +1.9 % GEMM time against one `cblas_sgemm` call, four +6.8 %, eight +10 % (min of 200 runs).
    static let maxBlocks = 2

    /// The thread count OpenBLAS started with (its default, or `OPENBLAS_NUM_THREADS`); taking it pins OpenBLAS to
    /// one thread per call from then on.
    static let initialThreads: Int = {
        let backend = BLASBackend.shared
        let n = backend.getThreads.map { Int($0()) } ?? 1
        backend.setThreads?(1)
        return max(1, n)
    }()

    /// `ComputeThreads.set`'s value (0: never set, `initialThreads` applies).
    static let requested = Atomic<Int>(0)

    static var threads: Int {
        let r = requested.load(ordering: .relaxed)
        return r > 0 ? r : initialThreads
    }

    /// How `C[m, n]` is cut: along its rows (`m`) or its columns (`n`), into `count` blocks of `size`
    /// (the last one shorter). A function of the shape alone.
    struct Plan: Equatable {
        var alongRows: Bool
        var count: Int
        var size: Int
    }

    static func plan(m: Int, n: Int, k: Int) -> Plan {
        let alongRows = m >= n
        let extent = alongRows ? m : n
        let macs = m * n * max(k, 1)
        var count = min(maxBlocks, extent / minBlockExtent, macs / minBlockMACs)
        guard count >= 2 else { return Plan(alongRows: alongRows, count: 1, size: extent) }
        let size = ((extent + count - 1) / count + alignment - 1) / alignment * alignment
        count = (extent + size - 1) / size
        return Plan(alongRows: alongRows, count: count, size: size)
    }

    /// `C = alpha · op(A) · op(B) + beta · C` (row-major, `Gemm.gemm`'s contract) through `sgemm`, block by block.
    static func run(
        _ sgemm: SGEMMFunction, _ transA: Transpose, _ transB: Transpose, m: Int, n: Int, k: Int, alpha: Float,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        _ = initialThreads  // OpenBLAS must be on one thread before its first product
        let ta = transA == .none ? CblasNoTrans : CblasTrans
        let tb = transB == .none ? CblasNoTrans : CblasTrans
        let p = plan(m: m, n: n, k: k)
        // Block `i`: rows (or columns) `i·size ..< min((i+1)·size, extent)` of C and the matching part of A (or B).
        let block = { (i: Int) in
            let lo = i * p.size
            if p.alongRows {
                let rows = min(p.size, m - lo)
                let ap = transA == .none ? a + lo * lda : a + lo
                sgemm(
                    CblasRowMajor, ta, tb, Int32(rows), Int32(n), Int32(k), alpha, ap, Int32(lda), b, Int32(ldb), beta,
                    c + lo * ldc, Int32(ldc))
            } else {
                let cols = min(p.size, n - lo)
                let bp = transB == .none ? b + lo : b + lo * ldb
                sgemm(
                    CblasRowMajor, ta, tb, Int32(m), Int32(cols), Int32(k), alpha, a, Int32(lda), bp, Int32(ldb), beta,
                    c + lo, Int32(ldc))
            }
        }
        let workers = min(threads, p.count)
        if workers <= 1 {
            for i in 0..<p.count { block(i) }
            return
        }
        // Blocks write disjoint parts of C; the closure does not outlive this call.
        withoutActuallyEscaping(block) { escaping in
            nonisolated(unsafe) let work = escaping
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                var i = w
                while i < p.count {
                    work(i)
                    i += workers
                }
            }
        }
    }
}

import CBLAS
