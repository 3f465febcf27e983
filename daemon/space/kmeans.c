/* kmeans.c — weighted k-means summary of a tabular background
 * (xai_background_kmeans in space.h), the way shap.kmeans summarizes data for
 * KernelExplainer: cluster, optionally snap each centre coordinate to the
 * nearest value its column takes in the data, weight each centre by the
 * share of the data's weight in its cluster.
 *
 * Algorithm: k-means++ seeding (each next centre drawn with probability
 * proportional to w_i times its squared distance to the nearest centre),
 * then Lloyd iterations (assign to the nearest centre, move each centre to
 * its cluster's weighted mean) until no assignment changes, at most 300
 * times. Four starts from streams of `seed`; the lowest weighted inertia
 * wins (ties: the first). Deterministic for a given seed.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "xai/rng.h"
#include "xai/space.h"

enum { N_STARTS = 4, MAX_ITER = 300 };

typedef struct km {
    const double *x, *w;
    size_t n, d, k;
    double *c;          /* k x d centres */
    size_t *label;      /* n */
    double *dist;       /* n: squared distance to the nearest centre */
    double *cw;         /* k: cluster weights */
} km;

static double sqdist(const double *a, const double *b, size_t d) {
    double s = 0;
    for (size_t j = 0; j < d; j++) s += (a[j] - b[j]) * (a[j] - b[j]);
    return s;
}

static double weight(const km *m, size_t i) { return m->w ? m->w[i] : 1.0; }

/* Nearest centre of every row; returns whether any label changed. */
static bool assign(km *m) {
    bool changed = false;
    for (size_t i = 0; i < m->n; i++) {
        size_t best = 0;
        double bd = INFINITY;
        for (size_t c = 0; c < m->k; c++) {
            double dd = sqdist(m->x + i * m->d, m->c + c * m->d, m->d);
            if (dd < bd) bd = dd, best = c;
        }
        changed |= m->label[i] != best;
        m->label[i] = best;
        m->dist[i] = bd;
    }
    return changed;
}

/* Centres to weighted means; an empty cluster keeps its centre. */
static void update(km *m) {
    memset(m->cw, 0, m->k * sizeof *m->cw);
    for (size_t i = 0; i < m->n; i++) m->cw[m->label[i]] += weight(m, i);
    for (size_t c = 0; c < m->k; c++)
        if (m->cw[c] > 0) memset(m->c + c * m->d, 0, m->d * sizeof *m->c);
    for (size_t i = 0; i < m->n; i++) {
        size_t c = m->label[i];
        if (m->cw[c] <= 0) continue;
        for (size_t j = 0; j < m->d; j++)
            m->c[c * m->d + j] += weight(m, i) / m->cw[c] * m->x[i * m->d + j];
    }
}

static size_t draw_weighted(const km *m, const double *p, xai_rng *r) {
    double total = 0;
    for (size_t i = 0; i < m->n; i++) total += p[i];
    if (!(total > 0)) return (size_t)xai_rng_below(r, m->n);
    double u = xai_rng_uniform(r) * total, acc = 0;
    for (size_t i = 0; i < m->n; i++)
        if ((acc += p[i]) > u && p[i] > 0) return i;
    return m->n - 1;
}

static void seed_centres(km *m, xai_rng *r, double *p) {
    for (size_t i = 0; i < m->n; i++) m->dist[i] = INFINITY;
    for (size_t c = 0; c < m->k; c++) {
        for (size_t i = 0; i < m->n; i++)
            p[i] = c == 0 ? weight(m, i) : weight(m, i) * m->dist[i];
        size_t pick = draw_weighted(m, p, r);
        memcpy(m->c + c * m->d, m->x + pick * m->d, m->d * sizeof *m->c);
        for (size_t i = 0; i < m->n; i++)
            m->dist[i] = XD_MIN(m->dist[i], sqdist(m->x + i * m->d, m->c + c * m->d, m->d));
    }
}

static double run_once(km *m, xai_rng *r, double *p) {
    seed_centres(m, r, p);
    for (size_t i = 0; i < m->n; i++) m->label[i] = (size_t)-1;
    for (int it = 0; it < MAX_ITER && assign(m); it++) update(m);
    update(m);
    double inertia = 0;
    for (size_t i = 0; i < m->n; i++) inertia += weight(m, i) * m->dist[i];
    return inertia;
}

