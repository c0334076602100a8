import CZstd
import Synchronization

/// zstd framing with reusable contexts and strict single-frame decoding.
///
/// Contexts are pooled (a few per process) so repeated encodes don't pay context setup.
enum Zstd {
    /// `ZSTD_CONTENTSIZE_UNKNOWN` (macro not imported into Swift).
    static let contentSizeUnknown = UInt64.max
    /// `ZSTD_CONTENTSIZE_ERROR` (macro not imported into Swift).
    static let contentSizeError = UInt64.max - 1
    /// zstd frame magic, little-endian.
    static let frameMagic: UInt32 = 0xFD2F_B528
    /// Levels zstd accepts here (negative = fast modes).
    static let levelRange: ClosedRange<Int32> = -7...19
    /// Hash table log and minimum match used at level 1 (see `compress`).
    static let fastHashLog: Int32 = 10
    static let fastMinMatch: Int32 = 7

    static func compressBound(_ n: Int) -> Int { ZSTD_compressBound(n) }

    static func errorName(_ code: Int) -> String { String(cString: ZSTD_getErrorName(code)) }

    /// The content size a frame header declares (`contentSizeUnknown`/`contentSizeError` when it does not).
    static func frameContentSize(_ src: UnsafeRawBufferPointer) -> UInt64 {
        ZSTD_getFrameContentSize(src.baseAddress, src.count)
    }

    /// A compression context, owned by one caller at a time.
    final class CompressionContext: @unchecked Sendable {
        let ctx: OpaquePointer
        init() { ctx = ZSTD_createCCtx()! }
        deinit { ZSTD_freeCCtx(ctx) }
    }

    /// A decompression context, owned by one caller at a time.
    final class DecompressionContext: @unchecked Sendable {
        let ctx: OpaquePointer
        init() { ctx = ZSTD_createDCtx()! }
        deinit { ZSTD_freeDCtx(ctx) }
    }

    private static let cPool = Mutex<[CompressionContext]>([])
    private static let dPool = Mutex<[DecompressionContext]>([])
    private static let poolLimit = 4

    static func withCompressionContext<R>(_ body: (CompressionContext) throws -> R) rethrows -> R {
        let c = cPool.withLock { $0.popLast() } ?? CompressionContext()
        defer { cPool.withLock { if $0.count < poolLimit { $0.append(c) } } }
        return try body(c)
    }

    static func withDecompressionContext<R>(_ body: (DecompressionContext) throws -> R) rethrows -> R {
        let d = dPool.withLock { $0.popLast() } ?? DecompressionContext()
        defer { dPool.withLock { if $0.count < poolLimit { $0.append(d) } } }
        return try body(d)
    }

