/* kernelshap_triples.c — the three-way terms of interaction-augmented
 * KernelSHAP: why they help, their Shapley values, and the screening that
 * picks which of the C(d, 3) triples to fit.
 *
 * Why. Paired sampling makes KernelSHAP exact for games whose Harsanyi
 * dividends have order <= 2: over a pair {S, complement} only the odd part
 * of the game enters the regression, and the odd part of an order-2 game is
 * additive. What is left of a game of order <= 4 is a sum of odd three-way
 * characters chi_T(S) = prod_{i in T} t_i, t_i = +1 when i is in S, -1 when
 * not. Adding the important chi_T as regressors (a 3-additive surrogate, as
 * in the k-additive approach of Pelegrina, Duarte and Grabisch 2023) removes
 * them from the residual, and the Shapley value of the fitted surrogate is
 * known in closed form: chi_T is symmetric in T and null outside it, and
 * chi_T(all) - chi_T(none) = 2, so each i in T gets 2/3 of its coefficient.
 * With every coalition enumerated the surrogate's Shapley value is the
 * game's (the kernel-weighted projection onto additive games factors
 * through any larger space of games), so the estimator stays consistent.
 *
 * Column of triple T after the last feature is eliminated for efficiency
 * (see kernelshap_core.c): h_T(S) = chi_T(S) + 1 - 2 z_last, which is odd
 * (h_T(complement) = -h_T(S)) like the additive columns; on the bit rows
 * of kernelshap_bits.c, h_T = 2 (b_T - z_last), b_T the parity of T.
 *
 * Screening. Given the residuals r of the additive fit, triple T scores
 * (sum w r h_T)^2 / sum w h_T^2, the drop in the weighted residual sum of
 * squares if T alone were added; the m best are kept, ties broken by index
 * so the choice is deterministic.
 */
#include <stdlib.h>
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

size_t xd_kshap_n_triples(size_t d) {
    return d < 3 ? 0 : d * (d - 1) * (d - 2) / 6;
}

typedef struct scored {
    double score;
    size_t rank;            /* position in lexicographic order */
} scored;

/* a ranks before b: higher score, then lower index. */
static bool before(const scored *a, const scored *b) {
    return a->score != b->score ? a->score > b->score : a->rank < b->rank;
}

/* Restores the heap below slot i of h[0..n), whose root is the entry that
 * ranks last (so the m best are kept by replacing the root). */
static void sift_down(scored *h, size_t n, size_t i) {
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && before(&h[c], &h[c + 1])) c++;
        if (!before(&h[i], &h[c])) return;
        scored t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* The triple of lexicographic rank `rank` into t[3], given start[i], the
 * rank of the first triple (a, b, b + 1) of the i-th pair a < b < d - 1
 * (pairs in lexicographic order, np of them): a binary search. */
static void triple_at(size_t d, const size_t *start, size_t np, size_t rank, size_t *t) {
    size_t lo = 0, hi = np;             /* the last pair with start <= rank */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (start[mid] <= rank) lo = mid;
        else hi = mid;
    }
    size_t a = 0, i = lo;               /* pair i -> (a, b): rows of d - 2 - a pairs */
    while (i >= d - 2 - a) i -= d - 2 - a, a++;
    t[0] = a, t[1] = a + 1 + i, t[2] = t[1] + 1 + (rank - start[lo]);
}

/* The numerators of the scores, in single precision (they only rank).
 * With the signs s_j = +1 (in) / -1 (out) of a row's coalition, h_T =
 * chi_T - s_last, so
 *     sum w r h_T = sum (w r s_a s_b) s_c - sum w r s_last:
 * for each pair a < b the vector v1 = w r s_a s_b over the rows is dotted
 * with every column s_c, c > b. The rows are padded to a multiple of LANES
 * with zeros, the dots run LANES lanes wide in GCC vector types, four
 * triples per pass, and each lane is summed in row order, then the lanes
 * in lane order: the same arithmetic whatever instructions carry it. On
 * x86-64 the loop is compiled a second time for AVX2 (wider registers, the
 * same sums) and chosen by the CPU. The denominators are exact: h_T^2 =
 * 4 [b_T xor b_last], a weighted popcount (xd_kshap_bits_weigh_xor). */
enum { LANES = 8 };

typedef float lanes_f __attribute__((vector_size(LANES * sizeof(float))));
#if defined(__GNUC__) && defined(__x86_64__)
#define XD_SCREEN_DISPATCH 1
#endif

typedef struct screen_dots {
    size_t d, n_pad;
    const float *S;         /* d x n_pad: s_j of each row */
    const float *p1;        /* n_pad: w r */
    float *v1;              /* n_pad: p1 s_a s_b */
    double *n1;             /* per c in (b, d): v1 . s_c */
} screen_dots;

XD_ALWAYS_INLINE double lane_sum(const lanes_f *v) {
    double s = 0;
    for (int i = 0; i < LANES; i++) s += (double)(*v)[i];
    return s;
}

