import CrowdCLI
import ArgumentParser
import CrowdCodec
import CrowdData
import CrowdEngine
import CrowdProtocol
import CrowdTraining
import Foundation

/// `crowdtrain bench codec`: size ratio, relative error and single-core throughput of each update codec.
///
/// Throughput is MB (10⁶ bytes) of float32 input per second, median of `--repeats` encodes/decodes of
/// the whole envelope (quantize + zstd + SHA-256). Compare with `ref_compress_updates.py` in the same run.
struct BenchCodecCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "codec",
        abstract: "Measure update codecs (ratio vs fp32, relative L2 error, encode/decode MB/s on one core).")

    @Option(help: ArgumentHelp(
        "Raw little-endian float32 update (e.g. delta_K10.f32 from ref_mlp_fmnist.py --dump-deltas). "
            + "Default: a mid-training fmnist-mlp delta (10 SGD steps after one epoch), made by the engine.", valueName: "file.f32"))
    var input: String?

    @Option(help: "Codec: all, fp32, fp16, bf16, int8, int8:BLOCK or topk:FRACTION.")
    var codec: String = "all"

    @Option(help: "zstd level (1 = default; higher is smaller and slower).")
    var level: Int32 = 1

    @Option(help: "Timed repetitions (median reported).")
    var repeats: Int = 50

    @Option(help: "Without --input: Fashion-MNIST directory for the engine run.")
    var data: String = FashionMNIST.defaultDirectory

    @Option(help: ArgumentHelp(
        "Codec kernel variant to run (default: the best this CPU supports): "
            + CodecKernels.known.joined(separator: ", ") + ". sse2 is the x86-64 baseline, for comparison.",
        valueName: "variant"))
    var kernels: String?

    @Flag(help: "One JSON line per codec (keys codec, ratio, rel_error, encode_mb_s, decode_mb_s, kernels, cpu, …).")
    var json = false

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1") }
        guard (-7...19).contains(level) else { throw ValidationError("--level must be in -7…19") }
        if codec != "all" { _ = try CodecSpec(parsing: codec) }
        if let kernels, !CodecKernels.known.contains(kernels) {
            throw ValidationError("--kernels must be one of \(CodecKernels.known.joined(separator: ", ")); got '\(kernels)'")
        }
    }

    func run() throws {
        if let kernels, !CodecKernels.force(kernels) {
            throw ValidationError("this CPU cannot run the \(kernels) codec kernels; it runs \(CodecKernels.name)")
        }
        let x: [Float]
        let source: String
        if let input {
            x = try CodecBenchmark.readF32(path: input)
            source = input
        } else {
            x = try Self.engineDelta(dataDirectory: data, steps: 10)
            source = "fmnist-mlp engine delta: 10 SGD steps after one epoch (lr 0.05, momentum 0.9, batch 64, seed 0)"
        }
        let specs = codec == "all"
            ? [CodecSpec.fp32, .fp16, .bf16, .int8(block: 256), .topk(fraction: 0.01)] : [try CodecSpec(parsing: codec)]
        if !json {
            print("input: \(source), \(x.count) values; zstd level \(level); \(repeats) repeats, 1 thread")
            print("kernels: \(CodecKernels.name); cpu: \(CPUReport.current.model) [\(CPUReport.current.simd.joined(separator: " "))]")
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        for spec in specs {
            let r = try CodecBenchmark.run(x, codec: spec, level: level, repeats: repeats)
            if json {
                print(String(decoding: try enc.encode(Line(result: r, cpu: .current)), as: UTF8.self))
            } else {
                print(r.codec.padding(toLength: 10, withPad: " ", startingAt: 0) + String(
                    format: " ratio %7.2f×  rel.err %.5f  encode %7.0f MB/s  decode %7.0f MB/s  (%d B)",
                    r.ratio, r.rel_error, r.encode_mb_s, r.decode_mb_s, r.bytes))
            }
        }
    }

    /// A mid-training update as a peer sends it, built as `ref_mlp_fmnist.py --dump-deltas` builds its
    /// `delta_K10`: from seed 0, one epoch of SGD (lr 0.05, momentum 0.9, batch 64), then θ_K − θ₀ of `steps` more
    /// steps with a fresh optimizer on other batches. (An update from the untrained model is atypical: larger and
    /// less compressible, 4.6× instead of 6.1× for int8.)
    static func engineDelta(dataDirectory: String, steps: Int) throws -> [Float] {
        ComputeThreads.set(1)
        let (train, _) = try FashionMNIST.load(directory: dataDirectory)
        let model = MLP(config: MLPConfig(), seed: 0)
        let sgd = InnerOptimizerConfig(kind: "sgd", lr: 0.05, momentum: 0.9)
        _ = LocalTrainer.run(
            model: model, optimizer: try sgd.make(for: model.layout), steps: train.count / 64, lr: { _ in 0.05 },
            gradClip: 0, nextBatch: BatchSampler.images(train, batch: 64, seed: 0))
        let before = model.params.toArray()
        _ = LocalTrainer.run(
            model: model, optimizer: try sgd.make(for: model.layout), steps: steps, lr: { _ in 0.05 }, gradClip: 0,
            nextBatch: BatchSampler.images(train, batch: 64, seed: 1000))
        let after = model.params.toArray()
        return (0..<after.count).map { after[$0] - before[$0] }
    }

    /// A JSON line: the codec's figures and the CPU they were measured on.
    struct Line: Encodable {
        var result: CodecBenchmark.Result
        var cpu: CPUReport
        func encode(to encoder: any Encoder) throws {
            try result.encode(to: encoder)
            var c = encoder.container(keyedBy: Key.self)
            try c.encode(cpu, forKey: .cpu)
        }
        enum Key: String, CodingKey { case cpu }
    }
}
