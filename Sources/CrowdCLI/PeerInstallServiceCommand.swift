import ArgumentParser
import CrowdPeer
import Foundation

/// `crowdtrain peer install-service`: writes a systemd unit that runs `peer run --dir P` and says what to run next.
struct PeerInstallServiceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-service",
        abstract: "Write a systemd unit that runs the peer daemon as a service (a user unit by default).",
        discussion: """
            The unit runs `crowdtrain peer run --dir P` with absolute paths, low priority (Nice=10, CPUWeight=20, \
            idle I/O) and a sandbox in which only P is writable. It passes no settings: put them in P/peer.json \
            and apply them with `systemctl --user reload crowdtrain-peer`. See Docs/Volunteers.md.
            """)

    @Option(help: "Peer directory created by `peer join`.")
    var dir: String

    @Flag(help: "Write a system unit (/etc/systemd/system, needs root) that runs as --run-as instead of a user unit.")
    var system = false

    @Option(help: "With --system: the account the daemon runs as (default: the owner of the peer directory).")
    var runAs: String?

    @Option(help: ArgumentHelp(
        "Directory to write the unit to (default: ~/.config/systemd/user, or /etc/systemd/system with --system).",
        valueName: "dir"))
    var unitDir: String?

    @Flag(help: "Print the unit instead of writing it.")
    var print = false

    @Option(help: "The crowdtrain executable the unit starts (default: this one).")
    var binary: String?

    func validate() throws {
        if runAs != nil && !system { throw ValidationError("--run-as needs --system (a user unit runs as you)") }
    }

    func run() async throws {
        let root = Self.absolute(dir)
        let paths = PeerPaths(root: root)
        guard FileManager.default.fileExists(atPath: paths.credential) else {
            throw PeerError(
                "\(root) is not a peer directory (no credential.json); join first: "
                    + "crowdtrain peer join --dir \(root) …")
        }
        let exe = binary.map(Self.absolute) ?? ChildProcess.currentExecutable
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw PeerError("--binary \(exe) is not an executable file")
        }
        try PeerServiceUnit.check(path: root, what: "peer directory")
        if root.hasPrefix("/tmp/") || root.hasPrefix("/var/tmp/") {
            throw PeerError(
                "the peer directory \(root) is under a temporary directory, which the service's PrivateTmp= hides; "
                    + "join again with a directory like ~/.crowdtrain/NAME")
        }
        try PeerServiceUnit.check(path: exe, what: "crowdtrain executable")

        let kind: PeerServiceUnit.Kind
        if system {
            let user = try runAs ?? Self.owner(of: root)
            guard user != "root", user != "nobody" else {
                throw PeerError(
                    "refusing to run the peer as \(user): create an account (useradd --system --create-home "
                        + "--home-dir /var/lib/crowdtrain --shell /usr/sbin/nologin crowdtrain), give it the peer "
                        + "directory (chown -R crowdtrain: \(root)) and pass --run-as crowdtrain")
            }
            kind = .system(user: user, stateDirectory: nil)
        } else {
            kind = .user
        }
        let unit = PeerServiceUnit(kind: kind, binary: exe, directory: root)
        if print {
            Swift.print(unit.text, terminator: "")
            return
        }
        let env = ProcessInfo.processInfo.environment
        let home = env["HOME"] ?? NSHomeDirectory()
        let folder = unitDir.map(Self.absolute)
            ?? PeerServiceUnit.defaultDirectory(system: system, environment: env, home: home)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let file = folder + "/" + PeerServiceUnit.fileName
        do {
            try unit.text.write(toFile: file, atomically: true, encoding: .utf8)
        } catch {
            throw PeerError("cannot write \(file) (\(error.localizedDescription))"
                + (system ? "; --system needs root (sudo)" : ""))
        }
        Swift.print("wrote \(file)")
        if exe.contains("/.build/") && exe.contains("/debug/") {
            Swift.print("note: \(exe) is a debug build (10–50× slower); build with `swift build -c release` "
                + "and pass --binary .build/release/crowdtrain")
        }
        if exe.contains("/.build/") {
            Swift.print("note: the unit starts \(exe); after moving or deleting it, run install-service again")
        }
        Swift.print("next:")
        let login = env["USER"] ?? env["LOGNAME"] ?? NSUserName()
        for step in unit.nextSteps(login: login) { Swift.print("  " + step) }
    }

    /// `path` made absolute against the working directory, `~` expanded, `.`/`..` removed.
    static func absolute(_ path: String) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let full = expanded.hasPrefix("/") ? expanded : FileManager.default.currentDirectoryPath + "/" + expanded
        return (full as NSString).standardizingPath
    }

    /// The user name owning `path`.
    static func owner(of path: String) throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        guard let name = attributes[.ownerAccountName] as? String else {
            throw PeerError("cannot tell who owns \(path); pass --run-as USER")
        }
        return name
    }
}
