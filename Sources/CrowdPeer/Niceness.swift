import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Scheduling niceness of the daemon (`limits.nice`, default 10).
///
/// Linux keeps the nice value per thread: `setpriority(PRIO_PROCESS, pid)` changes only the main thread,
/// and threads started earlier (the async pool, NIO, OpenBLAS) keep theirs. So the daemon sets it on every
/// thread listed in `/proc/self/task` at start and on reload, and on the training thread when it starts
/// (threads created later inherit their creator's value). Raising niceness never needs privileges;
/// lowering it (e.g. 10 → 5 on reload) needs CAP_SYS_NICE, and the failure is reported, not fatal.
public enum Niceness {
    /// The value the daemon wants; -1 until it sets one (then `applyToCurrentThread` does nothing).
    static let wanted = Atomic<Int>(-1)

    /// Sets `nice` on every thread of this process and remembers it for threads started later.
    /// - Returns: one message per thread that could not be changed (empty when all were).
    @discardableResult
    public static func applyToAllThreads(_ nice: Int) -> [String] {
        wanted.store(nice, ordering: .relaxed)
        var failures: [String] = []
        for tid in threadIDs() {
            if let error = set(nice, thread: tid) { failures.append(error) }
        }
        return failures
    }

    /// Applies the remembered value to the calling thread (the training thread calls this first).
    public static func applyToCurrentThread() {
        let nice = wanted.load(ordering: .relaxed)
        guard nice >= 0 else { return }
        // who = 0 is the calling thread on Linux (the kernel's "process" here is a task).
        _ = set(nice, thread: 0)
    }

    /// The ids of this process's threads (`/proc/self/task`); empty where that does not exist.
    public static func threadIDs() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return names.compactMap { Int32($0) }.sorted()
    }

    /// The nice value of thread `tid`, nil if it cannot be read.
    public static func value(thread tid: Int32) -> Int? {
        errno = 0
        let v = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid))
        return v == -1 && errno != 0 ? nil : Int(v)
    }

    /// The calling thread's id (from `/proc/thread-self`, i.e. `PID/task/TID`), nil where that does not exist.
    public static var currentThreadID: Int32? {
        let fm = FileManager.default
        guard let link = try? fm.destinationOfSymbolicLink(atPath: "/proc/thread-self") else { return nil }
        return link.split(separator: "/").last.flatMap { Int32($0) }
    }

    /// Sets one thread's niceness; nil on success, else why not.
    static func set(_ nice: Int, thread tid: Int32) -> String? {
        if setpriority(__priority_which_t(PRIO_PROCESS.rawValue), id_t(tid), Int32(nice)) == 0 { return nil }
        let e = errno
        if e == ESRCH { return nil }  // the thread ended meanwhile
        if e == EACCES || e == EPERM {
            return "cannot lower the niceness of thread \(tid) to \(nice) without CAP_SYS_NICE; restart the daemon "
                + "to use a lower value"
        }
        return "cannot set the niceness of thread \(tid) to \(nice): \(String(cString: strerror(e)))"
    }
}
