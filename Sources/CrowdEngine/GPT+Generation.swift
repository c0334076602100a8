import Foundation

extension GPT {
    /// Logits `[V]` for the byte following `context` (only its last `block` tokens are used).
    /// - Precondition: `context` is not empty and every token is in `0..<vocab`.
    public func nextTokenLogits(context: [Int32]) -> [Float] {
        precondition(!context.isEmpty, "generation needs at least one context token")
        let window = Array(context.suffix(config.block))
        let a = activations(batch: 1, time: window.count)
        window.withUnsafeBufferPointer { forward(a, tokens: $0.baseAddress!) }
        let V = config.vocab
        return Array(UnsafeBufferPointer(start: a.logits.base + (window.count - 1) * V, count: V))
    }

    /// Appends `count` sampled bytes to `prompt`: softmax of logits / `temperature` (greedy when
    /// `temperature` is 0), drawn from `rng`. Returns only the generated tokens.
    public func generate(prompt: [Int32], count: Int, temperature: Float, rng: inout SeededRNG) -> [Int32] {
        var context = prompt.isEmpty ? [Int32(10)] : prompt
        var out: [Int32] = []
        out.reserveCapacity(count)
        for _ in 0..<count {
            let logits = nextTokenLogits(context: context)
            let next: Int32
            if temperature <= 0 {
                next = Int32(logits.indices.max { logits[$0] < logits[$1] }!)
            } else {
                let mx = logits.max()!
                let w = logits.map { Foundation.exp(Double(($0 - mx) / temperature)) }
                var u = Double(rng.nextUniform()) * w.reduce(0, +)
                var pick = w.count - 1
                for (i, wi) in w.enumerated() {
                    u -= wi
                    if u < 0 { pick = i; break }
                }
                next = Int32(pick)
            }
            out.append(next)
            context.append(next)
            if context.count > config.block { context.removeFirst(context.count - config.block) }
        }
        return out
    }
}
