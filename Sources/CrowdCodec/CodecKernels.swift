import CCodecKernels

/// The codec's hot loops (block absmax, int8 quantise and dequantise, error-feedback accumulate) run in C
/// (`CCodecKernels`), compiled once per feature level (x86-64: SSE2, AVX2, AVX-512BW; arm64: NEON) and chosen at
/// run time from the CPU's feature bits. All variants give bitwise-identical results.
public enum CodecKernels {
    /// The variant in use: `avx512bw`, `avx2`, `sse2`, `neon` or `generic`.
    public static var name: String { String(cString: ct_codec_kernels_name()) }

    /// Variants this build knows, best first.
    public static var known: [String] {
        #if arch(x86_64)
            return ["avx512bw", "avx2", "sse2"]
        #elseif arch(arm64)
            return ["neon"]
        #else
            return ["generic"]
        #endif
    }

    /// Switches to `variant` (tests and `bench codec --kernels`); false if this CPU cannot run it.
    @discardableResult
    public static func force(_ variant: String) -> Bool { ct_codec_kernels_force(variant) == 1 }
}
