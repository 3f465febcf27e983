/* shapley_sampling_core.c — Shapley values by sampling permutations, on an
 * oracle: antithetic permutation walks, and the Strumbelj–Kononenko
 * per-feature estimator with variance-proportional allocation.
 *
 * Antithetic. A uniform permutation pi is walked forward (coalitions
 * {pi_1}, {pi_1, pi_2}, ...) and backward ({pi_d}, {pi_d, pi_d-1}, ...); each
 * walk credits every feature with the change its arrival makes, and the
 * pair's contribution c = (c_forward + c_backward) / 2 is one draw. A pair
 * costs 2(d-1) masks (empty and full are shared by all). Each walk sums to
 * v(1) - v(0) by telescoping, so every draw does and so does the mean.
 * Pairs are i.i.d.: phi = mean c, se = sd(c) / sqrt(P).
 *
 * Per-feature. A draw for feature i is v(S + i) - v(S) with S the features
 * before i in a uniform permutation (a uniform size in [0, d), then a uniform
 * subset of the others). A first round gives every feature m0 draws (a
 * quarter of the budget without tol, at least min(30, budget / d): the variances that
 * steer the rest, and the standard errors, need enough draws to be
 * trusted on heavy-tailed contributions); then
 * each batch is shared out so that each feature's total count follows its
 * sample variance (Strumbelj & Kononenko 2014). phi_i = mean, V_i =
 * var_i / m_i. The estimates do not sum to v(1) - v(0) by themselves; the
 * gap r is spread by generalized least squares, phi_i += V_i r / sum V, which
 * is the minimum-variance correction and leaves features of zero variance
 * (null features) untouched; their se becomes sqrt(V_i - V_i^2 / sum V).
 *
 * Both stop early, between batches, when tol > 0 and max se / (max phi -
 * min phi) < tol.
 *
 * Several targets (an oracle with k > 1) share every mask and model row:
 * each target keeps its own statistics, so with the antithetic estimator
 * and tol = 0 every target gets exactly the numbers a run for it alone
 * gives. What steers sampling is decided jointly: the stop waits until
 * every target meets tol, and the per-feature allocation follows each
 * feature's variance summed over the targets.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

/* Running mean and sum of squared deviations (Welford). */
typedef struct stat {
    double *mean, *m2;
    size_t *n;
} stat;

static void stat_add(stat *s, size_t i, double x) {
    s->n[i]++;
    double dlt = x - s->mean[i];
    s->mean[i] += dlt / (double)s->n[i];
    s->m2[i] += dlt * (x - s->mean[i]);
}

static double stat_var(const stat *s, size_t i) {
    return s->n[i] > 1 ? s->m2[i] / (double)(s->n[i] - 1) : 0.0;
}

static xai_status stat_alloc(stat *s, size_t d, xai_error *err) {
    s->mean = xd_try_calloc(d + 1, sizeof *s->mean);
    s->m2 = xd_try_calloc(d + 1, sizeof *s->m2);
    s->n = xd_try_calloc(d + 1, sizeof *s->n);
    if (s->mean && s->m2 && s->n) return XAI_OK;
    return xd_err(err, XAI_ERR_NOMEM, "shapley_sampling: %zu features", d);
}

static void stat_free(stat *s) {
    xd_free(s->mean);
    xd_free(s->m2);
    xd_free(s->n);
}

typedef struct ss {
    const xd_oracle *o;
    size_t d, k;            /* features; targets */
    double *v0, *v1;        /* k each */
    xd_shap_out *out;
    xai_rng rng;
    stat st;                /* k x d: target t, feature i at t d + i */
    uint8_t *masks;         /* cap x d */
    double *y;              /* cap x k */
    size_t cap;
    size_t *perm, *scratch; /* d each */
    double *c;              /* k x d: one draw's contributions */
} ss;

static xai_status ensure(ss *s, size_t n, xai_error *err) {
    if (n <= s->cap) return XAI_OK;
    uint8_t *m = xd_try_realloc(s->masks, xd_mul(n, s->d));
    if (m) s->masks = m;
    double *y = m ? xd_try_realloc(s->y, xd_mul(xd_mul(n, s->k), sizeof *y)) : NULL;
    if (y == NULL) return xd_err(err, XAI_ERR_NOMEM, "shapley_sampling: %zu masks", n);
    s->y = y;
    s->cap = n;
    return XAI_OK;
}