    /// Compresses `src` into `dst` as one frame with its content size set; returns the frame size.
    static func compress(
        _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, level: Int32,
        context: CompressionContext
    ) throws -> Int {
        let c = context.ctx
        ZSTD_CCtx_reset(c, ZSTD_reset_session_and_parameters)
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, 1)
        ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)
        if level == 1 {
            // Quantized payloads gain almost nothing from matches (their gain is Huffman-coded literals), so the
            // default level uses a 4 KB hash table and 7-byte minimum matches: on real MLP deltas (int8) this is
            // ~30 % faster for a 0.1 % larger frame. Other levels keep zstd's own parameters.
            ZSTD_CCtx_setParameter(c, ZSTD_c_hashLog, fastHashLog)
            ZSTD_CCtx_setParameter(c, ZSTD_c_minMatch, fastMinMatch)
        }
        let n = ZSTD_compress2(c, dst.baseAddress, dst.count, src.baseAddress, src.count)
        guard ZSTD_isError(n) == 0 else {
            throw CodecError(.compressionFailed, "zstd compression failed: \(errorName(n))")
        }
        return n
    }

    /// The smallest window log that covers `rawSize` bytes (at least zstd's minimum 10).
    static func windowLog(for rawSize: Int) -> Int32 {
        var log: Int32 = 10
        while (1 << log) < rawSize && log < 31 { log += 1 }
        return log
    }

    /// Validates that `src` is exactly one zstd frame declaring content size `rawSize`, then inflates it
    /// into `dst` (exactly `rawSize` bytes) with the window bounded to the content size.
    static func decompressExactly(
        _ src: UnsafeRawBufferPointer, into dst: UnsafeMutableRawBufferPointer, context: DecompressionContext
    ) throws {
        let rawSize = dst.count
        guard src.count >= 4, src.loadUnaligned(as: UInt32.self).littleEndian == frameMagic else {
            throw CodecError(.badFrame, "payload is not a zstd frame (bad frame magic)")
        }
        // Frame header descriptor: refuse dictionaries, and bound the window explicitly (one-shot
        // decompression would otherwise ignore ZSTD_d_windowLogMax).
        guard src.count >= 6 else { throw CodecError(.badFrame, "zstd frame header is truncated") }
        let fhd = src[4]
        guard fhd & 0x03 == 0 else {
            throw CodecError(.badFrame, "zstd frame requires a dictionary; update payloads never use one")
        }
        if fhd & 0x20 == 0 {
            let wd = Int(src[5])
            let windowBase = 1 << (10 + (wd >> 3))
            let window = windowBase + (windowBase / 8) * (wd & 7)
            let bound = 1 << Int(windowLog(for: rawSize))
            guard window <= bound else {
                throw CodecError(
                    .badFrame, "zstd frame declares a \(window)-byte window; at most \(bound) bytes are allowed here")
            }
        }
        let declared = ZSTD_getFrameContentSize(src.baseAddress, src.count)
        if declared == contentSizeError {
            throw CodecError(.badFrame, "zstd frame header is malformed or truncated")
        }
        if declared == contentSizeUnknown {
            throw CodecError(.badFrame, "zstd frame does not declare its content size; re-encode with content size set")
        }
        guard declared == UInt64(rawSize) else {
            throw CodecError(
                .sizeMismatch, "zstd frame declares \(declared) bytes of content, expected exactly \(rawSize)")
        }
        let frameSize = ZSTD_findFrameCompressedSize(src.baseAddress, src.count)
        guard ZSTD_isError(frameSize) == 0 else {
            throw CodecError(.badFrame, "zstd frame is malformed or truncated: \(errorName(frameSize))")
        }
        guard frameSize == src.count else {
            throw CodecError(
                .badFrame,
                "payload holds \(src.count - frameSize) bytes after the first zstd frame; exactly one frame is allowed")
        }
        let d = context.ctx
        ZSTD_DCtx_reset(d, ZSTD_reset_session_and_parameters)
        ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax, windowLog(for: rawSize))
        let n = ZSTD_decompressDCtx(d, dst.baseAddress, rawSize, src.baseAddress, src.count)
        guard ZSTD_isError(n) == 0 else {
            throw CodecError(.decompressionFailed, "zstd could not inflate the payload: \(errorName(n))")
        }
        guard n == rawSize else {
            throw CodecError(.sizeMismatch, "zstd frame inflated to \(n) bytes, expected \(rawSize)")
        }
    }

    /// One frame of `raw` (tests and the fuzzer use this to build hostile payloads).
    static func frame(_ raw: [UInt8], level: Int32 = 1, contentSize: Bool = true) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: compressBound(raw.count))
        let c = ZSTD_createCCtx()!
        defer { ZSTD_freeCCtx(c) }
        ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, level)
        ZSTD_CCtx_setParameter(c, ZSTD_c_contentSizeFlag, contentSize ? 1 : 0)
        let n = out.withUnsafeMutableBytes { o in
            raw.withUnsafeBytes { ZSTD_compress2(c, o.baseAddress, o.count, $0.baseAddress, $0.count) }
        }
        precondition(ZSTD_isError(n) == 0)
        return Array(out[0..<n])
    }
}
