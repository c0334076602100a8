#include "CCodecKernels.h"

#include <stdatomic.h>
#include <string.h>

#pragma clang fp contract(off)

// One body per kernel, instantiated once per target. Plain loops: clang vectorises them for the target's widest
// registers. The float→int rounding uses the 1.5·2^23 trick (exact round-half-even for |v| <= 2^22), so every
// variant gives the same bits.
#define KERNELS(SUFFIX, ATTR)                                                                                   \
    ATTR static uint32_t absmax_##SUFFIX(const float *x, size_t n) {                                             \
        const uint32_t *b = (const uint32_t *)x;                                                                 \
        uint32_t m = 0;                                                                                          \
        for (size_t i = 0; i < n; i++) {                                                                         \
            uint32_t a = b[i] & 0x7fffffffu;                                                                     \
            m = a > m ? a : m;                                                                                   \
        }                                                                                                        \
        return m;                                                                                                \
    }                                                                                                            \
    ATTR static void quantize_##SUFFIX(const float *x, size_t n, float inv, float s, int8_t *q, float *rec) {    \
        const float magic = 12582912.0f;                                                                         \
        for (size_t i = 0; i < n; i++) {                                                                         \
            float v = x[i] * inv;                                                                                \
            v = v < -127.0f ? -127.0f : v;                                                                       \
            v = v > 127.0f ? 127.0f : v;                                                                         \
            float t = v + magic;                                                                                 \
            int32_t r;                                                                                           \
            memcpy(&r, &t, 4);                                                                                   \
            q[i] = (int8_t)(r - 0x4B400000);                                                                     \
        }                                                                                                        \
        if (rec)                                                                                                 \
            for (size_t i = 0; i < n; i++) rec[i] = (float)q[i] * s;                                             \
    }                                                                                                            \
    ATTR static int dequantize_##SUFFIX(const int8_t *q, size_t n, float s, float *out) {                        \
        uint8_t bad = 0;                                                                                         \
        for (size_t i = 0; i < n; i++) {                                                                         \
            bad |= (uint8_t)(q[i] == -128);                                                                      \
            out[i] = (float)q[i] * s;                                                                            \
        }                                                                                                        \
        return bad != 0;                                                                                         \
    }                                                                                                            \
    ATTR static void add_##SUFFIX(const float *a, const float *b, float *out, size_t n) {                        \
        for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];                                                     \
    }                                                                                                            \
    ATTR static void sub_##SUFFIX(const float *a, const float *b, float *out, size_t n) {                        \
        for (size_t i = 0; i < n; i++) out[i] = a[i] - b[i];                                                     \
    }

typedef struct {
    const char *name;
    uint32_t (*absmax)(const float *, size_t);
    void (*quantize)(const float *, size_t, float, float, int8_t *, float *);
    int (*dequantize)(const int8_t *, size_t, float, float *);
    void (*add)(const float *, const float *, float *, size_t);
    void (*sub)(const float *, const float *, float *, size_t);
} Table;

#define TABLE(NAME, SUFFIX) \
    { NAME, absmax_##SUFFIX, quantize_##SUFFIX, dequantize_##SUFFIX, add_##SUFFIX, sub_##SUFFIX }

#if defined(__x86_64__)
KERNELS(sse2, )
KERNELS(avx2, __attribute__((target("avx2"))))
KERNELS(avx512, __attribute__((target("avx512f,avx512bw,avx512vl"))))
static const Table tables[] = {TABLE("avx512bw", avx512), TABLE("avx2", avx2), TABLE("sse2", sse2)};
static int supported(int i) {
    __builtin_cpu_init();
    switch (i) {
    case 0: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
                   && __builtin_cpu_supports("avx512vl");
    case 1: return __builtin_cpu_supports("avx2");
    default: return 1;
    }
}
#elif defined(__aarch64__)
KERNELS(neon, )
static const Table tables[] = {TABLE("neon", neon)};
static int supported(int i) { (void)i; return 1; }
#else
KERNELS(generic, )
static const Table tables[] = {TABLE("generic", generic)};
static int supported(int i) { (void)i; return 1; }
#endif

static const int tableCount = (int)(sizeof(tables) / sizeof(tables[0]));
static _Atomic(const Table *) chosen = NULL;

static const Table *table(void) {
    const Table *t = atomic_load_explicit(&chosen, memory_order_acquire);
    if (t) return t;
    t = &tables[tableCount - 1];
    for (int i = 0; i < tableCount; i++)
        if (supported(i)) { t = &tables[i]; break; }
    atomic_store_explicit(&chosen, t, memory_order_release);
    return t;
}

uint32_t ct_absmax_bits(const float *x, size_t n) { return table()->absmax(x, n); }
void ct_quantize_i8(const float *x, size_t n, float inv, float s, int8_t *q, float *rec) {
    table()->quantize(x, n, inv, s, q, rec);
}
int ct_dequantize_i8(const int8_t *q, size_t n, float s, float *out) { return table()->dequantize(q, n, s, out); }
void ct_add_f32(const float *a, const float *b, float *out, size_t n) { table()->add(a, b, out, n); }
void ct_sub_f32(const float *a, const float *b, float *out, size_t n) { table()->sub(a, b, out, n); }
const char *ct_codec_kernels_name(void) { return table()->name; }

int ct_codec_kernels_force(const char *name) {
    for (int i = 0; i < tableCount; i++) {
        if (strcmp(tables[i].name, name) == 0) {
            if (!supported(i)) return 0;
            atomic_store_explicit(&chosen, &tables[i], memory_order_release);
            return 1;
        }
    }
    return 0;
}
