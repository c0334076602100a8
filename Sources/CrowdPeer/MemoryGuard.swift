import CrowdData
import CrowdEngine
import CrowdProtocol
import Foundation

/// What training a lease will need in memory, by part (bytes).
public struct MemoryEstimate: Sendable, Equatable, CustomStringConvertible {
    /// Parameters of the model.
    public var parameters: Int
    /// Parameter-sized float buffers alive at the peak: the downloaded checkpoint, its decoded parameters, the
    /// model's parameters and gradients, Δ, and one for saving progress (`parameterCopies × 4 × parameters`).
    public var parameterBytes: Int
    /// Optimizer state (SGD: one buffer; AdamW: two).
    public var optimizerBytes: Int
    /// Activations and their gradients for one batch.
    public var activationBytes: Int
    /// The daemon itself (runtime, TLS, HTTP client, decoded shards).
    public var baselineBytes: Int
    /// Verified work: the trajectory's states kept to answer a challenge (params + optimizer at every leaf) and the
    /// encoded proof; 0 when the lease does not ask for a commitment.
    public var trajectoryBytes: Int = 0

    public var total: Int { parameterBytes + optimizerBytes + activationBytes + baselineBytes + trajectoryBytes }

    public var description: String {
        "\(MemoryGuard.mib(total)) (\(parameters) parameters: \(MemoryGuard.mib(parameterBytes)) of parameter copies, "
            + "\(MemoryGuard.mib(optimizerBytes)) optimizer state, \(MemoryGuard.mib(activationBytes)) activations, "
            + (trajectoryBytes > 0 ? "\(MemoryGuard.mib(trajectoryBytes)) trajectory for verification, " : "")
            + "\(MemoryGuard.mib(baselineBytes)) for the daemon)"
    }
}

/// A lease was refused because its model does not fit `--memory-limit`.
public struct MemoryGuardError: Error, CustomStringConvertible, Sendable {
    public let needed: Int
    public let limit: Int
    public let description: String
}

/// The memory budget (`limits.memoryLimitBytes`): estimates what a lease's training needs from the checkpoint
/// (parameter count, model kind and shape, optimizer, batch and block) before any work starts, and refuses
/// a lease that would not fit.
///
/// Refusing is not fatal for the daemon but stops its work: every lease of a campaign trains the same model
/// with the same batch shape, so the next lease would not fit either. The daemon records the need in the
/// `SuspendMonitor` (suspend reason `memoryLimit`), takes no more leases and makes no traffic, and shows the
/// message in `status.json`; the refused lease returns to the coordinator at its deadline. Raising the limit
/// (config + SIGHUP, or a restart with a larger `--memory-limit`) resumes work; otherwise leave the campaign.
/// (Exiting instead would make a service manager restart the daemon into the same refusal, and each restart
/// would hold another lease until its deadline.)
public enum MemoryGuard {
    /// Parameter-sized float buffers alive at the peak of a lease (see `MemoryEstimate.parameterBytes`).
    public static let parameterCopies = 6
    /// The daemon's own footprint: runtime, TLS and HTTP client, status files, a few decoded shards.
    public static let baselineBytes = 64 << 20

    /// The estimate for training `checkpoint` with `lease`'s batch shape and optimizer on `threads` threads.
    /// - Throws: `PeerError` for a model kind or configuration this build does not know.
    public static func estimate(
        kind: String, configJSON: Data, parameters: Int, batch: Int, block: Int?, optimizer: String, threads: Int
    ) throws -> MemoryEstimate {
        let float = MemoryLayout<Float>.size
        let activations: Int
        switch kind {
        case MLP.kind:
            guard let c = try? JSONDecoder().decode(MLPConfig.self, from: configJSON) else {
                throw PeerError("the checkpoint's mlp configuration does not decode; is this peer up to date?")
            }
            // The input batch, every layer's output and its gradient, probabilities and losses: [B, w] each.
            let widths = c.widths
            let perRow = widths[0] + 2 * widths.dropFirst().reduce(0, +) + c.classes + 1
            activations = batch * perRow * float
        case GPT.kind:
            guard let c = try? JSONDecoder().decode(GPTConfig.self, from: configJSON) else {
                throw PeerError("the checkpoint's gpt configuration does not decode; is this peer up to date?")
            }
            let T = min(block ?? c.block, c.block), B = batch, N = B * T, L = c.layers, C = c.width
            // GPTActivations: resid (L+1)·N·C, x1/ln1/ln2/y L·N·C each, qkv L·N·3C, fc and gelu L·N·4C each,
            // attention L·B·H·T², LayerNorm statistics 4·L·N + 2·N, final LayerNorm N·C, logits N·V, losses N,
            // backward scratch N·(C + C + 3C + 4C), per-worker T² scratch; plus the token batch (inputs, targets).
            var floats = (L + 1) * N * C + 4 * L * N * C + 3 * L * N * C + 8 * L * N * C
            floats += L * B * c.heads * T * T + 4 * L * N + 2 * N + N * C + N * c.vocab + N
            floats += 9 * N * C + max(1, threads) * T * T
            activations = floats * float + 2 * N * MemoryLayout<Int32>.size
        default:
            throw PeerError("unknown model kind '\(kind)'; this build knows mlp and gpt — update crowdtrain")
        }
        let optimizerBuffers = optimizer == "adamw" ? 2 : 1
        return MemoryEstimate(
            parameters: parameters, parameterBytes: parameterCopies * parameters * float,
            optimizerBytes: optimizerBuffers * parameters * float, activationBytes: activations,
            baselineBytes: baselineBytes)
    }

    /// The estimate for a lease of `checkpoint` (with its trajectory when the lease asks for verification).
    public static func estimate(_ checkpoint: Checkpoint, lease: Lease, threads: Int) throws -> MemoryEstimate {
        var e = try estimate(
            kind: checkpoint.kind, configJSON: checkpoint.configJSON, parameters: checkpoint.params.count,
            batch: lease.batch, block: lease.block, optimizer: lease.inner.kind, threads: threads)
        if let v = lease.verification, v.segmentSteps >= 1, lease.steps >= 1 {
            let leaves = (lease.steps + v.segmentSteps - 1) / v.segmentSteps + 1
            let perState = (1 + (lease.inner.kind == "adamw" ? 2 : 1)) * checkpoint.params.count * MemoryLayout<Float>.size
            // Every leaf's state, and a proof of two states plus the final parameters.
            e.trajectoryBytes = (leaves + 2) * perState + checkpoint.params.count * MemoryLayout<Float>.size
        }
        return e
    }

    /// Throws `MemoryGuardError` when the lease would need more than `limit` bytes (nil: no limit).
    public static func check(_ checkpoint: Checkpoint, lease: Lease, threads: Int, limit: Int?) throws {
        guard let limit else { return }
        let need = try estimate(checkpoint, lease: lease, threads: threads)
        guard need.total > limit else { return }
        throw MemoryGuardError(
            needed: need.total, limit: limit,
            description: "refused lease \(lease.leaseID.prefix(8)): training this campaign's \(checkpoint.kind) model "
                + "needs about \(need) but the memory limit is \(mib(limit)). Every lease of the campaign uses the "
                + "same model, so this peer takes no more work: raise --memory-limit (or memoryLimitBytes in the config, "
                + "then SIGHUP) to at least \(mib(need.total)), or leave the campaign.")
    }

    /// The daemon's check right after decoding a lease's checkpoint: reads the live limit and, on refusal,
    /// suspends the daemon with reason `memoryLimit` before throwing.
    static func check(_ checkpoint: Checkpoint, lease: Lease, live: PeerLiveSettings, monitor: SuspendMonitor) throws {
        let settings = live.current
        do {
            try check(checkpoint, lease: lease, threads: settings.threads, limit: settings.limits.memoryLimitBytes)
        } catch let error as MemoryGuardError {
            monitor.refuseModel(needing: error.needed)
            throw error
        }
    }

    /// `123.4 MiB`.
    static func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
}
