import CrowdEngine
import Crypto

/// The hashes a trajectory commitment is built from (Docs/WireFormats.md "Trajectory commitment").
///
/// Everything is SHA-256 over little-endian bytes with a domain prefix, so a parameter digest can never be read as
/// an optimizer digest or a leaf, and a leaf never as an inner Merkle node.
public enum StateDigest {
    /// SHA-256("ctparams1" ‖ count u64 ‖ float32 values).
    public static func params(_ p: UnsafeBufferPointer<Float>) -> [UInt8] {
        var h = SHA256()
        h.update(data: Array("ctparams1".utf8))
        h.update(data: le(UInt64(p.count)))
        h.update(bufferPointer: UnsafeRawBufferPointer(p))
        return Array(h.finalize())
    }

    public static func params(_ p: [Float]) -> [UInt8] { p.withUnsafeBufferPointer { params($0) } }

    /// SHA-256("ctinner1" ‖ kind length u32 ‖ kind UTF-8 ‖ step u64 ‖ buffer count u32 ‖ per buffer: count u64 ‖
    /// float32 values).
    public static func optimizer(_ s: OptimizerState) -> [UInt8] {
        var h = SHA256()
        h.update(data: Array("ctinner1".utf8))
        let kind = Array(s.kind.utf8)
        h.update(data: le(UInt32(kind.count)))
        h.update(data: kind)
        h.update(data: le(UInt64(max(0, s.step))))
        h.update(data: le(UInt32(s.buffers.count)))
        for b in s.buffers {
            h.update(data: le(UInt64(b.count)))
            b.withUnsafeBytes { h.update(bufferPointer: $0) }
        }
        return Array(h.finalize())
    }

    /// Leaf `index` of a trajectory: SHA-256(0x00 ‖ "ctleaf1" ‖ index u32 ‖ step u32 ‖ params digest ‖ inner digest).
    public static func leaf(index: Int, step: Int, params: [UInt8], optimizer: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: [0])
        h.update(data: Array("ctleaf1".utf8))
        h.update(data: le(UInt32(truncatingIfNeeded: index)))
        h.update(data: le(UInt32(truncatingIfNeeded: step)))
        h.update(data: params)
        h.update(data: optimizer)
        return Array(h.finalize())
    }

    static func le<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
        withUnsafeBytes(of: v.littleEndian) { Array($0) }
    }
}

/// A binary Merkle tree over SHA-256 leaves: inner node = SHA-256(0x01 ‖ left ‖ right); a level's last node
/// without a partner moves up unchanged. A proof lists the siblings from the leaf upwards.
public enum MerkleTree {
    static func node(_ l: [UInt8], _ r: [UInt8]) -> [UInt8] {
        var h = SHA256()
        h.update(data: [1])
        h.update(data: l)
        h.update(data: r)
        return Array(h.finalize())
    }

    /// The root of `leaves` (at least one).
    public static func root(_ leaves: [[UInt8]]) -> [UInt8] {
        precondition(!leaves.isEmpty, "a Merkle tree needs at least one leaf")
        var level = leaves
        while level.count > 1 {
            var next: [[UInt8]] = []
            next.reserveCapacity((level.count + 1) / 2)
            var i = 0
            while i < level.count {
                next.append(i + 1 < level.count ? node(level[i], level[i + 1]) : level[i])
                i += 2
            }
            level = next
        }
        return level[0]
    }

    /// The siblings of leaf `index` from the bottom up (levels where it has no partner contribute nothing).
    public static func proof(_ leaves: [[UInt8]], index: Int) -> [[UInt8]] {
        precondition(index >= 0 && index < leaves.count)
        var level = leaves, i = index
        var out: [[UInt8]] = []
        while level.count > 1 {
            let partner = i ^ 1
            if partner < level.count { out.append(level[partner]) }
            var next: [[UInt8]] = []
            var j = 0
            while j < level.count {
                next.append(j + 1 < level.count ? node(level[j], level[j + 1]) : level[j])
                j += 2
            }
            level = next
            i /= 2
        }
        return out
    }

    /// Whether `leaf` is leaf `index` of a tree of `count` leaves with root `root`; the proof must have exactly the
    /// siblings the tree's shape calls for.
    public static func verify(leaf: [UInt8], index: Int, count: Int, proof: [[UInt8]], root: [UInt8]) -> Bool {
        guard count >= 1, index >= 0, index < count, leaf.count == 32, proof.allSatisfy({ $0.count == 32 }) else {
            return false
        }
        var hash = leaf, i = index, n = count, used = 0
        while n > 1 {
            let partner = i ^ 1
            if partner < n {
                guard used < proof.count else { return false }
                hash = i & 1 == 0 ? node(hash, proof[used]) : node(proof[used], hash)
                used += 1
            }
            i /= 2
            n = (n + 1) / 2
        }
        return used == proof.count && hash == root
    }
}
