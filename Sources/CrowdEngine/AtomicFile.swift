import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Crash-safe file replacement: write a temporary file in the same directory, fsync it, rename
/// it over the destination, fsync the directory. A reader sees the old file or the new one, never
/// a torn mix (BOINC's next → current discipline).
public enum AtomicFile {
    /// Error with the path and the failing system call.
    public struct WriteError: Error, CustomStringConvertible {
        public let path: String
        public let operation: String
        public let errno: Int32
        public var description: String {
            "could not \(operation) \(path): \(String(cString: strerror(errno))) — check that the directory exists and is writable"
        }
    }

    /// Atomically replaces `path` with `data`, with file mode `mode`.
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let dir = (path as NSString).deletingLastPathComponent
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard fd >= 0 else { throw WriteError(path: tmp, operation: "create", errno: errno) }
        var ok = false
        defer {
            if !ok { unlink(tmp) }
        }
        try data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    let e = errno
                    close(fd)
                    throw WriteError(path: tmp, operation: "write", errno: e)
                }
                off += n
            }
        }
        if fchmod(fd, mode) != 0 { let e = errno; close(fd); throw WriteError(path: tmp, operation: "chmod", errno: e) }
        if fsync(fd) != 0 { let e = errno; close(fd); throw WriteError(path: tmp, operation: "fsync", errno: e) }
        close(fd)
        if rename(tmp, path) != 0 { throw WriteError(path: path, operation: "rename into", errno: errno) }
        ok = true
        syncDirectory(dir.isEmpty ? "." : dir)
    }

    /// Removes `path` and syncs its directory so the removal is durable; a missing file is fine.
    public static func remove(_ path: String) {
        if unlink(path) == 0 {
            syncDirectory((path as NSString).deletingLastPathComponent)
        }
    }

    /// fsyncs a directory so a rename inside it is durable.
    public static func syncDirectory(_ dir: String) {
        let dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}
