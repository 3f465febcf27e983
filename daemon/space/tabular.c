/* tabular.c — the tabular space: features are the columns of one row x.
 *
 * A mask z renders into one row per background row b: column j is x_j where
 * z_j != 0 and b_j where z_j == 0. The evaluator combines the model's outputs
 * on those rows with the normalized background weights (space->row_weights),
 * which gives the interventional expectation E_b[f(z ? x : b)].
 *
 * Invariants: x holds d values, background n_background x d, weights sum to 1
 * (stored in the space's row_weights, which is what the evaluator reads).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "../core/core.h"
#include "space_impl.h"

typedef struct tabular {
    double *x;          /* d */
    double *background; /* n_background x d */
    size_t n_background;
} tabular;

static xai_status render(const xai_space *s, const uint8_t *mask, xd_inputs *out,
                         xai_error *err) {
    const tabular *t = s->impl;
    size_t d = s->d, n0 = out->n;
    for (size_t b = 0; b < t->n_background; b++) {
        double *row = xd_inputs_push_row(out);
        if (row == NULL) {
            xd_inputs_truncate(out, n0);
            return xd_err(err, XAI_ERR_NOMEM, "tabular: rendering %zu rows", t->n_background);
        }
        /* Select by indexing, not by branching: random masks would
         * mispredict a branch on every other column. */
        const double *src[2] = {t->background + b * d, t->x};
        for (size_t j = 0; j < d; j++) row[j] = src[mask[j] != 0][j];
    }
    return XAI_OK;
}

static void destroy(xai_space *s) {
    tabular *t = s->impl;
    if (t == NULL) return;
    xd_free(t->x);
    xd_free(t->background);
    xd_free(t);
}

static const xd_space_vtab tabular_vtab = {"tabular", render, destroy};

/* Checks the options; on success *wsum is the sum of the weights. */
static xai_status check_opts(const double *x, size_t d, const xai_tabular_space_opts *o,
                             double *wsum, xai_error *err) {
    if (x == NULL && d > 0) return xd_err(err, XAI_ERR_INVALID, "tabular: x is NULL");
    if (o == NULL || o->background == NULL || o->n_background == 0)
        return xd_err(err, XAI_ERR_INVALID, "tabular: at least one background row is required");
    for (size_t j = 0; j < d; j++)
        if (!isfinite(x[j])) return xd_err(err, XAI_ERR_INVALID, "tabular: x[%zu] is not finite", j);
    size_t nb = xd_mul(o->n_background, d);
    for (size_t i = 0; i < nb; i++)
        if (!isfinite(o->background[i]))
            return xd_err(err, XAI_ERR_INVALID, "tabular: background[%zu][%zu] is not finite",
                          i / d, i % d);
    *wsum = (double)o->n_background;
    if (o->weights == NULL) return XAI_OK;
    *wsum = 0.0;
    for (size_t b = 0; b < o->n_background; b++) {
        if (!(o->weights[b] >= 0.0) || !isfinite(o->weights[b]))
            return xd_err(err, XAI_ERR_INVALID, "tabular: weight %zu is negative or not finite", b);
        *wsum += o->weights[b];
    }
    if (!(*wsum > 0.0)) return xd_err(err, XAI_ERR_INVALID, "tabular: background weights sum to 0");
    return XAI_OK;
}

static void set_names(xai_space *s, const char *const *names) {
    for (size_t j = 0; j < s->d; j++) {
        if (names && names[j]) {
            s->feature_names[j] = xd_strdup(names[j]);
        } else {
            char buf[32];
            snprintf(buf, sizeof buf, "x%zu", j);
            s->feature_names[j] = xd_strdup(buf);
        }
    }
}

xai_status xai_space_tabular_new(const double *x, size_t d, const xai_tabular_space_opts *opts,
                                 xai_space **out, xai_error *err) {
    *out = NULL;
    double wsum = 1.0;
    xai_status st = check_opts(x, d, opts, &wsum, err);
    if (st != XAI_OK) return st;
    size_t nb = opts->n_background;
    xai_space *s = xd_space_alloc(&tabular_vtab, XAI_INPUT_ROWS, d, nb, d);
    tabular *t = xd_try_calloc(1, sizeof *t);
    if (s == NULL || t == NULL) {
        xd_free(t);
        xai_space_free(s);
        return xd_err(err, XAI_ERR_NOMEM, "tabular: %zu background rows of %zu", nb, d);
    }
    s->impl = t;
    t->n_background = nb;
    t->x = xd_try_malloc(xd_mul(d, sizeof(double)));
    t->background = xd_try_malloc(xd_mul(xd_mul(nb, d), sizeof(double)));
    if (t->x == NULL || t->background == NULL) {
        xai_space_free(s);
        return xd_err(err, XAI_ERR_NOMEM, "tabular: %zu background rows of %zu", nb, d);
    }
    if (d) memcpy(t->x, x, d * sizeof(double));
    if (d) memcpy(t->background, opts->background, nb * d * sizeof(double));
    for (size_t b = 0; b < nb; b++)
        s->row_weights[b] = (opts->weights ? opts->weights[b] : 1.0) / wsum;
    set_names(s, opts->feature_names);
    *out = s;
    return XAI_OK;
}

const double *xai_space_tabular_x(const xai_space *s) {
    if (s == NULL || s->vt != &tabular_vtab) return NULL;
    return ((const tabular *)s->impl)->x;
}

const double *xai_space_tabular_background(const xai_space *s, size_t *n, const double **weights) {
    if (s == NULL || s->vt != &tabular_vtab) {
        if (n) *n = 0;
        if (weights) *weights = NULL;
        return NULL;
    }
    const tabular *t = s->impl;
    if (n) *n = t->n_background;
    if (weights) *weights = s->row_weights;
    return t->background;
}
