/* kl_lucb.c — Bernoulli KL bounds by bisection, the KL-LUCB exploration rate
 * and top-n identification (see kl_lucb.h).
 *
 * Each round of KL-LUCB splits the arms into J, the top_n empirical means,
 * and the rest; it finds u, the arm outside J with the highest upper bound,
 * and l, the arm in J with the lowest lower bound, and stops when
 * ub(u) - lb(l) <= epsilon. Otherwise both u and l are drawn, in one call of
 * the draw callback, so a round reaches the model once.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../core/core.h"
#include "kl_lucb.h"

#define KL_CLIP 1e-12

static double clip01(double p) {
    if (p < KL_CLIP) return KL_CLIP;
    if (p > 1.0 - KL_CLIP) return 1.0 - KL_CLIP;
    return p;
}

double xd_kl_bernoulli(double p, double q) {
    p = clip01(p);
    q = clip01(q);
    return p * log(p / q) + (1.0 - p) * log((1.0 - p) / (1.0 - q));
}

/* Bisection for the q between `near` (= p) and `far` where kl(p, q) crosses
 * level; kl(p, .) grows from p towards far. Returns the end of the final
 * bracket away from p, so the bound is never tighter than the exact root. */
static double kl_bisect(double p, double level, double near, double far) {
    if (xd_kl_bernoulli(p, far) <= level) return far;
    for (int i = 0; i < 200 && fabs(far - near) > XD_KL_TOL; i++) {
        double mid = 0.5 * (near + far);
        if (xd_kl_bernoulli(p, mid) > level) far = mid;
        else near = mid;
    }
    return far;
}

double xd_kl_upper(double p, double level) {
    if (p != p) return 1.0;
    if (p <= 0.0) p = 0.0;
    if (p >= 1.0) return 1.0;
    if (!(level > 0.0)) return p;
    /* Pinsker: kl(p, q) >= 2 (p - q)^2, so the root is within sqrt(level / 2). */
    return kl_bisect(p, level, p, fmin(1.0, p + sqrt(level / 2.0) + XD_KL_TOL));
}

double xd_kl_lower(double p, double level) {
    if (p != p) return 0.0;
    if (p >= 1.0) p = 1.0;
    if (p <= 0.0) return 0.0;
    if (!(level > 0.0)) return p;
    return kl_bisect(p, level, p, fmax(0.0, p - sqrt(level / 2.0) - XD_KL_TOL));
}

double xd_kl_beta(size_t K, double t, double delta) {
    const double alpha = 1.1, k = 405.5;
    double a = log(k * (double)K * pow(t, alpha) / delta);
    return a + log(a);
}

static double mean_of(const double *n, const double *pos, size_t i) {
    return n[i] > 0 ? pos[i] / n[i] : 0.0;
}

/* Arms are sorted as 32-bit numbers against means[arm] (K < 2^32), so the
 * sorting touches 16 bytes an arm: a few thousand arms fit in cache and
 * take few fresh pages. */

/* Arm a comes before arm b: decreasing mean, then increasing index. A
 * total order, so every sorting algorithm gives the same result. */
static inline bool before(const double *means, uint32_t a, uint32_t b) {
    double ma = means[a], mb = means[b];
    return (ma > mb) | ((ma == mb) & (a < b));     /* no branch: equal means are common */
}

/* The top 32 bits of a mean's radix key: non-negative doubles order like
 * their bit patterns, and the complement puts larger means first (-0
 * sorts as 0). The bits are sign, exponent and 20 bits of mantissa. */
static inline uint32_t sort_key(double mean) {
    double m = mean == 0.0 ? 0.0 : mean;
    uint64_t b;
    memcpy(&b, &m, sizeof b);
    return (uint32_t)(~b >> 32);
}

/* Insertion sort in the order of before(): linear when the arms are nearly
 * in order (a KL-LUCB round moves a few arms). */
