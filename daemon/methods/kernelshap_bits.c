/* kernelshap_bits.c — the rows of an interaction-augmented KernelSHAP fit
 * held as bits, so that its Gram matrix costs popcounts, not products.
 *
 * Every column of the improved schedule's regression, once the last
 * feature l is eliminated, is x_p = 2 a_p (b_p - b_l): b_p the parity of
 * the coalition's bits over the column's set (a feature: a_p = 1/2, and
 * x = z_j - z_l; a triple: a_p = 1, and x = chi_T + 1 - 2 z_l). With
 * D_p = b_p xor b_l,
 *     x_p = 2 a_p D_p (1 - 2 b_l)   and   x_p x_q = 4 a_p a_q D_p D_q,
 * so sum_u w_u x_p x_q = 4 a_p a_q sum_u w_u [D_p(u) and D_q(u)]. The rows
 * are grouped in classes of equal weight (the schedule gives a weight per
 * coalition size), each class padded to whole 64-bit words, and a Gram
 * entry is sum_c w_c popcount(D_p & D_q over the words of class c): exact
 * integer counts, then one product and one sum per class, in class order.
 *
 * The same bits give the right side (per column, a sum of y over the rows
 * that have it) and the products the standard errors need (per row, a sum
 * of the rows of V for the columns it has).
 *
 * The column bits are stored word-major (word w of every column side by
 * side), so one word of eight columns is one 512-bit load. On x86-64 with
 * AVX-512 (VPOPCNTDQ for the Gram) the kernels run eight columns per
 * instruction; otherwise one at a time, with POPCNT where the CPU has it.
 * Every version adds the same numbers in the same order, so all give the
 * same bits (xd_kshap_set_portable lets a test compare them).
 */
#include <string.h>
#include "../core/core.h"
#include "../core/linalg.h"
#include "kernelshap.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define XD_BITS_DISPATCH 1
#include <immintrin.h>
#endif

#define ALWAYS_INLINE static inline __attribute__((always_inline))

static bool portable_only;

void xd_kshap_set_portable(bool on) { portable_only = on; }

