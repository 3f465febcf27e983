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
    return xd_method_eval_targets(p->mc, p->wide, n, y, p->mc->n_targets, 1, err);  /* mask-major */
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

double xd_shap_rel_se_all(const double *phi, const double *se, size_t d, size_t kt) {
    double worst = xd_shap_rel_se(phi, se, d);
    for (size_t t = 1; t < kt; t++) {
        double r = xd_shap_rel_se(phi + t * d, se + t * d, d);
        if (r > worst || isnan(r)) worst = r;
    }
    return worst;
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
    xai_result *r = xd_method_result_new(p->mc, method);
    size_t d = p->d, dv = p->dv, kt = p->mc->n_targets;
    *res = NULL;
    if (r == NULL) return xd_err(err, XAI_ERR_NOMEM, "%s: result of %zu features", method, p->d);
    r->extra = xai_value_map();
    if (xai_result_alloc_stderrs(r) != XAI_OK || r->extra == NULL ||
        common_extra(p, out, r->extra) != XAI_OK) {
        xai_result_free(r);
        return xd_err(err, XAI_ERR_NOMEM, "%s: result of %zu features", method, p->d);
    }
    for (size_t t = 0; t < kt; t++) {
        for (size_t j = 0; j < dv; j++) {
            r->values[t * d + p->vary[j]] = out->phi[t * dv + j];
            r->stderrs[t * d + p->vary[j]] = out->se[t * dv + j];
        }
        xd_method_set_base(r, t, kt > 1 ? out->bases[t] : out->base);
    }
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
    size_t kt = mc->n_targets;
    so.k = kt;
    so.phi = xd_try_calloc(XD_MAX(xd_mul(p.dv, kt), 1), sizeof *so.phi);
    so.se = xd_try_calloc(XD_MAX(xd_mul(p.dv, kt), 1), sizeof *so.se);
    if (kt > 1) {
        so.bases = xd_try_calloc(kt, sizeof *so.bases);
        so.fulls = xd_try_calloc(kt, sizeof *so.fulls);
    }
    if (so.phi == NULL || so.se == NULL || (kt > 1 && (!so.bases || !so.fulls))) {
        st = xd_err(err, XAI_ERR_NOMEM, "%s: %zu features", method, p.dv);
        goto cleanup;
    }
    st = est(&p.oracle, p.dv, arg, &so, err);
    if (st == XAI_OK) st = xd_shap_result(&p, method, &so, out, err);
cleanup:
    xd_free(so.phi);
    xd_free(so.se);
    xd_free(so.bases);
    xd_free(so.fulls);
    xd_shap_problem_release(&p);
    return st;
}
