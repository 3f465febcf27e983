/* anchors_tabular.c — the anchors sampler for tabular spaces: a discretizer
 * that turns x into predicates, and sampling given an anchor of predicates.
 *
 * Discretizer: each column gets edges, the quartiles of its background
 * values (or the edges given in "bin_edges"); x's bin (lo, hi] yields up to
 * two predicates, "col > lo" and "col <= hi". A column listed in
 * "categorical" yields one predicate, "col == x_col". The search's features
 * are these predicates; x satisfies all of them.
 *
 * Sampling under an anchor (as alibi does): the anchored columns are copied
 * jointly from one background row in which the whole anchor holds, the
 * other columns from one random background row. When no background row
 * satisfies the anchor, the anchored columns take x's values (x satisfies
 * every predicate), never bin indices. A sample's hold set lists the
 * predicates its row satisfies; rows are kept in draw order for examples.
 * Coverage samples are random background rows (no model call).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../core/core.h"
#include "anchors_impl.h"

enum { OP_GT, OP_LE, OP_EQ };
static const char *const op_names[] = {">", "<=", "=="};

typedef struct pred {
    size_t col;
    int op;
    double value;
    char *name;
} pred;

typedef struct tab_smp {
    xd_anchor_sampler base;
    const xd_method_ctx *mc;
    size_t d, nb;
    const double *x, *bg;
    pred *preds;
    size_t m;
    xai_rng rng, cov_rng;
    double *rows;           /* every drawn row, n_rows x d, in draw order */
    size_t n_rows, cap, n_done;   /* rows [n_done, n_rows) are pending */
    double *out;            /* outputs, cap x k */
    size_t *match;          /* nb: background rows satisfying an anchor */
    uint8_t *anchored;      /* d: columns an anchor tests */
} tab_smp;

static bool pred_holds(const pred *p, const double *row) {
    double v = row[p->col];
    if (p->op == OP_GT) return v > p->value;
    if (p->op == OP_LE) return v <= p->value;
    return v == p->value;
}

/* ---- discretizer ---------------------------------------------------- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Quartiles of column j of the background (linear interpolation between
 * order statistics), without repeats; returns how many. */
static size_t quartiles(const tab_smp *t, size_t j, double *edges, double *scratch) {
    for (size_t i = 0; i < t->nb; i++) scratch[i] = t->bg[i * t->d + j];
    qsort(scratch, t->nb, sizeof *scratch, cmp_double);
    size_t ne = 0;
    for (int q = 1; q <= 3; q++) {
        double h = (double)(t->nb - 1) * q / 4.0, lo = floor(h);
        size_t i = (size_t)lo;
        double v = i + 1 < t->nb ? scratch[i] + (h - lo) * (scratch[i + 1] - scratch[i]) : scratch[i];
        if (ne == 0 || v > edges[ne - 1]) edges[ne++] = v;
    }
    return ne;
}

static void add_pred(tab_smp *t, size_t col, int op, double value) {
    pred *p = &t->preds[t->m++];
    const char *cname = xai_space_feature_name(xai_eval_space(t->mc->ev), col);
    char buf[256];
    snprintf(buf, sizeof buf, "%s %s %.6g", cname ? cname : "?", op_names[op], value);
    p->col = col;
    p->op = op;
    p->value = value;
    p->name = xd_strdup(buf);
}

/* The given edges of column j (numbers in increasing order), or 0 and
 * *given = false when "bin_edges" does not set them. */
static xai_status given_edges(const xai_value *be, size_t j, double *edges, size_t *ne,
                              bool *given, xai_error *err) {
    const xai_value *col = be ? xai_value_at(be, j) : NULL;
    *ne = 0;
    *given = col != NULL && xai_value_type(col) != XAI_V_NIL;
    if (!*given) return XAI_OK;
    if (xai_value_type(col) != XAI_V_ARRAY || xai_value_len(col) > 64)
        return xd_err(err, XAI_ERR_INVALID, "anchors: bin_edges[%zu] must be an array of at most "
                      "64 numbers", j);
    for (size_t i = 0; i < xai_value_len(col); i++) {
        const xai_value *v = xai_value_at(col, i);
        double e = xai_value_get_number(v);
        if (!xai_value_is_number(v) || !isfinite(e) || (i > 0 && !(e > edges[i - 1])))
            return xd_err(err, XAI_ERR_INVALID, "anchors: bin_edges[%zu] must be finite numbers "
                          "in increasing order", j);
        edges[(*ne)++] = e;
    }
    return XAI_OK;
}

