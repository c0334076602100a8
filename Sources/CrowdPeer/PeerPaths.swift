import Foundation

/// Where a peer keeps its files inside its directory `P` (`--dir`).
///
/// | path | content | written |
/// |---|---|---|
/// | `credential.json` | coordinator URL, peer id, secret (mode 0600) | `peer join` |
/// | `ca.pem` | the only CA the peer trusts | `peer join` |
/// | `peer.json` | the volunteer's settings (optional; `PeerConfigFile`, `Config/peer.example.json`) | by you |
/// | `status.json` | what the daemon is doing, lifetime contribution, last receipts | every state change |
/// | `receipts.jsonl` | one JSON receipt per stored update (append-only) | after each upload |
/// | `outcomes.jsonl` | the coordinator's decision on each stored update: credited, or no credit and why (append-only) | when the daemon learns it |
/// | `pause.json` | present while paused by `crowdtrain peer pause` (optional `until`); removed by `peer resume` | on pause/resume |
/// | `residual.bin` | error-feedback residual of the codec | after each finished lease |
/// | `inner-state.bin` | the inner optimizer's state after the last finished lease (`InnerStateFile`) | after each finished lease |
/// | `usage.json` | bytes sent and received today, for the daily data cap (survives restarts) | after each transfer |
/// | `progress.bin` | the lease in progress: steps done, parameters, optimizer state (resume after a stop) | while training |
/// | `pending.bin` | a finished, encoded update not yet acknowledged (re-sent with the same lease id) | before upload |
/// | `cache/models/<sha256>.ckpt` | model checkpoints by version hash | on download |
/// | `cache/models/<sha256>.manifest.json` | the verified manifest of that version (its chunks, for later versions) | on download |
/// | `cache/partial/<sha256>.part` | a chunk or delta being downloaded (appended as it arrives; resumed with `Range`) | while downloading |
/// | `cache/shards/<sha256>.shard` | data shards by content hash | on download |
///
/// Every file except `receipts.jsonl` and `outcomes.jsonl` is replaced atomically (temp file, fsync, rename, fsync dir).
public struct PeerPaths: Sendable, Equatable {
    /// The peer directory.
    public let root: String

    public init(root: String) {
        self.root = (root as NSString).standardizingPath
    }

    public var credential: String { root + "/credential.json" }
    public var caCertificate: String { root + "/ca.pem" }
    public var status: String { root + "/status.json" }
    /// The default config file (`PeerConfigFile`).
    public var config: String { root + "/" + PeerConfigFile.defaultName }
    public var receipts: String { root + "/receipts.jsonl" }
    public var outcomes: String { root + "/outcomes.jsonl" }
    public var residual: String { root + "/residual.bin" }
    public var innerState: String { root + "/inner-state.bin" }
    public var pending: String { root + "/pending.bin" }
    public var progress: String { root + "/progress.bin" }
    public var modelCache: String { root + "/cache/models" }
    public var shardCache: String { root + "/cache/shards" }
    public var partial: String { root + "/cache/partial" }
    /// The partial download of blob `digest`.
    public func partialFile(_ digest: String) -> String { partial + "/\(digest).part" }
    /// The verified manifest of cached model `version`.
    public func modelManifest(_ version: String) -> String { modelCache + "/\(version).manifest.json" }

    /// Creates the directory tree (mode 0700: it holds a secret).
    public func create() throws {
        let fm = FileManager.default
        for dir in [root, modelCache, shardCache, partial] {
            try fm.createDirectory(atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
    }
}
