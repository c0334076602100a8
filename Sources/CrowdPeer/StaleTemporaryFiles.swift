import Foundation

/// Removes the temporary files a killed process left behind while replacing a file atomically.
///
/// `AtomicFile.write` writes `NAME.tmp-PID-RANDOM` and renames it over `NAME`; a SIGKILL or power cut
/// between the two leaves the temporary file (as big as `progress.bin`: several model-sized buffers). The
/// daemon sweeps its directories on start. Only files of processes that no longer exist are removed, so a
/// concurrent `peer pause` or a second writer is never disturbed.
enum StaleTemporaryFiles {
    /// The names removed from `directories`.
    @discardableResult
    static func sweep(_ directories: [String]) -> [String] {
        var removed: [String] = []
        let me = getpid()
        for dir in directories {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { continue }
            for name in names {
                guard let pid = writerPID(name), pid != me, !isAlive(pid) else { continue }
                if unlink(dir + "/" + name) == 0 { removed.append(name) }
            }
        }
        return removed
    }

    /// The writer's process id of an `AtomicFile` temporary name (`NAME.tmp-PID-RANDOM`), else nil.
    static func writerPID(_ name: String) -> pid_t? {
        guard let marker = name.range(of: ".tmp-", options: .backwards) else { return nil }
        let parts = name[marker.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, let pid = pid_t(parts[0]), pid > 0, UInt32(parts[1]) != nil else { return nil }
        return pid
    }

    static func isAlive(_ pid: pid_t) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}
