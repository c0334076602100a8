import CrowdCLI
import ArgumentParser
import CrowdCoordinator
import CrowdData
import CrowdEngine
import CrowdTraining
import Foundation

/// `crowdtrain bench determinism`: how far honest re-executions of the same k inner steps disagree.
///
/// A verifier re-executes a segment of k inner steps from a revealed state and compares the result with the peer's
/// committed state. This bench measures what an honest peer and an honest verifier can differ by: the same k steps
/// (the workload's campaign-default inner optimizer at its peak learning rate, its batch size, a seeded batch stream)
/// from the same start state under every variant this machine has — 1 and 2 compute threads, every other OpenBLAS
/// core type the CPU can run (`OPENBLAS_CORETYPE`) and the portable Swift GEMM (`CROWDTRAIN_BLAS=portable`). The
/// core type and the library are fixed when OpenBLAS loads, so each variant runs as a child process of this binary;
/// the parent compares every child's final parameters and optimizer buffers with the reference child's (1 thread, the
/// backend this process chose). Three start states: the seeded initial model with a fresh optimizer (`init`), the
/// state after `--warmup` steps (non-trivial momentum / Adam moments, `warm`), and those parameters with a fresh
/// optimizer (`reset`). For scale, two dishonest segments: the same k steps on other batches (`wrong data (other
/// seed)`) and only k/2 of the steps (`half steps (k/2)`).
struct BenchDeterminismCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "determinism",
        abstract: "Measure honest disagreement of re-executed training segments across threads and GEMM backends.",
        discussion: """
            param_rel_diff = ‖θ − θ_ref‖ / ‖θ_ref − θ_start‖ (relative to the segment's movement); optimizer_rel_diff = \
            max over optimizer buffers of ‖b − b_ref‖ / ‖b_ref‖; bitwise = parameters and optimizer state identical.
            """)

    @Option(help: "Workload: fmnist-mlp, kjv-gpt or all.")
    var workload: DeterminismWorkloadChoice = .all

    @Option(help: ArgumentHelp("Segment lengths k (inner steps re-executed), comma-separated.", valueName: "k1,k2,…"))
    var steps: StepCounts = StepCounts([5, 10, 25])

    @Option(help: "Seed of the models, the warm-up batches and the segment's batches.")
    var seed: UInt64 = 0

    @Option(help: "Steps run (by this process, 1 thread) before the warm and reset start states.")
    var warmup: Int = 20

    @Flag(help: "Print one JSON object instead of the table.")
    var json = false

    @Option(help: .hidden) var childVariant: String?
    @Option(help: .hidden) var childSpec: String?
    @Option(help: .hidden) var out: String?

    func validate() throws {
        guard warmup >= 1 else { throw ValidationError("--warmup must be at least 1") }
        if childVariant != nil || childSpec != nil || out != nil {
            guard childVariant != nil, childSpec != nil, out != nil else {
                throw ValidationError("--child-variant, --child-spec and --out go together (internal)")
            }
        }
    }

    func run() async throws {
        if let childSpec, let out {
            try DeterminismChild.run(variant: childVariant ?? "?", specPath: childSpec, outPath: out)
            return
        }
        let report = try DeterminismBench(
            workloads: workload.workloads, steps: steps.values, seed: seed, warmup: warmup, log: { line in
                if json { printToStandardError(line) } else { print(line) }
            }
        ).run()
        if json {
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try enc.encode(report), as: UTF8.self))
        } else {
            print(report.table())
        }
    }
}

/// `--workload` of `bench determinism`.
enum DeterminismWorkloadChoice: String, ExpressibleByArgument, CaseIterable, Sendable {
    case fmnistMLP = "fmnist-mlp"
    case kjvGPT = "kjv-gpt"
    case all

    var workloads: [WorkloadName] {
        switch self {
        case .fmnistMLP: [.fmnistMLP]
        case .kjvGPT: [.kjvGPT]
        case .all: [.fmnistMLP, .kjvGPT]
        }
    }
}

/// Comma-separated positive step counts, e.g. `5,10,25` (sorted, duplicates dropped).
struct StepCounts: ExpressibleByArgument, Sendable, Equatable {
    var values: [Int]

    init(_ values: [Int]) { self.values = Array(Set(values)).sorted() }

    init?(argument: String) {
        let parts = argument.split(separator: ",", omittingEmptySubsequences: false)
        let values = parts.compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parts.isEmpty, values.count == parts.count, values.allSatisfy({ (1...10_000).contains($0) }) else {
            return nil
        }
        self.init(values)
    }

    var defaultValueDescription: String { values.map(String.init).joined(separator: ",") }
}

// MARK: - The parent (runs every variant, compares, reports)

