/* kernelshap_triples.c — the three-way terms of interaction-augmented
 * KernelSHAP: their regression columns, their Shapley values, and the
 * screening that picks which of the C(d, 3) triples to fit.
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
 * (h_T(complement) = -h_T(S)) like the additive columns.
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

/* The triple of lexicographic rank `rank` into t[3]. */
static void triple_at(size_t d, size_t rank, size_t *t) {
    for (size_t a = 0; a < d; a++)
        for (size_t b = a + 1; b < d; b++) {
            size_t tail = d - b - 1;        /* triples (a, b, c > b) */
            if (rank < tail) {
                t[0] = a, t[1] = b, t[2] = b + 1 + rank;
                return;
            }
            rank -= tail;
        }
}

/* num[T] += wr * h_T and den[T] += w * h_T^2 for one coalition, triples in
 * lexicographic order; sign[] holds the coalition as +1 / -1 and zl is
 * 1 - 2 z_last. h_T = sign_a sign_b sign_c + zl takes the values -2, 0, 2.
 * With GCC or Clang the innermost loop runs two triples per step in vector
 * registers; the arithmetic per triple is the same, so are the sums. */
#if defined(__GNUC__)
typedef double pair_of_doubles __attribute__((vector_size(2 * sizeof(double))));
#endif

static void accumulate(const double *sign, size_t d, double zl, double w, double wr,
                       double *num, double *den) {
    size_t q = 0;
    for (size_t a = 0; a < d; a++)
        for (size_t b = a + 1; b < d; b++) {
            double tab = sign[a] * sign[b];
            size_t c = b + 1;
#if defined(__GNUC__)
            for (; c + 2 <= d; c += 2, q += 2) {
                pair_of_doubles s, nv, dv;
                memcpy(&s, sign + c, sizeof s);
                memcpy(&nv, num + q, sizeof nv);
                memcpy(&dv, den + q, sizeof dv);
                pair_of_doubles h = tab * s + zl;
                nv += wr * h;
                dv += w * h * h;
                memcpy(num + q, &nv, sizeof nv);
                memcpy(den + q, &dv, sizeof dv);
            }
#endif
            for (; c < d; c++, q++) {
                double h = tab * sign[c] + zl;
                num[q] += wr * h;
                den[q] += w * h * h;
            }
        }
}

xai_status xd_kshap_screen_triples(const uint8_t *z, size_t n, size_t d, const double *w,
                                   const double *r, size_t m, size_t *out, xai_error *err) {
    size_t nt = xd_kshap_n_triples(d);
    if (m > nt) m = nt;
    if (m == 0) return XAI_OK;
    double *num = xd_try_calloc(nt, sizeof *num), *den = xd_try_calloc(nt, sizeof *den);
    double *sign = xd_try_malloc(xd_mul(d, sizeof *sign));
    scored *heap = xd_try_malloc(xd_mul(m, sizeof *heap));
    xai_status st = XAI_OK;
    if (!num || !den || !sign || !heap) {
        st = xd_err(err, XAI_ERR_NOMEM, "kernelshap: screening %zu triples", nt);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        const uint8_t *zi = z + i * d;
        double wi = w[i], wr = w[i] * r[i];
        if (i + 1 < n && xd_kshap_is_complement(zi, zi + d, d)) {
            wi += w[i + 1];         /* h_T is odd: the pair is one row */
            wr -= w[i + 1] * r[i + 1];
            i++;
        }
        if (!(wi > 0)) continue;
        for (size_t j = 0; j < d; j++) sign[j] = zi[j] ? 1.0 : -1.0;
        accumulate(sign, d, -sign[d - 1], wi, wr, num, den);
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
        triple_at(d, last.rank, out + 3 * k);
    }
done:
    xd_free(num);
    xd_free(den);
    xd_free(sign);
    xd_free(heap);
    return st;
}
