import CBLAS

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What the CPU can do, as feature bits (never as a table of model numbers): the input of every
/// compute-backend decision (`OpenBLASCoreChoice`) and the `cpu` line of `bench engine --json`.
///
/// On x86-64 the features come from `cpuid` (leaves 1 and 7) gated by `xgetbv` (the OS must save the
/// YMM/ZMM state, or AVX/AVX-512 instructions fault even if cpuid lists them); names follow Linux's
/// `/proc/cpuinfo` spelling (`sse4_2`, `avx2`, `fma`, `avx512f`, `avx512_bf16`, …). On arm64 they come from
/// the `Features` line of `/proc/cpuinfo` (`asimd`, `sve`, …).
public struct CPUFeatures: Sendable, Equatable {
    public enum Architecture: String, Sendable { case x86_64, arm64, other }

    public var architecture: Architecture
    /// Marketing name (cpuid brand string or `/proc/cpuinfo` model name); "unknown" if none.
    public var modelName: String
    /// Feature names, Linux spelling.
    public var flags: Set<String>

    public init(architecture: Architecture, modelName: String, flags: Set<String>) {
        self.architecture = architecture
        self.modelName = modelName
        self.flags = flags
    }

    public func has(_ names: String...) -> Bool { names.allSatisfy(flags.contains) }

    /// The SIMD features worth reporting, in a stable order (for `bench engine --json` and `peer status`).
    public var simdSummary: [String] {
        let order = [
            "sse4_2", "avx", "f16c", "fma", "avx2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl",
            "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile", "asimd", "asimdhp", "sve", "sve2",
        ]
        return order.filter(flags.contains)
    }

    /// The CPU this process runs on (computed once).
    public static let current: CPUFeatures = detect()

    static func detect() -> CPUFeatures {
        #if arch(x86_64)
        var l1 = [UInt32](repeating: 0, count: 4), l7 = l1, l71 = l1
        _ = crowd_cpuid(1, 0, &l1)
        _ = crowd_cpuid(7, 0, &l7)
        _ = crowd_cpuid(7, 1, &l71)
        let osxsave = l1[2] & (1 << 27) != 0
        let xcr0 = osxsave ? UInt64(crowd_xgetbv0()) : 0
        var brand = [UInt32]()
        var ext = [UInt32](repeating: 0, count: 4)
        if crowd_cpuid(0x8000_0004, 0, &ext) != 0 {
            for leaf: UInt32 in 0x8000_0002...0x8000_0004 {
                _ = crowd_cpuid(leaf, 0, &ext)
                brand += ext
            }
        }
        var bytes = [UInt8]()
        for word in brand { for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt32(s))) } }
        let name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingSpaces
        return CPUFeatures(
            architecture: .x86_64, modelName: name.isEmpty ? "unknown" : name,
            flags: x86Flags(leaf1: (l1[2], l1[3]), leaf7: (l7[1], l7[2], l7[3]), leaf7sub1eax: l71[0], xcr0: xcr0))
        #elseif arch(arm64)
        let info = readCPUInfo()
        return parseCPUInfo(info, architecture: .arm64)
        #else
        return parseCPUInfo(readCPUInfo(), architecture: .other)
        #endif
    }

    /// Decodes cpuid leaf 1 (ecx, edx), leaf 7 subleaf 0 (ebx, ecx, edx) and subleaf 1 (eax) into feature names,
    /// dropping AVX and AVX-512 features whose register state the OS does not save (`xcr0`).
    public static func x86Flags(
        leaf1: (ecx: UInt32, edx: UInt32), leaf7: (ebx: UInt32, ecx: UInt32, edx: UInt32), leaf7sub1eax: UInt32,
        xcr0: UInt64
    ) -> Set<String> {
        func bit(_ r: UInt32, _ b: UInt32) -> Bool { r & (1 << b) != 0 }
        var f = Set<String>()
        let table1: [(UInt32, String)] = [
            (0, "pni"), (9, "ssse3"), (12, "fma"), (19, "sse4_1"), (20, "sse4_2"), (23, "popcnt"), (28, "avx"),
            (29, "f16c"),
        ]
        for (b, n) in table1 where bit(leaf1.ecx, b) { f.insert(n) }
        if bit(leaf1.edx, 25) { f.insert("sse") }
        if bit(leaf1.edx, 26) { f.insert("sse2") }
        let ebx7: [(UInt32, String)] = [
            (5, "avx2"), (16, "avx512f"), (17, "avx512dq"), (21, "avx512ifma"), (28, "avx512cd"), (30, "avx512bw"),
            (31, "avx512vl"),
        ]
        for (b, n) in ebx7 where bit(leaf7.ebx, b) { f.insert(n) }
        let ecx7: [(UInt32, String)] = [(1, "avx512vbmi"), (11, "avx512_vnni")]
        for (b, n) in ecx7 where bit(leaf7.ecx, b) { f.insert(n) }
        if bit(leaf7.edx, 23) { f.insert("avx512_fp16") }
        if bit(leaf7.edx, 24) { f.insert("amx_tile") }
        if bit(leaf7sub1eax, 5) { f.insert("avx512_bf16") }
        // The OS must save XMM|YMM (bits 1, 2) for AVX, and opmask|ZMM_Hi256|Hi16_ZMM (bits 5-7) for AVX-512.
        let ymm = xcr0 & 0x6 == 0x6
        let zmm = ymm && xcr0 & 0xE0 == 0xE0
        if !ymm { f.subtract(["avx", "fma", "f16c", "avx2"]) }
        if !zmm { f = f.filter { !$0.hasPrefix("avx512") } }
        return f
    }

    /// Parses `/proc/cpuinfo` text (the first processor's `model name` / `flags`, or arm64's `Features`).
    public static func parseCPUInfo(_ text: String, architecture: Architecture) -> CPUFeatures {
        var name = "unknown"
        var flags = Set<String>()
        for line in text.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingSpaces
            let value = line[line.index(after: colon)...].trimmingSpaces
            if (key == "model name" || key == "Model" || key == "CPU part") && name == "unknown" && !value.isEmpty {
                name = value
            }
            if (key == "flags" || key == "Features") && flags.isEmpty {
                flags = Set(value.split(separator: " ").map(String.init))
            }
        }
        return CPUFeatures(architecture: architecture, modelName: name, flags: flags)
    }

    static func readCPUInfo() -> String {
        guard let f = fopen("/proc/cpuinfo", "r") else { return "" }
        defer { fclose(f) }
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < 1 << 20 {
            let n = fread(&buf, 1, buf.count, f)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension StringProtocol {
    var trimmingSpaces: String {
        let s = self.drop { $0 == " " || $0 == "\t" }
        var e = s.endIndex
        while e > s.startIndex, s[s.index(before: e)] == " " || s[s.index(before: e)] == "\t" { e = s.index(before: e) }
        return String(s[..<e])
    }
}
