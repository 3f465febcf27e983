/* kernelshap_core.c — KernelSHAP on an oracle: shap's coalition schedule,
 * the constrained weighted regression, and a standard error for every value.
 *
 * Schedule (shap KernelExplainer, l1_reg=False). Sizes s = 1..ceil((d-1)/2)
 * carry kernel weight (d-1)/(s(d-s)), doubled for the sizes paired with their
 * complement (s <= floor((d-1)/2)), normalized. From the smallest size up, a
 * size is enumerated completely, with complements, while
 *     samples_left * remaining_weight[s] / n_subsets(s) >= 1 - 1e-8,
 * the remaining weights being renormalized after each enumerated size. The
 * rest of the budget is drawn: a size by its remaining weight (halved for
 * paired sizes, a draw yields two coalitions), a uniform subset of that size,
 * and its complement. A repeated draw adds a count to the coalition, not a
 * sample to the budget; at the end the random coalitions share the weight of
 * the sizes not enumerated in proportion to their counts.
 *
 * Improved schedule (shap_schedule = false, the default). The same
 * enumeration of the small sizes, then every draw is a pair {S, complement}
 * (the middle size too when d is even, shap #4117) that has not been drawn
 * before (rejection), so the budget buys distinct coalitions only. Draws
 * are stratified by size: the next pair goes to the size whose count lags
 * most behind its share of the kernel weight, so each size gets its share
 * to within one pair, deterministically. A size s keeps its exact kernel
 * mass w_s, shared equally by its 2 n_s drawn coalitions: with a uniform
 * sample without replacement inside a size every coalition is equally
 * likely, so this is the Horvitz-Thompson weight, and the random total
 * weight per size of shap's schedule (counts) is gone. (Sampling the sizes
 * uniformly, the leverage scores of Musco & Witter 2024, and Neyman
 * allocation from a pilot were measured and did worse on
 * bench/shap_accuracy.c.)
 *
 * Solve. With v0 = v(0), v1 = v(1), efficiency sum phi = v1 - v0 is imposed
 * by eliminating the last feature: for each coalition z,
 *     x_j = z_j - z_last (j < d-1),  y' = v(z) - v0 - z_last (v1 - v0),
 * beta = argmin sum w (y' - x.beta)^2 via the normal equations (Cholesky,
 * SVD when singular), phi_j = beta_j, phi_last = v1 - v0 - sum beta. The
 * rows are rebuilt from the masks in chunks, never stored as an n x d matrix.
 * With every coalition enumerated this is exactly the Shapley value.
 *
 * Standard errors (sandwich / delta method). beta - beta* ~ A^-1 sum_i w_i x_i
 * r_i with A = sum w x x^T: the estimator is linear in the per-draw scores
 * g_u = c_u sum_{i in draw u} x_i r_i (r the residuals at beta, c_u the
 * weight one draw's coalitions carry); enumerated coalitions are fixed and
 * add no variance. shap: the draws are i.i.d., c_u = weight_left / C (C the
 * total count), and S = N/(N-1) sum_u (g_u - gbar)(g_u - gbar)^T over the N
 * draws. Improved: the pairs of size s are a simple random sample of n_s of
 * its P_s pairs, c_u = w_s / (2 n_s), and S sums over sizes
 * (1 - n_s/P_s) n_s/(n_s-1) sum_{u in s} (g_u - gbar_s)(g_u - gbar_s)^T
 * (stratified sampling with the finite population correction; sizes with
 * one draw are pooled with a neighbour, kernelshap_se.c). Cov(beta) =
 * A^-1 S A^-1, Var(phi_last) = 1^T Cov 1. At small budgets each score is
 * first divided by its draw's leverage term (1 - h, HC3, improved; sqrt(1 -
 * h), HC2, shap), and every se is stretched to the Student interval of its
 * Satterthwaite degrees of freedom; where no variance can be had (a
 * rank-deficient design, a draw of leverage 1, under 3 residual degrees of
 * freedom, a size without a draw) the errors are withheld, NaN with a
 * reason (se_wanted, welford_se), after the fit with triples has tried
 * fewer of them (bit_fit_with_errors). With tol > 0 the draws come in batches
 * and sampling stops once max se / (max phi - min phi) < tol.
 *
 * Three-way terms (improved schedule, unless additive_only). After the
 * additive fit, the triples that best explain its residuals join the
 * regression as odd columns and their coefficients flow into phi (the math
 * is at the top of kernelshap_triples.c); the standard errors then cover
 * the d - 1 + m unknowns (their leverages, or N / (N - m) for the m chosen
 * terms past LEV_WORK).
 * That fit, its additive start and the screening run on the rows held as
 * bits (kernelshap_bits.c): the Gram matrix from popcounts, the rest from
 * sums picked by bits. The fits without triples (shap's schedule,
 * additive_only) build dense rows in chunks.
 *
 * Every column is odd in the mask, so a complement pair stored next to
 * each other enters the Gram matrix and the screening as one row.
 *
 * Several targets (an oracle with k > 1): one schedule, one set of
 * coalitions and model rows, y a matrix (coalition-major, k per row). The
 * design does not depend on y, so the additive fits factor A once and
 * solve for all k right-hand sides, and the standard errors share A^-1 C;
 * residuals, scores and their Welford sums are per target. The three-way
 * terms are screened per target (each target's residuals pick its own
 * triples, as a run for it alone would), so the fit with triples is one
 * factorisation per target. tol stops when every target meets it.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "../core/linalg.h"
#include "kernelshap.h"

#define NONE ((size_t)-1)

/* Why no standard errors (NULL: there are), and their fewest degrees of
 * freedom; written through a pointer so the const fits can report it. */
typedef struct se_status {
    const char *reason;
    double df;
    bool fewer_terms_may_help;  /* the reason is one fewer triples can remove */
} se_status;

typedef struct ks {
    size_t d, L;                /* features; L = d - 1 additive unknowns */
    size_t P, m;                /* unknowns of the current fit: L + m three-way terms */
    size_t *trip;               /* m triples, 3 feature indices each */
    xd_link link;
    const xd_oracle *o;
    /* coalitions: the first n_fixed enumerated (weight w), then random (count cnt) */
    size_t n, cap, n_fixed, n_done;
    size_t n_full, n_sizes;     /* sizes enumerated; sizes in all (schedule) */
    uint8_t *z;
    double *w, *cnt, *y;
    /* random draws: (sample, complement or NONE, stratum) */
    size_t *da, *db, *ds, n_draws, draws_cap;
    bool strat;                 /* improved: draws stratified by size, distinct pairs */
    size_t *ns;                 /* draws per stratum (d + 1) */
    double *pop;                /* per stratum: pairs it samples from (0: with replacement) */
    struct se_status *sest;     /* how the standard errors came out */
    size_t *table, table_mask; /* open addressing over random coalitions: index + 1 */
    double weight_left, v0, v1; /* v0, v1: the current target's (select_target) */
    size_t kt, t;               /* targets (columns of y); the current one */
    double *v0s, *v1s;          /* kt each: v(0), v(1) per target, link space */
    size_t *m_of;               /* kt: three-way terms fitted per target */
    size_t n_evals;
    uint8_t *mask;              /* 2d bytes of scratch */
    size_t *idx, *pick, *scratch; /* d each */
    double *wv, *rw, *cdf;      /* per size, d each */
    double *pairs;              /* per size s <= d/2: distinct pairs {S, complement} */
} ks;

static double link_apply(xd_link link, double p) {
    if (link == XD_LINK_IDENTITY) return p;
    p = XD_MIN(XD_MAX(p, 1e-12), 1.0 - 1e-12);
    return log(p / (1.0 - p));
}

