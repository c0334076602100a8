import ArgumentParser
import CrowdData
import CrowdTraining
import Foundation

/// `crowdtrain shards make|verify`: content-addressed training shards and their manifest.
struct ShardsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shards",
        abstract: "Create and verify content-addressed data shards (manifest.json + *.shard).",
        subcommands: [ShardsMakeCommand.self, ShardsVerifyCommand.self])
}

/// `crowdtrain shards make`.
struct ShardsMakeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "make",
        abstract: "Cut a workload's training data into shards plus a held-out evaluation shard.")

    @Option(help: "Workload: fmnist-mlp (images) or kjv-gpt (byte text).")
    var workload: WorkloadName = .fmnistMLP

    @Option(help: "kjv-gpt: text file to use instead of the King James Bible (Debian package bible-kjv).")
    var text: String?

    @Option(help: "Records per training shard: images for fmnist-mlp (default 10000), bytes for kjv-gpt (default 1048576).")
    var shardSize: Int?

    @Option(help: "fmnist-mlp: directory of the Fashion-MNIST IDX files.")
    var data: String = FashionMNIST.defaultDirectory

    @Option(help: "Output directory (created if missing).")
    var out: String

    @Flag(help: "Print the manifest as JSON instead of a summary.")
    var json = false

    func validate() throws {
        if let shardSize, shardSize < 1 { throw ValidationError("--shard-size must be at least 1") }
        if text != nil && workload != .kjvGPT { throw ValidationError("--text applies to --workload kjv-gpt only") }
    }

    func run() throws {
        let manifest: ShardManifest
        switch workload {
        case .fmnistMLP:
            let (train, test) = try FashionMNIST.load(directory: data)
            manifest = try ShardMaker.images(
                train: train, evaluation: test, shardSize: shardSize ?? 10_000, workload: workload.rawValue, out: out)
        case .kjvGPT:
            let corpus = try text.map { try TextCorpus.load(path: $0) } ?? TextCorpus.kjv()
            let (train, validation) = corpus.split(trainFraction: 0.9)
            manifest = try ShardMaker.text(
                train: train, evaluation: validation, shardSize: shardSize ?? 1 << 20, workload: workload.rawValue,
                out: out)
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.sortedKeys]
            print(String(decoding: try enc.encode(manifest), as: UTF8.self))
        } else {
            let bytes = (manifest.shards + [manifest.evaluation]).reduce(0) { $0 + $1.bytes }
            print("wrote \(manifest.shards.count) training shards + 1 evaluation shard (\(bytes) bytes) to \(out)")
            for e in manifest.shards + [manifest.evaluation] {
                print("  \(e.file)  \(e.records) records  \(e.bytes) B  \(e.id)")
            }
        }
    }
}

/// `crowdtrain shards verify DIR`.
struct ShardsVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Re-hash and re-parse every shard against manifest.json; exits non-zero naming each bad shard.")

    @Argument(help: "Shard directory (holding manifest.json).")
    var directory: String

    func run() throws {
        let problems = ShardVerifier.verify(directory: directory)
        guard problems.isEmpty else {
            for p in problems { printError("bad shard \(p.shard): \(p.message)") }
            printError("\(problems.count) problem(s) in \(directory); re-fetch or re-create the named shards")
            throw ExitCode(1)
        }
        let m = try ShardManifest.load(directory: directory)
        print("ok: \(m.shards.count) training shards and the evaluation shard match manifest.json (\(m.workload))")
    }

    func printError(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}