/// The `--json` object.
struct DeterminismReport: Encodable {
    struct Row: Encodable {
        var workload: String
        /// `init` (seeded model, fresh optimizer), `warm` (after the warm-up steps) or `reset` (the warm parameters
        /// with a fresh optimizer).
        var start: String
        var steps: Int
        var variant: String
        var kernel: String
        var threads: Int
        var bitwise: Bool
        var paramRelDiff: Double
        var optimizerRelDiff: Double
    }

    struct Variant: Encodable {
        var workload: String
        var variant: String
        var threads: Int
        var kernel: String
        var summary: String
        var seconds: Double
    }

    var cpu: String
    var referenceKernel: String
    var seed: UInt64
    var warmup: Int
    var rows: [Row]
    var variants: [Variant]
    /// Largest param_rel_diff of an honest run on another backend than the reference's.
    var maxParamRelDiffCrossBackend: Double
    var maxOptimizerRelDiffCrossBackend: Double
    /// Every threads-2 run equals the threads-1 run of the same backend bit for bit.
    var threadsBitwise: Bool
    /// Smallest param_rel_diff of the dishonest segments (other batches; half the steps).
    var minParamRelDiffWrongData: Double
    var minParamRelDiffHalfSteps: Double

    func table() -> String {
        var t = TextTable([
            ("workload", .left), ("start", .left), ("k", .right), ("variant", .left), ("threads", .right),
            ("kernel", .left), ("bitwise", .left), ("param_rel_diff", .right), ("optimizer_rel_diff", .right),
        ])
        for r in rows {
            t.add([
                r.workload, r.start, String(r.steps), r.variant, String(r.threads), r.kernel, r.bitwise ? "yes" : "no",
                Self.format(r.paramRelDiff), Self.format(r.optimizerRelDiff),
            ])
        }
        var lines = ["cpu: \(cpu); reference: 1 thread, \(referenceKernel)", t.render()]
        lines.append("threads 1 vs 2 bitwise on every backend: \(threadsBitwise ? "yes" : "NO")")
        lines.append(
            "largest cross-backend disagreement: param \(Self.format(maxParamRelDiffCrossBackend)), optimizer "
                + Self.format(maxOptimizerRelDiffCrossBackend))
        lines.append(
            "smallest dishonest distance: wrong data \(Self.format(minParamRelDiffWrongData)), half steps "
                + Self.format(minParamRelDiffHalfSteps))
        return lines.joined(separator: "\n")
    }

    static func format(_ x: Double) -> String { x == 0 ? "0" : String(format: "%.2e", x) }
}

struct DeterminismBench {
    let workloads: [WorkloadName]
    let steps: [Int]
    let seed: UInt64
    let warmup: Int
    let log: (String) -> Void

    static let wrongData = "wrong data (other seed)"
    static let halfSteps = "half steps (k/2)"
    static let defaultVariant = "default"
    static let portableVariant = "CROWDTRAIN_BLAS=portable"

    /// A GEMM backend to run children on: its label and the environment changes it needs.
    struct Backend {
        var label: String
        var environment: [String: String?]
    }

