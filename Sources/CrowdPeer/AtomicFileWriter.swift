import CrowdEngine
import Foundation

/// The peer's one way to replace a file: CrowdEngine's `AtomicFile` (temp, fsync, rename, fsync dir).
enum AtomicFileWriter {
    static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        try AtomicFile.write(data, to: path, mode: mode)
    }

    /// Removes `path` and syncs its directory so the removal is durable; a missing file is fine.
    static func remove(_ path: String) { AtomicFile.remove(path) }
}
