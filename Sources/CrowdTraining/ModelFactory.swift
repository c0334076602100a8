import CrowdEngine
import Foundation

/// Rebuilds a model from its kind and configuration JSON, as stored in checkpoints and sent by the
/// coordinator. Each model family adds its case here.
public enum ModelFactory {
    /// A freshly initialised model of `kind` (`mlp`, `gpt`) with configuration `configJSON`.
    /// - Throws: `ConfigurationError` for an unknown kind or a configuration that does not decode.
    public static func make(kind: String, configJSON: Data, seed: UInt64) throws -> any TrainableModel {
        switch kind {
        case MLP.kind:
            let config = try decode(MLPConfig.self, configJSON, kind: kind)
            do { try config.validate() } catch { throw ConfigurationError("\(error)") }
            return MLP(config: config, seed: seed)
        case GPT.kind:
            let config = try decode(GPTConfig.self, configJSON, kind: kind)
            do { try config.validate() } catch { throw ConfigurationError("\(error)") }
            return GPT(config: config, seed: seed)
        default:
            throw ConfigurationError("unknown model kind '\(kind)'; this build knows: mlp, gpt")
        }
    }

    /// Decodes a configuration, turning decoding errors into a `ConfigurationError` naming the kind.
    static func decode<T: Decodable>(_ type: T.Type, _ json: Data, kind: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: json)
        } catch {
            throw ConfigurationError("the \(kind) model configuration is not valid JSON for \(T.self): \(error)")
        }
    }
}
