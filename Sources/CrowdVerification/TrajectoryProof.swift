import CrowdEngine
import Foundation

/// The peer's answer to a challenge (`PUT /v1/updates/{leaseID}/proof`, Docs/WireFormats.md "Trajectory proof"):
/// the states at the start and end of the challenged segment, the final parameters (for the check that the upload
/// is this trajectory's Δ), and Merkle proofs tying all three to the committed root.
public struct TrajectoryProof: Sendable {
    public var segment: Int
    public var leaves: Int
    public var start: TrajectoryState
    public var end: TrajectoryState
    /// θ after the last step; nil when the challenged segment is the last one (then it is `end.params`).
    public var finalParams: [Float]?
    /// Optimizer digest of the last leaf (the state itself is not needed for the final check).
    public var finalOptimizerDigest: [UInt8]
    public var startProof: [[UInt8]]
    public var endProof: [[UInt8]]
    public var finalProof: [[UInt8]]

    public init(
        segment: Int, leaves: Int, start: TrajectoryState, end: TrajectoryState, finalParams: [Float]?,
        finalOptimizerDigest: [UInt8], startProof: [[UInt8]], endProof: [[UInt8]], finalProof: [[UInt8]]
    ) {
        self.segment = segment
        self.leaves = leaves
        self.start = start
        self.end = end
        self.finalParams = finalParams
        self.finalOptimizerDigest = finalOptimizerDigest
        self.startProof = startProof
        self.endProof = endProof
        self.finalProof = finalProof
    }

    static let magic: [UInt8] = Array("CTPF".utf8)
    static let version: UInt16 = 1
    /// Limits that bound every allocation of the decoder (besides the parameter count the caller gives).
    static let maxBuffers = 4, maxKindBytes = 32, maxProofDepth = 40

    /// Largest body a proof for `parameters` parameters can have (the route's body limit).
    public static func maxBytes(parameters: Int) -> Int {
        64 + 3 * parameters * 4 + 2 * (maxKindBytes + 16 + maxBuffers * (8 + parameters * 4)) + 3 * (1 + maxProofDepth * 32)
    }

    /// Little-endian: "CTPF", version u16, flags u16 (bit 0: final parameters present), segment u32, leaves u32,
    /// parameter count u64; start state, end state (each: params f32×N, optimizer kind length u8 + UTF-8, step u64,
    /// buffer count u8, per buffer count u64 + f32×count); final params f32×N if flagged; final optimizer digest 32;
    /// three proofs (sibling count u8 + 32 bytes each): start, end, final.
    public func encoded() -> Data {
        var out = Data()
        out.append(contentsOf: Self.magic)
        put(&out, Self.version)
        put(&out, UInt16(finalParams == nil ? 0 : 1))
        put(&out, UInt32(segment))
        put(&out, UInt32(leaves))
        put(&out, UInt64(start.params.count))
        for s in [start, end] {
            floats(&out, s.params)
            let kind = Array(s.optimizer.kind.utf8)
            out.append(UInt8(kind.count))
            out.append(contentsOf: kind)
            put(&out, UInt64(max(0, s.optimizer.step)))
            out.append(UInt8(s.optimizer.buffers.count))
            for b in s.optimizer.buffers {
                put(&out, UInt64(b.count))
                floats(&out, b)
            }
        }
        if let finalParams { floats(&out, finalParams) }
        out.append(contentsOf: finalOptimizerDigest)
        for p in [startProof, endProof, finalProof] {
            out.append(UInt8(p.count))
            for h in p { out.append(contentsOf: h) }
        }
        return out
    }