static xai_status eval(ss *s, size_t n, xai_error *err) {
    if (n == 0) return XAI_OK;
    xai_status st = s->o->eval(s->o->ctx, s->masks, n, s->y, err);
    if (st == XAI_OK) s->out->n_evals += n;
    return st;
}

/* ---- antithetic ----------------------------------------------------------- */

/* Writes the 2(d-1) interior coalitions of one pair's walks at `m`. */
static void pair_masks(const ss *s, const size_t *perm, uint8_t *m) {
    size_t d = s->d;
    memset(m, 0, 2 * (d - 1) * d);
    for (size_t t = 1; t < d; t++) {
        uint8_t *fw = m + (t - 1) * d, *bw = m + (d - 1 + t - 1) * d;
        for (size_t u = 0; u < t; u++) {
            fw[perm[u]] = 1;
            bw[perm[d - 1 - u]] = 1;
        }
    }
}

/* Folds one pair's outputs (rows y[0 .. 2(d-1)) of k) into the statistics
 * of target q: the forward walk's outputs come first, then the backward
 * walk's. */
static void pair_fold(ss *s, size_t q, const size_t *perm, const double *y) {
    size_t d = s->d, k = s->k;
    const double *yf = y + q, *yb = y + (d - 1) * k + q;
    double prev = s->v0[q], *c = s->c + q * d;
    for (size_t t = 1; t <= d; t++) {
        double v = t < d ? yf[(t - 1) * k] : s->v1[q];
        c[perm[t - 1]] = 0.5 * (v - prev);
        prev = v;
    }
    prev = s->v0[q];
    for (size_t t = 1; t <= d; t++) {
        double v = t < d ? yb[(t - 1) * k] : s->v1[q];
        c[perm[d - t]] += 0.5 * (v - prev);
        prev = v;
    }
    for (size_t i = 0; i < d; i++) stat_add(&s->st, q * d + i, c[i]);
}

static xai_status antithetic_batch(ss *s, size_t pairs, xai_error *err) {
    size_t per = 2 * (s->d - 1);
    xai_status st = ensure(s, pairs * per, err);
    if (st != XAI_OK) return st;
    size_t *perms = xd_try_malloc(xd_mul(xd_mul(pairs, s->d), sizeof *perms));
    if (perms == NULL) return xd_err(err, XAI_ERR_NOMEM, "shapley_sampling: %zu pairs", pairs);
    for (size_t p = 0; p < pairs; p++) {
        size_t *perm = perms + p * s->d;
        for (size_t i = 0; i < s->d; i++) perm[i] = i;
        xai_rng_shuffle(&s->rng, perm, s->d);
        pair_masks(s, perm, s->masks + p * per * s->d);
    }
    st = eval(s, pairs * per, err);
    for (size_t p = 0; st == XAI_OK && p < pairs; p++)
        for (size_t q = 0; q < s->k; q++) pair_fold(s, q, perms + p * s->d, s->y + p * per * s->k);
    xd_free(perms);
    return st;
}

/* ---- per-feature ---------------------------------------------------------- */

/* Writes the two masks (S + i, S) of one draw for feature i at m. */
static void feature_masks(ss *s, size_t i, uint8_t *m) {
    size_t d = s->d, k = (size_t)xai_rng_below(&s->rng, d);
    xai_rng_sample(&s->rng, d - 1, k, s->perm, s->scratch);
    memset(m, 0, 2 * d);
    for (size_t u = 0; u < k; u++) {
        size_t j = s->perm[u] >= i ? s->perm[u] + 1 : s->perm[u];
        m[j] = m[d + j] = 1;
    }
    m[i] = 1;
}