static xai_status grow(ks *k, size_t need, xai_error *err) {
    if (need <= k->cap) return XAI_OK;
    size_t cap = XD_MAX(need, k->cap * 2 + 64);
    uint8_t *z = xd_try_realloc(k->z, xd_mul(cap, k->d));
    if (z) k->z = z;
    double *w = z ? xd_try_realloc(k->w, xd_mul(cap, sizeof *w)) : NULL;
    if (w) k->w = w;
    double *c = w ? xd_try_realloc(k->cnt, xd_mul(cap, sizeof *c)) : NULL;
    if (c) k->cnt = c;
    double *y = c ? xd_try_realloc(k->y, xd_mul(xd_mul(cap, k->kt), sizeof *y)) : NULL;
    if (y) k->y = y;
    if (y == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu coalitions", cap);
    k->cap = cap;
    return XAI_OK;
}

/* Appends coalition `mask` with fixed weight w and count c; returns its index. */
static xai_status add(ks *k, const uint8_t *mask, double w, double c, size_t *idx,
                      xai_error *err) {
    xai_status st = grow(k, k->n + 1, err);
    if (st != XAI_OK) return st;
    memcpy(k->z + k->n * k->d, mask, k->d);
    k->w[k->n] = w;
    k->cnt[k->n] = c;
    for (size_t t = 0; t < k->kt; t++) k->y[k->n * k->kt + t] = 0;
    if (idx) *idx = k->n;
    k->n++;
    return XAI_OK;
}

/* ---- the enumerated part ------------------------------------------------- */

static double binom(size_t n, size_t s) {
    double r = 1;
    for (size_t i = 1; i <= s; i++) r = r * (double)(n - s + i) / (double)i;
    return r;
}

/* Adds every s-subset (and its complement when paired) with weight w. */
static xai_status enumerate_size(ks *k, size_t s, bool paired, double w, xai_error *err) {
    size_t *idx = k->idx;
    uint8_t *mask = k->mask;
    for (size_t i = 0; i < s; i++) idx[i] = i;
    for (;;) {
        memset(mask, 0, k->d);
        for (size_t i = 0; i < s; i++) mask[idx[i]] = 1;
        xai_status st = add(k, mask, w, 0, NULL, err);
        for (size_t j = 0; st == XAI_OK && paired && j < k->d; j++) mask[j] ^= 1;
        if (st == XAI_OK && paired) st = add(k, mask, w, 0, NULL, err);
        if (st != XAI_OK) return st;
        size_t i = s;
        while (i > 0 && idx[i - 1] == k->d - s + i - 1) i--;
        if (i == 0) return XAI_OK;
        idx[i - 1]++;
        for (size_t j = i; j < s; j++) idx[j] = idx[j - 1] + 1;
    }
}

typedef struct schedule {
    size_t n_sizes, n_paired;   /* ceil((d-1)/2), floor((d-1)/2) */
    bool pair_mid;              /* draws of the middle size add the complement */
    bool exhausted;             /* improved: every pair of every size drawn */
    double *wv;                 /* normalized kernel weight per size 1..n_sizes */
    size_t n_full;              /* sizes enumerated */
    size_t left;                /* budget left for random coalitions */
} schedule;

static void schedule_init(schedule *sc, double *wv, size_t d, size_t nsamples,
                          bool shap_schedule) {
    memset(sc, 0, sizeof *sc);
    sc->wv = wv;
    sc->n_sizes = d / 2;             /* ceil((d-1)/2) */
    sc->n_paired = (d - 1) / 2;
    sc->pair_mid = !shap_schedule && sc->n_sizes > sc->n_paired;
    double sum = 0;
    for (size_t s = 1; s <= sc->n_sizes; s++) {
        sc->wv[s - 1] = (double)(d - 1) / (double)(s * (d - s));
        if (s <= sc->n_paired) sc->wv[s - 1] *= 2;
        sum += sc->wv[s - 1];
    }
    for (size_t s = 0; s < sc->n_sizes; s++) sc->wv[s] /= sum;
    sc->left = nsamples;
}

static xai_status enumerate(ks *k, schedule *sc, xai_error *err) {
    double *rw = k->rw;
    memcpy(rw, sc->wv, sc->n_sizes * sizeof *rw);
    for (size_t s = 1; s <= sc->n_sizes; s++) {
        bool paired = s <= sc->n_paired;
        double nsub = binom(k->d, s) * (paired ? 2 : 1);
        if (!((double)sc->left * rw[s - 1] / nsub >= 1.0 - 1e-8)) break;
        sc->n_full++;
        sc->left -= (size_t)nsub;
        if (rw[s - 1] < 1.0) {
            double f = 1.0 - rw[s - 1];
            for (size_t t = 0; t < sc->n_sizes; t++) rw[t] /= f;
        }
        double w = sc->wv[s - 1] / binom(k->d, s) / (paired ? 2 : 1);
        xai_status st = enumerate_size(k, s, paired, w, err);
        if (st != XAI_OK) return st;
    }
    k->n_fixed = k->n;
    k->weight_left = 0;
    for (size_t s = sc->n_full; s < sc->n_sizes; s++) k->weight_left += sc->wv[s];
    return XAI_OK;
}

/* ---- the random part ----------------------------------------------------- */

static size_t *table_slot(ks *k, const uint8_t *mask) {
    size_t h = (size_t)xd_hash64(mask, k->d, 0x6b73) & k->table_mask;
    for (;; h = (h + 1) & k->table_mask) {
        size_t v = k->table[h];
        if (v == 0 || memcmp(k->z + (v - 1) * k->d, mask, k->d) == 0) return &k->table[h];
    }
}

/* Looks a random coalition up, adding it (count 0) when new and `budget`
 * allows; *fresh tells which. NONE when absent and not added. */
static xai_status find_or_add(ks *k, const uint8_t *mask, size_t *budget, bool *fresh,
                              size_t *idx, xai_error *err) {
    size_t *slot = table_slot(k, mask);
    *fresh = *slot == 0;
    *idx = *slot ? *slot - 1 : NONE;
    if (!*fresh || *budget == 0) return XAI_OK;
    xai_status st = add(k, mask, 0, 0, idx, err);
    if (st != XAI_OK) return st;
    *slot = *idx + 1;
    (*budget)--;
    return XAI_OK;
}

static xai_status record_draw(ks *k, size_t a, size_t b, size_t stratum, xai_error *err) {
    if (k->n_draws == k->draws_cap) {
        size_t cap = k->draws_cap * 2 + 64;
        size_t *da = xd_try_realloc(k->da, xd_mul(cap, sizeof *da));
        if (da) k->da = da;
        size_t *db = da ? xd_try_realloc(k->db, xd_mul(cap, sizeof *db)) : NULL;
        if (db) k->db = db;
        size_t *ds = db ? xd_try_realloc(k->ds, xd_mul(cap, sizeof *ds)) : NULL;
        if (ds == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu draws", cap);
        k->ds = ds;
        k->draws_cap = cap;
    }
    k->da[k->n_draws] = a;
    k->db[k->n_draws] = b;
    k->ds[k->n_draws] = stratum;
    k->ns[stratum]++;
    k->n_draws++;
    k->cnt[a] += 1;
    if (b != NONE) k->cnt[b] += 1;
    return XAI_OK;
}

/* The size distribution of draws: remaining weights, halved where a draw
 * yields two coalitions, as a cumulative table over sizes n_full+1.. */
static void draw_cdf(const schedule *sc, double *cdf) {
    double sum = 0;
    for (size_t s = sc->n_full + 1; s <= sc->n_sizes; s++) {
        bool two = s <= sc->n_paired || sc->pair_mid;
        sum += sc->wv[s - 1] / (two ? 2 : 1);
        cdf[s - 1] = sum;
    }
    for (size_t s = sc->n_full + 1; s <= sc->n_sizes; s++) cdf[s - 1] /= sum;
}

static size_t draw_size(const schedule *sc, const double *cdf, xai_rng *r) {
    double u = xai_rng_uniform(r);
    for (size_t s = sc->n_full + 1; s < sc->n_sizes; s++)
        if (u < cdf[s - 1]) return s;
    return sc->n_sizes;
}

/* One draw as shap makes it: a subset, then its complement when paired and
 * the budget is not spent. */
static xai_status draw_one(ks *k, schedule *sc, xai_rng *r, size_t *added, xai_error *err) {
    uint8_t *mask = k->mask;
    size_t s = draw_size(sc, k->cdf, r), a, b = NONE;
    bool fresh, fresh_b;
    xai_rng_sample(r, k->d, s, k->pick, k->scratch);
    memset(mask, 0, k->d);
    for (size_t i = 0; i < s; i++) mask[k->pick[i]] = 1;
    size_t before = sc->left;
    xai_status st = find_or_add(k, mask, &sc->left, &fresh, &a, err);
    if (st == XAI_OK && sc->left > 0 && (s <= sc->n_paired || sc->pair_mid)) {
        for (size_t j = 0; j < k->d; j++) mask[j] ^= 1;
        st = find_or_add(k, mask, &sc->left, &fresh_b, &b, err);
    }
    if (st != XAI_OK) return st;
    *added += before - sc->left;
    return record_draw(k, a, b, 0, err);
}

/* Distinct pairs {S, complement} of size s (s <= d/2). */
static double pairs_of(size_t d, size_t s) {
    return binom(d, s) / (2 * s == d ? 2 : 1);
}

/* Improved schedule: the size whose share of the draws lags most behind
 * its target share k->rw (remaining proportions), among the sizes with a
 * pair not yet drawn; 0 when there is none. Deterministic, so every size
 * gets its share to within one draw at any point. */
static size_t pick_size(const ks *k, const schedule *sc) {
    size_t best = 0, total = 0;
    double lag = -INFINITY;
    for (size_t s = sc->n_full + 1; s <= sc->n_sizes; s++) total += k->ns[s];
    for (size_t s = sc->n_full + 1; s <= sc->n_sizes; s++) {
        if ((double)k->ns[s] >= k->pairs[s]) continue;
        double l = k->rw[s - 1] * (double)(total + 1) - (double)k->ns[s];
        if (l > lag) lag = l, best = s;
    }
    return best;
}

/* Improved schedule: one new pair {S, complement} of a size from
 * pick_size, S uniform among the subsets not drawn yet (rejection). */
static xai_status draw_pair(ks *k, schedule *sc, xai_rng *r, size_t *added, xai_error *err) {
    uint8_t *mask = k->mask;
    size_t s = pick_size(k, sc), a, b;
    bool fresh;
    if (s == 0) {
        sc->exhausted = true;
        return XAI_OK;
    }
    do {
        xai_rng_sample(r, k->d, s, k->pick, k->scratch);
        memset(mask, 0, k->d);
        for (size_t i = 0; i < s; i++) mask[k->pick[i]] = 1;
    } while (*table_slot(k, mask) != 0);
    xai_status st = find_or_add(k, mask, &sc->left, &fresh, &a, err);
    for (size_t j = 0; j < k->d; j++) mask[j] ^= 1;
    if (st == XAI_OK) st = find_or_add(k, mask, &sc->left, &fresh, &b, err);
    if (st != XAI_OK) return st;
    *added += 2;
    return record_draw(k, a, b, s, err);
}

/* Weights of the drawn coalitions and the population of each stratum.
 * Improved: a size s not enumerated keeps its exact kernel mass w_s, shared
 * equally by its 2 n_s drawn coalitions (the Horvitz-Thompson weight of a
 * sample without replacement: every coalition of the size is equally
 * likely); its draws are a simple random sample of n_s of the P_s pairs, so
 * the scores' variance gets the finite population factor 1 - n_s / P_s.
 * shap: one stratum of i.i.d. draws, weights by counts (weight_of). */
static void stratum_weights(ks *k, const schedule *sc) {
    if (!k->strat) return;          /* one stratum, with replacement: pop[0] = 0 */
    for (size_t u = 0; u < k->n_draws; u++) {
        size_t s = k->ds[u];
        double w = sc->wv[s - 1] / (2.0 * (double)k->ns[s]);
        k->w[k->da[u]] = k->w[k->db[u]] = w;
    }
    for (size_t s = 1; s <= sc->n_sizes; s++) k->pop[s] = k->pairs[s];
}

/* ---- evaluation and the solve ---------------------------------------- */

static xai_status evaluate_new(ks *k, xai_error *err) {
    size_t m = k->n - k->n_done;
    if (m == 0) return XAI_OK;
    double *y = k->y + k->n_done * k->kt;
    xai_status st = k->o->eval(k->o->ctx, k->z + k->n_done * k->d, m, y, err);
    if (st != XAI_OK) return st;
    for (size_t i = 0; i < m * k->kt; i++) y[i] = link_apply(k->link, y[i]);
    k->n_evals += m;
    k->n_done = k->n;
    return XAI_OK;
}

/* The regression is formed without an n x d design in memory: rows are made
 * from the masks in chunks of CHUNK and folded into the p x p Gram matrix
 * (fresh multi-megabyte buffers per solve cost more in page faults than
 * the arithmetic). */
enum { CHUNK = 256 };

typedef struct solve_buf {
    double *A, *rhs;            /* P x P, P */
    double *rows, *rw;          /* CHUNK x P, CHUNK */
    double *res;                /* residual of each random coalition at beta */
    double total;               /* sum of the random counts */
    size_t n_rows;              /* rows of the regression, a complement pair one */
} solve_buf;

/* Makes target t the current one (target_of, phi_of_theta). */
static void select_target(ks *k, size_t t) {
    k->t = t;
    k->v0 = k->v0s[t];
    k->v1 = k->v1s[t];
}

/* The adjusted target y' of coalition i for target t. */
static double target_at(const ks *k, size_t i, size_t t) {
    double v0 = k->v0s[t], v1 = k->v1s[t];
    return k->y[i * k->kt + t] - v0 - (double)k->z[i * k->d + k->L] * (v1 - v0);
}

/* The adjusted target y' of coalition i for the current target. */
static double target_of(const ks *k, size_t i) { return target_at(k, i, k->t); }

/* Regression row x (P values) of coalition i; returns its adjusted target. */
static double row_of(const ks *k, size_t i, double *x) {
    const uint8_t *z = k->z + i * k->d;     /* bytes 0 or 1 */
    double zl = (double)z[k->L];
    for (size_t j = 0; j < k->L; j++) x[j] = (double)z[j] - zl;
    return target_of(k, i);
}

/* Final weight of coalition i: fixed, or its share of weight_left. */
static double weight_of(const ks *k, const solve_buf *b, size_t i) {
    if (i < k->n_fixed || k->strat) return k->w[i];
    return b->total > 0 ? k->weight_left * k->cnt[i] / b->total : 0;
}

/* A = sum w x x^T and rhs = sum w y' x over all coalitions (rhs P x kt,
 * one column per target), a complement pair stored next to each other as
 * one row (xd_kshap_is_complement). */
static xai_status normal_equations(const ks *k, solve_buf *b, xai_error *err) {
    size_t L = k->P, i = 0, d = k->d, kt = k->kt;
    b->n_rows = 0;
    memset(b->A, 0, L * L * sizeof *b->A);
    memset(b->rhs, 0, L * kt * sizeof *b->rhs);
    while (i < k->n) {
        size_t m = 0;
        for (; m < CHUNK && i < k->n; m++, i++) {
            double *x = b->rows + m * L, wa = weight_of(k, b, i), wb = 0;
            row_of(k, i, x);
            bool pair = i + 1 < k->n &&
                        xd_kshap_is_complement(k->z + i * d, k->z + (i + 1) * d, d);
            if (pair) wb = weight_of(k, b, i + 1);
            for (size_t t = 0; t < kt; t++) {
                double wy = wa * target_at(k, i, t);
                if (pair) wy -= wb * target_at(k, i + 1, t);
                for (size_t j = 0; j < L; j++) b->rhs[j * kt + t] += wy * x[j];
            }
            if (pair) wa += wb, i++;
            b->rw[m] = wa;
            b->n_rows++;
        }
        xai_status st = xd_linalg_wgram(b->rows, m, L, b->rw, 1.0, b->A, err);
        if (st != XAI_OK) return st;
    }
    return XAI_OK;
}

/* Residuals y' - x.beta of the random coalitions, into b->res. */
static void residuals(const ks *k, solve_buf *b, const double *beta) {
    double *x = b->rows;
    for (size_t i = k->n_fixed; i < k->n; i++) {
        double r = row_of(k, i, x);
        for (size_t j = 0; j < k->P; j++) r -= x[j] * beta[j];
        b->res[i - k->n_fixed] = r;
    }
}

/* g_u = c_u sum_{i in draw u} x_i r_i, c_u the weight one draw carries:
 * weight_left / C (shap) or its coalitions' weight (improved). */
static void draw_score(const ks *k, const solve_buf *b, size_t u, double *g, double *x) {
    size_t L = k->P, d = k->d, idx[2] = {k->da[u], k->db[u]};
    double cu = k->strat ? k->w[idx[0]] : k->weight_left / b->total, c[2];
    for (int t = 0; t < 2; t++) c[t] = idx[t] == NONE ? 0.0 : cu * b->res[idx[t] - k->n_fixed];
    if (idx[1] != NONE && xd_kshap_is_complement(k->z + idx[0] * d, k->z + idx[1] * d, d)) {
        c[0] -= c[1];       /* x(complement) = -x: one row */
        idx[1] = NONE;
    }
    memset(g, 0, L * sizeof *g);
    for (int t = 0; t < 2 && idx[t] != NONE; t++) {
        row_of(k, idx[t], x);
        for (size_t j = 0; j < L; j++) g[j] += c[t] * x[j];
    }
}

/* The coefficients of phi in theta, phi_j = c_j . theta (+ v1 - v0 for
 * j = L), into column j of C (P rows, stride ldc): c_j = e_j plus 2/3 on
 * each triple holding j (j < L), c_L = minus the sum of the others. */
static void coef_columns(const ks *k, double *C, size_t ldc) {
    size_t L = k->L;
    for (size_t i = 0; i < k->P; i++)
        for (size_t j = 0; j <= L; j++) C[i * ldc + j] = 0;
    for (size_t i = 0; i < L; i++) C[i * ldc + i] = 1, C[i * ldc + L] = -1;
    for (size_t t = 0; t < k->m; t++)
        for (size_t q = 0; q < 3; q++) {
            size_t f = k->trip[3 * t + q];
            if (f == L) continue;
            C[(L + t) * ldc + f] += 2.0 / 3.0;
            C[(L + t) * ldc + L] -= 2.0 / 3.0;
        }
}

/* phi from theta (column 0 of B, row stride ldb): phi_j = theta_j plus
 * 2/3 of every triple holding j, and phi_L closes the sum to v1 - v0. */
static void phi_of_theta(const ks *k, const double *B, size_t ldb, double *phi) {
    size_t L = k->L;
    for (size_t j = 0; j < L; j++) phi[j] = B[j * ldb];
    for (size_t t = 0; t < k->m; t++)
        for (size_t q = 0; q < 3; q++)
            if (k->trip[3 * t + q] != L) phi[k->trip[3 * t + q]] += 2.0 / 3.0 * B[(L + t) * ldb];
    phi[L] = k->v1 - k->v0;
    for (size_t j = 0; j < L; j++) phi[L] -= phi[j];
}

/* Per stratum, the running mean and sum of squared deviations (Welford's
 * update) of the d projections t_uj = v_j . g_u of the draws' scores. */
typedef struct welford {
    double *mean, *m2;      /* (d + 1) x d */
    size_t *seen;           /* d + 1 */
    double *var, *df;       /* d each: the result */
} welford;

static xai_status welford_init(welford *wf, size_t d, xai_error *err) {
    size_t H = d + 1;
    wf->mean = xd_try_calloc(H * d + 1, sizeof *wf->mean);
    wf->m2 = xd_try_calloc(H * d + 1, sizeof *wf->m2);
    wf->seen = xd_try_calloc(H, sizeof *wf->seen);
    wf->var = xd_try_calloc(d + 1, sizeof *wf->var);
    wf->df = xd_try_calloc(d + 1, sizeof *wf->df);
    if (wf->mean && wf->m2 && wf->seen && wf->var && wf->df) return XAI_OK;
    return xd_err(err, XAI_ERR_NOMEM, "kernelshap: standard errors");
}

static void welford_clear(welford *wf, size_t d) {
    memset(wf->mean, 0, (d + 1) * d * sizeof *wf->mean);
    memset(wf->m2, 0, (d + 1) * d * sizeof *wf->m2);
    memset(wf->seen, 0, (d + 1) * sizeof *wf->seen);
}

static void welford_release(welford *wf) {
    xd_free(wf->mean);
    xd_free(wf->m2);
    xd_free(wf->seen);
    xd_free(wf->var);
    xd_free(wf->df);
}

static void welford_add(welford *wf, size_t d, size_t h, const double *t) {
    size_t n = ++wf->seen[h];
    double *mean = wf->mean + h * d, *m2 = wf->m2 + h * d;
    for (size_t j = 0; j < d; j++) {
        double delta = t[j] - mean[j];
        mean[j] += delta / (double)n;
        m2[j] += delta * (t[j] - mean[j]);
    }
}

/* Withholds every standard error (NaN) and says why (the first reason
 * given stands). */
static void withhold(const ks *k, double *se, const char *why) {
    for (size_t j = 0; j < k->d; j++) se[j] = NAN;
    if (k->sest->reason == NULL) k->sest->reason = why;
}

/* The same for a reason that fewer unknowns can remove (a rank-deficient
 * design, a draw of leverage 1, too few residual degrees of freedom). */
static void withhold_for_terms(const ks *k, double *se, const char *why) {
    if (k->sest->reason == NULL) k->sest->fewer_terms_may_help = true;
    withhold(k, se, why);
}

/* se_j from the strata (kernelshap_se.c: collapsed to two draws a group,
 * finite population corrected), times hc, stretched to the Student
 * interval of its Satterthwaite degrees of freedom. Withheld when the fit
 * leaves fewer than MIN_RESID_DF residual degrees of freedom (rdf = rows,
 * a complement pair one, minus unknowns: the residuals the scores are made
 * of are then nearly all fitted away; at 1 and 2 shap's schedule covered
 * 0.4-0.9 on bench/kshap_coverage) or no group of two draws. */
#define MIN_RESID_DF 3.0
static void welford_se(const ks *k, welford *wf, double hc, double rdf, double *se) {
    size_t d = k->d;
    if (rdf < MIN_RESID_DF) {
        withhold_for_terms(k, se, "budget too small for a variance: "
                                  "too few residual degrees of freedom");
        return;
    }
    if (xd_kshap_strata_var(d, d + 1, wf->seen, wf->mean, wf->m2, k->pop, wf->var, wf->df) == 0) {
        withhold(k, se, "fewer than two random draws: no variance to estimate");
        return;
    }
    double low = INFINITY;
    for (size_t j = 0; j < d; j++) {
        se[j] = sqrt(XD_MAX(hc * wf->var[j], 0.0)) * xd_kshap_t975(wf->df[j]) / XD_KSHAP_Z975;
        low = XD_MIN(low, wf->df[j]);
    }
    k->sest->df = low;
}

/* Leverages are computed when N P^2 is at most LEV_WORK (small budgets,
 * where they matter); past it the m screened triples' share is taken as
 * N / (N - m) (MacKinnon and White's HC1), the draws' own share being
 * small. A draw of leverage 1 fits part of the model alone: no variance. */
#define LEV_WORK 16777216.0
#define LEV_MAX (1 - 1e-9)
#define ALONE "a random draw alone determines part of the fit"

/* What a draw's score is divided by for its leverage h: 1 - h (HC3, the
 * delete-one jackknife of a linear fit) for the improved schedule's
 * stratified pairs, sqrt(1 - h) (HC2, unbiased for i.i.d. errors) for
 * shap's i.i.d. draws; on bench/kshap_coverage each was the one whose
 * intervals covered 90-98% at the most budgets (HC2 on the strata
 * under-covered at d = 6 with 24 coalitions, HC3 on shap's draws
 * over-covered). */
static double lev_divisor(const ks *k, double h) {
    return k->strat ? 1 - h : sqrt(1 - h);
}

static bool use_leverage(const ks *k) {
    return (double)k->n_draws * (double)k->P * (double)k->P <= LEV_WORK;
}

/* HC1's factor when the leverages are not used. */
static double triple_hc(const ks *k) {
    return (double)k->n_draws / (double)(k->n_draws - k->m);    /* N >= 2m: triples_wanted */
}

/* A^-1 (P x P) into Ainv from A (unchanged). */
static xai_status inverse(const double *A, size_t P, double *Ainv, xai_error *err) {
    double *Ac = xd_try_malloc(xd_mul(xd_mul(P, P) + 1, sizeof *Ac));
    if (Ac == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu x %zu inverse", P, P);
    memcpy(Ac, A, P * P * sizeof *Ac);
    memset(Ainv, 0, P * P * sizeof *Ainv);
    for (size_t p = 0; p < P; p++) Ainv[p * P + p] = 1;
    xai_status st = xd_linalg_sym_solve(Ac, P, Ainv, P, NULL, err);
    xd_free(Ac);
    return st;
}

/* Sets se to 0 and tells whether the draws give a variance: not when the
 * fit was rank-deficient (its values are one of many that fit the
 * coalitions equally), when a size that is not enumerated got no draw (its
 * kernel mass is missing from the fit, a bias no variance shows), or when
 * there are no draws (exact when every size is enumerated, else withheld). */
static bool se_wanted(const ks *k, int deficient, double *se) {
    for (size_t j = 0; j < k->d; j++) se[j] = 0;
    if (deficient) {
        withhold_for_terms(k, se, "the coalitions do not determine the values "
                                  "(rank-deficient design)");
        return false;
    }
    bool missing = k->n_full < k->n_sizes && k->n_draws == 0;
    for (size_t s = k->n_full + 1; k->strat && s <= k->n_sizes; s++) missing |= k->ns[s] == 0;
    if (missing) {
        withhold(k, se, "budget too small: some coalition size got no random draw");
        return false;
    }
    return k->n_draws > 0;
}

/* The leverages h[0..m) of draws u0.. in the dense fit: the weight each
 * draw's coalitions carry in A (c_u each, a complement pair two) times
 * x^T A^-1 x, the m rows x in X (m x P, scratch) and X A^-1 in XA. */
static void dense_leverages(const ks *k, const solve_buf *b, size_t u0, size_t m,
                            const double *Ainv, double *X, double *XA, double *h) {
    size_t P = k->P;
    for (size_t r = 0; r < m; r++) row_of(k, k->da[u0 + r], X + r * P);
    xd_linalg_matmul(X, m, P, Ainv, P, XA);
    for (size_t r = 0; r < m; r++) {
        size_t u = u0 + r;
        double cu = k->strat ? k->w[k->da[u]] : k->weight_left / b->total, q = 0;
        for (size_t p = 0; p < P; p++) q += X[r * P + p] * XA[r * P + p];
        h[r] = (k->db[u] == NONE ? 1.0 : 2.0) * cu * q;
    }
}

/* Standard errors of all d values by the sandwich Cov(theta) = A^-1 S A^-1,
 * S = sum_h fac_h sum_{u in h} (g_u - gbar_h)(g_u - gbar_h)^T over the
 * strata h (shap: one, fac = N/(N-1); strata of one draw pooled, see
 * welford_se), each score divided by its leverage term (lev_divisor).
 * Var(phi_j) = c_j^T Cov c_j = sum_h fac_h sum_u (t_uj - tbar_hj)^2 with
 * t_uj = v_j . g_u and v_j = A^-1 c_j, so S is never formed and one pass
 * over the draws (welford) costs d P per draw, not P^2. This is the dense
 * path, for fits without three-way terms; bit_standard_errors is the same
 * computation on bit rows. With several
 * targets V and the leverages are shared and theta holds one column per
 * target (stride kt); se is kt x d. */
static xai_status standard_errors(ks *k, solve_buf *b, const double *theta, double *se,
                                  xai_error *err) {
    size_t P = k->P, d = k->d, N = k->n_draws, kt = k->kt;
    bool lev = use_leverage(k);
    double *x = b->rows + (CHUNK - 1) * P;  /* scratch: the chunks use CHUNK - 1 rows */
    double *V = xd_try_malloc(xd_mul(xd_mul(P, d) + 1, sizeof *V));
    double *T = xd_try_malloc(xd_mul(xd_mul(CHUNK, d) + 1, sizeof *T));
    double *beta = xd_try_malloc(xd_mul(P + 1, sizeof *beta));
    double *Ainv = lev ? xd_try_malloc(xd_mul(xd_mul(P, P) + 1, sizeof *Ainv)) : NULL;
    double *X = lev ? xd_try_malloc(xd_mul(xd_mul(2 * CHUNK, P) + 1, sizeof *X)) : NULL;
    double *h = xd_try_calloc(N + 1, sizeof *h);  /* per draw; the design's, so every target's */
    welford wf = {0};
    xai_status st = V && T && beta && h && ((Ainv && X) || !lev)
                        ? welford_init(&wf, d, err)
                        : xd_err(err, XAI_ERR_NOMEM, "kernelshap: standard errors");
    if (st == XAI_OK && lev) st = inverse(b->A, P, Ainv, err);
    for (size_t u0 = 0; st == XAI_OK && lev && u0 < N; u0 += CHUNK - 1)
        dense_leverages(k, b, u0, XD_MIN((size_t)CHUNK - 1, N - u0), Ainv, X, X + CHUNK * P,
                        h + u0);
    bool whole = true;
    for (size_t u = 0; u < N; u++) whole &= h[u] < LEV_MAX;
    if (st == XAI_OK) coef_columns(k, V, d);
    if (st == XAI_OK) st = xd_linalg_sym_solve(b->A, P, V, d, NULL, err);
    double rdf = (double)b->n_rows - (double)P;
    for (size_t t = 0; st == XAI_OK && t < kt; t++) {
        select_target(k, t);
        for (size_t p = 0; p < P; p++) beta[p] = theta[p * kt + t];
        if (t > 0) welford_clear(&wf, d);
        residuals(k, b, beta);
        for (size_t u0 = 0; whole && u0 < N; u0 += CHUNK - 1) {
            size_t m = XD_MIN((size_t)CHUNK - 1, N - u0);
            for (size_t r = 0; r < m; r++) {
                double *g = b->rows + r * P;
                draw_score(k, b, u0 + r, g, x);
                double scale = 1 / lev_divisor(k, h[u0 + r]);
                for (size_t p = 0; p < P; p++) g[p] *= scale;
            }
            xd_linalg_matmul(b->rows, m, P, V, d, T);
            for (size_t r = 0; r < m; r++) welford_add(&wf, d, k->ds[u0 + r], T + r * d);
        }
        if (!whole) withhold_for_terms(k, se + t * d, ALONE);
        else welford_se(k, &wf, lev ? 1.0 : triple_hc(k), rdf, se + t * d);
    }
    xd_free(beta);
    xd_free(h);
    xd_free(V);
    xd_free(T);
    xd_free(Ainv);
    xd_free(X);
    welford_release(&wf);
    return st;
}

/* The additive fit of every target: one factorisation of A, kt right-hand
 * sides; phi and se are kt x d. */
static xai_status solve(ks *k, solve_buf *b, double *phi, double *se, bool with_se,
                        xai_error *err) {
    size_t d = k->d, kt = k->kt;
    b->total = 0;
    for (size_t i = k->n_fixed; i < k->n; i++) b->total += k->cnt[i];
    xai_status st = normal_equations(k, b, err);
    int deficient = 0;
    if (st == XAI_OK) st = xd_linalg_sym_solve(b->A, k->P, b->rhs, kt, &deficient, err);
    if (st != XAI_OK) return st;
    bool wanted = with_se;
    for (size_t t = 0; t < kt; t++) {
        select_target(k, t);
        phi_of_theta(k, b->rhs + t, kt, phi + t * d);
        if (with_se) wanted &= se_wanted(k, deficient, se + t * d);
    }
    if (!wanted) return XAI_OK;
    return standard_errors(k, b, b->rhs, se, err);
}

static xai_status solve_alloc_and_run(ks *k, double *phi, double *se, bool with_se,
                                      xai_error *err) {
    size_t P = k->P;
    solve_buf b = {
        .A = xd_try_malloc(xd_mul(P * P + 1, sizeof(double))),
        .rhs = xd_try_calloc(XD_MAX(xd_mul(P, k->kt), 1), sizeof(double)),
        .rows = xd_try_malloc(xd_mul(xd_mul(CHUNK, P) + 1, sizeof(double))),
        .rw = xd_try_malloc(xd_mul(CHUNK, sizeof(double))),
        .res = xd_try_malloc(xd_mul(k->n - k->n_fixed + 1, sizeof(double))),
    };
    xai_status st;
    if (!b.A || !b.rhs || !b.rows || !b.rw || !b.res)
        st = xd_err(err, XAI_ERR_NOMEM, "kernelshap: regression on %zu unknowns", P);
    else
        st = solve(k, &b, phi, se, with_se, err);
    xd_free(b.A);
    xd_free(b.rhs);
    xd_free(b.rows);
    xd_free(b.rw);
    xd_free(b.res);
    return st;
}

/* ---- three-way terms ----------------------------------------------------- */

/* How many triples the improved schedule fits: none when the schedule is
 * shap's, when every coalition is known (the additive fit is then exact),
 * or when screening all C(d, 3) triples over the n coalitions would cost
 * more than SCREEN_WORK; else at most a quarter of the pairs, and half the
 * random draws, minus the L additive unknowns (so the N draws are at least
 * 2m, see standard_errors), and at most max_triples (default and ceiling
 * MAX_TRIPLES). */
enum { MAX_TRIPLES = 512 };
#define SCREEN_WORK 4e8

static size_t triples_wanted(const ks *k, const schedule *sc, const xd_kshap_opts *opts) {
    size_t nt = xd_kshap_n_triples(k->d), quarter = k->n / 8;
    if (!k->strat || opts->additive_only || sc->n_full == sc->n_sizes || sc->exhausted)
        return 0;
    size_t half_draws = k->n_draws / 2;
    if ((double)nt * (double)k->n > SCREEN_WORK || quarter <= k->L || half_draws <= k->L)
        return 0;
    size_t cap = opts->max_triples ? XD_MIN(opts->max_triples, (size_t)MAX_TRIPLES) : MAX_TRIPLES;
    return XD_MIN(XD_MIN(XD_MIN(nt, quarter - k->L), half_draws - k->L), cap);
}

/* The fit with three-way terms, on bit rows (kernelshap_bits.c). The rows
 * are the coalitions, a complement pair stored side by side taken as one
 * (row u: its first coalition first[u], weight w[u] = w_a + w_b, weighted
 * target yw[u] = w_a y'_a - w_b y'_b). The screening's denominators and the
 * Gram matrix come from popcounts, the right side from sums of y over each
 * column's rows, and the draws' scores from sums of rows of [theta | V]
 * picked by bits; one Cholesky solves for theta and for the v_j of the
 * standard errors together. The rows must carry few distinct weights and
 * every draw must be one complement pair, as the improved schedule makes
 * them; otherwise the fit stays additive. */
enum { ROWS = 64 };              /* rows summed at a time for the standard errors */

typedef struct bit_fit {
    size_t n, n_fixed;          /* rows; of which enumerated */
    size_t *first;
    double *w, *yw;
    double *val;                /* P: 2 a_p, the value of a set bit */
    double *A, *B;              /* P x P; P x (d + 1): rhs, then c_1..c_d */
    double *ys;                 /* by bit position: yw (1 - 2 z_last), 0 in padding */
    double *acc;                /* max(P, n) of scratch */
    xd_kshap_bits bits;
} bit_fit;

static void bit_fit_release(bit_fit *f) {
    xd_free(f->first);
    xd_free(f->w);
    xd_free(f->yw);
    xd_free(f->val);
    xd_free(f->A);
    xd_free(f->B);
    xd_free(f->ys);
    xd_free(f->acc);
    xd_kshap_bits_release(&f->bits);
}

/* The rows; false when some draw is not one complement pair. */
static bool bit_rows(const ks *k, bit_fit *f) {
    size_t d = k->d;
    f->n = 0;
    for (size_t i = 0; i < k->n; i++) {
        if (i == k->n_fixed) f->n_fixed = f->n;
        size_t u = f->n++;
        f->first[u] = i;
        f->w[u] = k->w[i];
        f->yw[u] = k->w[i] * target_of(k, i);
        if (i + 1 < k->n && xd_kshap_is_complement(k->z + i * d, k->z + (i + 1) * d, d)) {
            f->w[u] += k->w[i + 1];
            f->yw[u] -= k->w[i + 1] * target_of(k, i + 1);
            i++;
        }
    }
    if (k->n_fixed == k->n) f->n_fixed = f->n;
    if (f->n - f->n_fixed != k->n_draws) return false;
    for (size_t u = 0; u < k->n_draws; u++)
        if (f->first[f->n_fixed + u] != k->da[u] || k->db[u] != k->da[u] + 1) return false;
    return true;
}

/* 1 - 2 z_last of row u: the sign every column of the row carries. */
static double row_sign(const ks *k, const bit_fit *f, size_t u) {
    return k->z[f->first[u] * k->d + k->L] ? -1.0 : 1.0;
}

/* A and the right side (into rhs, stride ld) over the first P columns:
 * sum w x x^T from popcounts, sum w y' x = 2 a_p (sum of ys over the rows
 * with D_p). */
static void bit_normal_equations(bit_fit *f, size_t P, double *rhs, size_t ld) {
    xd_kshap_bits_gram(&f->bits, f->val, P, f->A);
    xd_kshap_bits_tsum(&f->bits, f->ys, P, f->acc);
    for (size_t p = 0; p < P; p++) rhs[p * ld] = f->val[p] * f->acc[p];
}

/* h[u] = 2 w_a x^T A^-1 x for each draw u (row n_fixed + u), x_p = val_p
 * D_p (1 - 2 z_last): with W = diag(val) A^-1 diag(val), the row sums of W
 * picked by bits (xd_kshap_bits_times) give (X W)_q, and h sums them over
 * the row's own columns. */
static xai_status bit_leverages(const ks *k, bit_fit *f, double *h, xai_error *err) {
    size_t P = k->P, qs = (P + 3) & ~(size_t)3, N = k->n_draws, stride = f->bits.stride;
    double *Ainv = xd_try_malloc(xd_mul(xd_mul(P, P) + 1, sizeof *Ainv));
    double *W = xd_try_calloc(xd_mul(P, qs) + 1, sizeof *W);
    double *T = xd_try_malloc(xd_mul(xd_mul(ROWS, qs) + 1, sizeof *T));
    xai_status st = Ainv && W && T ? inverse(f->A, P, Ainv, err)
                                   : xd_err(err, XAI_ERR_NOMEM, "kernelshap: leverages");
    for (size_t p = 0; st == XAI_OK && p < P; p++)
        for (size_t q = 0; q < P; q++) W[p * qs + q] = f->val[p] * Ainv[p * P + q] * f->val[q];
    for (size_t u0 = 0; st == XAI_OK && u0 < N; u0 += ROWS) {
        size_t m = XD_MIN((size_t)ROWS, N - u0);
        xd_kshap_bits_times(&f->bits, f->n_fixed + u0, m, W, qs, T);
        for (size_t r = 0; r < m; r++) {
            size_t pos = f->bits.pos[f->n_fixed + u0 + r];
            const uint64_t *col = f->bits.col + (pos / 64) * stride;
            double q = 0;
            for (size_t c = 0; c < P; c++)
                if ((col[c] >> (pos % 64)) & 1) q += T[r * qs + c];
            h[u0 + r] = 2 * k->w[k->da[u0 + r]] * q;
        }
    }
    xd_free(Ainv);
    xd_free(W);
    xd_free(T);
    return st;
}

/* The standard errors from B = [theta | v_1 .. v_d]: for draw u (row
 * n_fixed + u), X B gives x.theta and the x.v_j at once; the pair's
 * residuals are r_a = y'_a - x.theta and r_b = y'_b + x.theta, and its
 * score g_u = c_u (r_a - r_b) x. */
static xai_status bit_standard_errors(const ks *k, bit_fit *f, double *se, xai_error *err) {
    size_t P = k->P, d = k->d, d1 = d + 1, qs = (d1 + 3) & ~(size_t)3, N = k->n_draws;
    bool lev = use_leverage(k);
    welford wf = {0};
    double *V = xd_try_calloc(xd_mul(P, qs) + 1, sizeof *V);
    double *T = xd_try_malloc(xd_mul(xd_mul(ROWS, qs) + 1, sizeof *T));
    double *h = xd_try_calloc(N + 1, sizeof *h);
    xai_status st = V && T && h ? welford_init(&wf, d, err)
                                : xd_err(err, XAI_ERR_NOMEM, "kernelshap: standard errors");
    if (st == XAI_OK && lev) st = bit_leverages(k, f, h, err);
    bool whole = true;
    for (size_t u = 0; u < N; u++) whole &= h[u] < LEV_MAX;
    for (size_t p = 0; st == XAI_OK && p < P; p++)    /* V = diag(2 a) B, rows padded */
        for (size_t j = 0; j < d1; j++) V[p * qs + j] = f->val[p] * f->B[p * d1 + j];
    for (size_t u0 = 0; st == XAI_OK && whole && u0 < N; u0 += ROWS) {
        size_t m = XD_MIN((size_t)ROWS, N - u0);
        xd_kshap_bits_times(&f->bits, f->n_fixed + u0, m, V, qs, T);
        for (size_t r = 0; r < m; r++) {
            size_t u = u0 + r, a = k->da[u];
            double sign = row_sign(k, f, f->n_fixed + u), *t = T + r * qs;
            double fit = sign * t[0];
            double ra = target_of(k, a) - fit, rb = target_of(k, a + 1) + fit;
            double g = k->w[a] * (ra - rb) * sign / lev_divisor(k, h[u]);
            for (size_t j = 0; j < d; j++) t[j] = g * t[1 + j];
            welford_add(&wf, d, k->ds[u], t);
        }
    }
    double rdf = (double)f->n - (double)P;
    if (st == XAI_OK && !whole) withhold_for_terms(k, se, ALONE);
    else if (st == XAI_OK) welford_se(k, &wf, lev ? 1.0 : triple_hc(k), rdf, se);
    welford_release(&wf);
    xd_free(V);
    xd_free(T);
    xd_free(h);
    return st;
}

/* The rows and their bits, room for P = L + m unknowns, with the additive
 * columns set; *fits as in xd_kshap_bits_init, and false when some draw is
 * not one pair. */
static xai_status bit_fit_init(const ks *k, size_t m, bit_fit *f, bool *fits, xai_error *err) {
    size_t P = k->L + m, d1 = k->d + 1, n = k->n;
    *f = (bit_fit){
        .first = xd_try_malloc(xd_mul(n + 1, sizeof(size_t))),
        .w = xd_try_malloc(xd_mul(n + 1, sizeof(double))),
        .yw = xd_try_malloc(xd_mul(n + 1, sizeof(double))),
        .val = xd_try_malloc(xd_mul(P + 1, sizeof(double))),
        .A = xd_try_malloc(xd_mul(xd_mul(P, P) + 1, sizeof(double))),
        .B = xd_try_malloc(xd_mul(xd_mul(P, d1) + 1, sizeof(double))),
        .acc = xd_try_malloc(xd_mul(XD_MAX(P, n) + 1, sizeof(double))),
    };
    *fits = false;
    if (!f->first || !f->w || !f->yw || !f->val || !f->A || !f->B || !f->acc)
        return xd_err(err, XAI_ERR_NOMEM, "kernelshap: regression on %zu unknowns", P);
    if (!bit_rows(k, f)) return XAI_OK;
    xai_status st = xd_kshap_bits_init(&f->bits, k->z, k->d, f->first, f->w, f->n, P, fits, err);
    if (st != XAI_OK || !*fits) return st;
    f->ys = xd_try_calloc(xd_mul(f->bits.W, 64) + 1, sizeof *f->ys);
    if (f->ys == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu rows", f->n);
    for (size_t u = 0; u < f->n; u++) f->ys[f->bits.pos[u]] = f->yw[u] * row_sign(k, f, u);
    for (size_t j = 0; j < k->L; j++) {
        xd_kshap_bits_column(&f->bits, j, &j, 1, k->L);
        f->val[j] = 1.0;
    }
    return XAI_OK;
}

/* Points the rows' weighted targets (yw, ys) at the current target. */
static void bit_target(const ks *k, bit_fit *f) {
    for (size_t u = 0; u < f->n; u++) {
        size_t i = f->first[u], next = u + 1 < f->n ? f->first[u + 1] : k->n;
        f->yw[u] = k->w[i] * target_of(k, i);
        if (next == i + 2) f->yw[u] -= k->w[i + 1] * target_of(k, i + 1);   /* a pair */
        f->ys[f->bits.pos[u]] = f->yw[u] * row_sign(k, f, u);
    }
}

/* The additive fit (k->m = 0) on the bit rows, for every target: one
 * factorisation, kt right-hand sides; phi is kt x d. */
static xai_status bit_additive(ks *k, bit_fit *f, double *phi, xai_error *err) {
    size_t L = k->L, kt = k->kt;
    if (kt == 1) {
        double *rhs = f->B;
        bit_normal_equations(f, L, rhs, 1);
        xai_status st = xd_linalg_sym_solve(f->A, L, rhs, 1, NULL, err);
        if (st == XAI_OK) phi_of_theta(k, rhs, 1, phi);
        return st;
    }
    double *R = xd_try_calloc(XD_MAX(xd_mul(L, kt), 1), sizeof *R);
    if (R == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu targets", kt);
    xd_kshap_bits_gram(&f->bits, f->val, L, f->A);
    for (size_t t = 0; t < kt; t++) {
        select_target(k, t);
        bit_target(k, f);
        xd_kshap_bits_tsum(&f->bits, f->ys, L, f->acc);
        for (size_t p = 0; p < L; p++) R[p * kt + t] = f->val[p] * f->acc[p];
    }
    xai_status st = xd_linalg_sym_solve(f->A, L, R, kt, NULL, err);
    for (size_t t = 0; st == XAI_OK && t < kt; t++) {
        select_target(k, t);
        phi_of_theta(k, R + t, kt, phi + t * k->d);
    }
    xd_free(R);
    return st;
}

/* Picks the m triples that best explain the residuals of the additive fit
 * phi over every row (enumerated ones included); k then has P = L + m. */
static xai_status bit_screen(ks *k, bit_fit *f, const double *phi, size_t m, xai_error *err) {
    double *wr = f->acc;                /* n doubles */
    for (size_t u = 0; u < f->n; u++) { /* w_a r_a - w_b r_b = yw - w x.phi */
        const uint8_t *z = k->z + f->first[u] * k->d;
        double fit = 0, zl = (double)z[k->L];
        for (size_t j = 0; j < k->L; j++) fit += ((double)z[j] - zl) * phi[j];
        wr[u] = f->yw[u] - f->w[u] * fit;
    }
    xai_status st = xd_kshap_screen_triples(&f->bits, k->z, f->first, wr, m, k->trip, err);
    if (st == XAI_OK) k->m = m, k->P = k->L + m;   /* m <= C(d, 3): triples_wanted */
    return st;
}

static xai_status bit_solve(const ks *k, bit_fit *f, double *phi, double *se, xai_error *err) {
    size_t P = k->P, d = k->d, d1 = d + 1;
    for (size_t t = 0; t < k->m; t++) {
        xd_kshap_bits_column(&f->bits, k->L + t, k->trip + 3 * t, 3, k->L);
        f->val[k->L + t] = 2.0;
    }
    bit_normal_equations(f, P, f->B, d1);
    coef_columns(k, f->B + 1, d1);
    int deficient = 0;
    xai_status st = xd_linalg_sym_solve(f->A, P, f->B, d1, &deficient, err);
    if (st != XAI_OK) return st;
    phi_of_theta(k, f->B, d1, phi);
    return se_wanted(k, deficient, se) ? bit_standard_errors(k, f, se, err) : XAI_OK;
}

/* From the additive fit's values (phi on entry), the screening and the fit
 * with m triples of the current target; when the m
 * leave no honest error for a reason fewer unknowns can remove (a triple
 * column one draw alone reaches, columns the draws cannot tell apart, too
 * few residual degrees of freedom: 1-4% of the runs at 140-315 coalitions
 * on bench/kshap_coverage), the best m / 2 are fitted instead, and so on
 * down to the additive fit: values nearly as good, and errors. */
static xai_status bit_fit_with_errors(ks *k, bit_fit *f, size_t m, double *phi, double *se,
                                      xai_error *err) {
    double *additive = xd_try_malloc(xd_mul(k->d + 1, sizeof *additive));
    if (additive == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu values", k->d);
    memcpy(additive, phi, k->d * sizeof *additive);
    xai_status st = XAI_OK;
    for (;;) {
        if (st == XAI_OK) st = bit_screen(k, f, additive, m, err);
        if (st == XAI_OK) xd_kshap_bits_shrink(&f->bits, k->P);   /* fewer than room was made for */
        if (st == XAI_OK) st = bit_solve(k, f, phi, se, err);
        if (st != XAI_OK || !k->sest->reason || !k->sest->fewer_terms_may_help || k->m == 0)
            break;
        m = k->m / 2;
        *k->sest = (se_status){NULL, INFINITY, false};
    }
    xd_free(additive);
    return st;
}

/* The additive fit, then (when wanted and the rows fit in bits) the fit
 * with screened triples, per target (phi, se: kt x d). */
static xai_status fit(ks *k, const schedule *sc, const xd_kshap_opts *opts, double *phi,
                      double *se, xai_error *err) {
    size_t m = triples_wanted(k, sc, opts), d = k->d;
    bit_fit f = {0};
    bool fits = false;
    *k->sest = (se_status){NULL, INFINITY, false};
    k->m = 0;
    k->P = k->L;
    select_target(k, 0);
    xai_status st = m > 0 ? bit_fit_init(k, m, &f, &fits, err) : XAI_OK;
    if (st == XAI_OK && !fits) st = solve_alloc_and_run(k, phi, se, true, err);
    if (st == XAI_OK && fits) st = bit_additive(k, &f, phi, err);
    size_t room = f.bits.P;             /* each target may shrink it (fewer triples) */
    se_status all = {NULL, INFINITY, false};
    for (size_t t = 0; st == XAI_OK && t < k->kt; t++) {
        if (fits) {
            select_target(k, t);
            if (k->kt > 1) bit_target(k, &f);
            k->m = 0;
            k->P = k->L;
            f.bits.P = room;            /* the columns past a shrink are zero */
            *k->sest = (se_status){NULL, INFINITY, false};
            st = bit_fit_with_errors(k, &f, m, phi + t * d, se + t * d, err);
            if (all.reason == NULL) all.reason = k->sest->reason;
            all.df = XD_MIN(all.df, k->sest->df);
        }
        k->m_of[t] = k->m;
    }
    if (fits) *k->sest = all;
    bit_fit_release(&f);
    return st;
}

/* ---- the driver ---------------------------------------------------------- */

static void ks_release(ks *k) {
    xd_free(k->z);
    xd_free(k->w);
    xd_free(k->cnt);
    xd_free(k->y);
    xd_free(k->da);
    xd_free(k->db);
    xd_free(k->ds);
    xd_free(k->ns);
    xd_free(k->pop);
    xd_free(k->table);
    xd_free(k->mask);
    xd_free(k->idx);
    xd_free(k->pick);
    xd_free(k->scratch);
    xd_free(k->wv);
    xd_free(k->rw);
    xd_free(k->cdf);
    xd_free(k->pairs);
    xd_free(k->trip);
    xd_free(k->v0s);
    xd_free(k->v1s);
    xd_free(k->m_of);
}

static xai_status ks_alloc(ks *k, xai_error *err) {
    size_t n = k->d + 1;
    k->mask = xd_try_malloc(2 * n);
    k->idx = xd_try_malloc(xd_mul(n, sizeof(size_t)));
    k->pick = xd_try_malloc(xd_mul(n, sizeof(size_t)));
    k->scratch = xd_try_malloc(xd_mul(n, sizeof(size_t)));
    k->wv = xd_try_malloc(xd_mul(n, sizeof(double)));
    k->rw = xd_try_malloc(xd_mul(n, sizeof(double)));
    k->cdf = xd_try_malloc(xd_mul(n, sizeof(double)));
    k->ns = xd_try_calloc(n, sizeof(size_t));
    k->pop = xd_try_calloc(n, sizeof(double));
    k->pairs = xd_try_malloc(xd_mul(n, sizeof(double)));
    k->trip = xd_try_malloc(3 * MAX_TRIPLES * sizeof(size_t));
    k->v0s = xd_try_calloc(k->kt, sizeof(double));
    k->v1s = xd_try_calloc(k->kt, sizeof(double));
    k->m_of = xd_try_calloc(k->kt, sizeof(size_t));
    if (k->v0s && k->v1s && k->m_of && k->trip && k->mask && k->idx && k->pick && k->scratch &&
        k->wv && k->rw && k->cdf && k->ns && k->pop && k->pairs) {
        for (size_t s = 1; 2 * s <= k->d; s++) k->pairs[s] = pairs_of(k->d, s);
        return XAI_OK;
    }
    return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu features", k->d);
}

static size_t auto_nsamples(size_t d, size_t asked) {
    size_t n = asked ? asked : 2 * d + 2048;
    if (d < 40 && n > ((size_t)1 << d) - 2) n = ((size_t)1 << d) - 2;
    return n;
}

/* Evaluates v(0) and v(1) (link space) of every target. */
static xai_status ends(ks *k, xai_error *err) {
    uint8_t *m = k->mask;
    double *y = xd_try_malloc(xd_mul(2 * k->kt, sizeof *y));
    if (y == NULL) return xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu targets", k->kt);
    memset(m, 0, k->d);
    memset(m + k->d, 1, k->d);
    xai_status st = k->o->eval(k->o->ctx, m, 2, y, err);
    for (size_t t = 0; st == XAI_OK && t < k->kt; t++) {
        k->v0s[t] = link_apply(k->link, y[t]);
        k->v1s[t] = link_apply(k->link, y[k->kt + t]);
    }
    xd_free(y);
    if (st != XAI_OK) return st;
    select_target(k, 0);
    k->n_evals += 2;
    return XAI_OK;
}

/* Draws up to `batch` new coalitions (or until the budget or the draw limit
 * is spent). */
static xai_status draw_batch(ks *k, schedule *sc, xai_rng *r, size_t batch, size_t *draws_left,
                             xai_error *err) {
    size_t added = 0;
    xai_status st = XAI_OK;
    while (st == XAI_OK && sc->left >= (k->strat ? 2u : 1u) && !sc->exhausted &&
           *draws_left > 0 && added < batch) {
        (*draws_left)--;
        st = k->strat ? draw_pair(k, sc, r, &added, err) : draw_one(k, sc, r, &added, err);
    }
    return st;
}

static xai_status table_init(ks *k, size_t n, xai_error *err) {
    size_t cap = 64;
    while (cap < 2 * n + 16) cap *= 2;
    k->table = xd_try_calloc(cap, sizeof *k->table);
    k->table_mask = cap - 1;
    return k->table ? XAI_OK : xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu coalitions", n);
}

/* Batches of random draws, each followed by a solve, until done. */
static xai_status sample_and_solve(ks *k, schedule *sc, const xd_kshap_opts *opts,
                                   xd_shap_out *out, xai_error *err) {
    xai_rng r;
    xai_rng_seed(&r, opts->seed, 0x6b73);
    size_t total = sc->left, draws_left = 4 * sc->left;
    size_t batch = opts->tol > 0 ? (opts->batch ? opts->batch : XD_MAX(64, total / 16)) : total;
    xai_status st = table_init(k, total, err);
    k->n_full = sc->n_full;
    k->n_sizes = sc->n_sizes;
    if (sc->n_full < sc->n_sizes && !k->strat) draw_cdf(sc, k->cdf);
    for (;;) {
        if (st == XAI_OK && sc->n_full < sc->n_sizes)
            st = draw_batch(k, sc, &r, batch, &draws_left, err);
        if (st == XAI_OK) st = evaluate_new(k, err);
        stratum_weights(k, sc);
        if (st == XAI_OK) st = fit(k, sc, opts, out->phi, out->se, err);
        if (st != XAI_OK) return st;
        out->n_batches++;
        out->rel_se = xd_shap_rel_se_all(out->phi, out->se, k->d, k->kt);
        out->converged = sc->n_full == sc->n_sizes || sc->exhausted ||
                         (opts->tol > 0 && out->rel_se < opts->tol);
        if (k->o->progress) k->o->progress(k->o->ctx, total ? 1.0 - (double)sc->left / total : 1);
        if (out->converged || sc->left < (k->strat ? 2u : 1u) || draws_left == 0)
            return XAI_OK;
    }
}

/* Sum of the final regression weights per coalition size (info->size_weight). */
static void size_weights(const ks *k, double *out) {
    double total = 0;
    solve_buf b = {0};
    for (size_t i = k->n_fixed; i < k->n; i++) total += k->cnt[i];
    b.total = total;
    memset(out, 0, (k->d + 1) * sizeof *out);
    for (size_t i = 0; i < k->n; i++) {
        size_t s = 0;
        for (size_t j = 0; j < k->d; j++) s += k->z[i * k->d + j];
        out[s] += weight_of(k, &b, i);
    }
}

xai_status xd_kernelshap(const xd_oracle *o, size_t d, const xd_kshap_opts *opts,
                         xd_shap_out *out, xd_kshap_info *info, xai_error *err) {
    se_status sest = {NULL, INFINITY, false};
    ks k = {.d = d, .L = d ? d - 1 : 0, .P = d ? d - 1 : 0, .link = opts->link, .o = o,
            .kt = xd_shap_k(out), .sest = &sest};
    schedule sc;
    out->n_evals = out->n_batches = 0;
    out->converged = false;
    if (info) info->stderr_reason = NULL, info->stderr_df = INFINITY;
    out->rel_se = 0;
    xai_status st = ks_alloc(&k, err);
    if (st == XAI_OK) st = ends(&k, err);
    if (st == XAI_OK && d <= 1) {
        for (size_t t = 0; d == 1 && t < k.kt; t++) out->phi[t] = k.v1s[t] - k.v0s[t], out->se[t] = 0;
        for (size_t t = 0; t < k.kt; t++) k.m_of[t] = 0;
        out->converged = true;
    } else if (st == XAI_OK) {
        k.strat = !opts->shap_schedule;
        schedule_init(&sc, k.wv, d, auto_nsamples(d, opts->nsamples), opts->shap_schedule);
        st = grow(&k, sc.left + 1, err);    /* the budget is known: no regrowth */
        if (st == XAI_OK) st = enumerate(&k, &sc, err);
        if (st == XAI_OK) st = sample_and_solve(&k, &sc, opts, out, err);
        if (st == XAI_OK && info) {
            info->n_full_sizes = sc.n_full;
            info->n_sampled = k.n - k.n_fixed;
            info->n_draws = k.n_draws;
            info->n_triples = k.m_of[0];
            info->stderr_reason = sest.reason;
            info->stderr_df = sest.df;
            if (info->size_weight) size_weights(&k, info->size_weight);
        }
    }
    out->base = k.v0s ? k.v0s[0] : NAN;
    out->full = k.v1s ? k.v1s[0] : NAN;
    for (size_t t = 0; k.kt > 1 && k.v0s && t < k.kt; t++)
        out->bases[t] = k.v0s[t], out->fulls[t] = k.v1s[t];
    if (st == XAI_OK && info && info->triples_by_target)
        memcpy(info->triples_by_target, k.m_of, k.kt * sizeof *k.m_of);
    out->n_evals = k.n_evals;
    ks_release(&k);
    return st;
}
