/// Deterministic seed derivation (SplitMix64 finalizer), so shard assignment and lease seeds follow from the
/// campaign seed, the round and the slot.
public enum SeedMixer {
    /// Mixes `a` and `b` into a well-distributed 64-bit value.
    public static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        var z = a &+ 0x9E37_79B9_7F4A_7C15 &* (b &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A permutation of `0..<n` (Fisher–Yates driven by `mix`).
    public static func permutation(_ n: Int, seed: UInt64) -> [Int] {
        var p = Array(0..<n)
        guard n > 1 else { return p }
        var s = seed
        for i in stride(from: n - 1, to: 0, by: -1) {
            s = mix(s, UInt64(i))
            let j = Int(s % UInt64(i + 1))
            p.swapAt(i, j)
        }
        return p
    }

    /// Seed of round `round` of a campaign seeded `seed`.
    public static func roundSeed(campaign seed: UInt64, round: UInt64) -> UInt64 { mix(seed, round) }

    /// The training shards (indices into the manifest) of lease slot `slot`: a contiguous range of a
    /// round-seeded permutation, so the slots of a round get distinct shards while there are enough.
    public static func shards(slot: Int, perLease: Int, count: Int, roundSeed: UInt64) -> [Int] {
        guard count > 0 else { return [] }
        let perm = permutation(count, seed: roundSeed)
        return (0..<min(perLease, count)).map { perm[(slot * perLease + $0) % count] }
    }
}