/* Reads "categorical" into flags (d bytes). */
static xai_status categorical(const xai_value *params, size_t d, uint8_t *flags, xai_error *err) {
    const xai_value *c = xai_value_get(params, "categorical");
    if (c == NULL || xai_value_type(c) == XAI_V_NIL) return XAI_OK;
    if (xai_value_type(c) != XAI_V_ARRAY)
        return xd_err(err, XAI_ERR_INVALID, "anchors: categorical must be an array of columns");
    for (size_t i = 0; i < xai_value_len(c); i++) {
        const xai_value *v = xai_value_at(c, i);
        int64_t j = xai_value_get_int(v);
        if (xai_value_type(v) != XAI_V_INT || j < 0 || (uint64_t)j >= d)
            return xd_err(err, XAI_ERR_INVALID, "anchors: categorical[%zu] is not a column in "
                          "[0, %zu)", i, d);
        flags[j] = 1;
    }
    return XAI_OK;
}

/* Builds the predicates of x: two at most per column. */
static xai_status discretize(tab_smp *t, const xai_value *params, xai_error *err) {
    const xai_value *be = xai_value_get(params, "bin_edges");
    if (be && xai_value_type(be) != XAI_V_NIL &&
        (xai_value_type(be) != XAI_V_ARRAY || xai_value_len(be) != t->d))
        return xd_err(err, XAI_ERR_INVALID, "anchors: bin_edges must be an array of %zu "
                      "arrays (or nulls), one per column", t->d);
    uint8_t *cat = xd_calloc(t->d ? t->d : 1, 1);
    double *scratch = xd_try_malloc(xd_mul(t->nb, sizeof *scratch)), edges[64];
    t->preds = xd_calloc(2 * t->d + 1, sizeof *t->preds);
    xai_status st = scratch ? categorical(params, t->d, cat, err)
                            : xd_err(err, XAI_ERR_NOMEM, "anchors: %zu background rows", t->nb);
    for (size_t j = 0; j < t->d && st == XAI_OK; j++) {
        size_t ne = 0;
        bool given = false;
        st = given_edges(be, j, edges, &ne, &given, err);
        if (st != XAI_OK) break;
        if (cat[j]) {
            add_pred(t, j, OP_EQ, t->x[j]);
            continue;
        }
        if (!given) ne = quartiles(t, j, edges, scratch);
        size_t k = 0;
        while (k < ne && t->x[j] > edges[k]) k++;
        if (k > 0) add_pred(t, j, OP_GT, edges[k - 1]);
        if (k < ne) add_pred(t, j, OP_LE, edges[k]);
    }
    xd_free(scratch);
    xd_free(cat);
    return st;
}

/* ---- sampling ------------------------------------------------------- */

