import CrowdCodec
#if canImport(Glibc)
import Glibc
#endif

// Fuzz target for the update-envelope decoder (see Docs/WireFormats.md, "Fuzzing").
//
// Built normally (`swift build`), this is a self-contained mutation fuzzer:
//     CrowdCodecFuzz [--iterations N] [--seed S]
//     CrowdCodecFuzz --write-seeds DIR      (seed corpus for libFuzzer)
// Built with `-Xswiftc -sanitize=fuzzer -Xswiftc -DCROWD_LIBFUZZER`, libFuzzer drives
// `LLVMFuzzerTestOneInput` and supplies `main`.

@_cdecl("LLVMFuzzerTestOneInput")
public func crowdCodecFuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    CodecFuzzHarness.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
}

#if CROWD_LIBFUZZER
/// libFuzzer's entry point for programs that keep their own `main` (SwiftPM aliases `main` to the module's).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

@main
struct CrowdCodecFuzz {
    static func main() {
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in crowdCodecFuzzOne(data, size) })
    }
}
#else
@main
struct CrowdCodecFuzz {
    static func main() {
        var iterations = 1_000_000
        var seed: UInt64 = 1
        var args = CommandLine.arguments.dropFirst().makeIterator()
        while let a = args.next() {
            switch a {
            case "--iterations": iterations = Int(args.next() ?? "") ?? iterations
            case "--seed": seed = UInt64(args.next() ?? "") ?? seed
            case "--write-seeds":
                // Seed corpus for libFuzzer: one file per seed input.
                let dir = args.next() ?? "."
                for (i, s) in CodecFuzzHarness.seeds().enumerated() {
                    let f = fopen("\(dir)/seed-\(i)", "wb")
                    _ = s.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
                    fclose(f)
                }
                return
            default:
                print("usage: CrowdCodecFuzz [--iterations N] [--seed S] | --write-seeds DIR")
                return
            }
        }
        var rng = SplitMix(state: seed)
        let seeds = CodecFuzzHarness.seeds()
        for i in 0..<iterations {
            var input = seeds[Int(rng.next() % UInt64(seeds.count))]
            mutate(&input, &rng)
            input.withUnsafeBytes { CodecFuzzHarness.run($0) }
            if (i + 1) % 100_000 == 0 { print("\(i + 1) iterations, no crash") }
        }
        print("done: \(iterations) iterations, 0 crashes (seed \(seed))")
    }

    /// Byte flips, bit flips, random overwrites, truncation, extension, and interesting values.
    static func mutate(_ b: inout [UInt8], _ rng: inout SplitMix) {
        let count = 1 + Int(rng.next() % 4)
        for _ in 0..<count {
            guard !b.isEmpty else { b.append(UInt8(truncatingIfNeeded: rng.next())); continue }
            let i = Int(rng.next() % UInt64(b.count))
            switch rng.next() % 8 {
            case 0: b[i] ^= UInt8(1 << (rng.next() % 8))
            case 1: b[i] = UInt8(truncatingIfNeeded: rng.next())
            case 2: b.removeLast(Int(rng.next() % UInt64(b.count)))
            case 3: for _ in 0..<Int(rng.next() % 16) { b.append(UInt8(truncatingIfNeeded: rng.next())) }
            case 4: b[i] = [0x00, 0xFF, 0x7F, 0x80, 0x01][Int(rng.next() % 5)]
            case 5 where i + 2 <= b.count: b[i] = 0x80; b[i + 1] = 0x7F  // bf16/fp16 Inf-ish patterns
            case 6: b[i] = b[Int(rng.next() % UInt64(b.count))]
            default: if i > 0 { b[0] = UInt8(rng.next() % 3) }
            }
        }
    }
}

struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
#endif
