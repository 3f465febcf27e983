/* lime.c — the "lime" method: options, sampling through the evaluator, the
 * surrogate fit (lime_fit.c), the result.
 *
 * The space decides the flavour. A tabular space gets LimeTabularExplainer
 * (lime_tabular.c: samples raw rows from the background's quartile bins,
 * evaluated with xai_eval_inputs). Every other space (text, tensor) gets
 * LimeTextExplainer's sampler over its features (lime_text.c: masks through
 * xai_eval_masks); for text, bag of words versus positions is the space's
 * choice. docs/METHODS.md lists the options and the extra fields.
 *
 * Several targets share the samples, their weights and the model rows; each
 * target gets its own surrogate fit (feature selection included, as lime's
 * explain_instance does per label), so its numbers are those of a run for
 * it alone.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "lime.h"

static const xai_param_info params[] = {
    {"num_samples", "int", "5000", "[2, 10^7]", "samples, x included"},
    {"kernel_width", "number", "0 = 25 (text), 0.75 sqrt(d) (tabular)", ">= 0", "kernel width"},
    {"feature_selection", "string", "auto", "none|highest_weights|forward_selection|auto",
     "how the k features of the surrogate are chosen"},
    {"num_features", "int", "10", "[1, 10^6]", "k for the selections (clamped to d)"},
    {"alpha", "number", "1", ">= 0", "ridge penalty of the surrogate"},
    {"discretize", "bool", "true", "true|false", "tabular: quartile bins, or continuous"},
    {NULL, NULL, NULL, NULL, NULL}};

typedef struct lime_opts {
    size_t n, k;
    double width;           /* <= 0: the flavour's default */
    double alpha;
    bool discretize;
    xd_lime_selection sel;
} lime_opts;

static xai_status read_opts(const xai_value *pm, lime_opts *o, xai_error *err) {
    int64_t n, k;
    const char *sel;
    xai_status st = xai_opt_int(pm, "num_samples", 5000, 2, 10000000, &n, err);
    if (st == XAI_OK) st = xai_opt_int(pm, "num_features", 10, 1, 1000000, &k, err);
    if (st == XAI_OK) st = xai_opt_float(pm, "kernel_width", 0, 0, 1e300, &o->width, err);
    if (st == XAI_OK) st = xai_opt_float(pm, "alpha", 1.0, 0, 1e300, &o->alpha, err);
    if (st == XAI_OK) st = xai_opt_bool(pm, "discretize", true, &o->discretize, err);
    if (st == XAI_OK) st = xai_opt_str(pm, "feature_selection", "auto", &sel, err);
    if (st == XAI_OK) st = xd_lime_parse_selection(sel, &o->sel, err);
    o->n = (size_t)n;
    o->k = (size_t)k;
    return st;
}

/* Working buffers of one explanation; y, coef, se and selected hold one
 * row per target (y: n each, the others d each). */
typedef struct lime_work {
    double *X, *y, *w, *rows, *coef, *se;
    size_t *selected;
    uint8_t *masks;
    char **conditions;
    size_t d, kt;
    xd_lime_fit *fits;          /* kt */
} lime_work;

static void work_free(lime_work *wk) {
    for (size_t j = 0; wk->conditions && j < wk->d; j++) xd_free(wk->conditions[j]);
    xd_free(wk->conditions);
    xd_free(wk->X);
    xd_free(wk->y);
    xd_free(wk->w);
    xd_free(wk->rows);
    xd_free(wk->coef);
    xd_free(wk->se);
    xd_free(wk->selected);
    xd_free(wk->masks);
    xd_free(wk->fits);
}

