import CrowdEngine
import Foundation

extension GPT {
    /// Builds a GPT from a checkpoint's configuration and loads its parameters.
    /// - Throws: `CheckpointError` when the checkpoint is not a GPT or its layout does not match
    ///   the configuration it carries.
    public convenience init(checkpoint: Checkpoint) throws {
        guard checkpoint.kind == Self.kind else {
            throw CheckpointError(path: "", reason: "checkpoint holds a \(checkpoint.kind) model, not \(Self.kind)")
        }
        let config = try Self.decodeConfig(checkpoint.configJSON)
        do { try config.validate() } catch {
            throw CheckpointError(path: "", reason: "the checkpoint's GPT configuration is invalid: \(error)")
        }
        self.init(config: config, seed: 0)
        try checkpoint.load(into: self)
    }

    /// Loads `checkpoint` into this model, naming the configuration fields that differ when it
    /// was written by a differently shaped GPT.
    public func load(_ checkpoint: Checkpoint) throws {
        guard checkpoint.kind == Self.kind else {
            throw CheckpointError(path: "", reason: "checkpoint holds a \(checkpoint.kind) model, not \(Self.kind)")
        }
        let theirs = try Self.decodeConfig(checkpoint.configJSON)
        let diff = config.differences(from: theirs)
        guard diff.isEmpty else {
            throw CheckpointError(
                path: "",
                reason: "checkpoint GPT configuration differs from this model's (checkpoint ≠ model): "
                    + diff.joined(separator: ", ") + "; pass matching --layers/--heads/--width/--block")
        }
        try checkpoint.load(into: self)
    }

    static func decodeConfig(_ json: Data) throws -> GPTConfig {
        do { return try JSONDecoder().decode(GPTConfig.self, from: json) } catch {
            throw CheckpointError(path: "", reason: "the checkpoint's GPT configuration is not valid JSON: \(error)")
        }
    }
}
