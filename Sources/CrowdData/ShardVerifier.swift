import Foundation

/// One bad shard (or manifest) found by `ShardVerifier`.
public struct ShardProblem: Sendable, Equatable, CustomStringConvertible {
    /// File name of the shard, or `manifest.json`.
    public var shard: String
    /// What is wrong.
    public var message: String

    public init(shard: String, message: String) {
        self.shard = shard
        self.message = message
    }

    public var description: String { "\(shard): \(message)" }
}

/// Re-hashes and re-parses every shard of a directory against its manifest.
public enum ShardVerifier {
    /// Returns every problem found (empty = all shards good). Never throws: a missing or invalid manifest is
    /// itself a problem.
    public static func verify(directory: String) -> [ShardProblem] {
        let manifest: ShardManifest
        do {
            manifest = try ShardManifest.load(directory: directory)
        } catch let e as ShardError {
            return [ShardProblem(shard: e.shard, message: e.message)]
        } catch {
            return [ShardProblem(shard: ShardManifest.fileName, message: "\(error)")]
        }
        let expectedKind = manifest.workload == "kjv-gpt" ? "text" : manifest.workload == "fmnist-mlp" ? "images" : nil
        var problems: [ShardProblem] = []
        for entry in manifest.shards + [manifest.evaluation] {
            let path = (directory as NSString).appendingPathComponent(entry.file)
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            if let size, size != entry.bytes {
                problems.append(ShardProblem(
                    shard: entry.file, message: "is \(size) bytes but the manifest says \(entry.bytes); fetch it again"))
                continue
            }
            do {
                let p = try manifest.read(entry, directory: directory)
                if let expectedKind, p.kindName != expectedKind {
                    problems.append(ShardProblem(
                        shard: entry.file, message: "holds \(p.kindName) but workload \(manifest.workload) needs \(expectedKind)"))
                }
            } catch let e as ShardError {
                problems.append(ShardProblem(shard: entry.file, message: e.message))
            } catch {
                problems.append(ShardProblem(shard: entry.file, message: "\(error)"))
            }
        }
        return problems
    }
}
