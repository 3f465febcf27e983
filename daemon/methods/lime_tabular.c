/* lime_tabular.c — LIME's tabular sampler (LimeTabularExplainer of lime 0.2)
 * over the background rows of a tabular space.
 *
 * Discretized mode (default; discretizer='quartile'). Per column, the
 * borders are the distinct 25/50/75th percentiles of the background (numpy's
 * linear interpolation); a value's bin is the number of borders strictly
 * below it (np.searchsorted, side left). Each bin keeps the mean and the
 * population std (+1e-11) of the background values in it and its range
 * [lower border or column min, upper border or column max]. A sample draws,
 * per column, a bin with the background's bin frequencies; its
 * interpretable value is 1 when that is x's bin, and the model gets a value
 * from the bin's normal truncated to the bin's range. (lime returns a
 * z-score where a bin's range is a single point; here the point itself.)
 * Distance: Euclidean between the 0/1 row and the all-ones row 0.
 *
 * Continuous mode. Column j's model value is mean_j + std_j z with z
 * standard normal (std 0 counts as 1, like StandardScaler); the
 * interpretable value is z itself and row 0 holds (x - mean) / std; the
 * distance is Euclidean on those.
 *
 * Weight, in both: sqrt(exp(-dist^2 / width^2)), width 0.75 sqrt(d) by
 * default. Row 0 is x. Background weights are not used (lime has none).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/core.h"
#include "lime.h"

enum { MAX_BINS = 4 };

typedef struct column {
    size_t n_borders;               /* 0..3 */
    double border[MAX_BINS - 1];
    double lo[MAX_BINS], hi[MAX_BINS], mean[MAX_BINS], sd[MAX_BINS], freq[MAX_BINS];
} column;

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.percentile(v, p) with linear interpolation on sorted v[0..n). */
static double percentile(const double *v, size_t n, double p) {
    double pos = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(pos);
    if (lo + 1 >= n) return v[n - 1];
    return v[lo] + (pos - (double)lo) * (v[lo + 1] - v[lo]);
}

static size_t bin_of(const column *c, double x) {
    size_t b = 0;
    while (b < c->n_borders && c->border[b] < x) b++;
    return b;
}

/* Fits column j's discretizer; sorted is scratch of nb doubles. */
static void fit_column(const double *bg, size_t nb, size_t d, size_t j, double *sorted,
                       column *c) {
    for (size_t i = 0; i < nb; i++) sorted[i] = bg[i * d + j];
    qsort(sorted, nb, sizeof *sorted, cmp_double);
    memset(c, 0, sizeof *c);
    const double ps[3] = {25, 50, 75};
    for (size_t q = 0; q < 3; q++) {
        double v = percentile(sorted, nb, ps[q]);
        if (c->n_borders == 0 || v > c->border[c->n_borders - 1]) c->border[c->n_borders++] = v;
    }
    double count[MAX_BINS] = {0}, m2[MAX_BINS] = {0};
    for (size_t i = 0; i < nb; i++) {
        size_t b = bin_of(c, bg[i * d + j]);
        count[b] += 1;
        double dl = bg[i * d + j] - c->mean[b];
        c->mean[b] += dl / count[b];
        m2[b] += dl * (bg[i * d + j] - c->mean[b]);
    }
    for (size_t b = 0; b <= c->n_borders; b++) {
        c->sd[b] = (count[b] > 0 ? sqrt(m2[b] / count[b]) : 0.0) + 1e-11;
        c->freq[b] = count[b] / (double)nb;
        c->lo[b] = b == 0 ? sorted[0] : c->border[b - 1];
        c->hi[b] = b == c->n_borders ? sorted[nb - 1] : c->border[b];
    }
}

