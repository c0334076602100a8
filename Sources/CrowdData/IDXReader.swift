import CZlib
import Foundation

/// An n-dimensional array of unsigned bytes read from an IDX file.
public struct IDXArray: Sendable, Equatable {
    /// Dimensions, outermost first (e.g. `[60000, 28, 28]`).
    public let dimensions: [Int]
    /// Row-major values.
    public let values: [UInt8]
}

/// Reader for the IDX format of MNIST-style datasets, plain or gzip-compressed.
///
/// Format: magic `00 00 08 nd` (type 0x08 = unsigned byte, `nd` dimensions), then `nd` big-endian
/// `UInt32` sizes, then the values. Gzip input (magic `1f 8b`) is inflated with zlib. Every way a
/// file can be wrong is reported as an `IDXError` naming the file; nothing traps.
public enum IDXReader {
    /// Largest decompressed size accepted (guards against gzip bombs).
    public static let maxBytes = 1 << 31

    /// Reads and parses the file at `path` (gzip detected from its first bytes).
    public static func read(path: String) throws -> IDXArray {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IDXError(file: path, problem: .unreadable, message: "cannot read the file (missing or no permission)")
        }
        return try parse(data, file: path)
    }

    /// Parses IDX bytes, inflating them first if they are gzip; `file` labels errors.
    public static func parse(_ data: Data, file: String) throws -> IDXArray {
        let raw: Data
        if data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b {
            raw = try gunzip(data, file: file)
        } else {
            raw = data
        }
        return try raw.withUnsafeBytes { try parseRaw($0.bindMemory(to: UInt8.self), file: file) }
    }

    static func parseRaw(_ raw: UnsafeBufferPointer<UInt8>, file: String) throws -> IDXArray {
        guard raw.count >= 4 else {
            throw IDXError(
                file: file, problem: .truncated, message: "only \(raw.count) bytes; an IDX header needs at least 4")
        }
        guard raw[0] == 0, raw[1] == 0 else {
            let hex = (0..<4).map { raw[$0] }.map { String(format: "%02x", $0) }.joined(separator: " ")
            throw IDXError(
                file: file, problem: .wrongMagic,
                message: "not an IDX file (magic \(hex), expected 00 00 08 nd); pass MNIST-format files")
        }
        guard raw[2] == 0x08 else {
            throw IDXError(
                file: file, problem: .wrongMagic,
                message: String(format: "IDX element type 0x%02x is not supported; only unsigned bytes (0x08)", raw[2]))
        }
        let nd = Int(raw[3])
        guard (1...4).contains(nd) else {
            throw IDXError(
                file: file, problem: .wrongMagic, message: "IDX header declares \(nd) dimensions; expected 1 to 4")
        }
        let headerBytes = 4 + 4 * nd
        guard raw.count >= headerBytes else {
            throw IDXError(
                file: file, problem: .truncated,
                message: "header of \(nd) dimensions needs \(headerBytes) bytes, the file has \(raw.count)")
        }
        var dims: [Int] = []
        var total = 1
        for d in 0..<nd {
            let o = 4 + 4 * d
            let v = Int(raw[o]) << 24 | Int(raw[o + 1]) << 16 | Int(raw[o + 2]) << 8 | Int(raw[o + 3])
            dims.append(v)
            let (prod, overflow) = total.multipliedReportingOverflow(by: v)
            guard !overflow, prod <= maxBytes else {
                throw IDXError(
                    file: file, problem: .dimensionMismatch, message: "dimensions \(dims) are implausibly large")
            }
            total = prod
        }
        let payload = raw.count - headerBytes
        if payload < total {
            throw IDXError(
                file: file, problem: .truncated,
                message: "dimensions \(dims) need \(total) data bytes but only \(payload) follow the header")
        }
        if payload > total {
            throw IDXError(
                file: file, problem: .dimensionMismatch,
                message: "dimensions \(dims) need \(total) data bytes but \(payload) follow the header")
        }
        return IDXArray(dimensions: dims, values: Array(UnsafeBufferPointer(rebasing: raw[headerBytes...])))
    }

    /// Inflates a gzip stream with zlib.
    static func gunzip(_ data: Data, file: String) throws -> Data {
        var stream = z_stream()
        // 15 + 16: maximum window, gzip wrapper only.
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw IDXError(file: file, problem: .corruptGzip, message: "zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }
        guard data.count < Int(UInt32.max) else {
            throw IDXError(file: file, problem: .dimensionMismatch, message: "compressed file larger than 4 GB")
        }
        var out = Data()
        out.reserveCapacity(min(maxBytes, data.count * 8))
        let chunk = 1 << 20
        let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: chunk)
        defer { buffer.deallocate() }
        try data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: src.bindMemory(to: UInt8.self).baseAddress!)
            stream.avail_in = UInt32(src.count)
            while true {
                stream.next_out = buffer
                stream.avail_out = UInt32(chunk)
                let status = inflate(&stream, Z_NO_FLUSH)
                out.append(buffer, count: chunk - Int(stream.avail_out))
                guard out.count <= maxBytes else {
                    throw IDXError(
                        file: file, problem: .dimensionMismatch,
                        message: "decompresses to more than \(maxBytes) bytes; not an MNIST-style file")
                }
                if status == Z_STREAM_END { return }
                if status == Z_OK { continue }
                if status == Z_BUF_ERROR && stream.avail_in == 0 {
                    throw IDXError(
                        file: file, problem: .truncated,
                        message: "gzip stream ends early after \(out.count) decompressed bytes (incomplete download?)")
                }
                let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                throw IDXError(file: file, problem: .corruptGzip, message: "corrupt gzip data: \(detail)")
            }
        }
        return out
    }
}
