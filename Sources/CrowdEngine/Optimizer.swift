/// An optimizer updates a flat parameter buffer from a flat gradient buffer of the same layout.
public protocol Optimizer: AnyObject {
    /// Applies one step with learning rate `lr`.
    func step(params: FlatBuffer, grads: FlatBuffer, lr: Float)
    /// Optimizer state as flat buffers (momentum, Adam moments) plus the step counter, for
    /// checkpoints and for peers that pause mid-lease.
    var state: OptimizerState { get }
    /// Restores state produced by `state` on an optimizer of the same kind and layout.
    func restore(_ state: OptimizerState) throws
}

/// Serializable optimizer state.
public struct OptimizerState: Sendable {
    public var kind: String
    public var step: Int
    public var buffers: [[Float]]
    public init(kind: String, step: Int, buffers: [[Float]]) {
        self.kind = kind; self.step = step; self.buffers = buffers
    }
}

/// Error raised when optimizer state does not fit.
public struct OptimizerStateError: Error, CustomStringConvertible {
    public let description: String
}

/// SGD with momentum and optional Nesterov, with PyTorch's semantics (dampening 0):
/// `b ← μ·b + g` (first step `b = g`), `p ← p − lr·(g + μ·b)` if Nesterov else `p ← p − lr·b`.
public final class SGD: Optimizer {
    public let momentum: Float
    public let nesterov: Bool
    public let weightDecay: Float
    private let buf: FlatBuffer
    private var steps = 0

    public init(count: Int, momentum: Float = 0, nesterov: Bool = false, weightDecay: Float = 0) {
        self.momentum = momentum
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        self.buf = FlatBuffer(count: count)
    }

    public func step(params: FlatBuffer, grads: FlatBuffer, lr: Float) {
        precondition(params.count == buf.count && grads.count == buf.count)
        let p = params.base, g = grads.base, b = buf.base
        let mu = momentum, wd = weightDecay
        let n = buf.count
        if mu == 0 {
            for i in 0..<n { p[i] -= lr * (g[i] + wd * p[i]) }
        } else if nesterov {
            for i in 0..<n {
                let gi = g[i] + wd * p[i]
                let bi = mu * b[i] + gi
                b[i] = bi
                p[i] -= lr * (gi + mu * bi)
            }
        } else if wd == 0 {
            // The common case (PyTorch's default), on SIMD8: one pass over three buffers.
            let pr = UnsafeMutableRawPointer(p), gr = UnsafeRawPointer(g), br = UnsafeMutableRawPointer(b)
            let muV = SIMD8<Float>(repeating: mu), lrV = SIMD8<Float>(repeating: lr)
            var i = 0
            while i + 8 <= n {
                let o = i * 4
                let bi = muV * br.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                    + gr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self)
                br.storeBytes(of: bi, toByteOffset: o, as: SIMD8<Float>.self)
                let pi = pr.loadUnaligned(fromByteOffset: o, as: SIMD8<Float>.self) - lrV * bi
                pr.storeBytes(of: pi, toByteOffset: o, as: SIMD8<Float>.self)
                i += 8
            }
            while i < n {
                let bi = mu * b[i] + g[i]
                b[i] = bi
                p[i] -= lr * bi
                i += 1
            }
        } else {
            for i in 0..<n {
                let bi = mu * b[i] + (g[i] + wd * p[i])
                b[i] = bi
                p[i] -= lr * bi
            }
        }
        steps += 1
    }

    public var state: OptimizerState { OptimizerState(kind: "sgd", step: steps, buffers: [buf.toArray()]) }

    public func restore(_ s: OptimizerState) throws {
        guard s.kind == "sgd", s.buffers.count == 1, s.buffers[0].count == buf.count else {
            throw OptimizerStateError(
                description: "optimizer state is \(s.kind) with \(s.buffers.map(\.count)) elements; "
                    + "expected sgd with [\(buf.count)]")
        }
        s.buffers[0].withUnsafeBufferPointer { buf.base.update(from: $0.baseAddress!, count: buf.count) }
        steps = s.step
    }
}

/// AdamW with decoupled weight decay applied only to tensors whose `TensorSpec.decay` is set,
/// with PyTorch's arithmetic: `p ← p·(1 − lr·wd)`, `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`,
/// `p ← p − (lr/(1−β1ᵗ)) · m / (√v/√(1−β2ᵗ) + ε)`.
public final class AdamW: Optimizer {
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    private let m: FlatBuffer, v: FlatBuffer
    private let decayRanges: [(Range<Int>, Bool)]
    private var t = 0

    public init(
        layout: ParameterLayout, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0.01
    ) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
        self.m = FlatBuffer(count: layout.count)
        self.v = FlatBuffer(count: layout.count)
        self.decayRanges = layout.tensors.map { ($0.range, $0.decay) }
    }

    public func step(params: FlatBuffer, grads: FlatBuffer, lr: Float) {
        precondition(params.count == m.count && grads.count == m.count)
        t += 1
        let bc1 = 1 - Float(pow(Double(beta1), Double(t)))
        let bc2 = 1 - Float(pow(Double(beta2), Double(t)))
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
        let p = params.base, g = grads.base, mb = m.base, vb = v.base
        let b1 = beta1, b2 = beta2, e = eps
        for (range, decays) in decayRanges {
            let shrink: Float = decays ? 1 - lr * weightDecay : 1
            for i in range {
                let gi = g[i]
                let mi = b1 * mb[i] + (1 - b1) * gi
                let vi = b2 * vb[i] + (1 - b2) * gi * gi
                mb[i] = mi
                vb[i] = vi
                let denom = vi.squareRoot() / bc2Sqrt + e
                p[i] = p[i] * shrink - stepSize * mi / denom
            }
        }
    }

    public var state: OptimizerState { OptimizerState(kind: "adamw", step: t, buffers: [m.toArray(), v.toArray()]) }

    public func restore(_ s: OptimizerState) throws {
        guard s.kind == "adamw", s.buffers.count == 2, s.buffers.allSatisfy({ $0.count == m.count }) else {
            throw OptimizerStateError(
                description: "optimizer state is \(s.kind) with \(s.buffers.map(\.count)) elements; "
                    + "expected adamw with 2×[\(m.count)]")
        }
        s.buffers[0].withUnsafeBufferPointer { m.base.update(from: $0.baseAddress!, count: m.count) }
        s.buffers[1].withUnsafeBufferPointer { v.base.update(from: $0.baseAddress!, count: v.count) }
        t = s.step
    }
}

/// Scales `grads` so their global L2 norm is at most `maxNorm` (PyTorch `clip_grad_norm_`,
/// coefficient `maxNorm / (norm + 1e-6)` applied when below 1). Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ grads: FlatBuffer, maxNorm: Float) -> Float {
    var s: Double = 0
    let g = grads.base
    // Four partial sums keep the loop from being latency-bound.
    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
    let n = grads.count
    var i = 0
    while i + 4 <= n {
        s0 += g[i] * g[i]; s1 += g[i + 1] * g[i + 1]; s2 += g[i + 2] * g[i + 2]; s3 += g[i + 3] * g[i + 3]
        i += 4
    }
    while i < n { s0 += g[i] * g[i]; i += 1 }
    s = Double(s0) + Double(s1) + Double(s2) + Double(s3)
    let norm = Float(s.squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 {
        for j in 0..<n { g[j] *= coef }
    }
    return norm
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