static void insertion_sort(const double *means, uint32_t *order, size_t K) {
    for (size_t r = 1; r < K; r++) {
        uint32_t v = order[r];
        size_t q = r;
        for (; q > 0 && before(means, v, order[q - 1]); q--) order[q] = order[q - 1];
        order[q] = v;
    }
}

/* Sorts order[0..K), given in increasing index, in the order of before():
 * a stable LSD radix sort on sort_key, 8 bits a pass, so ties keep
 * increasing index and passes where every key has the same digit are
 * skipped; then an insertion sort on the full order, which moves only arms
 * whose means agree in the key and differ below it (a relative difference
 * under 2^-20, rare among means of counts). tmp holds K entries. */
static void sort_arms(const double *means, uint32_t *order, uint32_t *tmp, size_t K) {
    size_t hist[4][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < K; i++) {
        uint32_t key = sort_key(means[order[i]]);
        for (int d = 0; d < 4; d++) hist[d][(key >> (8 * d)) & 255]++;
    }
    uint32_t *src = order, *dst = tmp;
    for (int d = 0; d < 4; d++) {
        size_t sum = 0, off[256];
        if (hist[d][(sort_key(means[src[0]]) >> (8 * d)) & 255] == K) continue;
        for (int b = 0; b < 256; b++) off[b] = sum, sum += hist[d][b];
        for (size_t i = 0; i < K; i++)
            dst[off[(sort_key(means[src[i]]) >> (8 * d)) & 255]++] = src[i];
        uint32_t *t = src;
        src = dst, dst = t;
    }
    if (src != order) memcpy(order, src, K * sizeof *order);
    insertion_sort(means, order, K);
}

/* Refreshes means[] from the counts and sorts order[] by them: radix sort
 * the first time (tmp != NULL: K entries of room, given order in
 * increasing index), then insertion sort from the order of the last
 * round. */
static void resort(size_t K, const double *n, const double *pos, double *means, uint32_t *order,
                   uint32_t *tmp) {
    for (size_t a = 0; a < K; a++) means[a] = mean_of(n, pos, a);
    if (tmp) sort_arms(means, order, tmp, K);
    else insertion_sort(means, order, K);
}

void xd_lucb_sort_by_mean(size_t K, const double *n, const double *pos, size_t *idx) {
    double *means = xd_malloc((K ? K : 1) * (sizeof *means + 2 * sizeof(uint32_t)));
    uint32_t *order = (uint32_t *)(means + K);
    for (size_t i = 0; i < K; i++) order[i] = (uint32_t)i;
    if (K) resort(K, n, pos, means, order, order + K);
    for (size_t i = 0; i < K; i++) idx[i] = order[i];
    xd_free(means);
}

/* One bound evaluation: u (outside the top) and l (inside), and ub - lb. */
static double lucb_gap(size_t K, const double *n, size_t top_n, double beta, const double *means,
                       const uint32_t *order, size_t *u, size_t *l) {
    double ub_best = -1.0, lb_worst = 2.0, n_min = INFINITY;
    for (size_t r = 0; r < K; r++) {
        size_t a = order[r];
        double m = means[a], level = beta / n[a];
        if (r < top_n) {
            double lb = xd_kl_lower(m, level);
            if (lb < lb_worst) lb_worst = lb, *l = a;
            continue;
        }
        /* Skips arms that cannot be u without a bisection. The upper bound
         * grows with the mean and shrinks with n, and arms come by
         * decreasing mean: an arm with at least as many draws as an earlier
         * one has a bound no higher than it. Pinsker caps the bound at
         * m + sqrt(level / 2). */
        bool dominated = n[a] >= n_min || m + sqrt(level / 2.0) <= ub_best;
        if (n[a] < n_min) n_min = n[a];
        if (dominated) continue;
        double ub = xd_kl_upper(m, level);
        if (ub > ub_best) ub_best = ub, *u = a;
    }
    return ub_best - lb_worst;
}