static void round_to_data(const km *m, double *centers, size_t kk) {
    for (size_t c = 0; c < kk; c++)
        for (size_t j = 0; j < m->d; j++) {
            double v = centers[c * m->d + j], best = m->x[j];
            for (size_t i = 1; i < m->n; i++)
                if (fabs(m->x[i * m->d + j] - v) < fabs(best - v)) best = m->x[i * m->d + j];
            centers[c * m->d + j] = best;
        }
}

/* Copies the non-empty clusters of the best start out. */
static size_t emit(const km *m, const double *best_c, const double *best_w, double *centers,
                   double *center_weights) {
    double total = 0;
    size_t kk = 0;
    for (size_t c = 0; c < m->k; c++) total += best_w[c];
    for (size_t c = 0; c < m->k; c++) {
        if (!(best_w[c] > 0)) continue;
        memcpy(centers + kk * m->d, best_c + c * m->d, m->d * sizeof *centers);
        center_weights[kk++] = best_w[c] / total;
    }
    return kk;
}

/* Runs N_STARTS starts and keeps the best (lowest weighted inertia). */
static void best_of_starts(km *m, uint64_t seed, double *p, double *best_c, double *best_w) {
    double best = INFINITY;
    for (int s = 0; s < N_STARTS; s++) {
        xai_rng r;
        xai_rng_seed(&r, seed, 0x6b6d + (uint64_t)s);
        double inertia = run_once(m, &r, p);
        if (inertia < best) {
            best = inertia;
            memcpy(best_c, m->c, m->k * m->d * sizeof *best_c);
            memcpy(best_w, m->cw, m->k * sizeof *best_w);
        }
    }
}

static xai_status check_weights(const double *weights, size_t n, xai_error *err) {
    double wsum = 0;
    for (size_t i = 0; weights && i < n; i++) {
        if (!(weights[i] >= 0) || !isfinite(weights[i]))
            return xd_err(err, XAI_ERR_INVALID, "kmeans: weight %zu is not a finite value >= 0", i);
        wsum += weights[i];
    }
    if (weights && !(wsum > 0)) return xd_err(err, XAI_ERR_INVALID, "kmeans: weights sum to 0");
    return XAI_OK;
}

xai_status xai_background_kmeans(const double *rows, size_t n, size_t d, const double *weights,
                                 size_t k, uint64_t seed, bool round_values, double *centers,
                                 double *center_weights, size_t *k_out, xai_error *err) {
    *k_out = 0;
    if (n == 0 || k == 0) return xd_err(err, XAI_ERR_INVALID, "kmeans: need rows and k >= 1");
    xai_status st = check_weights(weights, n, err);
    if (st != XAI_OK) return st;
    km m = {.x = rows, .w = weights, .n = n, .d = d, .k = XD_MIN(k, n)};
    m.c = xd_try_malloc(xd_mul(xd_mul(m.k, d) + 1, sizeof(double)));
    m.label = xd_try_malloc(xd_mul(n, sizeof(size_t)));
    m.dist = xd_try_malloc(xd_mul(n, sizeof(double)));
    m.cw = xd_try_malloc(xd_mul(m.k, sizeof(double)));
    double *p = xd_try_malloc(xd_mul(n, sizeof(double)));
    double *best_c = xd_try_malloc(xd_mul(xd_mul(m.k, d) + 1, sizeof(double)));
    double *best_w = xd_try_malloc(xd_mul(m.k, sizeof(double)));
    if (!m.c || !m.label || !m.dist || !m.cw || !p || !best_c || !best_w) {
        st = xd_err(err, XAI_ERR_NOMEM, "kmeans: %zu rows of %zu", n, d);
        goto cleanup;
    }
    best_of_starts(&m, seed, p, best_c, best_w);
    *k_out = emit(&m, best_c, best_w, centers, center_weights);
    if (round_values) round_to_data(&m, centers, *k_out);
cleanup:
    xd_free(best_w);
    xd_free(best_c);
    xd_free(p);
    xd_free(m.cw);
    xd_free(m.dist);
    xd_free(m.label);
    xd_free(m.c);
    return st;
}
