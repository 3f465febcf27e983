/* rng.c — xoshiro256** seeded through SplitMix64 (see include/xai/rng.h).
 *
 * Seeding: the four state words are four successive SplitMix64 outputs from
 * a start value that mixes seed and stream, so streams of one seed are
 * decorrelated and the state is never all zero.
 */
#include <math.h>
#include "xai/rng.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

void xai_rng_seed(xai_rng *r, uint64_t seed, uint64_t stream) {
    uint64_t x = seed;
    uint64_t mixed = splitmix64(&x);
    x = mixed ^ (stream * 0xd1342543de82ef95ULL + 0x2545f4914f6cdd1dULL);
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    r->spare = 0.0;
    r->has_spare = 0;
}

/* One xoshiro256** step. The draws below build on these static helpers, not
 * on the exported functions, which a -fPIC build may not inline. */
static inline uint64_t xoshiro_step(uint64_t *s) {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint64_t xai_rng_next(xai_rng *r) { return xoshiro_step(r->s); }

void xai_rng_fill(xai_rng *r, uint64_t *out, size_t n) {
    uint64_t s[4] = {r->s[0], r->s[1], r->s[2], r->s[3]};   /* cannot alias out */
    for (size_t i = 0; i < n; i++) out[i] = xoshiro_step(s);
    for (int k = 0; k < 4; k++) r->s[k] = s[k];
}

static inline double uniform(xai_rng *r) { return xai_rng_uniform_of(xoshiro_step(r->s)); }

static inline uint64_t below(xai_rng *r, uint64_t n) {
    if (n == 0) return 0;
    /* Lemire (2019): multiply, reject the few low products that would bias. */
    unsigned __int128 m = (unsigned __int128)xoshiro_step(r->s) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)xoshiro_step(r->s) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double xai_rng_uniform(xai_rng *r) { return uniform(r); }

uint64_t xai_rng_below(xai_rng *r, uint64_t n) { return below(r, n); }

double xai_rng_normal(xai_rng *r) {
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, s;
    do {
        u = 2.0 * uniform(r) - 1.0;
        v = 2.0 * uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    double f = sqrt(-2.0 * log(s) / s);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

void xai_rng_shuffle(xai_rng *r, size_t *idx, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)below(r, i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void xai_rng_sample(xai_rng *r, size_t n, size_t k, size_t *out, size_t *scratch) {
    if (k > n) k = n;
    for (size_t i = 0; i < n; i++) scratch[i] = i;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)below(r, n - i);
        size_t t = scratch[i];
        scratch[i] = scratch[j];
        scratch[j] = t;
        out[i] = scratch[i];
    }
}
