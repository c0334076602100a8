import Foundation

/// Reads the real machine's state for `SuspendPolicy`: user idleness from systemd-logind (via `loginctl`)
/// and the power source from `/sys/class/power_supply`.
public enum SuspendProbes {
    /// Idleness of the local user sessions from `loginctl`; `.unavailable` when loginctl or logind is missing.
    /// The computer counts as idle only when every user session reports `IdleHint=yes`; then it has been idle
    /// since the latest `IdleSinceHint`.
    public static func idle(loginctl: String = "/usr/bin/loginctl") -> IdleState {
        guard FileManager.default.isExecutableFile(atPath: loginctl) else {
            return .unavailable("\(loginctl) not found")
        }
        guard let list = run(loginctl, ["list-sessions", "--no-legend", "--no-pager"]) else {
            return .unavailable("loginctl list-sessions failed: is systemd-logind running?")
        }
        let ids = list.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        var outputs: [String] = []
        for id in ids {
            guard let out = run(loginctl, ["show-session", id, "-p", "IdleHint", "-p", "IdleSinceHint", "-p", "Class"])
            else { continue }
            outputs.append(out)
        }
        return idle(showSessionOutputs: outputs)
    }

    /// Combines `loginctl show-session … -p IdleHint -p IdleSinceHint -p Class` outputs (one per session).
    public static func idle(showSessionOutputs outputs: [String]) -> IdleState {
        var latest = -Double.infinity
        var users = 0
        for out in outputs {
            var keys: [String: String] = [:]
            for line in out.split(separator: "\n") {
                let kv = line.split(separator: "=", maxSplits: 1)
                if kv.count == 2 { keys[String(kv[0])] = String(kv[1]) }
            }
            if let cls = keys["Class"], cls != "user" { continue }
            guard let hint = keys["IdleHint"] else { continue }
            users += 1
            if hint != "yes" { return .active }
            let micros = Double(keys["IdleSinceHint"] ?? "") ?? 0
            latest = max(latest, micros / 1e6)
        }
        if users == 0 { return .unavailable("no user session reports an idle hint") }
        return .idle(since: latest)
    }

    /// True on battery, false on AC, nil when the machine has no mains supply entry (desktops, servers,
    /// containers). A machine is on battery when it has a `Mains` supply and none of them is online.
    public static func onBattery(root: String = "/sys/class/power_supply") -> Bool? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { return nil }
        var mains = 0, online = 0
        for name in names {
            let dir = root + "/" + name
            guard let type = read(dir + "/type"), type == "Mains" else { continue }
            mains += 1
            if read(dir + "/online") == "1" { online += 1 }
        }
        return mains == 0 ? nil : online == 0
    }

    static func read(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a short command; its stdout, or nil if it could not start or failed.
    static func run(_ path: String, _ args: [String]) -> String? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { return nil }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
