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
 * Cost: the truncated normals are prepared once per (column, bin)
 * (core/truncnorm.c: an exact draw, one inverse CDF per value in the usual
 * case), and each row takes its 2d random words in one xai_rng_fill (per
 * column one for the bin, one for the value); the bin and the 0/1 value are
 * found without branches, since the bin is random.
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
#include "../core/truncnorm.h"
#include "lime.h"

enum { MAX_BINS = 4 };

typedef struct column {
    size_t n_borders;               /* 0..3 */
    double border[MAX_BINS - 1];
    double lo[MAX_BINS], hi[MAX_BINS], mean[MAX_BINS], sd[MAX_BINS], freq[MAX_BINS];
    double cum[MAX_BINS - 1];       /* freq[0] + .. + freq[b]; 2 past n_borders */
    xd_truncnorm value[MAX_BINS];   /* the bin's truncated normal */
    size_t x_bin;                   /* the bin of the explained value */
    double in_x_bin[MAX_BINS];      /* 1 for x_bin, else 0: a load, not a branch */
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
        xd_truncnorm_init(&c->value[b], c->mean[b], c->sd[b], c->lo[b], c->hi[b]);
    }
    double acc = 0;
    for (size_t b = 0; b < MAX_BINS - 1; b++)
        c->cum[b] = b < c->n_borders ? (acc += c->freq[b]) : 2.0;
}

/* The bin drawn by a next() value: with u its uniform in [0, 1), the
 * first b with u < cum[b], else the last; counted without branches (cum is
 * non-decreasing). */
static size_t draw_bin(const column *c, uint64_t word) {
    double u = xai_rng_uniform_of(word);
    return (size_t)(u >= c->cum[0]) + (size_t)(u >= c->cum[1]) + (size_t)(u >= c->cum[2]);
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

/* Row by row: 2d next() values in one go (words, scratch of 2d), then per
 * column one for the bin and one for the value. */
static void sample_discretized(size_t d, const column *cols, size_t n, xai_rng *r, double *X,
                               double *rows, uint64_t *words) {
    for (size_t i = 1; i < n; i++) {
        xai_rng_fill(r, words, 2 * d);
        for (size_t j = 0; j < d; j++) {
            const column *c = &cols[j];
            size_t b = draw_bin(c, words[2 * j]);
            X[i * d + j] = c->in_x_bin[b];
            rows[i * d + j] = xd_truncnorm_draw_word(&c->value[b], words[2 * j + 1], r);
        }
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
    uint64_t *words = xd_try_malloc(xd_mul(2 * d + 1, sizeof *words));
    if (cols == NULL || scratch == NULL || words == NULL) {
        xd_free(cols);
        xd_free(scratch);
        xd_free(words);
        return xd_err(err, XAI_ERR_NOMEM, "lime: background of %zu rows", nb);
    }
    if (o->discretize) {
        for (size_t j = 0; j < d; j++) {
            fit_column(bg, nb, d, j, scratch, &cols[j]);
            cols[j].x_bin = bin_of(&cols[j], x[j]);
            cols[j].in_x_bin[cols[j].x_bin] = 1.0;
        }
        sample_discretized(d, cols, o->n, r, X, rows, words);
    } else {
        moments(bg, nb, d, scratch, scratch + d);
        sample_continuous(x, d, scratch, scratch + d, o->n, r, X, rows);
    }
    memcpy(rows, x, d * sizeof *rows);
    double width = o->kernel_width > 0 ? o->kernel_width : 0.75 * sqrt((double)d);
    euclid_weights(X, o->n, d, width, w);
    for (size_t j = 0; conditions && j < d; j++)
        conditions[j] = o->discretize ? condition(&cols[j], cols[j].x_bin, names[j]) : NULL;
    xd_free(words);
    xd_free(scratch);
    xd_free(cols);
    return XAI_OK;
}
