/* rng.h — the seeded random number generator every method uses.
 *
 * xoshiro256** (Blackman & Vigna, 2018): 256 bits of state, period 2^256 - 1,
 * passes BigCrush; one next() is a handful of instructions. The state is
 * seeded from (seed, stream) through SplitMix64, so two streams of one seed
 * are unrelated sequences: a job derives one stream per purpose (sampling,
 * shuffling, background draws) and results depend on the seed alone, never
 * on thread timing. The state is a plain struct on the caller's stack: no
 * allocation, no locking, no global state.
 *
 * Derived draws are specified exactly, so results are reproducible across
 * builds and platforms:
 *   uniform()   = (next() >> 11) * 2^-53, in [0, 1)
 *   below(n)    = Lemire's multiply-shift with rejection, unbiased, in [0, n)
 *   normal()    = Marsaglia polar method on uniform() (the spare is kept)
 */
#ifndef XAI_RNG_H
#define XAI_RNG_H

#include "xai.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xai_rng {
    uint64_t s[4];
    double spare;       /* normal(): the second value of the last pair */
    int has_spare;
} xai_rng;

/* Seeds `r` for stream `stream` of `seed`. Any seed, including 0, is fine. */
void xai_rng_seed(xai_rng *r, uint64_t seed, uint64_t stream);
uint64_t xai_rng_next(xai_rng *r);
/* Writes the next n values of next() to out[0..n), the same as n calls but
 * with the state kept in registers: for hot loops that need many draws. */
void xai_rng_fill(xai_rng *r, uint64_t *out, size_t n);
/* The uniform double in [0, 1) that xai_rng_uniform makes of a next()
 * value: its top 53 bits times 2^-53. */
static inline double xai_rng_uniform_of(uint64_t word) {
    return (double)(word >> 11) * 0x1.0p-53;
}
/* Uniform double in [0, 1). */
double xai_rng_uniform(xai_rng *r);
/* Uniform integer in [0, n); n must be > 0 (returns 0 when n == 0). */
uint64_t xai_rng_below(xai_rng *r, uint64_t n);
/* Standard normal. */
double xai_rng_normal(xai_rng *r);
/* Fisher–Yates shuffle of idx[0..n). */
void xai_rng_shuffle(xai_rng *r, size_t *idx, size_t n);
/* Picks k distinct values of [0, n) uniformly, in random order, into
 * out[0..k), by a partial Fisher–Yates shuffle of `scratch`, which must hold
 * n size_t. Requires k <= n (k is clamped to n). */
void xai_rng_sample(xai_rng *r, size_t n, size_t k, size_t *out, size_t *scratch);

#ifdef __cplusplus
}
#endif
#endif