bool xd_kshap_use_isa(xd_kshap_isa isa) {
#if defined(__GNUC__) && defined(__x86_64__)
    if (portable_only) return false;
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

ALWAYS_INLINE uint64_t pop(uint64_t x, bool hw) {
    return hw ? (uint64_t)__builtin_popcountll(x) : (uint64_t)xd_popcount64(x);
}

void xd_kshap_bits_release(xd_kshap_bits *b) {
    xd_free(b->class_end);
    xd_free(b->class_w);
    xd_free(b->pos);
    xd_free(b->feat);
    xd_free(b->col);
    xd_free(b->set);
    memset(b, 0, sizeof *b);
}

xai_status xd_kshap_bits_init(xd_kshap_bits *b, const uint8_t *z, size_t d,
                              const size_t *first, const double *w, size_t n, size_t P,
                              bool *fits, xai_error *err) {
    memset(b, 0, sizeof *b);
    *fits = false;
    size_t count[XD_KSHAP_MAX_CLASSES];
    double cw[XD_KSHAP_MAX_CLASSES];
    size_t nc = 0;
    b->pos = xd_try_malloc(xd_mul(n + 1, sizeof *b->pos));
    if (b->pos == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu rows", n);
    for (size_t u = 0; u < n; u++) {    /* classes in order of first appearance */
        size_t c = 0;
        while (c < nc && cw[c] != w[u]) c++;
        if (c == nc) {
            if (nc == XD_KSHAP_MAX_CLASSES) {
                xd_kshap_bits_release(b);
                return XAI_OK;      /* too many weights: not for bits */
            }
            cw[nc] = w[u];
            count[nc++] = 0;
        }
        b->pos[u] = c;              /* the class for now */
        count[c]++;
    }
    size_t start[XD_KSHAP_MAX_CLASSES], W = 0;
    b->class_end = xd_try_malloc(xd_mul(nc + 1, sizeof *b->class_end));
    b->class_w = xd_try_malloc(xd_mul(nc + 1, sizeof *b->class_w));
    if (b->class_end == NULL || b->class_w == NULL) goto nomem;
    for (size_t c = 0; c < nc; c++) {
        start[c] = 64 * W;
        W += (count[c] + 63) / 64;
        b->class_end[c] = W;
        b->class_w[c] = cw[c];
    }
    for (size_t u = 0; u < n; u++) b->pos[u] = start[b->pos[u]]++;
    b->n = n, b->d = d, b->W = W, b->n_class = nc, b->P = P;
    b->stride = (P + 7) & ~(size_t)7;
    b->feat = xd_try_calloc(xd_mul(d, W) + 1, sizeof *b->feat);
    b->col = xd_try_calloc(xd_mul(W, b->stride) + 1, sizeof *b->col);
    b->set = xd_try_malloc(xd_mul(b->stride + 8, sizeof *b->set));
    if (b->feat == NULL || b->col == NULL || b->set == NULL) goto nomem;
    for (size_t u = 0; u < n; u++) {
        const uint8_t *zu = z + first[u] * d;
        size_t word = b->pos[u] / 64;
        unsigned sh = (unsigned)(b->pos[u] % 64);     /* no branch: the bits are random */
        for (size_t j = 0; j < d; j++) b->feat[j * W + word] |= (uint64_t)(zu[j] & 1u) << sh;
    }
    *fits = true;
    return XAI_OK;
nomem:
    xd_kshap_bits_release(b);
    return xd_err(err, XAI_ERR_NOMEM, "kernelshap: bit rows for %zu rows", n);
}

void xd_kshap_bits_column(xd_kshap_bits *b, size_t p, const size_t *set, size_t k,
                          size_t last) {
    const uint64_t *fl = b->feat + last * b->W;
    for (size_t w = 0; w < b->W; w++) {
        uint64_t x = fl[w];
        for (size_t i = 0; i < k; i++) x ^= b->feat[set[i] * b->W + w];
        b->col[w * b->stride + p] = x;
    }
}

/* ---- the Gram matrix ----------------------------------------------------- */

/* G[p][q] for q in [q0, q1), p <= q, one entry at a time. */
ALWAYS_INLINE void gram_row(const xd_kshap_bits *b, const double *val, size_t P, size_t p,
                            size_t q0, size_t q1, double *G, bool hw) {
    const uint64_t *col = b->col;
    size_t S = b->stride;
    for (size_t q = q0; q < q1; q++) {
        double acc = 0;
        size_t w = 0;
        for (size_t c = 0; c < b->n_class; c++) {
            uint64_t cnt = 0;
            for (; w < b->class_end[c]; w++) cnt += pop(col[w * S + p] & col[w * S + q], hw);
            acc += b->class_w[c] * (double)cnt;
        }
        G[p * P + q] = acc * val[p] * val[q];
    }
}

static void gram_plain(const xd_kshap_bits *b, const double *val, size_t P, double *G) {
    for (size_t p = 0; p < P; p++) gram_row(b, val, P, p, p, P, G, false);
}

#ifdef XD_BITS_DISPATCH
__attribute__((target("popcnt"))) static void gram_popcnt(const xd_kshap_bits *b,
                                                           const double *val, size_t P,
                                                           double *G) {
    for (size_t p = 0; p < P; p++) gram_row(b, val, P, p, p, P, G, true);
}

/* Eight entries G[p][q0..q0+8) per step: the same counts and the same
 * products and sums, lane by lane, as gram_row. */
__attribute__((target("avx512f,avx512dq,avx512vpopcntdq"))) static void gram_avx512(
    const xd_kshap_bits *b, const double *val, size_t P, double *G) {
    const uint64_t *col = b->col;
    size_t S = b->stride;
    double lane[8];
    for (size_t p = 0; p < P; p++) {
        size_t q0 = p & ~(size_t)7;
        for (; q0 + 8 <= S && q0 < P; q0 += 8) {
            __m512d acc = _mm512_setzero_pd();
            size_t w = 0;
            for (size_t c = 0; c < b->n_class; c++) {
                __m512i cnt = _mm512_setzero_si512();
                for (; w < b->class_end[c]; w++) {
                    __m512i x = _mm512_loadu_si512((const void *)(col + w * S + q0));
                    __m512i y = _mm512_set1_epi64((long long)col[w * S + p]);
                    cnt = _mm512_add_epi64(cnt, _mm512_popcnt_epi64(_mm512_and_si512(x, y)));
                }
                __m512d prod = _mm512_mul_pd(_mm512_set1_pd(b->class_w[c]),
                                             _mm512_cvtepu64_pd(cnt));
                acc = _mm512_add_pd(acc, prod);
            }
            acc = _mm512_mul_pd(acc, _mm512_set1_pd(val[p]));
            _mm512_storeu_pd(lane, acc);
            for (size_t i = 0; i < 8 && q0 + i < P; i++) {
                size_t q = q0 + i;
                if (q >= p) G[p * P + q] = lane[i] * val[q];
            }
        }
    }
}
#endif

/* The upper triangle by one of the versions, then the lower by copy. */
void xd_kshap_bits_gram(const xd_kshap_bits *b, const double *val, size_t P, double *G) {
#ifdef XD_BITS_DISPATCH
    if (xd_kshap_use_isa(XD_ISA_AVX512_POPCNT))
        gram_avx512(b, val, P, G);
    else if (xd_kshap_use_isa(XD_ISA_POPCNT))
        gram_popcnt(b, val, P, G);
    else
#endif
        gram_plain(b, val, P, G);
    xd_linalg_mirror_upper(G, P);
}

/* ---- weights of single columns ------------------------------------------ */

ALWAYS_INLINE void weigh_xor(const xd_kshap_bits *b, const uint64_t *x, size_t j0,
                             double *out, bool hw) {
    for (size_t j = j0; j < b->d; j++) {
        const uint64_t *f = b->feat + j * b->W;
        double acc = 0;
        size_t w = 0;
        for (size_t c = 0; c < b->n_class; c++) {
            uint64_t cnt = 0;
            for (; w < b->class_end[c]; w++) cnt += pop(x[w] ^ f[w], hw);
            acc += b->class_w[c] * (double)cnt;
        }
        out[j - j0] = acc;
    }
}

static void weigh_plain(const xd_kshap_bits *b, const uint64_t *x, size_t j0, double *out) {
    weigh_xor(b, x, j0, out, false);
}

#ifdef XD_BITS_DISPATCH
__attribute__((target("popcnt"))) static void weigh_popcnt(const xd_kshap_bits *b,
                                                           const uint64_t *x, size_t j0,
                                                           double *out) {
    weigh_xor(b, x, j0, out, true);
}
#endif

void xd_kshap_bits_weigh_xor(const xd_kshap_bits *b, const uint64_t *x, size_t j0,
                             double *out) {
#ifdef XD_BITS_DISPATCH
    if (xd_kshap_use_isa(XD_ISA_POPCNT)) {
        weigh_popcnt(b, x, j0, out);
        return;
    }
#endif
    weigh_plain(b, x, j0, out);
}

/* ---- columns times a vector ---------------------------------------------- */

/* out[p] = sum of y[pos] over the rows (by bit position) that have D_p, for
 * p < P: for each column, its rows in position order. */
static void tsum_plain(const xd_kshap_bits *b, const double *y, size_t P, double *out) {
    for (size_t p = 0; p < P; p++) {
        double acc = 0;
        for (size_t w = 0; w < b->W; w++)
            for (uint64_t x = b->col[w * b->stride + p]; x; x &= x - 1)
                acc += y[64 * w + (size_t)__builtin_ctzll(x)];
        out[p] = acc;
    }
}

#ifdef XD_BITS_DISPATCH
/* Eight columns at a time, the same sums: every row is visited, and a
 * masked add leaves the lanes of the columns the row lacks as they were. */
__attribute__((target("avx512f"))) static void tsum_avx512(const xd_kshap_bits *b,
                                                           const double *y, size_t P,
                                                           double *out) {
    for (size_t p0 = 0; p0 < P; p0 += 8) {
        __m512d acc = _mm512_setzero_pd();
        __m512i one = _mm512_set1_epi64(1);
        for (size_t w = 0; w < b->W; w++) {
            __m512i x = _mm512_loadu_si512((const void *)(b->col + w * b->stride + p0));
            for (unsigned i = 0; i < 64; i++, x = _mm512_srli_epi64(x, 1)) {
                __mmask8 k = _mm512_test_epi64_mask(x, one);
                acc = _mm512_mask_add_pd(acc, k, acc, _mm512_set1_pd(y[64 * w + i]));
            }
        }
        double lane[8];
        _mm512_storeu_pd(lane, acc);
        for (size_t i = 0; i < 8 && p0 + i < P; i++) out[p0 + i] = lane[i];
    }
}
#endif

void xd_kshap_bits_tsum(const xd_kshap_bits *b, const double *y, size_t P, double *out) {
#ifdef XD_BITS_DISPATCH
    if (xd_kshap_use_isa(XD_ISA_AVX512F)) {
        tsum_avx512(b, y, P, out);
        return;
    }
#endif
    tsum_plain(b, y, P, out);
}

/* ---- rows times a matrix --------------------------------------------------- */

/* T[r] = sum of the rows p of V (qs doubles each) where row u0 + r has D_p:
 * the set columns in increasing p, taken alternately into two sums that
 * are added at the end (two chains of additions in flight). */
ALWAYS_INLINE void times_row(const uint64_t *word, unsigned sh, const double *V, size_t P,
                             size_t qs, double *t, double *t2) {
    memset(t, 0, qs * sizeof *t);
    memset(t2, 0, qs * sizeof *t2);
    bool odd = false;
    for (size_t p = 0; p < P; p++) {
        if (!((word[p] >> sh) & 1u)) continue;
        double *acc = odd ? t2 : t;
        for (size_t j = 0; j < qs; j++) acc[j] += V[p * qs + j];
        odd = !odd;
    }
    for (size_t j = 0; j < qs; j++) t[j] += t2[j];
}

static void times_plain(const xd_kshap_bits *b, size_t u0, size_t m, const double *V,
                        size_t qs, double *T, double *t2) {
    for (size_t r = 0; r < m; r++) {
        size_t pos = b->pos[u0 + r];
        times_row(b->col + (pos / 64) * b->stride, (unsigned)(pos % 64), V, b->P, qs,
                  T + r * qs, t2);
    }
}

#ifdef XD_BITS_DISPATCH
/* The same sums eight doubles at a time, for qs <= 32: the row's set
 * columns are listed first, then taken two at a time into the two sums. */
__attribute__((target("avx512f"))) static void times_avx512(const xd_kshap_bits *b, size_t u0,
                                                            size_t m, const double *V,
                                                            size_t qs, double *T,
                                                            uint64_t *set) {
    size_t P = b->P, nv = qs / 8;
    for (size_t r = 0; r < m; r++) {
        size_t pos = b->pos[u0 + r], ns = 0;
        const uint64_t *word = b->col + (pos / 64) * b->stride;
        __m512i bit = _mm512_set1_epi64((long long)(1ull << (pos % 64)));
        __m512i idx = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), eight = _mm512_set1_epi64(8);
        for (size_t p0 = 0; p0 < P; p0 += 8) {  /* words past P are 0 (stride) */
            __mmask8 k = _mm512_test_epi64_mask(_mm512_loadu_si512((const void *)(word + p0)), bit);
            _mm512_storeu_si512((void *)(set + ns), _mm512_maskz_compress_epi64(k, idx));
            ns += (size_t)__builtin_popcount(k);
            idx = _mm512_add_epi64(idx, eight);
        }
        __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;
        __m512d b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t i = 0;
        for (; i + 2 <= ns; i += 2) {
            const double *x = V + set[i] * qs, *y = V + set[i + 1] * qs;
            a0 = _mm512_add_pd(a0, _mm512_loadu_pd(x));
            b0 = _mm512_add_pd(b0, _mm512_loadu_pd(y));
            if (nv > 1) {
                a1 = _mm512_add_pd(a1, _mm512_loadu_pd(x + 8));
                b1 = _mm512_add_pd(b1, _mm512_loadu_pd(y + 8));
            }
            if (nv > 2) {
                a2 = _mm512_add_pd(a2, _mm512_loadu_pd(x + 16));
                b2 = _mm512_add_pd(b2, _mm512_loadu_pd(y + 16));
            }
            if (nv > 3) {
                a3 = _mm512_add_pd(a3, _mm512_loadu_pd(x + 24));
                b3 = _mm512_add_pd(b3, _mm512_loadu_pd(y + 24));
            }
        }
        if (i < ns) {
            const double *x = V + set[i] * qs;
            a0 = _mm512_add_pd(a0, _mm512_loadu_pd(x));
            if (nv > 1) a1 = _mm512_add_pd(a1, _mm512_loadu_pd(x + 8));
            if (nv > 2) a2 = _mm512_add_pd(a2, _mm512_loadu_pd(x + 16));
            if (nv > 3) a3 = _mm512_add_pd(a3, _mm512_loadu_pd(x + 24));
        }
        double *t = T + r * qs;
        _mm512_storeu_pd(t, _mm512_add_pd(a0, b0));
        if (nv > 1) _mm512_storeu_pd(t + 8, _mm512_add_pd(a1, b1));
        if (nv > 2) _mm512_storeu_pd(t + 16, _mm512_add_pd(a2, b2));
        if (nv > 3) _mm512_storeu_pd(t + 24, _mm512_add_pd(a3, b3));
    }
}
#endif

void xd_kshap_bits_times(const xd_kshap_bits *b, size_t u0, size_t m, const double *V,
                         size_t qs, double *T, double *scratch) {
#ifdef XD_BITS_DISPATCH
    if (qs <= 32 && xd_kshap_use_isa(XD_ISA_AVX512F)) {
        times_avx512(b, u0, m, V, qs, T, b->set);
        return;
    }
#endif
    times_plain(b, u0, m, V, qs, T, scratch);
}
