import ArgumentParser
import CrowdPeer
import Foundation

/// `crowdtrain peer pause`: writes `P/pause.json`; the running daemon stops training and traffic within a second.
struct PeerPauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pause",
        abstract: "Pause the peer daemon (no training, no traffic) until `peer resume` or for a while.",
        discussion: """
            Writes P/pause.json, which the running daemon reads about twice a second. A lease in progress is held \
            in memory and continues after resume if its deadline has not passed.
            """)

    @Option(help: "Peer directory (created by `peer join`).")
    var dir: String

    @Option(
        name: .customLong("for"),
        help: ArgumentHelp(
            "Resume by itself after this long: 30s, 15m, 2h, 1d (default: until `peer resume`).",
            valueName: "duration"))
    var duration: String?

    func validate() throws {
        if let duration {
            do { _ = try PauseFile.parseDuration(duration) } catch let e as PeerError {
                throw ValidationError("--for: \(e.description)")
            }
        }
        guard FileManager.default.fileExists(atPath: dir) else {
            throw ValidationError("\(dir) does not exist; pass the peer directory given to `peer join --dir`")
        }
    }

    func run() async throws {
        let now = Date().timeIntervalSince1970
        let until = try duration.map { now + (try PauseFile.parseDuration($0)) }
        let paths = PeerPaths(root: dir)
        try PauseFile(pausedAt: now, until: until).write(to: PauseFile.path(in: paths))
        if let until {
            print(
                "paused until \(Date(timeIntervalSince1970: until)) "
                    + "(resume earlier with `crowdtrain peer resume --dir \(dir)`)")
        } else {
            print("paused until `crowdtrain peer resume --dir \(dir)`")
        }
    }
}
