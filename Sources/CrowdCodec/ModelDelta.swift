import Foundation

/// A round delta (Docs/WireFormats.md §7): how a peer holding model version *v* rebuilds version *v+1* bit for bit
/// from a download much smaller than the model.
///
/// Two encodings:
///
/// - **`grid8`** — the coordinator's outer step lies on a grid (`GridStep`): for each block of `blockSize`
///   parameters, `new[i] = old[i].addingProduct(scale, Float(q[i]))` with one float32 `scale` per block and
///   `q[i]` in −127…127. `addingProduct` is IEEE 754's fused multiply-add, correctly rounded on every CPU
///   (hardware or software), so every peer rebuilds exactly the coordinator's parameters. The payload is the
///   scales and the int8 steps, about a quarter of the model before zstd.
/// - **`xor`** — for parameters not on a grid (an operator who turned the grid off, an imported model): the
///   XOR of the float32 bit patterns, split into four byte planes. Lossless for any pair, but float32 noise
///   compresses badly (75 % of the model for the demo's rounds), so a peer takes it only when the chunks it lacks
///   cost more.
///
/// The target checkpoint's bytes before its parameters (kind, configuration, metadata, count) travel verbatim,
/// so the result is the coordinator's file once the parameters and the checksum trailer are put back; the
/// receiver checks its SHA-256 against the version it asked for.
///
/// Binary format, little-endian:
///
/// | bytes | field |
/// |---|---|
/// | 8 | magic `CRWDDLTA` |
/// | 4 | format version (1) |
/// | 32 | base version (SHA-256 of the base checkpoint) |
/// | 32 | target version (SHA-256 of the target checkpoint) |
/// | 1 | encoding: 1 = `xor`, 2 = `grid8` |
/// | 3 | reserved, zero |
/// | 4 | block size (`grid8`: 1…65536; `xor`: 0) |
/// | 8 | parameter count N (≤ 2^32) |
/// | 4 | length P of the target's prefix (≤ 1 MiB) |
/// | P | the target checkpoint's bytes before its parameters |
/// | 8 | length C of the payload frame |
/// | C | one zstd frame with its content size: `xor`: 4·N bytes (plane 0 = every parameter's low byte, …); `grid8`: 4·⌈N/B⌉ bytes of scales, then N int8 steps |
///
/// Decoding is bounded by what the receiver already knows: N must be its base's parameter count, the frame must
/// declare exactly the size the encoding implies (`Zstd.decompressExactly`), every scale must be finite.
public struct ModelDelta: Sendable, Equatable {
    public static let magic: [UInt8] = Array("CRWDDLTA".utf8)
    public static let formatVersion: UInt32 = 1
    /// Largest prefix (kind, configuration and metadata JSON) a delta may carry.
    public static let maxPrefixBytes = 1 << 20
    /// Most parameters a delta may describe (the engine's shape bound).
    public static let maxParameters = 1 << 32
    /// zstd level of delta payloads. Made once per round on the coordinator's round path; int8 steps gain little
    /// from higher levels (their gain is Huffman-coded literals).
    public static let level: Int32 = 3

    /// How the parameters are encoded.
    public enum Encoding: UInt8, Sendable, CaseIterable {
        case xor = 1
        case grid8 = 2

        public var name: String { self == .xor ? "xor" : "grid8" }
    }

    public var base: [UInt8]
    public var target: [UInt8]
    public var encoding: Encoding
    public var blockSize: Int
    public var count: Int
    public var prefix: Data
    /// The zstd frame.
    public var frame: Data

