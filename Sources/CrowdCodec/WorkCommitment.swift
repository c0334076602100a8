/// The peer's commitment to how it computed an update (issue 16, Docs/Protocol.md "Verified work"): carried in
/// the envelope's commitment block, covered by the envelope's SHA-256, stored by the coordinator with the update.
///
/// `root` is the Merkle root over `leaves` state hashes: the model and inner-optimizer state before step 0 and after
/// every `segmentSteps` steps (the last leaf is the state after step `steps`). `steps` and `samples` are what the
/// peer claims to have trained; they must equal the lease's numbers. `startInnerState` / `endInnerState` are
/// SHA-256 digests of the inner optimizer state the run started from and ended with (a fresh optimizer has a fixed,
/// known digest; a carried one must be the digest the lease names).
public struct WorkCommitment: Sendable, Equatable {
    public var root: [UInt8]
    public var startInnerState: [UInt8]
    public var endInnerState: [UInt8]
    public var segmentSteps: UInt32
    public var leaves: UInt32
    public var steps: UInt32
    public var samples: UInt64

    public init(
        root: [UInt8], startInnerState: [UInt8], endInnerState: [UInt8], segmentSteps: UInt32, leaves: UInt32,
        steps: UInt32, samples: UInt64
    ) {
        self.root = root
        self.startInnerState = startInnerState
        self.endInnerState = endInnerState
        self.segmentSteps = segmentSteps
        self.leaves = leaves
        self.steps = steps
        self.samples = samples
    }

    /// Bytes of the block on the wire.
    public static let size = 128

    /// Leaves of a trajectory of `steps` steps committed every `segmentSteps`: the start, then one per segment end.
    public static func leafCount(steps: Int, segmentSteps: Int) -> Int {
        guard steps >= 1, segmentSteps >= 1 else { return 0 }
        return (steps + segmentSteps - 1) / segmentSteps + 1
    }

    /// The step after which leaf `index` is taken (0 for the start; the last leaf is `steps`).
    public static func step(ofLeaf index: Int, steps: Int, segmentSteps: Int) -> Int {
        min(index * segmentSteps, steps)
    }

    /// The 128-byte block as stored with the update.
    public var block: [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.size)
        out.withUnsafeMutableBytes { write(into: $0, at: 0) }
        return out
    }

    /// Parses a stored block.
    public init(block: [UInt8]) throws {
        guard block.count == Self.size else { throw CodecError(.sizeMismatch, "a commitment block is 128 bytes") }
        self = try block.withUnsafeBytes { try Self.read($0, at: 0) }
    }

    /// Layout: root 32, startInnerState 32, endInnerState 32, segmentSteps u32, leaves u32, steps u32, reserved u32
    /// (0), samples u64, reserved 8 bytes (0); little-endian.
    func write(into p: UnsafeMutableRawBufferPointer, at offset: Int) {
        for i in 0..<32 {
            p[offset + i] = root[i]
            p[offset + 32 + i] = startInnerState[i]
            p[offset + 64 + i] = endInnerState[i]
        }
        EnvelopeLayout.store(segmentSteps, p, offset + 96)
        EnvelopeLayout.store(leaves, p, offset + 100)
        EnvelopeLayout.store(steps, p, offset + 104)
        EnvelopeLayout.store(UInt32(0), p, offset + 108)
        EnvelopeLayout.store(samples, p, offset + 112)
        EnvelopeLayout.store(UInt64(0), p, offset + 120)
    }

    static func read(_ p: UnsafeRawBufferPointer, at offset: Int) throws -> WorkCommitment {
        let c = WorkCommitment(
            root: Array(p[offset..<(offset + 32)]), startInnerState: Array(p[(offset + 32)..<(offset + 64)]),
            endInnerState: Array(p[(offset + 64)..<(offset + 96)]),
            segmentSteps: EnvelopeLayout.load(p, offset + 96, as: UInt32.self),
            leaves: EnvelopeLayout.load(p, offset + 100, as: UInt32.self),
            steps: EnvelopeLayout.load(p, offset + 104, as: UInt32.self),
            samples: EnvelopeLayout.load(p, offset + 112, as: UInt64.self))
        guard EnvelopeLayout.load(p, offset + 108, as: UInt32.self) == 0,
              EnvelopeLayout.load(p, offset + 120, as: UInt64.self) == 0
        else { throw CodecError(.sizeMismatch, "the commitment block's reserved fields are not zero") }
        guard c.segmentSteps >= 1, c.steps >= 1,
              Int(c.leaves) == leafCount(steps: Int(c.steps), segmentSteps: Int(c.segmentSteps))
        else {
            throw CodecError(
                .sizeMismatch,
                "the commitment declares \(c.leaves) leaves for \(c.steps) steps committed every \(c.segmentSteps)")
        }
        return c
    }

    func validate() throws {
        guard root.count == 32, startInnerState.count == 32, endInnerState.count == 32 else {
            throw CodecError(.invalidInput, "commitment digests must be 32 bytes (SHA-256)")
        }
        guard segmentSteps >= 1, steps >= 1,
              Int(leaves) == Self.leafCount(steps: Int(steps), segmentSteps: Int(segmentSteps))
        else { throw CodecError(.invalidInput, "commitment: \(leaves) leaves for \(steps) steps every \(segmentSteps)") }
    }
}
