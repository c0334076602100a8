import Foundation

/// A systemd unit that runs `crowdtrain peer run` as a polite, sandboxed service.
///
/// `crowdtrain peer install-service` writes one for a peer directory; `Config/crowdtrain-peer.service` (user
/// unit) and `Config/crowdtrain-peer@.service` (system template with a dedicated user) are renderings of the
/// same text. The unit passes no settings flags: settings live in `P/peer.json`, so `systemctl reload`
/// (SIGHUP) can change them. The sandbox leaves the daemon one writable place, the peer directory; its only
/// traffic is TCP to the coordinator (plus the local D-Bus socket `loginctl` uses for idle detection).
public struct PeerServiceUnit: Sendable, Equatable {
    /// Which systemd manager runs the unit.
    public enum Kind: Sendable, Equatable {
        /// `systemctl --user`: runs as the volunteer, while logged in (or always with `loginctl enable-linger`).
        case user
        /// The system manager, as `user` (never root); with `stateDirectory`, systemd creates the directory
        /// `/var/lib/<stateDirectory>` owned by that user.
        case system(user: String, stateDirectory: String?)
    }

    public var kind: Kind
    /// Absolute path of the `crowdtrain` executable.
    public var binary: String
    /// Absolute path of the peer directory.
    public var directory: String
    /// The unit's `Description=`.
    public var summary: String

    /// The unit file name `install-service` writes.
    public static let fileName = "crowdtrain-peer.service"
    /// The unit name for `systemctl`.
    public static let unitName = "crowdtrain-peer"

    public init(kind: Kind, binary: String, directory: String, summary: String? = nil) {
        self.kind = kind
        self.binary = binary
        self.directory = directory
        self.summary = summary ?? "CrowdTrain volunteer peer (\(directory))"
    }

    var isUser: Bool { kind == .user }

    /// Whether the peer directory or the binary lies under a home directory (then home is read-only, not hidden).
    var underHome: Bool {
        [directory, binary].contains { path in ["/home/", "/root", "/run/user/", "%h"].contains { path.hasPrefix($0) } }
    }

    /// The unit file.
    public var text: String {
        var unit = [
            "# CrowdTrain peer daemon as a systemd \(isUser ? "user" : "system") service. See Docs/Volunteers.md.",
            "# Settings live in the peer directory's peer.json; `systemctl \(isUser ? "--user " : "")reload "
                + "\(Self.unitName)\(directory.contains("%i") ? "@NAME" : "")` applies them.",
            "[Unit]",
            "Description=\(summary)",
        ]
        if !isUser { unit += ["Wants=network-online.target", "After=network-online.target"] }
        unit += [
            // A peer that keeps failing (revoked credential, broken directory) stops after 5 tries in 10 minutes.
            "StartLimitIntervalSec=600",
            "StartLimitBurst=5",
            "",
            "[Service]",
            "Type=exec",
        ]
        if case .system(let user, let state) = kind {
            unit += ["User=\(user)", "Group=\(user)"]
            if let state { unit += ["StateDirectory=\(state)", "StateDirectoryMode=0700"] }
        }
        unit += [
            "ExecStart=\(binary) peer run --dir \(directory)",
            "ExecReload=/bin/kill -HUP $MAINPID",
            // SIGTERM: the daemon finishes the step in progress, saves and exits within a few seconds.
            "KillSignal=SIGTERM",
            "TimeoutStopSec=30",
            "Restart=on-failure",
            "RestartSec=30",
            "SyslogIdentifier=\(Self.unitName)",
            "",
            "# Be a good guest: lowest I/O class, low CPU weight, nice 10 (peer.json's nice can only raise it).",
            "Nice=10",
            "CPUWeight=20",
            "IOSchedulingClass=idle",
            "MemoryHigh=50%",
            "MemoryMax=75%",
            "",
            "# Sandbox: the peer directory is the only writable place.",
            "NoNewPrivileges=yes",
            "PrivateTmp=yes",
            "PrivateDevices=yes",
            "ProtectSystem=strict",
            "ProtectHome=\(underHome ? "read-only" : "yes")",
            "ReadWritePaths=\(directory)",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "RestrictNamespaces=yes",
            "RestrictRealtime=yes",
            "RestrictSUIDSGID=yes",
            "LockPersonality=yes",
            "MemoryDenyWriteExecute=yes",
            "SystemCallArchitectures=native",
            "SystemCallFilter=@system-service",
            "SystemCallErrorNumber=EPERM",
            "CapabilityBoundingSet=",
            "UMask=0077",
            "",
            "[Install]",
            "WantedBy=\(isUser ? "default.target" : "multi-user.target")",
        ]
        return unit.joined(separator: "\n") + "\n"
    }

    /// Checks that `path` can go into a unit file as is: absolute, without whitespace, quotes, backslashes,
    /// `%` or `$` (systemd would split or expand them).
    /// - Throws: `PeerError` naming the path and what to do.
    public static func check(path: String, what: String) throws {
        guard path.hasPrefix("/") else { throw PeerError("the \(what) \(path) must be an absolute path") }
        let bad = path.first { $0.isWhitespace || "\"'\\%$;".contains($0) || ($0.asciiValue ?? 32) < 32 }
        if let bad {
            throw PeerError(
                "the \(what) \(path) contains '\(bad)', which a systemd unit would misread; "
                    + "use a path without spaces, quotes, backslashes, %, $ or ;")
        }
    }

    /// Where `install-service` writes the unit: `$XDG_CONFIG_HOME/systemd/user` (default `~/.config/…`) for a
    /// user unit, `/etc/systemd/system` for a system unit.
    public static func defaultDirectory(system: Bool, environment: [String: String], home: String) -> String {
        if system { return "/etc/systemd/system" }
        let config = environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil } ?? home + "/.config"
        return config + "/systemd/user"
    }

    /// The commands to run after writing the unit, with a comment each.
    /// - Parameter login: the user name for `loginctl enable-linger` (user units).
    public func nextSteps(login: String) -> [String] {
        let n = Self.unitName
        if isUser {
            return [
                "systemctl --user daemon-reload",
                "systemctl --user enable --now \(n)        # start now and at every login",
                "loginctl enable-linger \(login)           # keep it running while you are logged out",
                "systemctl --user status \(n)",
                "journalctl --user -u \(n) -f              # its log",
                "systemctl --user reload \(n)              # after editing \(directory)/peer.json",
                "crowdtrain peer status --dir \(directory)",
            ]
        }
        return [
            "systemctl daemon-reload",
            "systemctl enable --now \(n)        # start now and at every boot",
            "systemctl status \(n)",
            "journalctl -u \(n) -f              # its log",
            "systemctl reload \(n)              # after editing \(directory)/peer.json",
            "crowdtrain peer status --dir \(directory)",
        ]
    }
}
