/* blas.c — choosing OpenBLAS's kernels on CPUs it does not recognise.
 *
 * OpenBLAS built for many CPUs (Debian's DYNAMIC_ARCH build) picks its
 * kernels when the library loads, from the CPU's model number; a CPU it
 * does not know — virtual machines that report a generic "Intel Xeon
 * Processor" with AVX2 or AVX-512 — falls back to the Prescott (SSE3)
 * kernels. On the project's machine that makes sgemm 4.6x slower (29 vs
 * 135 GFLOP/s at 1024^3 on one thread with the SkylakeX kernels). The only
 * way to choose is the OPENBLAS_CORETYPE variable read at load time, so a
 * program that finds the fallback on a CPU with those instructions sets it
 * and executes itself again, once (the variable being set stops a second
 * time). Results stay deterministic for one machine and setting; other
 * kernels may round the last bits of a sum differently.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "core.h"

/* The kernel set the CPU can run, or NULL. */
static const char *best_core(void) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    if (xd_cpu_has(XD_ISA_AVX512F) && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (xd_cpu_has(XD_ISA_AVX2) && __builtin_cpu_supports("fma")) return "Haswell";
#endif
    return NULL;
}

void xd_blas_pick_core(char **argv) {
    if (argv == NULL || argv[0] == NULL || getenv("OPENBLAS_CORETYPE") != NULL) return;
    const char *now = openblas_get_corename(), *want = best_core();
    if (now == NULL || want == NULL || strcasecmp(now, "prescott") != 0) return;
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
    execv("/proc/self/exe", argv); /* returns only on failure: keep the slow kernels */
}
