/// Which OpenBLAS core type (`OPENBLAS_CORETYPE`) the engine asks for, decided from CPU *features* only.
///
/// OpenBLAS's DYNAMIC_ARCH build picks its kernels from a table of CPU model numbers; a CPU newer than the
/// distribution's OpenBLAS (e.g. an Intel Xeon family 6 model 207 under Debian's 0.3.21) falls back to
/// Prescott (SSE3) kernels, 4–5× slower. The feature bits say what the silicon can run, whatever its model.
public enum OpenBLASCoreChoice {
    /// The core type to force, or `nil` for the library's own choice.
    ///
    /// - AVX-512 F+DQ+CD+BW+VL (Skylake-SP and everything after, Zen 4/5) → `SkylakeX` (the AVX-512 sgemm
    ///   kernels; Cooperlake and SapphireRapids in 0.3.21 use the same sgemm kernel).
    /// - AVX2 + FMA (Haswell and later, Zen 1–3, AVX-512 CPUs whose OS does not save ZMM) → `Haswell`.
    /// - Anything else (SSE-only x86, arm64, others) → `nil`: OpenBLAS's own choice; on those CPUs there is
    ///   no faster kernel family for it to miss (arm64 OpenBLAS falls back to its NEON ARMV8 kernels).
    public static func coreType(for cpu: CPUFeatures) -> String? {
        guard cpu.architecture == .x86_64 else { return nil }
        if cpu.has("avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl") { return "SkylakeX" }
        if cpu.has("avx2", "fma", "avx") { return "Haswell" }
        return nil
    }
}
