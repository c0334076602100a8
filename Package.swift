// swift-tools-version: 6.1
import PackageDescription

// Release builds are what volunteers run; numeric code is 10–50× slower in debug.
// We stay on the default x86-64 target (no -target-cpu): volunteers' CPUs vary, and the hot
// loops go through OpenBLAS, which dispatches on the CPU at run time.
// Release builds of the numeric targets that parse no input (CrowdEngine, CrowdAggregation, CrowdSim, CrowdBench) use
// -Ounchecked: bounds and overflow checks off in the hot loops (byte GPT 1.29x, MLP 1.06x faster than with -O,
// `bench engine`, AMD EPYC Zen 3, OpenBLAS Haswell). Every target that parses network or file input (checkpoints, IDX
// and shard files, envelopes, proofs, wire types, configuration: CrowdData, CrowdCodec, CrowdProtocol,
// CrowdVerification, CrowdTraining, CrowdCoordinator, CrowdClient, CrowdPeer, CrowdCLI) keeps them (plain -O), so
// the preconditions the hostile-input tests and the fuzzer exercise are in the binary volunteers run; `.ci/release-checks`
// runs those tests in release.
let numeric: [SwiftSetting] = [.unsafeFlags(["-Ounchecked"], .when(configuration: .release))]

let package = Package(
    name: "CrowdTrain",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "crowdtrain", targets: ["crowdtrain"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already in the graph through Hummingbird; named for NIOHTTPTypes (the coordinator's body-rate handler).
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        // System libraries (Debian: libopenblas-dev, libzstd-dev, zlib1g-dev).
        // Declarations only (cblas.h by path in shim.h): OpenBLAS is loaded at run time by BLASBackend, not linked.
        .systemLibrary(name: "CBLAS", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Numerics: tensors as flat buffers, kernels, layers, optimizers, models. No networking, no logging.
        // The codec's hot loops in C, one variant per CPU feature level, chosen at run time (kernels.c). Optimised
        // in debug builds too, so tests of large updates stay fast.
        .target(name: "CCodecKernels", cSettings: [.unsafeFlags(["-O3", "-fno-strict-aliasing"])]),
        .target(name: "CrowdEngine", dependencies: ["CBLAS"], swiftSettings: numeric),
        // Datasets (IDX, text bytes) and content-addressed shards.
        .target(
            name: "CrowdData",
            dependencies: ["CrowdEngine", "CZlib", .product(name: "Crypto", package: "swift-crypto")]),
        // Workloads (model + data), the local training loop and evaluation: shared by `train`, peers and the coordinator.
        .target(name: "CrowdTraining", dependencies: ["CrowdEngine", "CrowdData", "CrowdProtocol"]),
        // Update codecs, error feedback, zstd framing, the update envelope.
        .target(
            name: "CrowdCodec",
            dependencies: ["CZstd", "CCodecKernels", "CrowdProtocol", .product(name: "Crypto", package: "swift-crypto")]),
        // The pure math of aggregation: Strategy, aggregators (mean and robust), outer optimizer, update screening.
        // No I/O, no dependencies: the coordinator and the in-process simulations run the same code.
        .target(name: "CrowdAggregation", swiftSettings: numeric),
        // In-process simulated crowds with the real engine, codec and aggregation (`bench attack`, `bench quality`,
        // `bench crowd`, which drives the coordinator's own RoundStateMachine on a virtual clock).
        .target(
            name: "CrowdSim",
            dependencies: [
                "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdAggregation", "CrowdProtocol",
                "CrowdVerification", "CrowdCoordinator",
            ],
            swiftSettings: numeric),
        // Wire types shared by coordinator, peer and CLI.
        .target(name: "CrowdProtocol"),
        // Verified work: trajectory commitments, proofs, the segment re-execution and the audit policy, shared by
        // the peer (which commits), the coordinator (which challenges and verifies) and `bench verify`.
        .target(
            name: "CrowdVerification",
            dependencies: [
                "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdProtocol",
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
        .target(
            name: "CrowdCoordinator",
            dependencies: [
                "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdProtocol", "CrowdAggregation",
                "CrowdVerification",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The HTTPS client of the coordinator API (one trusted CA, bandwidth caps, the operator calls): shared by the
        // peer daemon and the CLI, which talks to coordinators only through it.
        .target(
            name: "CrowdClient",
            dependencies: [
                "CrowdProtocol", "CrowdEngine", "CrowdData", "CrowdCodec",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]),
        .target(
            name: "CrowdPeer",
            dependencies: [
                "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdProtocol", "CrowdVerification",
                "CrowdClient",
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // The commands users run. They talk to coordinators through CrowdClient only; CrowdCoordinator is imported
        // for `coordinator init` and `coordinator serve` alone.
        .target(
            name: "CrowdCLI",
            dependencies: [
                "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdProtocol",
                "CrowdCoordinator", "CrowdPeer", "CrowdClient", "CrowdVerification",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]),
        // `crowdtrain bench …` and the chaos harness: measurements, attack runs and load generators, kept apart
        // from the commands volunteers and operators use.
        .target(
            name: "CrowdBench",
            dependencies: [
                "CrowdCLI", "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdProtocol",
                "CrowdAggregation", "CrowdCoordinator", "CrowdPeer", "CrowdClient", "CrowdSim", "CrowdVerification",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: numeric),
        .executableTarget(
            name: "crowdtrain",
            dependencies: ["CrowdCLI", "CrowdBench", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Envelope-decoder fuzzer: a mutation loop when built normally; libFuzzer with
        // `-Xswiftc -sanitize=fuzzer -Xswiftc -DCROWD_LIBFUZZER` (Docs/WireFormats.md, "Fuzzing").
        .executableTarget(name: "CrowdCodecFuzz", dependencies: ["CrowdCodec"]),

        // Fixtures are read through #filePath (the PyTorch parity fixture and the script that makes it).
        .testTarget(name: "CrowdEngineTests", dependencies: ["CrowdEngine", "CrowdData"], exclude: ["Fixtures"]),
        // What several test suites share: the in-process test campaign (`TestCampaign`, with a hand-moved clock) and
        // the live one over TLS (`LiveCampaign`, `RunningCoordinator`). Linked only into tests. (The synthetic image
        // sets are `CrowdData.SyntheticImages`: the benchmarks use them too.)
        .target(
            name: "CrowdTestSupport",
            dependencies: [
                "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdProtocol", "CrowdAggregation",
                "CrowdVerification", "CrowdCoordinator", "CrowdPeer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/CrowdTestSupport"),
        .testTarget(name: "CrowdIntegrationTests", dependencies: ["CrowdTestSupport", "CrowdPeer", "CrowdClient", "CrowdCoordinator", "CrowdVerification", "CrowdProtocol", "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"), .product(name: "NIOSSL", package: "swift-nio-ssl")]),
        .testTarget(name: "CrowdDataTests", dependencies: ["CrowdData", "CrowdEngine"]),
        .testTarget(name: "CrowdTrainingTests", dependencies: ["CrowdTraining", "CrowdData", "CrowdEngine"]),
        .testTarget(name: "CrowdCodecTests", dependencies: ["CrowdCodec", "CrowdProtocol"]),
        .testTarget(name: "CrowdAggregationTests", dependencies: ["CrowdAggregation"]),
        .testTarget(
            name: "CrowdSimTests",
            dependencies: ["CrowdSim", "CrowdTestSupport", "CrowdAggregation", "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdCoordinator"]),
        .testTarget(name: "CrowdPeerTests", dependencies: ["CrowdTestSupport", "CrowdPeer", "CrowdClient", "CrowdProtocol", "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec", "CrowdVerification"]),
        .testTarget(name: "CrowdVerificationTests", dependencies: ["CrowdTestSupport", "CrowdVerification", "CrowdProtocol", "CrowdEngine", "CrowdData", "CrowdTraining", "CrowdCodec"]),
        .testTarget(
            name: "CrowdCoordinatorTests",
            dependencies: [
                "CrowdCoordinator", "CrowdProtocol", "CrowdCodec", "CrowdEngine", "CrowdData", "CrowdTraining",
                "CrowdAggregation", "CrowdVerification", "CrowdClient", "CrowdTestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]),
    ]
)
