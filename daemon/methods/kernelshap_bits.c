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
 * side), so one word of eight columns is one 512-bit load. On x86-64 the
 * kernels have versions for AVX-512 (VPOPCNTDQ for the Gram: eight columns
 * per instruction), for AVX2 (four, counting nibbles by table) and POPCNT,
 * and in plain C, chosen by the CPU. Every version adds the same numbers in
 * the same order, so all give the same bits (xd_cpu_limit lets a
 * test compare them).
 */
#include <string.h>
#include "../core/core.h"
#include "../core/linalg.h"
#include "kernelshap.h"

#if defined(__GNUC__) && defined(__x86_64__)
#define XD_BITS_DISPATCH 1
#include <immintrin.h>
#endif

XD_ALWAYS_INLINE uint64_t pop(uint64_t x, bool hw) {
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

void xd_kshap_bits_shrink(xd_kshap_bits *b, size_t P) {
    if (P >= b->P) return;
    for (size_t w = 0; w < b->W; w++)
        memset(b->col + w * b->stride + P, 0, (b->P - P) * sizeof *b->col);
    b->P = P;
}

/* ---- the Gram matrix ----------------------------------------------------- */

/* G[p][q] for q in [p, P), one entry at a time. */
XD_ALWAYS_INLINE void gram_row(const xd_kshap_bits *b, const double *val, size_t P, size_t p,
                               double *G, bool hw) {
    const uint64_t *col = b->col;
    size_t S = b->stride;
    for (size_t q = p; q < P; q++) {
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
    for (size_t p = 0; p < P; p++) gram_row(b, val, P, p, G, false);
}

#ifdef XD_BITS_DISPATCH
__attribute__((target("popcnt"))) static void gram_popcnt(const xd_kshap_bits *b,
                                                           const double *val, size_t P,
                                                           double *G) {
    for (size_t p = 0; p < P; p++) gram_row(b, val, P, p, G, true);
}

/* Eight entries G[p][q0..q0+8) per step: the same counts and the same
 * products and sums, lane by lane, as gram_row. */
__attribute__((target("avx512f,avx512dq,avx512vpopcntdq"))) static void gram_avx512(
    const xd_kshap_bits *b, const double *val, size_t P, double *G) {
    const uint64_t *col = b->col;
    size_t S = b->stride;
    double lane[8];
    for (size_t p = 0; p < P; p++) {
        for (size_t q0 = p & ~(size_t)7; q0 < P; q0 += 8) {  /* q0 + 8 <= stride */
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
/* Four entries per step with AVX2, which has no vector popcount: each byte
 * counted by a 16-entry table (PSHUFB on its two nibbles), the bytes of a
 * 64-bit lane summed by PSADBW; the count, below 2^52, made a double
 * exactly by the 2^52 trick. Lane by lane the same as gram_row. */
__attribute__((target("avx2"))) static void gram_avx2(const xd_kshap_bits *b, const double *val,
                                                      size_t P, double *G) {
    const uint64_t *col = b->col;
    size_t S = b->stride;
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1,
                                           2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0f), zero = _mm256_setzero_si256();
    const __m256i exp52 = _mm256_set1_epi64x(0x4330000000000000LL);
    const __m256d two52 = _mm256_set1_pd(4503599627370496.0);
    double lane[4];
    for (size_t p = 0; p < P; p++) {
        for (size_t q0 = p & ~(size_t)3; q0 < P; q0 += 4) {
            __m256d acc = _mm256_setzero_pd();
            size_t w = 0;
            for (size_t c = 0; c < b->n_class; c++) {
                __m256i cnt = zero;
                for (; w < b->class_end[c]; w++) {
                    __m256i x = _mm256_loadu_si256((const __m256i *)(col + w * S + q0));
                    x = _mm256_and_si256(x, _mm256_set1_epi64x((long long)col[w * S + p]));
                    __m256i lo = _mm256_shuffle_epi8(table, _mm256_and_si256(x, nibble));
                    __m256i hi = _mm256_shuffle_epi8(
                        table, _mm256_and_si256(_mm256_srli_epi16(x, 4), nibble));
                    cnt = _mm256_add_epi64(cnt, _mm256_sad_epu8(_mm256_add_epi8(lo, hi), zero));
                }
                __m256d n = _mm256_sub_pd(_mm256_castsi256_pd(_mm256_or_si256(cnt, exp52)), two52);
                acc = _mm256_add_pd(acc, _mm256_mul_pd(_mm256_set1_pd(b->class_w[c]), n));
            }
            acc = _mm256_mul_pd(acc, _mm256_set1_pd(val[p]));
            _mm256_storeu_pd(lane, acc);
            for (size_t i = 0; i < 4 && q0 + i < P; i++) {
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
    if (xd_cpu_has(XD_ISA_AVX512_POPCNT))
        gram_avx512(b, val, P, G);
    else if (xd_cpu_has(XD_ISA_AVX2))
        gram_avx2(b, val, P, G);
    else if (xd_cpu_has(XD_ISA_POPCNT))
        gram_popcnt(b, val, P, G);
    else
#endif
        gram_plain(b, val, P, G);
    xd_linalg_mirror_upper(G, P);
}

/* ---- weights of single columns ------------------------------------------ */

XD_ALWAYS_INLINE void weigh_xor(const xd_kshap_bits *b, const uint64_t *x, size_t j0,
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
    if (xd_cpu_has(XD_ISA_POPCNT)) {
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
    __m512i one = _mm512_set1_epi64(1);
    for (size_t p0 = 0; p0 < P; p0 += 8) {
        __m512d acc = _mm512_setzero_pd();
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
    if (xd_cpu_has(XD_ISA_AVX512F)) {
        tsum_avx512(b, y, P, out);
        return;
    }
#endif
    tsum_plain(b, y, P, out);
}

/* ---- rows times a matrix --------------------------------------------------- */

/* The columns p < P that the row at bit sh of word[] has, in increasing
 * order, into set; returns their number. No branch: the bits are random. */
XD_ALWAYS_INLINE size_t row_set(const uint64_t *word, unsigned sh, size_t P, uint64_t *set) {
    size_t ns = 0;
    for (size_t p = 0; p < P; p++) {
        set[ns] = p;
        ns += (word[p] >> sh) & 1u;
    }
    return ns;
}

/* t[0..qs) = the sum of the rows set[0..ns) of V (qs doubles each, qs a
 * multiple of 4): each lane sums the rows at even places of the list and
 * those at odd places in list order, then adds the two (two chains of
 * additions in flight); four lanes per GCC vector, sixteen per pass. */
typedef double quad __attribute__((vector_size(4 * sizeof(double))));

XD_ALWAYS_INLINE void add_quad(quad *acc, const double *x) {
    quad q;
    memcpy(&q, x, sizeof q);
    *acc += q;
}

XD_ALWAYS_INLINE void sum_rows(const double *V, size_t qs, const uint64_t *set, size_t ns,
                            double *t) {
    size_t c = 0;
    for (; c + 16 <= qs; c += 16) {
        quad a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, b0 = {0}, b1 = {0}, b2 = {0}, b3 = {0};
        size_t i = 0;
        for (; i + 2 <= ns; i += 2) {
            const double *x = V + set[i] * qs + c, *y = V + set[i + 1] * qs + c;
            add_quad(&a0, x), add_quad(&a1, x + 4), add_quad(&a2, x + 8), add_quad(&a3, x + 12);
            add_quad(&b0, y), add_quad(&b1, y + 4), add_quad(&b2, y + 8), add_quad(&b3, y + 12);
        }
        if (i < ns) {
            const double *x = V + set[i] * qs + c;
            add_quad(&a0, x), add_quad(&a1, x + 4), add_quad(&a2, x + 8), add_quad(&a3, x + 12);
        }
        a0 += b0, a1 += b1, a2 += b2, a3 += b3;
        memcpy(t + c, &a0, sizeof a0);
        memcpy(t + c + 4, &a1, sizeof a1);
        memcpy(t + c + 8, &a2, sizeof a2);
        memcpy(t + c + 12, &a3, sizeof a3);
    }
    for (; c < qs; c += 4) {
        quad a = {0}, b = {0};
        size_t i = 0;
        for (; i + 2 <= ns; i += 2)
            add_quad(&a, V + set[i] * qs + c), add_quad(&b, V + set[i + 1] * qs + c);
        if (i < ns) add_quad(&a, V + set[i] * qs + c);
        a += b;
        memcpy(t + c, &a, sizeof a);
    }
}

XD_ALWAYS_INLINE void times_rows(const xd_kshap_bits *b, size_t u0, size_t m, const double *V,
                              size_t qs, double *T) {
    for (size_t r = 0; r < m; r++) {
        size_t pos = b->pos[u0 + r];
        size_t ns = row_set(b->col + (pos / 64) * b->stride, (unsigned)(pos % 64), b->P, b->set);
        sum_rows(V, qs, b->set, ns, T + r * qs);
    }
}

static void times_plain(const xd_kshap_bits *b, size_t u0, size_t m, const double *V,
                        size_t qs, double *T) {
    times_rows(b, u0, m, V, qs, T);
}

#ifdef XD_BITS_DISPATCH
/* row_set four columns at a time: the row's bit moved to each lane's sign
 * (MOVMSKPD), the lanes that have it packed to the front by a permutation
 * from a table of the 16 masks. */
__attribute__((target("avx2"))) static void times_avx2(const xd_kshap_bits *b, size_t u0,
                                                       size_t m, const double *V, size_t qs,
                                                       double *T) {
    static const int32_t pack[16][8] = {
        {0, 1, 2, 3, 4, 5, 6, 7}, {0, 1, 2, 3, 4, 5, 6, 7}, {2, 3, 0, 1, 4, 5, 6, 7},
        {0, 1, 2, 3, 4, 5, 6, 7}, {4, 5, 0, 1, 2, 3, 6, 7}, {0, 1, 4, 5, 2, 3, 6, 7},
        {2, 3, 4, 5, 0, 1, 6, 7}, {0, 1, 2, 3, 4, 5, 6, 7}, {6, 7, 0, 1, 2, 3, 4, 5},
        {0, 1, 6, 7, 2, 3, 4, 5}, {2, 3, 6, 7, 0, 1, 4, 5}, {0, 1, 2, 3, 6, 7, 4, 5},
        {4, 5, 6, 7, 0, 1, 2, 3}, {0, 1, 4, 5, 6, 7, 2, 3}, {2, 3, 4, 5, 6, 7, 0, 1},
        {0, 1, 2, 3, 4, 5, 6, 7}};
    uint64_t *set = b->set;
    for (size_t r = 0; r < m; r++) {
        size_t pos = b->pos[u0 + r], ns = 0;
        const uint64_t *word = b->col + (pos / 64) * b->stride;
        __m128i up = _mm_cvtsi32_si128(63 - (int)(pos % 64));
        __m256i idx = _mm256_setr_epi64x(0, 1, 2, 3), four = _mm256_set1_epi64x(4);
        for (size_t p0 = 0; p0 < b->P; p0 += 4) {  /* words past P are 0 (stride) */
            __m256i x = _mm256_sll_epi64(_mm256_loadu_si256((const __m256i *)(word + p0)), up);
            int k = _mm256_movemask_pd(_mm256_castsi256_pd(x));
            __m256i perm = _mm256_loadu_si256((const __m256i *)pack[k]);
            _mm256_storeu_si256((__m256i *)(set + ns), _mm256_permutevar8x32_epi32(idx, perm));
            ns += (size_t)__builtin_popcount((unsigned)k);
            idx = _mm256_add_epi64(idx, four);
        }
        sum_rows(V, qs, set, ns, T + r * qs);
    }
}

/* The row's list eight columns at a time (compress), the same sums. */
__attribute__((target("avx512f"))) static void times_avx512(const xd_kshap_bits *b, size_t u0,
                                                            size_t m, const double *V,
                                                            size_t qs, double *T) {
    uint64_t *set = b->set;
    for (size_t r = 0; r < m; r++) {
        size_t pos = b->pos[u0 + r], ns = 0;
        const uint64_t *word = b->col + (pos / 64) * b->stride;
        __m512i bit = _mm512_set1_epi64((long long)(1ull << (pos % 64)));
        __m512i idx = _mm512_set_epi64(7, 6, 5, 4, 3, 2, 1, 0), eight = _mm512_set1_epi64(8);
        for (size_t p0 = 0; p0 < b->P; p0 += 8) {  /* words past P are 0 (stride) */
            __mmask8 k = _mm512_test_epi64_mask(_mm512_loadu_si512((const void *)(word + p0)), bit);
            _mm512_storeu_si512((void *)(set + ns), _mm512_maskz_compress_epi64(k, idx));
            ns += (size_t)__builtin_popcount(k);
            idx = _mm512_add_epi64(idx, eight);
        }
        if (qs != 32) {
            sum_rows(V, qs, set, ns, T + r * qs);
            continue;
        }
        __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0;   /* sum_rows, qs = 32 */
        __m512d b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        size_t i = 0;
        for (; i + 2 <= ns; i += 2) {
            const double *x = V + set[i] * 32, *y = V + set[i + 1] * 32;
            a0 = _mm512_add_pd(a0, _mm512_loadu_pd(x));
            a1 = _mm512_add_pd(a1, _mm512_loadu_pd(x + 8));
            a2 = _mm512_add_pd(a2, _mm512_loadu_pd(x + 16));
            a3 = _mm512_add_pd(a3, _mm512_loadu_pd(x + 24));
            b0 = _mm512_add_pd(b0, _mm512_loadu_pd(y));
            b1 = _mm512_add_pd(b1, _mm512_loadu_pd(y + 8));
            b2 = _mm512_add_pd(b2, _mm512_loadu_pd(y + 16));
            b3 = _mm512_add_pd(b3, _mm512_loadu_pd(y + 24));
        }
        if (i < ns) {
            const double *x = V + set[i] * 32;
            a0 = _mm512_add_pd(a0, _mm512_loadu_pd(x));
            a1 = _mm512_add_pd(a1, _mm512_loadu_pd(x + 8));
            a2 = _mm512_add_pd(a2, _mm512_loadu_pd(x + 16));
            a3 = _mm512_add_pd(a3, _mm512_loadu_pd(x + 24));
        }
        double *t = T + r * 32;
        _mm512_storeu_pd(t, _mm512_add_pd(a0, b0));
        _mm512_storeu_pd(t + 8, _mm512_add_pd(a1, b1));
        _mm512_storeu_pd(t + 16, _mm512_add_pd(a2, b2));
        _mm512_storeu_pd(t + 24, _mm512_add_pd(a3, b3));
    }
}
#endif

void xd_kshap_bits_times(const xd_kshap_bits *b, size_t u0, size_t m, const double *V,
                         size_t qs, double *T) {
#ifdef XD_BITS_DISPATCH
    if (xd_cpu_has(XD_ISA_AVX512F)) {
        times_avx512(b, u0, m, V, qs, T);
        return;
    }
    if (xd_cpu_has(XD_ISA_AVX2)) {
        times_avx2(b, u0, m, V, qs, T);
        return;
    }
#endif
    times_plain(b, u0, m, V, qs, T);
}
