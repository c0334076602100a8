import CBLAS
import Testing
@testable import CrowdEngine

/// Test doubles for `cblas_sgemm` (C function pointers: no captures).
enum FakeSGEMM {
    static func transpose(_ t: CBLAS_TRANSPOSE) -> Transpose { t == CblasNoTrans ? .none : .transposed }

    /// The naive GEMM behind the cblas signature: a correct kernel.
    static let correct: SGEMMFunction = { _, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
        Gemm.gemmNaive(
            FakeSGEMM.transpose(ta), FakeSGEMM.transpose(tb), m: Int(m), n: Int(n), k: Int(k), alpha: alpha, a: a!,
            lda: Int(lda), b: b!, ldb: Int(ldb), beta: beta, c: c!, ldc: Int(ldc))
    }
    /// A kernel that forgets beta (a plausible wrong-kernel bug: results look fine when beta is 0).
    static let ignoresBeta: SGEMMFunction = { _, ta, tb, m, n, k, alpha, a, lda, b, ldb, _, c, ldc in
        Gemm.gemmNaive(
            FakeSGEMM.transpose(ta), FakeSGEMM.transpose(tb), m: Int(m), n: Int(n), k: Int(k), alpha: alpha, a: a!,
            lda: Int(lda), b: b!, ldb: Int(ldb), beta: 0, c: c!, ldc: Int(ldc))
    }
    /// A kernel that writes NaN.
    static let nan: SGEMMFunction = { _, _, _, m, n, _, _, _, _, _, _, _, c, ldc in
        for i in 0..<Int(m) { for j in 0..<Int(n) { c![i * Int(ldc) + j] = .nan } }
    }
    /// A kernel that scribbles past column n (padding of C).
    static let writesPadding: SGEMMFunction = { _, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
        Gemm.gemmNaive(
            FakeSGEMM.transpose(ta), FakeSGEMM.transpose(tb), m: Int(m), n: Int(n), k: Int(k), alpha: alpha, a: a!,
            lda: Int(lda), b: b!, ldb: Int(ldb), beta: beta, c: c!, ldc: Int(ldc))
        if ldc > n { c![Int(n)] = 12345 }
    }
    static let threadsSet: @convention(c) (Int32) -> Void = { _ in }
}

/// Every GEMM path against `Gemm.gemmNaive`, and the feature-based backend decision.
struct GemmBackendTests {
    /// Shapes that are not multiples of any register block (OpenBLAS AVX-512 sgemm: 16×4 / 32×6 …), plus
    /// the workloads' own (MLP 64×256×784 pieces, GPT 768×384×128 pieces, scaled down where the naive loop is slow).
    static let shapes: [(m: Int, n: Int, k: Int)] = [
        (1, 1, 1), (2, 3, 1), (5, 17, 3), (31, 33, 47), (97, 67, 129), (64, 256, 98), (10, 64, 128), (48, 96, 130),
    ]
    static let transposes: [(Transpose, Transpose)] = [
        (.none, .none), (.none, .transposed), (.transposed, .none), (.transposed, .transposed),
    ]
    static let scalars: [(Float, Float)] = [(1, 0), (1, 1), (0.5, 1), (-2, 0.25), (0, 0.5), (1.5, -1)]

    typealias Path = @Sendable (
        Transpose, Transpose, Int, Int, Int, Float, UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, Float,
        UnsafeMutablePointer<Float>, Int
    ) -> Void

    static let paths: [(String, Path)] = [
        ("gemm (\(BLASBackend.shared.summary))", { ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            Gemm.gemm(ta, tb, m: m, n: n, k: k, alpha: al, a: a, lda: lda, b: b, ldb: ldb, beta: be, c: c, ldc: ldc)
        }),
        ("gemmPortable", { ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc in
            Gemm.gemmPortable(
                ta, tb, m: m, n: n, k: k, alpha: al, a: a, lda: lda, b: b, ldb: ldb, beta: be, c: c, ldc: ldc)
        }),
    ]

    @Test(arguments: 0..<2, 0..<4)
    func everyPathMatchesNaive(path: Int, transposeCase: Int) {
        let (name, run) = Self.paths[path]
        let (ta, tb) = Self.transposes[transposeCase]
        var rng = SeededRNG(seed: 7 + UInt64(transposeCase))
        for s in Self.shapes {
            for (alpha, beta) in Self.scalars {
                let (ar, ac) = ta == .none ? (s.m, s.k) : (s.k, s.m)
                let (br, bc) = tb == .none ? (s.k, s.n) : (s.n, s.k)
                let lda = ac + 2, ldb = bc + 1, ldc = s.n + 3
                let a = (0..<(ar * lda)).map { _ in rng.uniform(-1, 1) }
                let b = (0..<(br * ldb)).map { _ in rng.uniform(-1, 1) }
                let c0 = (0..<(s.m * ldc)).map { _ in rng.uniform(-1, 1) }
                var fast = c0, slow = c0
                run(ta, tb, s.m, s.n, s.k, alpha, a, lda, b, ldb, beta, &fast, ldc)
                Gemm.gemmNaive(
                    ta, tb, m: s.m, n: s.n, k: s.k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta,
                    c: &slow, ldc: ldc)
                var worst: Float = 0
                for i in 0..<s.m {
                    for j in 0..<s.n { worst = max(worst, abs(fast[i * ldc + j] - slow[i * ldc + j])) }
                    for j in s.n..<ldc { #expect(fast[i * ldc + j] == c0[i * ldc + j], "\(name) wrote padding") }
                }
                // fp32 accumulation over k terms of magnitude ≤ |alpha|, plus beta·c.
                let bound = 2e-6 * Float(s.k) * max(1, abs(alpha)) + 1e-6
                #expect(worst <= bound, "\(name) \(s) \(ta)/\(tb) α=\(alpha) β=\(beta): \(worst)")
            }
        }
    }

    @Test func thisMachinesBackendPassedItsSelfCheck() {
        let b = BLASBackend.shared
        if b.library == .openblas {
            #expect(b.selfCheckError.map { $0 <= GemmSelfCheck.tolerance } == true)
            #expect(!b.kernel.isEmpty && b.kernel != "unknown")
            #expect(b.problem == nil)
        } else {
            #expect(b.problem != nil, "a portable backend must say why")
        }
        // The feature-forced core type was removed from the environment after loading.
        if b.selection == .cpuFeatures { #expect(getenv("OPENBLAS_CORETYPE") == nil) }
    }

    // MARK: feature → core type

    static func x86(_ flags: String...) -> CPUFeatures {
        CPUFeatures(architecture: .x86_64, modelName: "test", flags: Set(flags))
    }

    @Test func coreTypeFromFeatures() {
        let avx512 = ["sse4_2", "avx", "fma", "avx2", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"]
        let table: [(CPUFeatures, String?)] = [
            (CPUFeatures(architecture: .x86_64, modelName: "Xeon 6/207", flags: Set(avx512 + ["avx512_bf16"])), "SkylakeX"),
            (CPUFeatures(architecture: .x86_64, modelName: "Skylake-SP", flags: Set(avx512)), "SkylakeX"),
            // Xeon Phi (avx512f+cd without bw/vl/dq) must not get SkylakeX kernels.
            (Self.x86("avx", "avx2", "fma", "avx512f", "avx512cd"), "Haswell"),
            (Self.x86("sse4_2", "avx", "avx2", "fma"), "Haswell"),
            (Self.x86("sse4_2", "avx", "avx2"), nil),  // AVX2 without FMA: the library's own choice
            (Self.x86("sse4_2", "avx"), nil),  // Sandy Bridge class
            (Self.x86("sse4_2"), nil),
            (Self.x86(), nil),
            (CPUFeatures(architecture: .arm64, modelName: "Neoverse", flags: ["asimd", "fp", "sve"]), nil),
            (CPUFeatures(architecture: .arm64, modelName: "odd", flags: Set(avx512)), nil),
        ]
        for (cpu, want) in table {
            #expect(OpenBLASCoreChoice.coreType(for: cpu) == want, "\(cpu.modelName) \(cpu.flags.sorted())")
        }
    }

    @Test func cpuidBitsDecodeAndOSSupportGatesAVX() {
        // Leaf 1 ecx: fma 12, sse4_2 20, avx 28; leaf 7 ebx: avx2 5, avx512f 16, dq 17, cd 28, bw 30, vl 31.
        let ecx1: UInt32 = 1 << 12 | 1 << 20 | 1 << 28
        let ebx7: UInt32 = 1 << 5 | 1 << 16 | 1 << 17 | 1 << 28 | 1 << 30 | 1 << 31
        let full = CPUFeatures.x86Flags(leaf1: (ecx1, 0), leaf7: (ebx7, 1 << 11, 0), leaf7sub1eax: 1 << 5, xcr0: 0xE7)
        #expect(full.isSuperset(of: ["fma", "sse4_2", "avx", "avx2", "avx512f", "avx512bw", "avx512_bf16", "avx512_vnni"]))
        let cpu = CPUFeatures(architecture: .x86_64, modelName: "t", flags: full)
        #expect(OpenBLASCoreChoice.coreType(for: cpu) == "SkylakeX")
        // The OS saves YMM but not ZMM (e.g. AVX-512 disabled by the kernel): no AVX-512, Haswell kernels.
        let noZMM = CPUFeatures.x86Flags(leaf1: (ecx1, 0), leaf7: (ebx7, 0, 0), leaf7sub1eax: 0, xcr0: 0x7)
        #expect(!noZMM.contains("avx512f") && noZMM.contains("avx2"))
        #expect(OpenBLASCoreChoice.coreType(for: CPUFeatures(architecture: .x86_64, modelName: "t", flags: noZMM)) == "Haswell")
        // No OS support for YMM either: SSE only, the library's own choice.
        let sseOnly = CPUFeatures.x86Flags(leaf1: (ecx1, 0), leaf7: (ebx7, 0, 0), leaf7sub1eax: 0, xcr0: 0x3)
        #expect(!sseOnly.contains("avx") && !sseOnly.contains("fma") && sseOnly.contains("sse4_2"))
    }

    @Test func procCPUInfoParses() {
        let text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse4_2 avx2 fma\n"
            + "processor\t: 1\nmodel name\t: other\nflags\t\t: fpu\n"
        let c = CPUFeatures.parseCPUInfo(text, architecture: .x86_64)
        #expect(c.modelName == "AMD EPYC 9R14")
        #expect(c.flags == ["fpu", "sse4_2", "avx2", "fma"])
        let arm = CPUFeatures.parseCPUInfo("processor : 0\nFeatures : fp asimd sve\nCPU part : 0xd0c\n", architecture: .arm64)
        #expect(arm.flags.contains("asimd") && arm.simdSummary == ["asimd", "sve"])
    }

    @Test func thisMachinesFeaturesAreSeen() {
        let c = CPUFeatures.current
        #if arch(x86_64)
        #expect(c.architecture == .x86_64)
        #expect(c.flags.contains("sse2"))
        #expect(c.modelName != "unknown")
        #endif
    }

    // MARK: the decision with the loader and the self-check injected

    static func loaded(_ core: String, _ sgemm: SGEMMFunction) -> BLASBackend.Loaded {
        .init(file: "libfake.so", config: "fake", coreName: core, sgemm: sgemm, setThreads: FakeSGEMM.threadsSet,
              getThreads: nil)
    }

    @Test func featuresForceACoreTypeThatPassesTheSelfCheck() {
        var asked: [String?] = []
        let b = BLASBackend.resolve(
            operatorCoreType: nil, cpu: Self.x86("avx", "avx2", "fma"),
            open: { asked.append($0); return .success(Self.loaded($0 ?? "Prescott", FakeSGEMM.correct)) },
            selfCheck: GemmSelfCheck.maxRelativeError)
        #expect(asked == ["Haswell"])
        #expect(b.library == .openblas && b.kernel == "Haswell" && b.selection == .cpuFeatures)
        #expect(b.sgemm != nil && b.problem == nil)
        #expect(b.selfCheckError.map { $0 < 1e-6 } == true)
    }

    @Test func anOperatorCoreTypeIsNeverOverridden() {
        var asked: [String?] = []
        let b = BLASBackend.resolve(
            operatorCoreType: "Zen", cpu: Self.x86("avx", "avx2", "fma", "avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"),
            open: { asked.append($0); return .success(Self.loaded("Zen", FakeSGEMM.correct)) },
            selfCheck: GemmSelfCheck.maxRelativeError)
        #expect(asked == [nil], "the loader must leave the operator's OPENBLAS_CORETYPE alone")
        #expect(b.selection == .operatorCoreType && b.kernel == "Zen" && b.requestedCoreType == "Zen")
    }

    @Test func unmappedFeaturesLeaveTheLibrarysChoice() {
        var asked: [String?] = ["sentinel"]
        let b = BLASBackend.resolve(
            operatorCoreType: nil, cpu: Self.x86("sse4_2"),
            open: { asked = [$0]; return .success(Self.loaded("Nehalem", FakeSGEMM.correct)) },
            selfCheck: GemmSelfCheck.maxRelativeError)
        #expect(asked == [nil])
        #expect(b.selection == .libraryDefault && b.kernel == "Nehalem" && b.library == .openblas)
    }

    @Test(arguments: 0..<3)
    func aCoreThatFailsTheSelfCheckFallsBackToThePortableGEMM(kernel: Int) {
        let bad = [FakeSGEMM.ignoresBeta, FakeSGEMM.nan, FakeSGEMM.writesPadding][kernel]
        let b = BLASBackend.resolve(
            operatorCoreType: nil, cpu: Self.x86("avx", "avx2", "fma"),
            open: { .success(Self.loaded($0 ?? "?", bad)) }, selfCheck: GemmSelfCheck.maxRelativeError)
        #expect(b.library == .portable && b.selection == .fallback && b.sgemm == nil)
        #expect(b.problem?.contains("self-check") == true)
        #expect(b.summary.contains("portable"))
    }

    @Test func aMissingLibraryFallsBackWithAClearError() {
        let b = BLASBackend.resolve(
            operatorCoreType: nil, cpu: Self.x86("avx", "avx2", "fma"),
            open: { _ in .failure(.init("OpenBLAS not found (libopenblas.so.0: cannot open shared object file)")) },
            selfCheck: { _ in 0 })
        #expect(b.library == .portable && b.sgemm == nil)
        #expect(b.problem?.contains("OpenBLAS not found") == true)
    }

    @Test func selfCheckMeasuresTheKernels() {
        #expect(GemmSelfCheck.maxRelativeError(FakeSGEMM.correct) < 1e-6)
        #expect(GemmSelfCheck.maxRelativeError(FakeSGEMM.ignoresBeta) > 1e-2)
        #expect(GemmSelfCheck.maxRelativeError(FakeSGEMM.nan) == .infinity)
        #expect(GemmSelfCheck.maxRelativeError(FakeSGEMM.writesPadding) == .infinity)
    }
}
