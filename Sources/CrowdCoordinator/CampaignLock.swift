import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive advisory lock on `D/coordinator.lock`, held while a coordinator serves the campaign,
/// so a second `coordinator serve` on the same directory refuses to start instead of corrupting rounds.
/// The kernel releases it when the process exits, even after SIGKILL.
public final class CampaignLock: Sendable {
    private let fd: Int32

    /// Takes the lock or throws naming the directory.
    public init(paths: CampaignPaths) throws {
        let path = (paths.directory as NSString).appendingPathComponent("coordinator.lock")
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            guard FileManager.default.fileExists(atPath: paths.directory) else {
                throw CoordinatorError(
                    "no campaign directory \(paths.directory); create it with `coordinator init`")
            }
            throw CoordinatorError("cannot open \(path): \(reason)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            // The holder wrote its pid when it took the lock.
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            let text = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
            let holder = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            throw CoordinatorError(
                "another coordinator\(holder.map { " (pid \($0))" } ?? "") is already serving \(paths.directory); "
                    + "stop it first (one coordinator per campaign)")
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pid.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        self.fd = fd
    }

    deinit { close(fd) }
}
