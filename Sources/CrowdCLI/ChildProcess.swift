import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process in its own process group, with stdout and stderr going to a log file.
///
/// `crowdtrain demo` starts the coordinator and the peers this way: its own process group means a
/// terminal Ctrl-C reaches only the demo, which then stops every child group deliberately.
package final class ChildProcess: @unchecked Sendable {
    package let name: String
    package let pid: pid_t
    package let logPath: String
    private var exitStatus: Int32?

    private init(name: String, pid: pid_t, logPath: String) {
        self.name = name; self.pid = pid; self.logPath = logPath
    }

    /// The path of the running executable (children are the same binary).
    package static var currentExecutable: String {
        if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
        return CommandLine.arguments[0]
    }

    /// Starts `executable arguments…` with stdin from /dev/null and stdout+stderr appended to `logPath`.
    package static func spawn(name: String, executable: String, arguments: [String], logPath: String) throws -> ChildProcess {
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        posix_spawnattr_setpgroup(&attr, 0)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attr, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGINT)
        sigaddset(&defaults, SIGTERM)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attr, &defaults)

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] =
            ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        guard rc == 0 else {
            throw DemoError("cannot start \(name) (\(executable)): \(String(cString: strerror(rc)))")
        }
        return ChildProcess(name: name, pid: pid, logPath: logPath)
    }

    /// Runs to completion (bounded by `timeout` seconds) and returns its log output; throws on failure.
    package static func run(name: String, executable: String, arguments: [String], logPath: String, timeout: Double) throws -> String {
        try? FileManager.default.removeItem(atPath: logPath)
        let child = try spawn(name: name, executable: executable, arguments: arguments, logPath: logPath)
        let status = child.wait(timeout: timeout)
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard let status else {
            child.stop(grace: 1)
            throw DemoError("\(name) did not finish within \(Int(timeout)) s; its output:\n\(output)")
        }
        guard status == 0 else { throw DemoError("\(name) failed (exit \(status)):\n\(output)") }
        return output
    }

    /// Non-blocking: whether the process is still running (reaps it if it exited).
    package var isRunning: Bool {
        if exitStatus != nil { return false }
        var st: Int32 = 0
        let r = waitpid(pid, &st, WNOHANG)
        if r == pid {
            exitStatus = Self.decode(st)
            return false
        }
        return r == 0
    }

    /// Exit code (or 128 + signal) once exited.
    package var exitCode: Int32? {
        _ = isRunning
        return exitStatus
    }

    /// Waits up to `timeout` seconds; the exit code, or nil if still running.
    package func wait(timeout: Double) -> Int32? {
        let end = Date().addingTimeInterval(timeout)
        while isRunning {
            if Date() >= end { return nil }
            usleep(20_000)
        }
        return exitStatus
    }

    /// SIGTERM to the child's process group, SIGKILL after `grace` seconds if it is still alive.
    package func stop(grace: Double) {
        guard isRunning else { return }
        kill(-pid, SIGTERM)
        if wait(timeout: grace) == nil {
            kill(-pid, SIGKILL)
            _ = wait(timeout: 2)
        }
    }

    /// SIGKILL to the child's process group (no chance to clean up, like a power cut of the process), then reaps it.
    /// - Returns: the exit code (128 + 9 when the signal killed it), or nil if it did not die within `timeout`.
    @discardableResult
    package func killHard(timeout: Double = 5) -> Int32? {
        guard isRunning else { return exitStatus }
        kill(-pid, SIGKILL)
        return wait(timeout: timeout)
    }

    private static func decode(_ st: Int32) -> Int32 {
        let sig = st & 0x7f
        if sig == 0 { return (st >> 8) & 0xff }
        return 128 + sig
    }
}

/// `crowdtrain demo` could not do what it promised; the message says what happened.
package struct DemoError: Error, CustomStringConvertible {
    package let description: String
    package init(_ description: String) { self.description = description }
}
