// Declarations only: CrowdEngine does not link OpenBLAS at build time. It loads the library with dlopen
// after choosing a core type from the CPU's features (OpenBLAS reads OPENBLAS_CORETYPE when it loads, which
// for a linked library is before main), and resolves cblas_sgemm and the openblas_* extensions with dlsym.
// So the header is found by path here instead of through pkg-config (whose --libs would link it).
#if __has_include(<x86_64-linux-gnu/openblas-pthread/cblas.h>)
#include <x86_64-linux-gnu/openblas-pthread/cblas.h>
#elif __has_include(<aarch64-linux-gnu/openblas-pthread/cblas.h>)
#include <aarch64-linux-gnu/openblas-pthread/cblas.h>
#elif __has_include(<openblas/cblas.h>)
#include <openblas/cblas.h>
#else
#include <cblas.h>
#endif

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
/// cpuid(leaf, subleaf) → regs[0..3] = eax, ebx, ecx, edx; returns 0 when the leaf is above the maximum.
static inline int crowd_cpuid(unsigned leaf, unsigned subleaf, unsigned *regs) {
    unsigned max = __get_cpuid_max(leaf & 0x80000000u, 0);
    if (max < leaf) { regs[0] = regs[1] = regs[2] = regs[3] = 0; return 0; }
    __cpuid_count(leaf, subleaf, regs[0], regs[1], regs[2], regs[3]);
    return 1;
}
/// XCR0: which register states the OS saves (bits 1-2 SSE/AVX, 5-7 AVX-512). Only valid when OSXSAVE is set.
static inline unsigned long long crowd_xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif
