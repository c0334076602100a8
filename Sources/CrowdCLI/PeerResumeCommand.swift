import ArgumentParser
import CrowdPeer

/// `crowdtrain peer resume`: removes `P/pause.json`; the daemon continues within a second.
struct PeerResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resume",
        abstract: "Resume a paused peer daemon (removes P/pause.json).")

    @Option(help: "Peer directory (created by `peer join`).")
    var dir: String

    func run() async throws {
        let existed = PauseFile.remove(at: PauseFile.path(in: PeerPaths(root: dir)))
        print(existed ? "resumed" : "not paused (no pause.json in \(dir))")
    }
}
