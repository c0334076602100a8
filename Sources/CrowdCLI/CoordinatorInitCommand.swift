import CrowdAggregation
import ArgumentParser
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain coordinator init`: creates a campaign directory.
struct CoordinatorInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a campaign: campaign.json, CA and server certificate, database, shards, initial model.",
        discussion:
            "Refuses to touch a directory that already holds a campaign. Every key of campaign.json is documented in Docs/Protocol.md and Config/campaign.example.json; edit it before `serve` to tune rounds."
    )

    @OptionGroup var campaign: CampaignDirectoryOption

    @Option(help: "Workload: fmnist-mlp or kjv-gpt.")
    var workload: WorkloadName

    @Option(help: "kjv-gpt: train on this text file instead of the King James Bible.")
    var text: String?

    @Option(help: "fmnist-mlp: directory of the Fashion-MNIST IDX files.")
    var data: String = FashionMNIST.defaultDirectory

    @Option(help: "Address to listen on (0.0.0.0: every interface, e.g. behind NAT or on a cloud VM).")
    var bind: String = "127.0.0.1"

    @Option(help: "HTTPS port.")
    var port: Int = 8443

    @Option(
        name: .customLong("public-name"),
        help: ArgumentHelp(
            "A DNS name or IP peers use to reach the coordinator (repeatable): it goes into the server certificate.",
            discussion: "localhost and 127.0.0.1 are always included, and the --bind address when it is not a "
                + "wildcard. Behind NAT or on a cloud VM: --bind 0.0.0.0 --public-name the.public.name.",
            valueName: "name"))
    var publicName: [String] = []

    @Option(help: ArgumentHelp("Replaced by --bind and --public-name.", visibility: .hidden))
    var host: String?

    @Option(help: ArgumentHelp("Replaced by --public-name.", visibility: .hidden))
    var serverName: [String] = []

    @Option(help: "Print this many single-use invites after creating the campaign (later ones: `coordinator invite`).")
    var invites: Int = 0

    @Option(help: "Campaign name shown in status and stats.")
    var name: String = "CrowdTrain campaign"

    @Option(help: "Goal: samples to train (images, or tokens for kjv-gpt). Default: 600000 / 10000000.")
    var goalSamples: Int?

    @Option(help: "Stop after this many rounds (default: run until the goal).")
    var rounds: Int?

    @Option(help: "Quorum: leases (and updates) per round.")
    var peersPerRound: Int = 3

    @Option(name: .customLong("steps"), help: "Local steps H per lease (default 100).")
    var localSteps: Int?

    @Option(help: "Batch size per local step (default 64 images / 4 sequences).")
    var batch: Int?

    @Option(help: "Inner learning-rate schedule over the campaign's progress: cosine (default) or const.")
    var schedule: String = LRSchedule.Kind.cosine.rawValue

    @Option(help: "Update codec: fp32, fp16, bf16, int8[:block], topk:fraction.")
    var codec: String = "int8"

    @Option(
        help: ArgumentHelp(
            "Outer optimizer: diloco (lr 0.7, Nesterov 0.9), fedavg (lr 1, momentum 0) or lr,momentum[,nesterov][,full=F][,delay].",
            discussion: "Default: the workload's (1,0.8,nesterov,full=3,delay for fmnist-mlp; 1,0.7,nesterov,full=3,delay for kjv-gpt; Docs/Models.md, Docs/Protocol.md)."))
    var outer: String?

    @Option(help: "fmnist-mlp: hidden layer sizes, comma-separated.")
    var hidden: String = "256,128"

    @Option(help: "Records per training shard (images, or bytes of text). Default 10000 / 1048576.")
    var shardSize: Int?

    @Option(help: "Seed for the initial model, shard assignment and lease seeds.")
    var seed: UInt64 = 0

    func validate() throws {
        if host != nil {
            throw ValidationError(
                "--host is now two options: --bind ADDRESS (where to listen) and --public-name NAME (what peers "
                    + "connect to, put in the certificate; repeatable)")
        }
        if !serverName.isEmpty { throw ValidationError("--server-name is now --public-name") }
        for name in publicName + [bind] where !CampaignConfig.isPlausibleAddress(name) {
            throw ValidationError("'\(name)' is not a DNS name or IP address")
        }
        guard (0...OperatorAPI.maxInvites).contains(invites) else {
            throw ValidationError("--invites must be 0…\(OperatorAPI.maxInvites)")
        }
        if text != nil && workload != .kjvGPT { throw ValidationError("--text applies to --workload kjv-gpt only") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0…65535") }
        if let rounds, rounds < 1 { throw ValidationError("--rounds must be at least 1") }
        if let shardSize, shardSize < 1 { throw ValidationError("--shard-size must be at least 1") }
        if let outer { _ = try OuterOptimizerConfig(parsing: outer) }
        guard LRSchedule.Kind(rawValue: schedule) != nil else {
            throw ValidationError("--schedule must be cosine or const; got '\(schedule)'")
        }
        if let batch, batch < 1 { throw ValidationError("--batch must be at least 1") }
    }

    func run() async throws {
        var config = CampaignConfig(workload: workload, name: name)
        config.bind = bind
        config.port = port
        config.publicNames = CampaignConfig.certificateNames(bind: bind, publicNames: publicName)
        config.maxRounds = rounds
        config.peersPerRound = peersPerRound
        config.codec = codec
        if let outer { config.outer = try OuterOptimizerConfig(parsing: outer) }
        config.seed = seed
        if let goalSamples { config.goalSamples = goalSamples }
        if let localSteps { config.localSteps = localSteps }
        if let batch { config.batch = batch }
        config.inner.schedule = LRSchedule(kind: LRSchedule.Kind(rawValue: schedule)!)

        let modelJSON: Data
        let campaignData: CampaignData
        let size: Int
        switch workload {
        case .fmnistMLP:
            let widths = hidden.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 }) else {
                throw ValidationError("--hidden must be positive integers, e.g. 256,128")
            }
            modelJSON = try JSONEncoder().encode(MLPConfig(hidden: widths))
            let (train, test) = try FashionMNIST.load(directory: data)
            campaignData = .images(train: train, evaluation: test)
            size = shardSize ?? 10_000
        case .kjvGPT:
            let gpt = GPTConfig()
            config.block = gpt.block
            modelJSON = try JSONEncoder().encode(gpt)
            let corpus = try text.map { try TextCorpus.load(path: $0) } ?? TextCorpus.kjv()
            let (train, validation) = corpus.split(trainFraction: 0.9)
            campaignData = .text(train: train, evaluation: validation)
            size = shardSize ?? 1 << 20
        }
        let summary = try CampaignInitializer.create(
            directory: campaign.dir, config: config, data: campaignData, modelConfigJSON: modelJSON, shardSize: size)
        print("created campaign '\(config.name)' in \(summary.paths.directory)")
        print("  workload \(config.workload), \(summary.parameters) parameters, \(summary.shards) training shards")
        print(
            "  initial model \(summary.modelVersion.prefix(16))…, \(summary.evaluation.metric) \(summary.evaluation.value)"
        )
        print("  certificate names: \(config.publicNames.joined(separator: ", "))")
        print("  operator token: \(summary.paths.operatorToken) (0600; the operator commands need it)")
        print("  serve with: crowdtrain coordinator serve --dir \(campaign.dir)   (listening on \(bind):\(port))")
        print(
            "  volunteers need: \(summary.paths.caCertificate) and an invite (`crowdtrain coordinator invite --dir "
                + "\(campaign.dir)` while it serves)")
        if invites > 0 {
            print("invites:")
            for token in try CampaignInitializer.invite(directory: campaign.dir, count: invites, note: "init") {
                print(token)
            }
        }
    }
}
