import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// The datasets a campaign is made from (the CLI loads Fashion-MNIST or a text; tests pass tiny synthetic data).
public enum CampaignData: Sendable {
    case images(train: ImageDataset, evaluation: ImageDataset)
    case text(train: TextCorpus, evaluation: TextCorpus)
}

/// `coordinator init` and the invites made before the coordinator serves (`init --invites`, benchmarks, tests).
/// Everything that changes a serving campaign goes through the operator API (`Coordinator+Operator.swift`).
public enum CampaignInitializer {
    /// What `create` made.
    public struct Summary: Sendable {
        public var paths: CampaignPaths
        public var modelVersion: String
        public var parameters: Int
        public var shards: Int
        public var evaluation: EvaluationRecord
    }

    /// Creates a campaign in `directory`; refuses if one exists there.
    ///
    /// Writes, in order: TLS material, shards + manifest, the initial checkpoint (round 0), the
    /// database (round 0 evaluated, round 1 open), and finally `campaign.json`.
    /// - Parameters:
    ///   - modelConfigJSON: the model configuration (`MLPConfig` / `GPTConfig` JSON) for `config.modelKind`.
    ///   - shardSize: records (images, or bytes of text) per training shard.
    public static func create(
        directory: String, config: CampaignConfig, data: CampaignData, modelConfigJSON: Data, shardSize: Int,
        now: Double = Date().timeIntervalSince1970
    ) throws -> Summary {
        try config.validate()
        let paths = CampaignPaths(directory: directory)
        let fm = FileManager.default
        for existing in [paths.config, paths.database] where fm.fileExists(atPath: existing) {
            throw CoordinatorError(
                "a campaign already exists in \(paths.directory) (\(existing)); serve it, or choose another --dir")
        }
        try fm.createDirectory(atPath: paths.directory, withIntermediateDirectories: true)
        try fm.createDirectory(atPath: paths.checkpoints, withIntermediateDirectories: true)
        try CertificateAuthority.create(paths: paths, campaign: config.name, publicNames: config.publicNames)
        try OperatorToken.create(paths: paths)
        for dir in [paths.manifests, paths.deltas] { try fm.createDirectory(atPath: dir, withIntermediateDirectories: true) }
        try AtomicFile.write(ManifestSigner().rawRepresentation, to: paths.manifestKey, mode: 0o600)

        let manifest: ShardManifest
        let evaluationSet: EvaluationSet
        switch data {
        case .images(let train, let evaluation):
            manifest = try ShardMaker.images(
                train: train, evaluation: evaluation, shardSize: shardSize, workload: config.workload, out: paths.shards
            )
            evaluationSet = EvaluationSet.make(.images(evaluation), config: config)
        case .text(let train, let evaluation):
            manifest = try ShardMaker.text(
                train: train, evaluation: evaluation, shardSize: shardSize, workload: config.workload, out: paths.shards
            )
            evaluationSet = EvaluationSet.make(.text(evaluation), config: config)
        }

        // Compressed once here, served as they are (`GET /v1/shards/{id}`).
        try ShardBodies.prepare(manifest, directory: paths.shards)

        let model = try ModelFactory.make(kind: config.modelKind, configJSON: modelConfigJSON, seed: config.seed)
        let checkpoint = try Checkpoint(
            model: model, metadata: ["round": "0", "workload": config.workload, "campaign": config.name])
        let bytes = try checkpoint.encoded()
        let version = ContentDigest.hex(bytes)
        try AtomicFile.write(bytes, to: paths.checkpoint(round: 0))
        let result = evaluationSet.evaluate(model)
        let evaluation = EvaluationRecord(
            round: 0, version: version, metric: evaluationSet.metric, value: result.value, loss: result.loss,
            samples: result.samples)

        let store = try SQLiteStore(path: paths.database)
        try store.bootstrap(
            initial: CheckpointRecord(
                version: version, round: 0, path: paths.checkpointRelative(round: 0), bytes: bytes.count, createdAt: now
            ),
            evaluation: evaluation, round1Seed: SeedMixer.roundSeed(campaign: config.seed, round: 1), at: now)
        try config.write(paths: paths)
        return Summary(
            paths: paths, modelVersion: version, parameters: checkpoint.params.count, shards: manifest.shards.count,
            evaluation: evaluation)
    }

    /// Creates `count` single-use invites; returns the tokens (only their hashes are stored).
    public static func invite(directory: String, count: Int, note: String?, now: Double = Date().timeIntervalSince1970)
        throws -> [String]
    {
        guard (1...10_000).contains(count) else { throw CoordinatorError("--count must be 1…10000") }
        let store = try openStore(directory)
        let tokens = (0..<count).map { _ in Secrets.newInvite() }
        try store.insertInvites(hashes: tokens.map(Secrets.hash), note: note, at: now)
        return tokens
    }

    static func openStore(_ directory: String) throws -> SQLiteStore {
        let paths = CampaignPaths(directory: directory)
        guard FileManager.default.fileExists(atPath: paths.config),
            FileManager.default.fileExists(atPath: paths.database)
        else {
            throw CoordinatorError(
                "no campaign in \(paths.directory); run `crowdtrain coordinator init --dir \(directory)`")
        }
        return try SQLiteStore(path: paths.database)
    }
}
