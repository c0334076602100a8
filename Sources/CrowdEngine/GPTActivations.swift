/// Every activation and gradient scratch buffer of one `GPT` forward/backward pass, allocated once
/// for a batch shape and reused, so a training step allocates nothing.
///
/// Per-layer tensors are stacked layer after layer in one buffer; `N = B·T` rows.
import Foundation

final class GPTActivations {
    let batch: Int, time: Int
    /// Residual stream before block l (`resid[0]` = embeddings, `resid[L]` = final): `[L+1, N, C]`.
    let resid: FlatBuffer
    /// Residual stream after block l's attention: `[L, N, C]`.
    let x1: FlatBuffer
    /// LayerNorm outputs `[L, N, C]` and their row statistics `[L, N]`.
    let ln1: FlatBuffer, ln1Mean: FlatBuffer, ln1Rstd: FlatBuffer
    let ln2: FlatBuffer, ln2Mean: FlatBuffer, ln2Rstd: FlatBuffer
    /// Q, K, V projections `[L, N, 3C]`.
    let qkv: FlatBuffer
    /// Attention probabilities `[L, B, H, T, T]`.
    let att: FlatBuffer
    /// Attention output before `c_proj`, `[L, N, C]`.
    let y: FlatBuffer
    /// MLP pre-activation and GELU output, `[L, N, 4C]`.
    let fc: FlatBuffer, gelu: FlatBuffer
    /// Final LayerNorm output `[N, C]` and statistics `[N]`.
    let lnf: FlatBuffer, lnfMean: FlatBuffer, lnfRstd: FlatBuffer
    /// Logits `[N, V]`, turned into probabilities and then ∂loss/∂logits in place.
    let logits: FlatBuffer
    /// Per-token losses `[N]`.
    let losses: FlatBuffer
    /// Backward scratch: residual gradient and a second `[N, C]`, `[N, 3C]`, `[N, 4C]`.
    let dres: FlatBuffer, dtmp: FlatBuffer, dqkv: FlatBuffer, dfc: FlatBuffer
    /// Per-worker `[T, T]` softmax-gradient scratch.
    let scratch: FlatBuffer
    let workers: Int

    init(config: GPTConfig, batch B: Int, time T: Int, workers: Int) {
        let L = config.layers, C = config.width, N = B * T
        batch = B; time = T
        self.workers = workers
        resid = FlatBuffer(count: (L + 1) * N * C)
        x1 = FlatBuffer(count: L * N * C)
        ln1 = FlatBuffer(count: L * N * C); ln1Mean = FlatBuffer(count: L * N); ln1Rstd = FlatBuffer(count: L * N)
        ln2 = FlatBuffer(count: L * N * C); ln2Mean = FlatBuffer(count: L * N); ln2Rstd = FlatBuffer(count: L * N)
        qkv = FlatBuffer(count: L * N * 3 * C)
        att = FlatBuffer(count: L * B * config.heads * T * T)
        y = FlatBuffer(count: L * N * C)
        fc = FlatBuffer(count: L * N * 4 * C); gelu = FlatBuffer(count: L * N * 4 * C)
        lnf = FlatBuffer(count: N * C); lnfMean = FlatBuffer(count: N); lnfRstd = FlatBuffer(count: N)
        logits = FlatBuffer(count: N * config.vocab)
        losses = FlatBuffer(count: N)
        dres = FlatBuffer(count: N * C); dtmp = FlatBuffer(count: N * C)
        dqkv = FlatBuffer(count: N * 3 * C); dfc = FlatBuffer(count: N * 4 * C)
        scratch = FlatBuffer(count: workers * T * T)
    }

    /// Runs `body` over `0..<count` split into `workers` contiguous chunks, concurrently when
    /// `workers > 1`; `body` gets its chunk and the worker index (for per-worker scratch).
    func parallel(_ count: Int, _ body: (Range<Int>, Int) -> Void) {
        if workers <= 1 || count < 2 {
            body(0..<count, 0)
            return
        }
        let chunks = min(workers, count)
        let portable = KernelOverride.portable
        // Chunks write disjoint memory; the closure does not outlive this call.
        withoutActuallyEscaping(body) { escaping in
            nonisolated(unsafe) let work = escaping
            DispatchQueue.concurrentPerform(iterations: chunks) { w in
                KernelOverride.inherit(portable) { work((w * count / chunks)..<((w + 1) * count / chunks), w) }
            }
        }
    }
}