    /// OpenBLAS core types (`OPENBLAS_CORETYPE`) with the features their kernels need, newest first.
    static let coreTypes: [(String, [String])] = [
        ("Cooperlake", ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl", "avx512_bf16"]),
        ("SkylakeX", ["avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]),
        ("Haswell", ["avx2", "fma", "avx"]),
        ("Zen", ["avx2", "fma", "avx"]),
        ("Sandybridge", ["avx"]),
        ("Nehalem", ["sse4_2", "ssse3"]),
        ("Core2", ["ssse3"]),
        ("Prescott", ["pni"]),
    ]

    /// The reference (this process's environment) first, then every other backend the CPU can run.
    static func backends() -> [Backend] {
        let shared = BLASBackend.shared
        var out = [Backend(label: defaultVariant, environment: [:])]
        let cpu = CPUFeatures.current
        if cpu.architecture == .x86_64 {
            for (core, features) in coreTypes where features.allSatisfy(cpu.flags.contains) {
                if shared.library == .openblas && core.lowercased() == shared.kernel.lowercased() { continue }
                out.append(Backend(
                    label: "OPENBLAS_CORETYPE=\(core)",
                    environment: ["OPENBLAS_CORETYPE": core, "CROWDTRAIN_BLAS": nil]))
            }
        }
        if shared.library == .openblas {
            out.append(Backend(label: portableVariant, environment: ["CROWDTRAIN_BLAS": "portable"]))
        }
        return out
    }

    /// The CPU's model name as /proc/cpuinfo prints it (else the CPUID brand string).
    static var cpuModel: String {
        if let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) {
            let name = CPUFeatures.parseCPUInfo(text, architecture: CPUFeatures.current.architecture).modelName
            if name != "unknown" { return name }
        }
        return CPUFeatures.current.modelName
    }

    func run() throws -> DeterminismReport {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("crowdtrain-determinism-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        ComputeThreads.set(1)
        let backends = Self.backends()
        var report = DeterminismReport(
            cpu: Self.cpuModel, referenceKernel: BLASBackend.shared.summary, seed: seed, warmup: warmup, rows: [],
            variants: [], maxParamRelDiffCrossBackend: 0, maxOptimizerRelDiffCrossBackend: 0, threadsBitwise: true,
            minParamRelDiffWrongData: .infinity, minParamRelDiffHalfSteps: .infinity)
        log("cpu: \(report.cpu); this process: \(BLASBackend.shared.summary)")
        log("backends: " + backends.map(\.label).joined(separator: ", "))
        for name in workloads {
            try measure(name, backends: backends, dir: dir, into: &report)
        }
        return report
    }

    /// The start states of `name`: the seeded model with a fresh optimizer (`init`), the state after `warmup` steps
    /// on 1 thread (`warm`), and those parameters with a fresh optimizer (`reset`).
    func startStates(_ w: DeterminismWorkload) throws -> [TrainingState] {
        let model = w.makeModel(seed)
        let optimizer = try w.inner.make(for: model.layout)
        let initial = TrainingState(label: "init", model: model, optimizer: optimizer)
        let next = w.sampler(seed &+ 7_919)
        for _ in 0..<warmup { w.step(model, optimizer, next) }
        guard model.params.allFinite() else { throw DeterminismError("\(w.name.rawValue) diverged in the warm-up") }
        let warm = TrainingState(label: "warm", model: model, optimizer: optimizer)
        // The warmed-up model with a fresh optimizer: a peer's first lease in a running campaign (or keepState false).
        let reset = TrainingState(
            label: "reset", params: warm.params, optimizer: try w.inner.make(for: model.layout).state)
        return [initial, warm, reset]
    }

    func measure(
        _ name: WorkloadName, backends: [Backend], dir: URL, into report: inout DeterminismReport
    ) throws {
        let w = try DeterminismWorkload.load(name)
        log("\(name.rawValue): inner \(w.inner.kind) lr \(w.inner.lr), grad clip \(w.inner.gradClip), batch \(w.batch); "
            + "starts: init (seeded model), warm (after \(warmup) steps), reset (warm model, fresh optimizer)")
        let starts = try startStates(w)
        let startFile = dir.appendingPathComponent("\(name.rawValue)-starts.bin").path
        try TrainingStateFile.write(starts, header: [String: String](), to: startFile)
        let startByLabel = Dictionary(uniqueKeysWithValues: starts.map { ($0.label, $0) })
        let segmentSeed = seed &+ 1
        let halves = steps.map { $0 / 2 }.filter { $0 >= 1 }

        var reference: [String: TrainingState] = [:]
        var referenceKernel = "?"
        for (b, backend) in backends.enumerated() {
            var byThreads: [Int: [String: TrainingState]] = [:]
            for threads in [1, 2] {
                let isReference = b == 0 && threads == 1
                let (header, states) = try runChild(
                    workload: w, variant: backend.label, environment: backend.environment, threads: threads,
                    samplerSeed: segmentSeed, snapshots: isReference ? steps + halves : steps, startFile: startFile,
                    dir: dir)
                report.variants.append(.init(
                    workload: name.rawValue, variant: backend.label, threads: header.threads, kernel: header.kernel,
                    summary: header.summary, seconds: header.seconds))
                let byLabel = Dictionary(uniqueKeysWithValues: states.map { ($0.label, $0) })
                byThreads[threads] = byLabel
                if isReference {
                    reference = byLabel
                    referenceKernel = header.kernel
                }
                for start in starts {
                    for k in steps {
                        let label = "\(start.label)@\(k)"
                        guard let s = byLabel[label], let r = reference[label] else {
                            throw DeterminismError("\(backend.label) (\(threads) threads) did not report \(label)")
                        }
                        let (p, o) = s.relativeDiffs(to: r, start: start)
                        report.rows.append(.init(
                            workload: name.rawValue, start: start.label, steps: k, variant: backend.label,
                            kernel: header.kernel, threads: header.threads, bitwise: s.bitwiseEqual(r),
                            paramRelDiff: p, optimizerRelDiff: o))
                        if b > 0 {
                            report.maxParamRelDiffCrossBackend = max(report.maxParamRelDiffCrossBackend, p)
                            report.maxOptimizerRelDiffCrossBackend = max(report.maxOptimizerRelDiffCrossBackend, o)
                        }
                    }
                }
            }
            // Threads 2 against threads 1 on this backend.
            if let one = byThreads[1], let two = byThreads[2] {
                for (label, s) in two where !(one[label].map(s.bitwiseEqual) ?? false) {
                    report.threadsBitwise = false
                    log("  \(backend.label): 2 threads differ from 1 thread at \(label)")
                }
            }
        }

        // Dishonest segments for scale: the same k steps on other batches; half of the k steps.
        let (header, wrong) = try runChild(
            workload: w, variant: Self.wrongData, environment: backends[0].environment, threads: 1,
            samplerSeed: segmentSeed &+ 1_000_003, snapshots: steps, startFile: startFile, dir: dir)
        report.variants.append(.init(
            workload: name.rawValue, variant: Self.wrongData, threads: header.threads, kernel: header.kernel,
            summary: header.summary, seconds: header.seconds))
        let wrongByLabel = Dictionary(uniqueKeysWithValues: wrong.map { ($0.label, $0) })
        for start in starts {
            for k in steps {
                let label = "\(start.label)@\(k)"
                guard let s = wrongByLabel[label], let r = reference[label] else { continue }
                let (p, o) = s.relativeDiffs(to: r, start: start)
                report.rows.append(.init(
                    workload: name.rawValue, start: start.label, steps: k, variant: Self.wrongData,
                    kernel: header.kernel, threads: header.threads, bitwise: s.bitwiseEqual(r), paramRelDiff: p,
                    optimizerRelDiff: o))
                report.minParamRelDiffWrongData = min(report.minParamRelDiffWrongData, p)
            }
            for k in steps where k / 2 >= 1 {
                guard let half = reference["\(start.label)@\(k / 2)"], let r = reference["\(start.label)@\(k)"],
                      let s0 = startByLabel[start.label]
                else { continue }
                let (p, o) = half.relativeDiffs(to: r, start: s0)
                report.rows.append(.init(
                    workload: name.rawValue, start: start.label, steps: k, variant: Self.halfSteps,
                    kernel: referenceKernel, threads: 1, bitwise: half.bitwiseEqual(r), paramRelDiff: p,
                    optimizerRelDiff: o))
                report.minParamRelDiffHalfSteps = min(report.minParamRelDiffHalfSteps, p)
            }
        }
    }

    /// This very binary: `/proc/self/exe` where it exists (still this build when `swift build` replaces the file
    /// during a long run), else the path it was started from.
    static var executable: String {
        FileManager.default.isExecutableFile(atPath: "/proc/self/exe") ? "/proc/self/exe" : ChildProcess.currentExecutable
    }

    /// Runs one variant as a child process of this binary and reads what it wrote.
    func runChild(
        workload w: DeterminismWorkload, variant: String, environment: [String: String?], threads: Int,
        samplerSeed: UInt64, snapshots: [Int], startFile: String, dir: URL
    ) throws -> (DeterminismChildHeader, [TrainingState]) {
        let tag = "\(w.name.rawValue)-\(variant.filter { $0.isLetter || $0.isNumber })-t\(threads)"
        let specPath = dir.appendingPathComponent("\(tag).json").path
        let outPath = dir.appendingPathComponent("\(tag).bin").path
        let logPath = dir.appendingPathComponent("\(tag).log").path
        let spec = DeterminismChildSpec(
            workload: w.name.rawValue, threads: threads, modelSeed: seed, samplerSeed: samplerSeed,
            startFile: startFile, snapshots: Array(Set(snapshots)).sorted())
        try JSONEncoder().encode(spec).write(to: URL(fileURLWithPath: specPath))
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let logHandle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? logHandle.close() }

        var env = ProcessInfo.processInfo.environment
        for (k, v) in environment { env[k] = v }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Self.executable)
        p.arguments = ["bench", "determinism", "--child-variant", variant, "--child-spec", specPath, "--out", outPath]
        p.environment = env
        p.standardInput = FileHandle.nullDevice
        p.standardOutput = logHandle
        p.standardError = logHandle
        let clock = DispatchTime.now().uptimeNanoseconds
        try p.run()
        let deadline = Date().addingTimeInterval(1_800)
        while p.isRunning {
            if Date() > deadline {
                p.terminate()
                p.waitUntilExit()
                throw DeterminismError("\(variant) (\(threads) threads) did not finish within 30 min")
            }
            usleep(20_000)
        }
        let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        guard p.terminationReason == .exit, p.terminationStatus == 0 else {
            throw DeterminismError(
                "\(variant) (\(threads) threads) failed (status \(p.terminationStatus)):\n\(output.suffix(2_000))")
        }
        let (header, states) = try TrainingStateFile.read(outPath, header: DeterminismChildHeader.self)
        try? FileManager.default.removeItem(atPath: outPath)
        let wall = Double(DispatchTime.now().uptimeNanoseconds - clock) / 1e9
        log(String(
            format: "  %@ %@, %d thread%@: %@ (%.1f s training, %.1f s in all)", w.name.rawValue, variant, threads,
            threads == 1 ? "" : "s", header.summary, header.seconds, wall))
        return (header, states)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
