/* hash.c — fast non-cryptographic hashing of byte strings, and the keyed
 * 128-bit hash of cache keys.
 *
 * The evaluator keys its cache by a 128-bit hash of each rendered model
 * input, without storing the input, so the hash must be wide (two 64-bit
 * lanes with independent seeds give ~2^-128 collision odds for distinct
 * inputs) and fast (one multiply-mix per 8 bytes per lane). The mixing is
 * the 64-bit multiply-xorshift of SplitMix/Murmur3's finalizer applied to
 * each word, folded with a rotate; lengths are mixed in so that inputs that
 * differ only by trailing zero bytes hash apart. It is unkeyed: anyone can
 * compute it, so it serves hash tables, never keys that a peer could aim
 * collisions at.
 *
 * xd_key_hash is for those (the output cache): XXH3-128 from libxxhash
 * with a secret of XXH3_SECRET_DEFAULT_SIZE random bytes drawn from the
 * kernel (getrandom) once per process, and a caller's seed (the model's
 * identity) folded in by a second keyed hash. A client that does not know the secret cannot compute keys,
 * so it cannot craft two inputs that share one; the keys of two processes
 * differ, which nothing relies on (the cache lives in memory).
 */
#include <pthread.h>
#include <string.h>
#include <sys/random.h>
#define XXH_STATIC_LINKING_ONLY    /* XXH3_SECRET_DEFAULT_SIZE */
#include <xxhash.h>
#include "core.h"

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

static inline uint64_t fmix(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

static inline uint64_t load64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

xd_hash128 xd_hash(const void *data, size_t len, uint64_t seed) {
    const unsigned char *p = data;
    uint64_t h1 = seed ^ 0x9e3779b97f4a7c15ULL, h2 = ~seed ^ 0x6a09e667f3bcc909ULL;
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t k = load64(p + i);
        h1 ^= rotl(k * c1, 31) * c2;
        h1 = rotl(h1, 27) * 5 + 0x52dce729;
        h2 ^= rotl(k * c2, 33) * c1;
        h2 = rotl(h2, 31) * 5 + 0x38495ab5;
    }
    uint64_t tail = 0;
    size_t rest = len - i;
    if (rest) memcpy(&tail, p + i, rest);
    h1 ^= rotl(tail * c1, 31) * c2;
    h2 ^= rotl(tail * c2, 33) * c1;
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1 += h2;
    h2 += h1;
    xd_hash128 h = {h1, h2};
    return h;
}

uint64_t xd_hash64(const void *data, size_t len, uint64_t seed) {
    return xd_hash(data, len, seed).lo;
}

static unsigned char key_secret[XXH3_SECRET_DEFAULT_SIZE];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

/* Fills the secret from the kernel; if getrandom fails (never on Linux >=
 * 3.17 with a seeded pool), falls back to the time and address of the
 * secret mixed, which still differs per process but is guessable. */
static void key_init(void) {
    size_t got = 0;
    while (got < sizeof key_secret) {
        ssize_t n = getrandom(key_secret + got, sizeof key_secret - got, 0);
        if (n <= 0) break;
        got += (size_t)n;
    }
    if (got == sizeof key_secret) return;
    xd_log(XD_LOG_WARN, "getrandom failed", "what=\"cache key secret\" fallback=clock");
    uint64_t s = (uint64_t)(xd_now() * 1e9) ^ (uint64_t)(uintptr_t)key_secret;
    for (size_t i = 0; i < sizeof key_secret; i += 8) {
        s = fmix(s + 0x9e3779b97f4a7c15ULL);
        memcpy(key_secret + i, &s, sizeof key_secret - i < 8 ? sizeof key_secret - i : 8);
    }
}

xd_hash128 xd_key_hash(const void *data, size_t len, uint64_t seed) {
    pthread_once(&key_once, key_init);
    /* XXH3's _withSecretandSeed ignores the secret below 241 bytes, so the
     * secret is used alone, then the seed folded in by a second keyed hash
     * of (first hash, seed): a collision needs one of the two keyed hashes
     * to collide. */
    XXH128_hash_t h = XXH3_128bits_withSecret(data, len, key_secret, sizeof key_secret);
    uint64_t fold[3] = {h.low64, h.high64, seed};
    h = XXH3_128bits_withSecret(fold, sizeof fold, key_secret, sizeof key_secret);
    xd_hash128 out = {h.low64, h.high64};
    return out;
}
