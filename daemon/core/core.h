/* core.h — private helpers shared by every module of libxai: allocation,
 * error reporting, clocks, hashing, logging.
 *
 * Allocation: xd_malloc/xd_calloc/xd_realloc/xd_strdup never return NULL; on
 * out of memory they log and abort (like redis' zmalloc), for the small,
 * bounded allocations of bookkeeping. Request-sized buffers (anything whose
 * size comes from a client, a model or a file) use the xd_try_* variants,
 * which return NULL so the caller can answer XAI_ERR_NOMEM instead of dying.
 * Everything is freed with xd_free (== free), so xai_free() frees both.
 */
#ifndef XD_CORE_H
#define XD_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "xai/xai.h"

void *xd_malloc(size_t n);
void *xd_calloc(size_t n, size_t size);
void *xd_realloc(void *p, size_t n);
char *xd_strdup(const char *s);
char *xd_strndup(const char *s, size_t n);
void *xd_try_malloc(size_t n);
void *xd_try_calloc(size_t n, size_t size);
void *xd_try_realloc(void *p, size_t n);
/* n * size, or SIZE_MAX when it overflows (so a try-alloc of it fails). */
size_t xd_mul(size_t n, size_t size);
void xd_free(void *p);
/* For a process that runs job after job (xaid, and benches measuring what a
 * job costs inside it): keeps memory freed by one job for the next instead
 * of returning it to the kernel and faulting it back in, page by page
 * (glibc's dynamic thresholds trim a job's megabytes at its last free).
 * Allocations up to 32 MB come from the heap, and up to 64 MB of free heap
 * is kept. A no-op without glibc. */
void xd_alloc_keep_freed(void);

/* For the bit kernels compiled once per instruction set: always inlined
 * into each version, so each gets its own code. */
#define XD_ALWAYS_INLINE static inline __attribute__((always_inline))

/* Whether the CPU has the instructions a version of a bit kernel needs
 * (cpu.c): always false off x86-64 with GCC or Clang, and only what
 * xd_cpu_limit allows, which tests and benches use to run every version on
 * one machine (not to be changed while another thread runs the kernels). */
typedef enum {
    XD_ISA_POPCNT,
    XD_ISA_AVX2,
    XD_ISA_AVX512F,
    XD_ISA_AVX512_POPCNT,   /* AVX-512 F, DQ and VPOPCNTDQ */
} xd_isa;
typedef enum { XD_ISA_ALL, XD_ISA_BELOW_AVX512, XD_ISA_NONE } xd_isa_limit;
bool xd_cpu_has(xd_isa isa);
void xd_cpu_limit(xd_isa_limit limit);

/* When OpenBLAS fell back to its Prescott kernels on a CPU with AVX2 or
 * AVX-512 (one it does not recognise) and OPENBLAS_CORETYPE is unset, sets
 * it to the kernels the CPU can run and executes the program again with
 * argv (blas.c); returns when there is nothing to do or exec fails. Call
 * first thing in main. */
void xd_blas_pick_core(char **argv);

/* The set bits of x. Inline arithmetic: without -mpopcnt the builtin is a
 * call into libgcc, which costs more than the counting around it (the bit
 * kernels of anchors and KernelSHAP have POPCNT versions besides). */
static inline size_t xd_popcount64(uint64_t x) {
    x = x - ((x >> 1) & 0x5555555555555555u);
    x = (x & 0x3333333333333333u) + ((x >> 2) & 0x3333333333333333u);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fu;
    return (size_t)((x * 0x0101010101010101u) >> 56);
}

/* Fills err (when not NULL) with code and a printf-style message; returns
 * code, so `return xd_err(err, XAI_ERR_INVALID, "bad %s", k);` reads well. */
xai_status xd_err(xai_error *err, xai_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prefixes an existing message: "lime: " + message. */
void xd_err_prefix(xai_error *err, const char *prefix);

/* Monotonic seconds. */
double xd_now(void);
/* CPU seconds of the calling thread (not the process's: idle worker
 * threads of other libraries, such as OpenBLAS's spinning pool, would
 * count). */
double xd_thread_cpu_now(void);

/* 128-bit hash of bytes (two independent 64-bit lanes). Not cryptographic;
 * collisions between distinct inputs have probability about 2^-128. */
typedef struct xd_hash128 { uint64_t lo, hi; } xd_hash128;
xd_hash128 xd_hash(const void *p, size_t len, uint64_t seed);
/* A quick 64-bit hash for hash tables. */
uint64_t xd_hash64(const void *p, size_t len, uint64_t seed);
/* The int value of `key` in the msgpack map buf[0..len), found by skipping
 * the other values without decoding them (no allocation). False when buf
 * is not a map, has no such int key, or is malformed before reaching it.
 * For answers too big to decode: which call they belong to. */
bool xd_msgpack_peek_int(const void *buf, size_t len, const char *key, int64_t *out);
/* Keyed 128-bit hash (XXH3-128 with a per-process random secret, and
 * `seed`): for keys a peer must not be able to collide (the output cache).
 * Same bytes + seed give the same key within one process only. */
xd_hash128 xd_key_hash(const void *p, size_t len, uint64_t seed);

/* Structured log line on stderr: `ts=... level=info msg="..." k=v ...`.
 * `fmt` formats the key=value tail. Thread-safe (one write per line). */
typedef enum { XD_LOG_DEBUG, XD_LOG_INFO, XD_LOG_WARN, XD_LOG_ERROR } xd_log_level;
void xd_log(xd_log_level level, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void xd_log_set_level(xd_log_level level);

#define XD_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define XD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define XD_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
