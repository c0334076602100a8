import CrowdCodec
import CrowdEngine

/// The model and inner-optimizer state at one leaf of a trajectory.
public struct TrajectoryState: Sendable {
    public var params: [Float]
    public var optimizer: OptimizerState

    public init(params: [Float], optimizer: OptimizerState) {
        self.params = params
        self.optimizer = optimizer
    }
}

/// A lease's trajectory as the peer records it: the state digests at every leaf (before step 0, after every
/// `segmentSteps` steps, after the last step), and the states themselves while the peer still holds them, to answer
/// a challenge. The digests persist with the lease's progress; the states live in memory only (a peer restarted
/// between training and its challenge cannot answer it and loses that update's credit, never more).
public struct Trajectory: Sendable {
    public let steps: Int
    public let segmentSteps: Int
    /// Per leaf: (params digest, optimizer digest); nil until recorded.
    public private(set) var digests: [(params: [UInt8], optimizer: [UInt8])?]
    /// Per leaf: the state, when held.
    public private(set) var states: [Int: TrajectoryState] = [:]

    public init(steps: Int, segmentSteps: Int) {
        precondition(steps >= 1 && segmentSteps >= 1)
        self.steps = steps
        self.segmentSteps = segmentSteps
        digests = Array(repeating: nil, count: WorkCommitment.leafCount(steps: steps, segmentSteps: segmentSteps))
    }

    public var leafCount: Int { digests.count }

    /// The leaf taken after step `step`, if one is (0, every multiple of `segmentSteps`, and `steps`).
    public func leaf(afterStep step: Int) -> Int? {
        if step == steps { return leafCount - 1 }
        return step % segmentSteps == 0 ? step / segmentSteps : nil
    }

    public func step(ofLeaf index: Int) -> Int {
        WorkCommitment.step(ofLeaf: index, steps: steps, segmentSteps: segmentSteps)
    }

    /// Records leaf `index` from the live model and optimizer (digests and a copy of the state).
    public mutating func record(leaf index: Int, params: FlatBuffer, optimizer: OptimizerState) {
        let p = params.toArray()
        digests[index] = (StateDigest.params(p), StateDigest.optimizer(optimizer))
        states[index] = TrajectoryState(params: p, optimizer: optimizer)
    }

    /// Records leaf `index` from a given state (what a peer claims; `bench verify`'s cheaters fabricate states).
    public mutating func record(leaf index: Int, state: TrajectoryState) {
        digests[index] = (StateDigest.params(state.params), StateDigest.optimizer(state.optimizer))
        states[index] = state
    }

    /// The digests of the leaves recorded so far, in order, as 64-byte records (for the progress file).
    public var digestBytes: [UInt8] {
        var out: [UInt8] = []
        for d in digests {
            guard let d else { break }
            out += d.params + d.optimizer
        }
        return out
    }

    /// Restores digests saved by `digestBytes` (the first leaves); false when they do not fit.
    public mutating func restoreDigests(_ bytes: [UInt8]) -> Bool {
        guard bytes.count % 64 == 0, bytes.count / 64 <= leafCount else { return false }
        for i in 0..<(bytes.count / 64) {
            let o = i * 64
            digests[i] = (Array(bytes[o..<(o + 32)]), Array(bytes[(o + 32)..<(o + 64)]))
        }
        return true
    }

    /// Leaves recorded so far (the first nil ends the prefix).
    public var recordedLeaves: Int { digests.firstIndex { $0 == nil } ?? leafCount }

    /// The leaf hashes (all leaves must be recorded).
    public var leafHashes: [[UInt8]]? {
        var out: [[UInt8]] = []
        for (i, d) in digests.enumerated() {
            guard let d else { return nil }
            out.append(StateDigest.leaf(index: i, step: step(ofLeaf: i), params: d.params, optimizer: d.optimizer))
        }
        return out
    }

    /// The commitment of the finished trajectory; nil while a leaf is missing.
    public func commitment(samples: Int) -> WorkCommitment? {
        guard let leaves = leafHashes, let first = digests.first!, let last = digests.last! else { return nil }
        return WorkCommitment(
            root: MerkleTree.root(leaves), startInnerState: first.optimizer, endInnerState: last.optimizer,
            segmentSteps: UInt32(segmentSteps), leaves: UInt32(leafCount), steps: UInt32(steps),
            samples: UInt64(max(0, samples)))
    }

    /// The answer to a challenge of `segment` (its start and end states, the final parameters, Merkle proofs); nil
    /// when a needed state is no longer held or the trajectory is incomplete.
    public func proof(segment: Int) -> TrajectoryProof? {
        guard segment >= 0, segment + 1 < leafCount, let leaves = leafHashes,
              let start = states[segment], let end = states[segment + 1], let last = digests.last!
        else { return nil }
        let finalIndex = leafCount - 1
        let finalParams: [Float]? = segment + 1 == finalIndex ? nil : states[finalIndex]?.params
        if segment + 1 != finalIndex && finalParams == nil { return nil }
        return TrajectoryProof(
            segment: segment, leaves: leafCount, start: start, end: end, finalParams: finalParams,
            finalOptimizerDigest: last.optimizer,
            startProof: MerkleTree.proof(leaves, index: segment), endProof: MerkleTree.proof(leaves, index: segment + 1),
            finalProof: MerkleTree.proof(leaves, index: finalIndex))
    }
}