static double phi(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* A normal(mean, sd) truncated to [lo, hi]: rejection, then inverse CDF by
 * bisection when the interval holds little mass. */
static double trunc_normal(xai_rng *r, double mean, double sd, double lo, double hi) {
    if (!(hi > lo)) return lo;
    for (int t = 0; t < 64; t++) {
        double v = mean + sd * xai_rng_normal(r);
        if (v >= lo && v <= hi) return v;
    }
    double za = (lo - mean) / sd, zb = (hi - mean) / sd, a = za, b = zb;
    double u = phi(za) + xai_rng_uniform(r) * (phi(zb) - phi(za));
    for (int it = 0; it < 80; it++) {
        double m = 0.5 * (a + b);
        if (phi(m) < u) a = m; else b = m;
    }
    return XD_MIN(XD_MAX(mean + sd * 0.5 * (a + b), lo), hi);
}

static size_t draw_bin(const column *c, xai_rng *r) {
    double u = xai_rng_uniform(r), acc = 0;
    for (size_t b = 0; b < c->n_borders; b++)
        if (u < (acc += c->freq[b])) return b;
    return c->n_borders;
}

/* lime's feature names for x's bin, with '%.2f' borders. */
static char *condition(const column *c, size_t b, const char *name) {
    char buf[256];
    if (c->n_borders == 0)
        snprintf(buf, sizeof buf, "%s", name);
    else if (b == 0)
        snprintf(buf, sizeof buf, "%s <= %.2f", name, c->border[0]);
    else if (b == c->n_borders)
        snprintf(buf, sizeof buf, "%s > %.2f", name, c->border[b - 1]);
    else
        snprintf(buf, sizeof buf, "%.2f < %s <= %.2f", c->border[b - 1], name, c->border[b]);
    return xd_strdup(buf);
}

static void sample_discretized(const double *x, size_t d, const column *cols, size_t n,
                               xai_rng *r, double *X, double *rows) {
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            const column *c = &cols[j];
            size_t b = draw_bin(c, r);
            X[i * d + j] = b == bin_of(c, x[j]) ? 1.0 : 0.0;
            rows[i * d + j] = trunc_normal(r, c->mean[b], c->sd[b], c->lo[b], c->hi[b]);
        }
    for (size_t j = 0; j < d; j++) X[j] = 1.0;
}

/* Column means and population stds (0 -> 1) of the background. */
static void moments(const double *bg, size_t nb, size_t d, double *mean, double *sd) {
    for (size_t j = 0; j < d; j++) {
        double m = 0, m2 = 0;
        for (size_t i = 0; i < nb; i++) m += bg[i * d + j] / (double)nb;
        for (size_t i = 0; i < nb; i++) m2 += (bg[i * d + j] - m) * (bg[i * d + j] - m);
        mean[j] = m;
        sd[j] = m2 > 0 ? sqrt(m2 / (double)nb) : 1.0;
    }
}

static void sample_continuous(const double *x, size_t d, const double *mean, const double *sd,
                              size_t n, xai_rng *r, double *X, double *rows) {
    for (size_t i = 1; i < n; i++)
        for (size_t j = 0; j < d; j++) {
            double z = xai_rng_normal(r);
            X[i * d + j] = z;
            rows[i * d + j] = mean[j] + sd[j] * z;
        }
    for (size_t j = 0; j < d; j++) X[j] = (x[j] - mean[j]) / sd[j];
}

static void euclid_weights(const double *X, size_t n, size_t d, double width, double *w) {
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (size_t j = 0; j < d; j++) s += (X[i * d + j] - X[j]) * (X[i * d + j] - X[j]);
        w[i] = sqrt(exp(-s / (width * width)));
    }
}

xai_status xd_lime_tabular_sample(const double *x, size_t d, const double *bg, size_t nb,
                                  const char *const *names, const xd_lime_tab_opts *o,
                                  xai_rng *r, double *X, double *rows, double *w,
                                  char **conditions, xai_error *err) {
    if (nb == 0 || o->n == 0) return xd_err(err, XAI_ERR_INVALID, "lime: no background rows");
    column *cols = xd_try_calloc(d + 1, sizeof *cols);
    double *scratch = xd_try_malloc(xd_mul(nb + 2 * d + 1, sizeof *scratch));
    if (cols == NULL || scratch == NULL) {
        xd_free(cols);
        xd_free(scratch);
        return xd_err(err, XAI_ERR_NOMEM, "lime: background of %zu rows", nb);
    }
    if (o->discretize) {
        for (size_t j = 0; j < d; j++) fit_column(bg, nb, d, j, scratch, &cols[j]);
        sample_discretized(x, d, cols, o->n, r, X, rows);
    } else {
        moments(bg, nb, d, scratch, scratch + d);
        sample_continuous(x, d, scratch, scratch + d, o->n, r, X, rows);
    }
    memcpy(rows, x, d * sizeof *rows);
    double width = o->kernel_width > 0 ? o->kernel_width : 0.75 * sqrt((double)d);
    euclid_weights(X, o->n, d, width, w);
    for (size_t j = 0; conditions && j < d; j++)
        conditions[j] = o->discretize ? condition(&cols[j], bin_of(&cols[j], x[j]), names[j]) : NULL;
    xd_free(scratch);
    xd_free(cols);
    return XAI_OK;
}