static xai_status work_alloc(lime_work *wk, size_t n, size_t d, size_t kt, bool tabular,
                             xai_error *err) {
    memset(wk, 0, sizeof *wk);
    wk->d = d;
    wk->kt = kt;
    size_t nd = xd_mul(n, d) + 1, dk = XD_MAX(xd_mul(d, kt), 1);
    wk->X = xd_try_malloc(xd_mul(nd, sizeof(double)));
    wk->y = xd_try_malloc(xd_mul(xd_mul(n, kt), sizeof(double)));
    wk->w = xd_try_malloc(xd_mul(n, sizeof(double)));
    wk->coef = xd_try_calloc(dk, sizeof(double));
    wk->se = xd_try_calloc(dk, sizeof(double));
    wk->selected = xd_try_calloc(dk, sizeof(size_t));
    wk->fits = xd_try_calloc(kt, sizeof *wk->fits);
    wk->rows = tabular ? xd_try_malloc(xd_mul(nd, sizeof(double))) : NULL;
    wk->masks = tabular ? NULL : xd_try_malloc(nd);
    wk->conditions = tabular ? xd_try_calloc(d + 1, sizeof(char *)) : NULL;
    if (wk->X && wk->y && wk->w && wk->coef && wk->se && wk->selected && wk->fits &&
        (tabular ? wk->rows && wk->conditions : wk->masks != NULL))
        return XAI_OK;
    return xd_err(err, XAI_ERR_NOMEM, "lime: %zu samples of %zu features", n, d);
}

/* Text (and any mask space): sample masks, evaluate, weight. */
static xai_status sample_masks(const xd_method_ctx *mc, const lime_opts *o, lime_work *wk,
                               xai_error *err) {
    size_t d = mc->d, n = o->n;
    size_t *scratch = xd_try_malloc(xd_mul(d + 1, 2 * sizeof(size_t)));
    if (scratch == NULL) return xd_err(err, XAI_ERR_NOMEM, "lime: %zu features", d);
    xai_rng r;
    xd_method_rng(mc, &r, 1);
    xd_lime_text_masks(&r, d, n, wk->masks, scratch, scratch + d + 1);
    xd_free(scratch);
    xai_status st = xd_method_eval_targets(mc, wk->masks, n, wk->y, 1, n, err);
    if (st != XAI_OK) return st;
    xd_lime_text_weights(wk->masks, n, d, o->width > 0 ? o->width : 25.0, wk->w);
    for (size_t i = 0; i < n * d; i++) wk->X[i] = wk->masks[i] ? 1.0 : 0.0;
    return XAI_OK;
}

/* Tabular: sample rows around x from the background, evaluate them raw. */
static xai_status sample_rows(const xd_method_ctx *mc, const lime_opts *o, lime_work *wk,
                              xai_error *err) {
    const xai_space *s = xai_eval_space(mc->ev);
    size_t d = mc->d, n = o->n, nb = 0;
    const char **names = xd_try_calloc(d + 1, sizeof *names);
    double *out = xd_try_malloc(xd_mul(xd_mul(n, mc->k), sizeof *out));
    xai_status st = XAI_OK;
    if (names == NULL || out == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "lime: %zu samples", n);
        goto cleanup;
    }
    for (size_t j = 0; j < d; j++) names[j] = xai_space_feature_name(s, j);
    const double *bg = xai_space_tabular_background(s, &nb, NULL);
    xd_lime_tab_opts to = {.n = n, .discretize = o->discretize, .kernel_width = o->width};
    xai_rng r;
    xd_method_rng(mc, &r, 2);
    st = xd_lime_tabular_sample(xai_space_tabular_x(s), d, bg, nb, names, &to, &r, wk->X,
                                wk->rows, wk->w, wk->conditions, err);
    xai_batch b = {.kind = XAI_INPUT_ROWS, .n = n, .cols = d, .rows = wk->rows};
    if (st == XAI_OK) st = xai_eval_inputs(mc->ev, &b, out, err);
    if (st == XAI_OK) xd_method_pick_targets(mc, out, n, wk->y, 1, n);
cleanup:
    xd_free(out);
    xd_free(names);
    return st;
}

