/* kernelshap_common.c — what KernelSHAP and permutation sampling share on the
 * method side: the oracle over the evaluator (with the reduction to features
 * that vary), the stopping options, the relative standard error, and the
 * result they both return.
 *
 * Invariant: the cores work on dv features; every mask they ask for is
 * widened to the space's d features with the non-varying ones kept (1), which
 * renders exactly the same model input as removing them would.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

/* True when column j of x equals column j of every background row. */
static bool column_is_constant(const double *x, const double *bg, size_t n, size_t d, size_t j) {
    for (size_t b = 0; b < n; b++)
        if (bg[b * d + j] != x[j]) return false;
    return true;
}

static xai_status problem_eval(void *ctx, const uint8_t *masks, size_t n, double *y,
                               xai_error *err) {
    xd_shap_problem *p = ctx;
    if (n > p->wide_cap) {
        uint8_t *w = xd_try_realloc(p->wide, xd_mul(n, p->d ? p->d : 1));
        if (w == NULL) return xd_err(err, XAI_ERR_NOMEM, "%zu masks of %zu features", n, p->d);
        p->wide = w;
        p->wide_cap = n;
    }
    for (size_t r = 0; r < n; r++) {
        uint8_t *row = p->wide + r * p->d;
        memset(row, 1, p->d);
        for (size_t j = 0; j < p->dv; j++) row[p->vary[j]] = masks[r * p->dv + j];
    }
    return xd_method_eval_target(p->mc, p->wide, n, y, err);
}

static void problem_progress(void *ctx, double fraction) {
    xd_shap_problem *p = ctx;
    xai_eval_set_progress(p->mc->ev, fraction);
}

xai_status xd_shap_problem_init(xd_shap_problem *p, const xd_method_ctx *mc, xai_error *err) {
    memset(p, 0, sizeof *p);
    p->mc = mc;
    p->d = mc->d;
    p->vary = xd_try_calloc(mc->d ? mc->d : 1, sizeof *p->vary);
    if (p->vary == NULL) return xd_err(err, XAI_ERR_NOMEM, "%zu features", mc->d);
    const xai_space *s = xai_eval_space(mc->ev);
    const double *x = xai_space_tabular_x(s);
    size_t nb = 0;
    const double *w = NULL;
    const double *bg = x ? xai_space_tabular_background(s, &nb, &w) : NULL;
    for (size_t j = 0; j < p->d; j++)
        if (bg == NULL || !column_is_constant(x, bg, nb, p->d, j)) p->vary[p->dv++] = j;
    p->oracle.eval = problem_eval;
    p->oracle.progress = problem_progress;
    p->oracle.ctx = p;
    return XAI_OK;
}

void xd_shap_problem_release(xd_shap_problem *p) {
    xd_free(p->vary);
    xd_free(p->wide);
    memset(p, 0, sizeof *p);
}

xai_status xd_shap_read_stopping(const xai_value *params, double *tol, size_t *batch,
                                 xai_error *err) {
    int64_t b;
    xai_status st = xai_opt_float(params, "tol", 0.0, 0.0, 1e9, tol, err);
    if (st == XAI_OK) st = xai_opt_int(params, "batch_size", 0, 0, INT32_MAX, &b, err);
    *batch = st == XAI_OK ? (size_t)b : 0;
    return st;
}

double xd_shap_rel_se(const double *phi, const double *se, size_t d) {
    double lo = INFINITY, hi = -INFINITY, worst = 0;
    for (size_t i = 0; i < d; i++) {
        lo = XD_MIN(lo, phi[i]);
        hi = XD_MAX(hi, phi[i]);
        worst = XD_MAX(worst, se[i]);
    }
    if (worst == 0) return 0;
    return hi > lo ? worst / (hi - lo) : INFINITY;
}

static xai_status common_extra(const xd_shap_problem *p, const xd_shap_out *out, xai_value *m) {
    xai_status st = xai_value_set_int(m, "n_evals", (int64_t)out->n_evals);
    if (st == XAI_OK) st = xai_value_set_int(m, "n_batches", (int64_t)out->n_batches);
    if (st == XAI_OK) st = xai_value_set_bool(m, "converged", out->converged);
    if (st == XAI_OK) st = xai_value_set_float(m, "rel_se", out->rel_se);
    if (st == XAI_OK) st = xai_value_set_int(m, "n_varying", (int64_t)p->dv);
    return st;
}

xai_status xd_shap_result(const xd_shap_problem *p, const char *method, const xd_shap_out *out,
                          xai_result **res, xai_error *err) {
    xai_result *r = xai_result_new(method, p->d);
    *res = NULL;
    if (r == NULL) return xd_err(err, XAI_ERR_NOMEM, "%s: result of %zu features", method, p->d);
    r->stderrs = xd_try_calloc(p->d ? p->d : 1, sizeof *r->stderrs);
    r->extra = xai_value_map();
    if (r->stderrs == NULL || r->extra == NULL || common_extra(p, out, r->extra) != XAI_OK) {
        xai_result_free(r);
        return xd_err(err, XAI_ERR_NOMEM, "%s: result of %zu features", method, p->d);
    }
    for (size_t j = 0; j < p->dv; j++) {
        r->values[p->vary[j]] = out->phi[j];
        r->stderrs[p->vary[j]] = out->se[j];
    }
    r->base_value = out->base;
    *res = r;
    return XAI_OK;
}

xai_status xd_shap_run(const xd_method_ctx *mc, const char *method, xd_shap_estimator est,
                       void *arg, xai_result **out, xai_error *err) {
    xd_shap_problem p;
    xd_shap_out so = {0};
    *out = NULL;
    xai_status st = xd_shap_problem_init(&p, mc, err);
    if (st != XAI_OK) goto cleanup;
    so.phi = xd_try_calloc(p.dv + 1, sizeof *so.phi);
    so.se = xd_try_calloc(p.dv + 1, sizeof *so.se);
    if (so.phi == NULL || so.se == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "%s: %zu features", method, p.dv);
        goto cleanup;
    }
    st = est(&p.oracle, p.dv, arg, &so, err);
    if (st == XAI_OK) st = xd_shap_result(&p, method, &so, out, err);
cleanup:
    xd_free(so.phi);
    xd_free(so.se);
    xd_shap_problem_release(&p);
    return st;
}