    /// Decodes a hostile body: every count is checked against `parameters` and the limits before anything is
    /// allocated; trailing bytes are refused.
    /// - Throws: `LeaseInputError` saying what is wrong.
    public static func decode(_ data: Data, parameters: Int) throws -> TrajectoryProof {
        var r = Reader(data: data)
        guard try r.bytes(4) == magic else { throw LeaseInputError("not a trajectory proof (expected magic CTPF)") }
        let version: UInt16 = try r.int()
        guard version == Self.version else {
            throw LeaseInputError("proof version \(version) is not supported (this build reads \(Self.version))")
        }
        let flags: UInt16 = try r.int()
        guard flags & ~1 == 0 else { throw LeaseInputError("proof flags \(flags) are not defined") }
        let segment = Int(try r.int() as UInt32), leaves = Int(try r.int() as UInt32)
        let n: UInt64 = try r.int()
        guard n == UInt64(parameters) else {
            throw LeaseInputError("the proof holds \(n)-parameter states; the model has \(parameters)")
        }
        func state() throws -> TrajectoryState {
            let params = try r.floats(parameters)
            let kindLength = Int(try r.int() as UInt8)
            guard kindLength <= maxKindBytes, let kind = String(bytes: try r.bytes(kindLength), encoding: .utf8) else {
                throw LeaseInputError("the proof's optimizer kind is not a short UTF-8 name")
            }
            let step: UInt64 = try r.int()
            guard step <= UInt64(Int32.max) else { throw LeaseInputError("optimizer step count \(step) is out of range") }
            let count = Int(try r.int() as UInt8)
            guard count <= maxBuffers else { throw LeaseInputError("the proof declares \(count) optimizer buffers") }
            var buffers: [[Float]] = []
            for _ in 0..<count {
                let c: UInt64 = try r.int()
                guard c == UInt64(parameters) else {
                    throw LeaseInputError("an optimizer buffer holds \(c) values; the model has \(parameters)")
                }
                buffers.append(try r.floats(parameters))
            }
            return TrajectoryState(params: params, optimizer: OptimizerState(kind: kind, step: Int(step), buffers: buffers))
        }
        let start = try state(), end = try state()
        let finalParams = flags & 1 != 0 ? try r.floats(parameters) : nil
        let finalDigest = try r.bytes(32)
        func proof() throws -> [[UInt8]] {
            let c = Int(try r.int() as UInt8)
            guard c <= maxProofDepth else { throw LeaseInputError("a Merkle proof of \(c) siblings is too deep") }
            return try (0..<c).map { _ in try r.bytes(32) }
        }
        let p1 = try proof(), p2 = try proof(), p3 = try proof()
        guard r.remaining == 0 else { throw LeaseInputError("\(r.remaining) bytes follow the proof") }
        return TrajectoryProof(
            segment: segment, leaves: leaves, start: start, end: end, finalParams: finalParams,
            finalOptimizerDigest: finalDigest, startProof: p1, endProof: p2, finalProof: p3)
    }

    func put<T: FixedWidthInteger>(_ out: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    func floats(_ out: inout Data, _ v: [Float]) {
        v.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    struct Reader {
        let data: Data
        var offset = 0
        init(data: Data) { self.data = data }
        var remaining: Int { data.count - offset }

        mutating func bytes(_ n: Int) throws -> [UInt8] {
            guard n >= 0, n <= remaining else { throw LeaseInputError("the proof is truncated") }
            let start = data.startIndex + offset
            offset += n
            return Array(data[start..<(start + n)])
        }

        mutating func int<T: FixedWidthInteger>() throws -> T {
            let b = try bytes(MemoryLayout<T>.size)
            var v: T = 0
            for (i, byte) in b.enumerated() { v |= T(byte) << (8 * i) }
            return v
        }

        mutating func floats(_ n: Int) throws -> [Float] {
            guard n >= 0, n <= remaining / 4 else { throw LeaseInputError("the proof is truncated") }
            let start = data.startIndex + offset
            offset += 4 * n
            return [Float](unsafeUninitializedCapacity: n) { buf, count in
                data[start..<(start + 4 * n)].withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: src)
                }
                count = n
            }
        }
    }
}