/* Draws count[i] samples for each feature i, evaluates, folds. */
static xai_status feature_batch(ss *s, const size_t *count, xai_error *err) {
    size_t n = 0, d = s->d;
    for (size_t i = 0; i < d; i++) n += count[i];
    xai_status st = ensure(s, 2 * n, err);
    if (st != XAI_OK) return st;
    size_t r = 0;
    for (size_t i = 0; i < d; i++)
        for (size_t c = 0; c < count[i]; c++, r++) feature_masks(s, i, s->masks + 2 * r * d);
    st = eval(s, 2 * n, err);
    r = 0;
    size_t k = s->k;
    for (size_t i = 0; st == XAI_OK && i < d; i++)
        for (size_t c = 0; c < count[i]; c++, r++)
            for (size_t q = 0; q < k; q++)
                stat_add(&s->st, q * d + i, s->y[2 * r * k + q] - s->y[(2 * r + 1) * k + q]);
    return st;
}

/* Feature i's sample variance, summed over the targets (the joint rule). */
static double feature_var(const ss *s, size_t i) {
    double v = stat_var(&s->st, i);
    for (size_t q = 1; q < s->k; q++) v += stat_var(&s->st, q * s->d + i);
    return v;
}

/* Shares `budget` new draws so that the totals follow the variances
 * (largest remainders; nothing when every variance is 0). Every target has
 * the same counts, so target 0's stand for all. */
static size_t allocate(const ss *s, size_t budget, size_t *count) {
    size_t d = s->d, have = 0, given = 0;
    double vs = 0;
    for (size_t i = 0; i < d; i++) {
        vs += feature_var(s, i);
        have += s->st.n[i];
        count[i] = 0;
    }
    if (!(vs > 0)) return 0;
    double want = 0, *frac = s->c;
    for (size_t i = 0; i < d; i++) {
        double t = (double)(have + budget) * feature_var(s, i) / vs - (double)s->st.n[i];
        frac[i] = t > 0 ? t : 0;
        want += frac[i];
    }
    for (size_t i = 0; i < d; i++) {
        double share = frac[i] * (double)budget / want;
        count[i] = (size_t)share;
        frac[i] = share - (double)count[i];
        given += count[i];
    }
    while (given < budget) {
        size_t best = 0;
        for (size_t i = 1; i < d; i++)
            if (frac[i] > frac[best]) best = i;
        count[best]++, frac[best] = -1, given++;
    }
    return given;
}

/* ---- estimates ------------------------------------------------------------ */

/* Target q's estimates into row q of phi and se. */
static void estimate_target(ss *s, size_t q, bool per_feature) {
    size_t d = s->d;
    const stat *st = &s->st;
    double vs = 0, sum = 0, *phi = s->out->phi + q * d, *se = s->out->se + q * d, *c = s->c;
    for (size_t i = 0; i < d; i++) {
        size_t n = st->n[q * d + i];
        phi[i] = st->mean[q * d + i];
        c[i] = n > 1 ? stat_var(st, q * d + i) / (double)n : (n ? INFINITY : 0);
        vs += c[i];
        sum += phi[i];
    }
    double gap = (s->v1[q] - s->v0[q]) - sum;
    for (size_t i = 0; i < d; i++) {
        double v = c[i];
        if (per_feature && vs > 0 && isfinite(vs)) {
            phi[i] += v / vs * gap;
            v -= v * v / vs;
        } else if (per_feature && !(vs > 0)) {
            phi[i] += gap / (double)d;
        }
        se[i] = sqrt(XD_MAX(v, 0.0));
    }
}

/* Every target's estimates; rel_se is the largest (the joint stop). */
static void estimate(ss *s, bool per_feature) {
    for (size_t q = 0; q < s->k; q++) estimate_target(s, q, per_feature);
    s->out->rel_se = xd_shap_rel_se_all(s->out->phi, s->out->se, s->d, s->k);
}

static bool done(ss *s, const xd_ss_opts *o, double fraction) {
    s->out->n_batches++;
    s->out->converged = o->tol > 0 && s->out->rel_se < o->tol;
    if (s->o->progress) s->o->progress(s->o->ctx, fraction);
    return s->out->converged;
}

static xai_status run_antithetic(ss *s, const xd_ss_opts *o, size_t budget, xai_error *err) {
    size_t per = 2 * (s->d - 1), total = XD_MAX((size_t)2, budget / per);
    size_t batch = o->tol > 0 ? (o->batch ? o->batch : XD_MAX((size_t)4, total / 16)) : total;
    size_t used = 0;
    while (used < total) {
        size_t now = XD_MIN(batch, total - used);
        if (used == 0) now = XD_MAX(now, (size_t)2);
        xai_status st = antithetic_batch(s, now, err);
        if (st != XAI_OK) return st;
        used += now;
        estimate(s, false);
        if (done(s, o, (double)used / (double)total)) break;
    }
    return XAI_OK;
}