size_t xd_lucb_draw_size(const xd_lucb_opts *o, double n, double p, double q, double beta) {
    if (!o->adaptive) return o->batch;
    size_t lo = o->min_batch ? o->min_batch : 1;
    double kl = xd_kl_bernoulli(p, q), need = kl > 0 ? ceil(beta / kl - n) : (double)o->batch;
    size_t b = need > (double)o->batch ? o->batch : need > (double)lo ? (size_t)need : lo;
    return b < o->batch ? b : o->batch;
}

/* scratch (2 K size_t: draw_empty's arms and counts), means (K double),
 * order and the radix sort's buffer (K uint32_t each). */
size_t xd_lucb_work_size(size_t K) {
    return xd_mul(K ? K : 1, 2 * sizeof(size_t) + sizeof(double) + 2 * sizeof(uint32_t));
}

/* Gives every arm without draws one draw, in one call. */
static xai_status draw_empty(size_t K, const double *n, xd_lucb_draw_fn draw, void *ctx,
                             size_t *scratch, xai_error *err) {
    size_t m = 0;
    for (size_t i = 0; i < K; i++)
        if (!(n[i] > 0)) scratch[m++] = i;
    if (m == 0) return XAI_OK;
    size_t *counts = scratch + K;
    for (size_t i = 0; i < m; i++) counts[i] = 1;
    return draw(ctx, scratch, counts, m, err);
}

xai_status xd_kl_lucb(size_t K, double *n, double *pos, const xd_lucb_opts *o,
                      xd_lucb_draw_fn draw, void *ctx, size_t *top, size_t *rounds,
                      xai_error *err) {
    if (rounds) *rounds = 0;
    if (K == 0) return XAI_OK;
    size_t top_n = o->top_n < K ? o->top_n : K;
    if (K > UINT32_MAX) return xd_err(err, XAI_ERR_LIMIT, "kl-lucb: %zu arms", K);
    void *own = o->work ? NULL : xd_try_malloc(xd_lucb_work_size(K));
    if (o->work == NULL && own == NULL) return xd_err(err, XAI_ERR_NOMEM, "kl-lucb: %zu arms", K);
    size_t *scratch = o->work ? o->work : own;
    double *means = (double *)(scratch + 2 * K);
    uint32_t *order = (uint32_t *)(means + K), *tmp = order + K;
    for (size_t i = 0; i < K; i++) order[i] = (uint32_t)i;
    xai_status st = draw_empty(K, n, draw, ctx, scratch, err);
    size_t t = 1;
    bool sorted = false;    /* order matches the counts: no draw since the last sort */
    while (st == XAI_OK && top_n < K) {
        resort(K, n, pos, means, order, t == 1 ? tmp : NULL);
        sorted = true;
        size_t u = order[top_n], l = order[0];
        double beta = xd_kl_beta(K, (double)t, o->delta);
        double gap = lucb_gap(K, n, top_n, beta, means, order, &u, &l);
        if (gap <= o->epsilon || (o->max_rounds && t > o->max_rounds)) break;
        /* Adaptive draws aim at half the slack each: ub(u) - lb(l) <= eps
         * holds once both bounds are within (eps - (m_u - m_l)) / 2 of
         * their means. */
        double mu = mean_of(n, pos, u), ml = mean_of(n, pos, l);
        double half = 0.5 * (o->epsilon - (mu - ml));
        size_t arms[2] = {u, l};
        size_t counts[2] = {xd_lucb_draw_size(o, n[u], mu, fmin(mu + half, 1.0), beta),
                            xd_lucb_draw_size(o, n[l], ml, fmax(ml - half, 0.0), beta)};
        st = draw(ctx, arms, counts, 2, err);
        sorted = false;
        t++;
    }
    if (st == XAI_OK) {
        if (!sorted) resort(K, n, pos, means, order, NULL);
        for (size_t i = 0; i < top_n; i++) top[i] = order[i];
        if (rounds) *rounds = t - 1;
    }
    xd_free(own);
    return st;
}