static xai_value *conditions_value(const lime_work *wk) {
    xai_value *a = xai_value_array();
    for (size_t j = 0; a && j < wk->d; j++)
        if (xai_value_push(a, wk->conditions[j] ? xai_value_str(wk->conditions[j])
                                                : xai_value_nil()) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* What the fit of one target adds to a map: selected, intercept, score,
 * local_pred. */
static xai_status add_fit(xai_value *m, const xd_lime_fit *f) {
    xai_value *sel = xai_value_array();
    for (size_t j = 0; sel && j < f->n_selected; j++)
        if (xai_value_push(sel, xai_value_int((int64_t)f->selected[j])) != XAI_OK) {
            xai_value_free(sel);
            sel = NULL;
        }
    xai_status st = sel ? xai_value_set(m, "selected", sel) : XAI_ERR_NOMEM;
    if (st == XAI_OK) st = xai_value_set_float(m, "intercept", f->intercept);
    if (st == XAI_OK) st = xai_value_set_float(m, "score", f->score);
    if (st == XAI_OK) st = xai_value_set_float(m, "local_pred", f->local_pred);
    return st;
}

/* Several targets: "by_target", one add_fit map per target. */
static xai_status add_by_target(xai_value *m, const lime_work *wk) {
    xai_value *list = xai_value_array();
    for (size_t t = 0; list && t < wk->kt; t++) {
        xai_value *e = xai_value_map();
        if (e == NULL || add_fit(e, &wk->fits[t]) != XAI_OK || xai_value_push(list, e)) {
            xai_value_free(list);
            return XAI_ERR_NOMEM;
        }
    }
    return list ? xai_value_set(m, "by_target", list) : XAI_ERR_NOMEM;
}

static xai_status add_extra(xai_value *m, const xd_lime_fit *f, const lime_opts *o,
                            const lime_work *wk, const char *mode, double width) {
    xai_status st = add_fit(m, f);
    if (st == XAI_OK) st = xai_value_set_str(m, "feature_selection", xd_lime_selection_name(f->used));
    if (st == XAI_OK) st = xai_value_set_str(m, "mode", mode);
    if (st == XAI_OK) st = xai_value_set_int(m, "num_samples", (int64_t)o->n);
    if (st == XAI_OK) st = xai_value_set_float(m, "kernel_width", width);
    if (st == XAI_OK) st = xai_value_set_float(m, "alpha", o->alpha);
    if (st == XAI_OK) st = xai_value_set_str(m, "stderr_method", "sandwich");
    if (st == XAI_OK && wk->conditions) {
        xai_value *c = conditions_value(wk);
        st = c ? xai_value_set(m, "conditions", c) : XAI_ERR_NOMEM;
    }
    if (st == XAI_OK && wk->kt > 1) st = add_by_target(m, wk);
    return st;
}

static xai_status make_result(const xd_method_ctx *mc, const lime_opts *o, const lime_work *wk,
                              const char *mode, double width, xai_result **out,
                              xai_error *err) {
    xai_result *r = xd_method_result_new(mc, "lime");
    if (r == NULL) return xd_err(err, XAI_ERR_NOMEM, "lime: result");
    r->extra = xai_value_map();
    if (xai_result_alloc_stderrs(r) != XAI_OK || r->extra == NULL ||
        add_extra(r->extra, &wk->fits[0], o, wk, mode, width) != XAI_OK) {
        xai_result_free(r);
        return xd_err(err, XAI_ERR_NOMEM, "lime: result");
    }
    memcpy(r->values, wk->coef, wk->kt * mc->d * sizeof(double));
    memcpy(r->stderrs, wk->se, wk->kt * mc->d * sizeof(double));
    *out = r;
    return XAI_OK;
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    lime_opts o;
    lime_work wk;
    *out = NULL;
    xai_status st = read_opts(mc->params, &o, err);
    if (st != XAI_OK) return st;
    bool tabular = xai_space_tabular_x(xai_eval_space(mc->ev)) != NULL;
    size_t d = mc->d;
    st = work_alloc(&wk, o.n, d, mc->n_targets, tabular, err);
    if (st == XAI_OK) st = tabular ? sample_rows(mc, &o, &wk, err) : sample_masks(mc, &o, &wk, err);
    xai_eval_set_progress(mc->ev, 1.0);
    for (size_t t = 0; st == XAI_OK && t < wk.kt; t++) {
        xd_lime_fit *f = &wk.fits[t];
        *f = (xd_lime_fit){.coef = wk.coef + t * d, .se = wk.se + t * d,
                           .selected = wk.selected + t * d};
        st = xd_lime_fit_data(wk.X, o.n, d, wk.y + t * o.n, wk.w, o.sel, o.k, o.alpha, f, err);
    }
    const char *mode = !tabular ? "text" : o.discretize ? "tabular" : "tabular_continuous";
    double width = o.width > 0 ? o.width : tabular ? 0.75 * sqrt((double)d) : 25.0;
    if (st == XAI_OK) st = make_result(mc, &o, &wk, mode, width, out, err);
    work_free(&wk);
    return st;
}

const xd_method xd_method_lime = {"lime", run, params, true};
