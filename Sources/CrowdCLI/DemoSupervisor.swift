import ArgumentParser
import Dispatch
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Owns the demo's child processes: stops them all on exit, and on Ctrl-C (SIGINT) or SIGTERM.
package final class DemoSupervisor: Sendable {
    private let children = Mutex<[ChildProcess]>([])
    private let interruptedFlag = Atomic<Bool>(false)
    /// Kept alive for the process lifetime; written once, from the main task, before any signal can arrive.
    nonisolated(unsafe) private var sources: [any DispatchSourceSignal] = []

    package init() {}

    /// Installs the SIGINT/SIGTERM handlers: they mark the demo interrupted and send SIGTERM to
    /// every child process group at once; the demo's loop then finishes the cleanup.
    package func installSignalHandlers() {
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler { [self] in
                interruptedFlag.store(true, ordering: .relaxed)
                for pid in children.withLock({ $0.map(\.pid) }) { kill(-pid, SIGTERM) }
            }
            source.resume()
            sources.append(source)
        }
    }

    package var interrupted: Bool { interruptedFlag.load(ordering: .relaxed) }

    package func adopt(_ child: ChildProcess) {
        children.withLock { $0.append(child) }
    }

    /// Stops every child: peers first, the coordinator last (reverse start order).
    package func stopAll(grace: Double = 5) {
        var all: [ChildProcess] = []
        children.withLock { swap(&$0, &all) }
        for c in all.reversed() where c.isRunning { kill(-c.pid, SIGTERM) }
        let end = Date().addingTimeInterval(grace)
        for c in all.reversed() {
            _ = c.wait(timeout: max(0.1, end.timeIntervalSinceNow))
            if c.isRunning {
                kill(-c.pid, SIGKILL)
                _ = c.wait(timeout: 2)
            }
        }
    }

    /// The directory a multi-process run works in: `dir` (which must not hold a campaign yet), else a new
    /// temporary one named `crowdtrain-PREFIX-PID-RANDOM`; created either way.
    package static func runDirectory(_ dir: String?, prefix: String) throws -> String {
        let root: String
        if let dir {
            root = (dir as NSString).standardizingPath
            if FileManager.default.fileExists(atPath: root + "/coordinator") {
                throw ValidationError("\(root)/coordinator exists; pass an empty or new --dir")
            }
        } else {
            root = NSTemporaryDirectory() + "crowdtrain-\(prefix)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        }
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return root
    }

    /// A free TCP port on 127.0.0.1 (bound to port 0, then released).
    package static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw DemoError("cannot create a socket to find a free port") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw DemoError("cannot bind 127.0.0.1 to find a free port") }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) }
        }
        return Int(UInt16(bigEndian: addr.sin_port))
    }
}
