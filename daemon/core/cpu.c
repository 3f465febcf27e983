/* cpu.c — which instruction-set extensions the bit kernels may use.
 *
 * The library is built for baseline x86-64; the hot bit kernels (anchors'
 * counts, KernelSHAP's Gram, sums and screening) are compiled a second or
 * third time with target attributes and pick a version per call from the
 * CPU's features. Every version computes the same numbers, and tests check
 * it by limiting what may be used (xd_cpu_limit).
 */
#include "core.h"

static xd_isa_limit isa_limit = XD_ISA_ALL;

void xd_cpu_limit(xd_isa_limit limit) { isa_limit = limit; }

bool xd_cpu_has(xd_isa isa) {
#if defined(__GNUC__) && defined(__x86_64__)
    if (isa_limit == XD_ISA_NONE) return false;
    if (isa_limit == XD_ISA_BELOW_AVX512 && (isa == XD_ISA_AVX512F || isa == XD_ISA_AVX512_POPCNT))
        return false;
    __builtin_cpu_init();
    switch (isa) {
    case XD_ISA_POPCNT: return __builtin_cpu_supports("popcnt");
    case XD_ISA_AVX2: return __builtin_cpu_supports("avx2");
    case XD_ISA_AVX512F: return __builtin_cpu_supports("avx512f");
    case XD_ISA_AVX512_POPCNT:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vpopcntdq");
    }
    return false;
#else
    (void)isa;
    return false;
#endif
}
