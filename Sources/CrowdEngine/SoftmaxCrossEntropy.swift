#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Softmax over the last dimension fused with the cross-entropy loss against integer targets
/// (PyTorch's `F.cross_entropy`), as a forward/backward pair.
///
/// Shapes: `logits` and `probs` are `[B, V]`, `targets` and `losses` are `[B]`.
public enum SoftmaxCrossEntropy {
    /// `probs[b, :] = softmax(logits[b, :])`, `losses[b] = −log probs[b, targets[b]]`
    /// (computed as `logsumexp − logit` for accuracy). Targets must be in `0..<V`.
    public static func forward(
        probs: UnsafeMutablePointer<Float>, losses: UnsafeMutablePointer<Float>,
        logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows B: Int, classes V: Int
    ) {
        for b in 0..<B {
            let z = logits + b * V, p = probs + b * V
            var maxv = -Float.infinity
            for v in 0..<V where z[v] > maxv { maxv = z[v] }
            var sum: Float = 0
            for v in 0..<V {
                let e = expf(z[v] - maxv)
                p[v] = e
                sum += e
            }
            let inv = 1 / sum
            for v in 0..<V { p[v] *= inv }
            let t = Int(targets[b])
            precondition(t >= 0 && t < V, "target \(t) outside 0..<\(V)")
            losses[b] = logf(sum) - (z[t] - maxv)
        }
    }

    /// `dlogits[b, v] += dloss[b] · (probs[b, v] − [v == targets[b]])` with `dloss[b] = scale`
    /// (`1/B` for a mean loss).
    /// - Parameter accumulate: `false` overwrites `dlogits`.
    public static func backward(
        dlogits: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, targets: UnsafePointer<Int32>,
        scale: Float, rows B: Int, classes V: Int, accumulate: Bool = true
    ) {
        for b in 0..<B {
            let p = probs + b * V, d = dlogits + b * V
            let t = Int(targets[b])
            if accumulate {
                for v in 0..<V { d[v] += scale * p[v] }
            } else {
                for v in 0..<V { d[v] = scale * p[v] }
            }
            d[t] -= scale
        }
    }
}
