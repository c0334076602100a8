// Hot loops of the update codec, compiled for several x86-64 feature levels (SSE2 baseline, AVX2, AVX-512BW)
// and for arm64 (NEON is baseline there), with the variant chosen once at run time from the CPU's feature bits
// (not from a table of model numbers). Every variant computes bitwise-identical results: the same operations in
// the same order per element, no fused multiply-add (contraction is off), and no reduction whose order could
// change a result (the only reduction, the absmax, is exact).
#ifndef CCODEC_KERNELS_H
#define CCODEC_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// The largest magnitude bit pattern (bits & 0x7fffffff) of x[0..<n]. A result >= 0x7f800000 means that a
/// NaN or an infinity is present.
uint32_t ct_absmax_bits(const float *x, size_t n);

/// q[i] = round-half-even(clamp(x[i] * inv, -127, 127)) as int8; if rec is not NULL, rec[i] = q[i] * s.
/// The inputs must be finite (check with ct_absmax_bits first).
void ct_quantize_i8(const float *x, size_t n, float inv, float s, int8_t *q, float *rec);

/// out[i] = q[i] * s. Returns 1 if any code is -128 (invalid on the wire), else 0.
int ct_dequantize_i8(const int8_t *q, size_t n, float s, float *out);

/// out[i] = a[i] + b[i] (out may alias a or b).
void ct_add_f32(const float *a, const float *b, float *out, size_t n);

/// out[i] = a[i] - b[i] (out may alias a or b).
void ct_sub_f32(const float *a, const float *b, float *out, size_t n);

/// The variant in use: "avx512bw", "avx2", "sse2", "neon" or "generic".
const char *ct_codec_kernels_name(void);

/// Forces a variant by name for tests and benchmarks ("avx512bw", "avx2", "sse2", "neon", "generic");
/// returns 0 if this CPU cannot run it (the choice is then unchanged), 1 on success.
int ct_codec_kernels_force(const char *name);

#ifdef __cplusplus
}
#endif

#endif