    /// The delta from `base` to `target`, XOR-encoded (lossless for any two parameter vectors of one length).
    public static func xor(
        base: [Float], target: [Float], baseVersion: [UInt8], targetVersion: [UInt8], targetPrefix: Data
    ) throws -> ModelDelta {
        guard base.count == target.count else {
            throw CodecError(.elementCountMismatch, "a delta joins two models of one size (\(base.count) against \(target.count) parameters)")
        }
        let n = base.count
        var planes = [UInt8](repeating: 0, count: 4 * n)
        base.withUnsafeBytes { b in
            target.withUnsafeBytes { t in
                for i in 0..<n {
                    let x = b.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                        ^ t.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)
                    let le = x.littleEndian
                    planes[i] = UInt8(truncatingIfNeeded: le)
                    planes[n + i] = UInt8(truncatingIfNeeded: le >> 8)
                    planes[2 * n + i] = UInt8(truncatingIfNeeded: le >> 16)
                    planes[3 * n + i] = UInt8(truncatingIfNeeded: le >> 24)
                }
            }
        }
        return try ModelDelta(
            base: baseVersion, target: targetVersion, encoding: .xor, blockSize: 0, count: n, prefix: targetPrefix,
            frame: try Self.compress(planes))
    }

    /// The delta of a grid step (`GridStep.apply` made `target` from `base` with these `step`s).
    public static func grid(
        _ step: GridStep, baseVersion: [UInt8], targetVersion: [UInt8], targetPrefix: Data
    ) throws -> ModelDelta {
        var raw = [UInt8](repeating: 0, count: 4 * step.scales.count + step.steps.count)
        raw.withUnsafeMutableBytes { dst in
            for (i, s) in step.scales.enumerated() { dst.storeBytes(of: s.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
            step.steps.withUnsafeBytes { q in
                UnsafeMutableRawBufferPointer(rebasing: dst[(4 * step.scales.count)...]).copyMemory(from: q)
            }
        }
        return try ModelDelta(
            base: baseVersion, target: targetVersion, encoding: .grid8, blockSize: step.blockSize,
            count: step.steps.count, prefix: targetPrefix, frame: try Self.compress(raw))
    }

    init(
        base: [UInt8], target: [UInt8], encoding: Encoding, blockSize: Int, count: Int, prefix: Data, frame: Data
    ) throws {
        guard base.count == 32, target.count == 32 else {
            throw CodecError(.badCodecParameters, "model versions are 32-byte SHA-256 digests")
        }
        guard prefix.count <= Self.maxPrefixBytes else {
            throw CodecError(.sizeMismatch, "a checkpoint prefix of \(prefix.count) bytes is above the delta limit of \(Self.maxPrefixBytes)")
        }
        self.base = base; self.target = target; self.encoding = encoding; self.blockSize = blockSize
        self.count = count; self.prefix = prefix; self.frame = frame
    }

    /// The delta's bytes (its wire form and its file).
    public func encoded() -> Data {
        var out = Data()
        out.reserveCapacity(100 + prefix.count + frame.count)
        out.append(contentsOf: Self.magic)
        Self.append(&out, Self.formatVersion)
        out.append(contentsOf: base)
        out.append(contentsOf: target)
        out.append(contentsOf: [encoding.rawValue, 0, 0, 0])
        Self.append(&out, UInt32(blockSize))
        Self.append(&out, UInt64(count))
        Self.append(&out, UInt32(prefix.count))
        out.append(prefix)
        Self.append(&out, UInt64(frame.count))
        out.append(frame)
        return out
    }

    /// Parses a delta's bytes (the payload is inflated only by `apply`).
    /// - Throws: `CodecError` for anything but one well-formed delta: bad magic or version, an unknown encoding,
    ///   non-zero reserved bytes, a block size or count out of range, a prefix above the limit, a truncated body or
    ///   bytes after it.
    public static func decode(_ data: Data) throws -> ModelDelta {
        var r = Reader(data)
        guard let m = r.bytes(8), m == magic else { throw CodecError(.badMagic, "not a CrowdTrain model delta (bad magic)") }
        guard let v: UInt32 = r.le() else { throw CodecError(.truncated, "the delta ends inside its header") }
        guard v == formatVersion else {
            throw CodecError(.unsupportedVersion, "delta format \(v); this build reads format \(formatVersion)")
        }
        guard let base = r.bytes(32), let target = r.bytes(32), let flags = r.bytes(4),
              let block: UInt32 = r.le(), let count: UInt64 = r.le(), let p: UInt32 = r.le()
        else { throw CodecError(.truncated, "the delta ends inside its header") }
        guard let encoding = Encoding(rawValue: flags[0]), flags[1...].allSatisfy({ $0 == 0 }) else {
            throw CodecError(.unknownCodec, "delta encoding \(flags[0]) with flags \(flags[1...]) is not one this build knows")
        }
        switch encoding {
        case .xor:
            guard block == 0 else { throw CodecError(.badCodecParameters, "an xor delta has block size 0, not \(block)") }
        case .grid8:
            guard (1...65536).contains(block) else {
                throw CodecError(.badCodecParameters, "grid block size \(block) is outside 1…65536")
            }
        }
        guard count <= UInt64(maxParameters) else {
            throw CodecError(.elementCountMismatch, "a delta of \(count) parameters is above the limit \(maxParameters)")
        }
        guard Int(p) <= maxPrefixBytes else {
            throw CodecError(.sizeMismatch, "a checkpoint prefix of \(p) bytes is above the delta limit of \(maxPrefixBytes)")
        }
        guard let prefix = r.bytes(Int(p)), let c: UInt64 = r.le() else {
            throw CodecError(.truncated, "the delta ends inside its prefix")
        }
        guard c == UInt64(r.remaining) else {
            throw c > UInt64(r.remaining)
                ? CodecError(.truncated, "the delta declares a \(c)-byte payload but \(r.remaining) bytes follow")
                : CodecError(.trailingBytes, "\(UInt64(r.remaining) - c) bytes follow the delta's payload")
        }
        let frame = r.rest()
        return try ModelDelta(
            base: base, target: target, encoding: encoding, blockSize: Int(block), count: Int(count),
            prefix: Data(prefix), frame: frame)
    }

    /// The target's parameters, rebuilt from `base` (the parameters of the delta's base version).
    /// - Throws: `CodecError` if `base` has another size, the frame is not exactly the size the encoding implies,
    ///   or a grid scale is not finite.
    public func apply(to base: [Float]) throws -> [Float] {
        guard base.count == count else {
            throw CodecError(.elementCountMismatch, "the delta is for \(count) parameters; the base model has \(base.count)")
        }
        let n = count
        switch encoding {
        case .xor:
            let planes = try Self.inflate(frame, exactly: 4 * n)
            var out = base
            out.withUnsafeMutableBytes { o in
                for i in 0..<n {
                    let x = UInt32(planes[i]) | UInt32(planes[n + i]) << 8 | UInt32(planes[2 * n + i]) << 16
                        | UInt32(planes[3 * n + i]) << 24
                    let old = UInt32(littleEndian: o.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                    o.storeBytes(of: (old ^ x).littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            }
            return out
        case .grid8:
            let blocks = (n + blockSize - 1) / blockSize
            let raw = try Self.inflate(frame, exactly: 4 * blocks + n)
            var scales = [Float](repeating: 0, count: blocks)
            raw.withUnsafeBytes { r in
                for b in 0..<blocks {
                    scales[b] = Float(bitPattern: UInt32(littleEndian: r.loadUnaligned(fromByteOffset: 4 * b, as: UInt32.self)))
                }
            }
            guard scales.allSatisfy(\.isFinite) else {
                throw CodecError(.nonFiniteValue, "a grid delta carries a scale that is NaN or infinite")
            }
            let steps = raw[(4 * blocks)...].map { Int8(bitPattern: $0) }
            guard !steps.contains(Int8.min) else {
                throw CodecError(.quantOutOfRange, "a grid delta carries the step −128 (steps are −127…127)")
            }
            return GridStep(blockSize: blockSize, scales: scales, steps: steps).apply(to: base)
        }
    }

    static func compress(_ raw: [UInt8]) throws -> Data {
        var out = Data(count: Zstd.compressBound(raw.count))
        let n = try out.withUnsafeMutableBytes { dst in
            try raw.withUnsafeBytes { src in
                try Zstd.withCompressionContext { try Zstd.compress(src, into: dst, level: level, context: $0) }
            }
        }
        out.removeSubrange(n...)
        return out
    }

    static func inflate(_ frame: Data, exactly size: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: size)
        try out.withUnsafeMutableBytes { dst in
            try frame.withUnsafeBytes { src in
                try Zstd.withDecompressionContext { try Zstd.decompressExactly(src, into: dst, context: $0) }
            }
        }
        return out
    }

    static func append<T: FixedWidthInteger>(_ out: inout Data, _ v: T) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }

    /// Bounds-checked little-endian cursor.
    struct Reader {
        let data: Data
        var offset: Int
        init(_ data: Data) { self.data = data; offset = data.startIndex }
        var remaining: Int { data.endIndex - offset }
        mutating func bytes(_ n: Int) -> [UInt8]? {
            guard n >= 0, n <= remaining else { return nil }
            defer { offset += n }
            return Array(data[offset..<(offset + n)])
        }
        mutating func le<T: FixedWidthInteger>() -> T? {
            guard let b = bytes(MemoryLayout<T>.size) else { return nil }
            var v: T = 0
            withUnsafeMutableBytes(of: &v) { $0.copyBytes(from: b) }
            return T(littleEndian: v)
        }
        func rest() -> Data { Data(data[offset...]) }
    }
}

/// An outer step on a grid (the `grid8` delta): the coordinator moves its parameters by `scale·q` per block, with
/// `q` in −127…127 rounded to nearest, so that the move is exactly what a peer can rebuild from a quarter of the
/// model's bytes.
///
/// For a block whose largest wanted move is `m`, the scale is `m/127`: each parameter lands within `m/254` of
/// where the optimizer wanted it (round to nearest), and the rounding is deterministic. Blocks of 64 keep that
/// error local: one large parameter does not coarsen the grid of the whole tensor.
public struct GridStep: Sendable, Equatable {
    /// Parameters per scale (the default keeps the scales at 1/16 of the steps' bytes).
    public static let defaultBlockSize = 64

    public var blockSize: Int
    public var scales: [Float]
    public var steps: [Int8]

    public init(blockSize: Int, scales: [Float], steps: [Int8]) {
        self.blockSize = blockSize; self.scales = scales; self.steps = steps
    }

    /// The grid step nearest to the move from `base` to `wanted`. A non-finite wanted move of a parameter is not
    /// taken (that parameter stays); a block whose scale would not be finite stays whole.
    public static func nearest(from base: [Float], to wanted: [Float], blockSize: Int = defaultBlockSize) -> GridStep {
        precondition(base.count == wanted.count && blockSize > 0)
        let n = base.count
        let blocks = (n + blockSize - 1) / blockSize
        var scales = [Float](repeating: 0, count: blocks)
        var steps = [Int8](repeating: 0, count: n)
        base.withUnsafeBufferPointer { b in
            wanted.withUnsafeBufferPointer { w in
                scales.withUnsafeMutableBufferPointer { sc in
                    steps.withUnsafeMutableBufferPointer { q in
                        for k in 0..<blocks {
                            let lo = k * blockSize, hi = min(n, lo + blockSize)
                            var m: Float = 0
                            for i in lo..<hi {
                                let d = w[i] - b[i]
                                if d.isFinite { m = max(m, abs(d)) }
                            }
                            let scale = m / 127
                            guard scale.isFinite, scale.isNormal else { continue }
                            sc[k] = scale
                            let inverse = 1 / scale
                            for i in lo..<hi {
                                let d = w[i] - b[i]
                                guard d.isFinite else { continue }
                                // d/scale via the reciprocal can land a hair past 127: clamp.
                                q[i] = Int8(max(-127, min(127, (d * inverse).rounded(.toNearestOrEven))))
                            }
                        }
                    }
                }
            }
        }
        return GridStep(blockSize: blockSize, scales: scales, steps: steps)
    }

    /// `base` moved by the step: `base[i].addingProduct(scale, Float(q[i]))`, one correctly rounded fused
    /// multiply-add per parameter (bit-identical on every IEEE 754 machine).
    public func apply(to base: [Float]) -> [Float] {
        precondition(base.count == steps.count && scales.count == (steps.count + blockSize - 1) / blockSize)
        var out = base
        let n = base.count
        out.withUnsafeMutableBufferPointer { o in
            steps.withUnsafeBufferPointer { q in
                scales.withUnsafeBufferPointer { sc in
                    for k in 0..<sc.count {
                        let s = sc[k]
                        for i in (k * blockSize)..<min(n, (k + 1) * blockSize) where q[i] != 0 {
                            o[i] = o[i].addingProduct(s, Float(q[i]))
                        }
                    }
                }
            }
        }
        return out
    }
}