XD_ALWAYS_INLINE void dots_vector(const screen_dots *sd, size_t a, size_t b) {
    const float *S = sd->S;
    size_t n = sd->n_pad, c0 = b + 1, c = c0;
    for (size_t i = 0; i < n; i += LANES) {
        lanes_f x, y, p1;
        memcpy(&x, S + a * n + i, sizeof x);
        memcpy(&y, S + b * n + i, sizeof y);
        memcpy(&p1, sd->p1 + i, sizeof p1);
        p1 *= x * y;
        memcpy(sd->v1 + i, &p1, sizeof p1);
    }
    for (; c + 4 <= sd->d; c += 4) {   /* four columns per pass over v1 */
        lanes_f a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        const float *s0 = S + c * n, *s1 = s0 + n, *s2 = s1 + n, *s3 = s2 + n;
        for (size_t i = 0; i < n; i += LANES) {
            lanes_f x, y0, y1, y2, y3;
            memcpy(&x, sd->v1 + i, sizeof x);
            memcpy(&y0, s0 + i, sizeof y0);
            memcpy(&y1, s1 + i, sizeof y1);
            memcpy(&y2, s2 + i, sizeof y2);
            memcpy(&y3, s3 + i, sizeof y3);
            a0 += x * y0;
            a1 += x * y1;
            a2 += x * y2;
            a3 += x * y3;
        }
        double *n1 = sd->n1 + (c - c0);
        n1[0] = lane_sum(&a0), n1[1] = lane_sum(&a1), n1[2] = lane_sum(&a2), n1[3] = lane_sum(&a3);
    }
    for (; c < sd->d; c++) {
        lanes_f a0 = {0};
        const float *sc = S + c * n;
        for (size_t i = 0; i < n; i += LANES) {
            lanes_f x, y;
            memcpy(&x, sd->v1 + i, sizeof x);
            memcpy(&y, sc + i, sizeof y);
            a0 += x * y;
        }
        sd->n1[c - c0] = lane_sum(&a0);
    }
}

static void dots_plain(const screen_dots *sd, size_t a, size_t b) { dots_vector(sd, a, b); }
#ifdef XD_SCREEN_DISPATCH
__attribute__((target("avx2"))) static void dots_avx2(const screen_dots *sd, size_t a,
                                                      size_t b) {
    dots_vector(sd, a, b);
}
#endif

/* n1 for the triples (a, b, c > b). */
static void dots(const screen_dots *sd, size_t a, size_t b) {
#ifdef XD_SCREEN_DISPATCH
    if (xd_cpu_has(XD_ISA_AVX2)) {
        dots_avx2(sd, a, b);
        return;
    }
#endif
    dots_plain(sd, a, b);
}

xai_status xd_kshap_screen_triples(const xd_kshap_bits *b, const uint8_t *z,
                                   const size_t *first, const double *wr, size_t m,
                                   size_t *out, xai_error *err) {
    size_t d = b->d, n = b->n, W = b->W, last = d - 1;
    size_t nt = xd_kshap_n_triples(d), n_pad = (n + LANES - 1) / LANES * LANES;
    if (m > nt) m = nt;
    if (m == 0) return XAI_OK;
    double *num = xd_try_malloc(xd_mul(nt, sizeof *num)), *den = xd_try_malloc(xd_mul(nt, sizeof *den));
    float *S = xd_try_calloc(xd_mul(d, n_pad), sizeof *S);
    float *p1 = xd_try_calloc(n_pad, sizeof *p1), *v1 = xd_try_calloc(n_pad, sizeof *v1);
    double *n1 = xd_try_malloc(xd_mul(d, sizeof *n1)), *wd = xd_try_malloc(xd_mul(d, sizeof *wd));
    uint64_t *x = xd_try_malloc(xd_mul(W + 1, sizeof *x));
    size_t np = d * (d - 1) / 2, *start = xd_try_malloc(xd_mul(np, sizeof *start));
    scored *heap = xd_try_malloc(xd_mul(m, sizeof *heap));
    xai_status st = XAI_OK;
    if (!num || !den || !S || !p1 || !v1 || !n1 || !wd || !x || !start || !heap) {
        st = xd_err(err, XAI_ERR_NOMEM, "kernelshap: screening %zu triples", nt);
        goto done;
    }
    double swrl = 0;
    for (size_t u = 0; u < n; u++) {
        p1[u] = (float)wr[u];
        swrl += z[first[u] * d + last] ? wr[u] : -wr[u];
    }
    for (size_t j = 0; j < d; j++)     /* column by column: the writes run in order */
        for (size_t u = 0; u < n; u++) S[j * n_pad + u] = (float)(2 * (int)z[first[u] * d + j] - 1);
    screen_dots sd = {d, n_pad, S, p1, v1, n1};
    const uint64_t *fl = b->feat + last * W;
    size_t q = 0, pair = 0;
    for (size_t a = 0; a < d; a++)
        for (size_t bb = a + 1; bb + 1 < d; bb++) {
            start[pair++] = q;
            const uint64_t *fa = b->feat + a * W, *fb = b->feat + bb * W;
            for (size_t w = 0; w < W; w++) x[w] = fa[w] ^ fb[w] ^ fl[w];
            xd_kshap_bits_weigh_xor(b, x, bb + 1, wd);
            dots(&sd, a, bb);
            for (size_t c = bb + 1; c < d; c++, q++) {
                num[q] = n1[c - bb - 1] - swrl;
                den[q] = 4 * wd[c - bb - 1];
            }
        }
    /* The m best by a heap whose root ranks last, then sorted best first. */
    for (size_t q = 0; q < nt; q++) {
        scored s = {den[q] > 0 ? num[q] * num[q] / den[q] : 0, q};
        if (q < m) {
            heap[q] = s;
            if (q == m - 1)
                for (size_t i = m / 2; i-- > 0;) sift_down(heap, m, i);
        } else if (before(&s, &heap[0])) {
            heap[0] = s;
            sift_down(heap, m, 0);
        }
    }
    for (size_t k = m; k-- > 0;) {      /* pop the last-ranked into slot k */
        scored last = heap[0];
        heap[0] = heap[k];
        sift_down(heap, k, 0);
        triple_at(d, start, pair, last.rank, out + 3 * k);
    }
done:
    xd_free(num);
    xd_free(den);
    xd_free(S);
    xd_free(p1);
    xd_free(v1);
    xd_free(n1);
    xd_free(wd);
    xd_free(x);
    xd_free(start);
    xd_free(heap);
    return st;
}