static xai_status reserve(tab_smp *t, size_t extra, xai_error *err) {
    if (t->n_rows + extra <= t->cap) return XAI_OK;
    size_t cap = XD_MAX(t->n_rows + extra, 2 * t->cap);
    double *r = xd_try_realloc(t->rows, xd_mul(xd_mul(cap, t->d ? t->d : 1), sizeof *r));
    if (r) t->rows = r;
    double *o = r ? xd_try_realloc(t->out, xd_mul(xd_mul(cap, t->mc->k), sizeof *o)) : NULL;
    if (o == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: %zu sampled rows", cap);
    t->out = o;
    t->cap = cap;
    return XAI_OK;
}

static void hold_set(const tab_smp *t, const double *row, uint64_t *holds) {
    memset(holds, 0, XD_ANCHOR_WORDS(t->m) * sizeof *holds);
    for (size_t i = 0; i < t->m; i++)
        if (pred_holds(&t->preds[i], row)) xd_anchor_add(holds, i);
}

/* Marks the anchored columns and lists the background rows where the whole
 * anchor holds; returns how many. */
static size_t anchor_rows(tab_smp *t, const uint64_t *anchor) {
    memset(t->anchored, 0, t->d);
    for (size_t i = 0; i < t->m; i++)
        if (xd_anchor_has(anchor, i)) t->anchored[t->preds[i].col] = 1;
    size_t n = 0;
    for (size_t b = 0; b < t->nb; b++) {
        const double *row = t->bg + b * t->d;
        bool ok = true;
        for (size_t i = 0; i < t->m && ok; i++)
            if (xd_anchor_has(anchor, i)) ok = pred_holds(&t->preds[i], row);
        if (ok) t->match[n++] = b;
    }
    return n;
}

static xai_status draw(xd_anchor_sampler *s, const uint64_t *anchor, size_t n, uint64_t *holds,
                       xai_error *err) {
    tab_smp *t = s->impl;
    xai_status st = reserve(t, n, err);
    if (st != XAI_OK) return st;
    size_t nm = anchor_rows(t, anchor), W = XD_ANCHOR_WORDS(t->m), d = t->d;
    for (size_t i = 0; i < n; i++) {
        double *row = t->rows + (t->n_rows++) * d;
        const double *in = nm ? t->bg + t->match[xai_rng_below(&t->rng, nm)] * d : t->x;
        const double *out = t->bg + xai_rng_below(&t->rng, t->nb) * d;
        for (size_t j = 0; j < d; j++) row[j] = t->anchored[j] ? in[j] : out[j];
        hold_set(t, row, holds + i * W);
    }
    return XAI_OK;
}

static xai_status evaluate(xd_anchor_sampler *s, uint8_t *labels, xai_error *err) {
    tab_smp *t = s->impl;
    const xd_method_ctx *mc = t->mc;
    size_t n = t->n_rows - t->n_done;
    if (n == 0) return XAI_OK;
    xai_batch b;
    memset(&b, 0, sizeof b);
    b.kind = XAI_INPUT_ROWS;
    b.n = n;
    b.cols = t->d;
    b.rows = t->rows + t->n_done * t->d;
    xai_status st = xai_eval_inputs(mc->ev, &b, t->out, err);
    if (st != XAI_OK) return st;
    t->n_done = t->n_rows;
    xd_anchor_labels(t->out, n, mc->k, mc->target, mc->fx_all[0], labels);
    return XAI_OK;
}

static xai_status coverage(xd_anchor_sampler *s, size_t n, uint64_t *holds, xai_error *err) {
    (void)err;
    tab_smp *t = s->impl;
    size_t W = XD_ANCHOR_WORDS(t->m);
    for (size_t i = 0; i < n; i++)
        hold_set(t, t->bg + xai_rng_below(&t->cov_rng, t->nb) * t->d, holds + i * W);
    return XAI_OK;
}

static xai_value *example(xd_anchor_sampler *s, size_t i, const uint64_t *holds) {
    (void)holds;
    tab_smp *t = s->impl;
    return i < t->n_rows ? xai_value_float_array(t->rows + i * t->d, t->d) : NULL;
}

static void destroy(xd_anchor_sampler *s) {
    tab_smp *t = s->impl;
    for (size_t i = 0; i < t->m; i++) xd_free(t->preds[i].name);
    xd_free(t->preds);
    xd_free(t->rows);
    xd_free(t->out);
    xd_free(t->match);
    xd_free(t->anchored);
    xd_free(t);
}

xai_status xd_anchor_tabular_sampler(const xd_method_ctx *mc, const xai_value *params,
                                     xd_anchor_sampler **out, xai_error *err) {
    *out = NULL;
    const xai_space *sp = xai_eval_space(mc->ev);
    const double *w = NULL;
    tab_smp *t = xd_calloc(1, sizeof *t);
    t->mc = mc;
    t->d = mc->d;
    t->x = xai_space_tabular_x(sp);
    t->bg = xai_space_tabular_background(sp, &t->nb, &w);
    t->base = (xd_anchor_sampler){.draw = draw, .evaluate = evaluate, .coverage = coverage,
                                  .example = example, .destroy = destroy, .impl = t};
    if (t->x == NULL || t->bg == NULL || t->nb == 0) {
        destroy(&t->base);
        return xd_err(err, XAI_ERR_INVALID, "anchors: the tabular space has no background rows");
    }
    t->match = xd_try_malloc(xd_mul(t->nb, sizeof *t->match));
    t->anchored = xd_calloc(t->d ? t->d : 1, 1);
    xai_status st = t->match ? discretize(t, params, err)
                             : xd_err(err, XAI_ERR_NOMEM, "anchors: %zu background rows", t->nb);
    if (st != XAI_OK) {
        destroy(&t->base);
        return st;
    }
    t->base.m = t->m;
    t->base.shares = false;     /* a sample under B is no draw of A ⊋ B: see anchors_impl.h */
    xd_method_rng(mc, &t->rng, 1);
    xd_method_rng(mc, &t->cov_rng, 2);
    *out = &t->base;
    return XAI_OK;
}

const char *xd_anchor_tabular_name(const xd_anchor_sampler *s, size_t i, size_t *column,
                                   const char **op, double *value) {
    const tab_smp *t = s->impl;
    const pred *p = &t->preds[i];
    *column = p->col;
    *op = op_names[p->op];
    *value = p->value;
    return p->name;
}