static xai_status run_per_feature(ss *s, const xd_ss_opts *o, size_t budget, xai_error *err) {
    size_t d = s->d, total = XD_MAX(2 * d, budget / 2);
    size_t m0 = XD_MAX((size_t)2, XD_MIN((size_t)30, total / d));
    if (o->tol <= 0) m0 = XD_MAX(m0, total / (4 * d));
    size_t *count = xd_try_malloc(xd_mul(d, sizeof *count)), used = 0;
    if (count == NULL) return xd_err(err, XAI_ERR_NOMEM, "shapley_sampling: %zu features", d);
    for (size_t i = 0; i < d; i++) count[i] = m0;
    xai_status st = feature_batch(s, count, err);
    used = m0 * d;
    estimate(s, true);
    size_t batch = o->tol > 0 ? (o->batch ? o->batch : XD_MAX(d, total / 16)) : total;
    while (st == XAI_OK && !done(s, o, (double)used / (double)total) && used < total) {
        size_t now = allocate(s, XD_MIN(batch, total - used), count);
        if (now == 0) break;
        st = feature_batch(s, count, err);
        used += now;
        estimate(s, true);
    }
    xd_free(count);
    return st;
}

static xai_status ends(ss *s, xai_error *err) {
    xai_status st = ensure(s, 2, err);
    if (st != XAI_OK) return st;
    memset(s->masks, 0, s->d);
    memset(s->masks + s->d, 1, s->d);
    st = eval(s, 2, err);
    for (size_t q = 0; q < s->k; q++) {
        s->v0[q] = s->y[q];
        s->v1[q] = s->y[s->k + q];
    }
    return st;
}

xai_status xd_shapley_sampling(const xd_oracle *o, size_t d, const xd_ss_opts *opts,
                               xd_shap_out *out, xai_error *err) {
    size_t k = xd_shap_k(out);
    ss s = {.o = o, .d = d, .k = k, .out = out};
    out->n_evals = out->n_batches = 0;
    out->converged = false;
    out->rel_se = 0;
    xai_rng_seed(&s.rng, opts->seed, 0x7373);
    s.perm = xd_try_malloc(xd_mul(d + 1, sizeof *s.perm));
    s.scratch = xd_try_malloc(xd_mul(d + 1, sizeof *s.scratch));
    s.c = xd_try_calloc(XD_MAX(xd_mul(d, k), 1), sizeof *s.c);
    s.v0 = xd_try_calloc(k, sizeof *s.v0);
    s.v1 = xd_try_calloc(k, sizeof *s.v1);
    xai_status st = stat_alloc(&s.st, d * k, err);
    if (st == XAI_OK && (!s.perm || !s.scratch || !s.c || !s.v0 || !s.v1))
        st = xd_err(err, XAI_ERR_NOMEM, "shapley_sampling: %zu features", d);
    if (st == XAI_OK) st = ends(&s, err);
    size_t budget = opts->max_evals ? opts->max_evals : 2 * d + 2048;
    budget = budget > 2 ? budget - 2 : 0;
    if (st == XAI_OK && d == 1) {
        for (size_t q = 0; q < k; q++) out->phi[q] = s.v1[q] - s.v0[q], out->se[q] = 0;
        out->converged = true;
    } else if (st == XAI_OK && d > 1) {
        st = opts->estimator == XD_SS_PER_FEATURE ? run_per_feature(&s, opts, budget, err)
                                                  : run_antithetic(&s, opts, budget, err);
    }
    out->base = s.v0[0];
    out->full = s.v1[0];
    for (size_t q = 0; k > 1 && q < k; q++) out->bases[q] = s.v0[q], out->fulls[q] = s.v1[q];
    stat_free(&s.st);
    xd_free(s.v0);
    xd_free(s.v1);
    xd_free(s.c);
    xd_free(s.scratch);
    xd_free(s.perm);
    xd_free(s.masks);
    xd_free(s.y);
    return st;
}
