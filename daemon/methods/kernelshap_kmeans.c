/* kernelshap_kmeans.c — KernelSHAP with a summarized background: the option
 * "background_kmeans": k replaces the tabular space's background by its k
 * weighted k-means centres (xai_background_kmeans) before estimating, which
 * divides the model rows per coalition by n_background / k (shap's advice
 * for large backgrounds, shap #66, #1173).
 *
 * The method builds the new space and an evaluator on the same model, runs
 * the estimator on it, and records the inner evaluator's counters in the
 * result's extra, since the result's stats are filled from the outer one.
 */
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

static xai_value *stats_value(const xai_eval_stats *s) {
    xai_value *m = xai_value_map();
    if (m == NULL) return NULL;
    xai_status st = xai_value_set_int(m, "masks_asked", (int64_t)s->masks_asked);
    if (st == XAI_OK) st = xai_value_set_int(m, "rows_sent", (int64_t)s->rows_sent);
    if (st == XAI_OK) st = xai_value_set_int(m, "cache_hits", (int64_t)s->cache_hits);
    if (st == XAI_OK) st = xai_value_set_int(m, "model_calls", (int64_t)s->model_calls);
    if (st == XAI_OK) st = xai_value_set_float(m, "model_seconds", s->model_seconds);
    if (st != XAI_OK) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

/* A tabular space around the same x with background centers (kk x d). */
static xai_status summary_space(const xai_space *s, const double *centers, const double *cw,
                                size_t kk, xai_space **out, xai_error *err) {
    size_t d = xai_space_n_features(s);
    const char **names = xd_try_calloc(d + 1, sizeof *names);
    if (names == NULL) return xd_err(err, XAI_ERR_NOMEM, "kmeans: %zu names", d);
    for (size_t j = 0; j < d; j++) names[j] = xai_space_feature_name(s, j);
    xai_tabular_space_opts so = {
        .background = centers, .n_background = kk, .weights = cw, .feature_names = names};
    xai_status st = xai_space_tabular_new(xai_space_tabular_x(s), d, &so, out, err);
    xd_free(names);
    return st;
}

static xai_status annotate(xai_result *r, size_t kk, const xai_eval *inner, xai_error *err) {
    xai_value *sv = stats_value(xai_eval_get_stats(inner));
    xai_status st = sv ? xai_value_set(r->extra, "kmeans_stats", sv) : XAI_ERR_NOMEM;
    if (st == XAI_OK) st = xai_value_set_int(r->extra, "background_kmeans", (int64_t)kk);
    return st == XAI_OK ? XAI_OK : xd_err(err, st, "kernelshap: result");
}

xai_status xd_kernelshap_run_kmeans(const xd_method_ctx *mc, const xd_kshap_opts *o, size_t k,
                                    xd_kshap_runner run, xai_result **out, xai_error *err) {
    const xai_space *s = xai_eval_space(mc->ev);
    size_t n = 0, d = xai_space_n_features(s), kk = 0;
    const double *w = NULL;
    const double *bg = xai_space_tabular_background(s, &n, &w);
    *out = NULL;
    if (bg == NULL)
        return xd_err(err, XAI_ERR_INVALID, "kernelshap: background_kmeans needs a tabular input");
    if (n <= k) return run(mc, o, out, err);
    double *centers = xd_try_malloc(xd_mul(xd_mul(k, d) + 1, sizeof *centers));
    double *cw = xd_try_malloc(xd_mul(k, sizeof *cw));
    xai_space *space = NULL;
    xai_eval *inner = NULL;
    xai_status st = XAI_OK;
    if (centers == NULL || cw == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "kernelshap: %zu centres of %zu", k, d);
        goto cleanup;
    }
    st = xai_background_kmeans(bg, n, d, w, k, mc->seed, true, centers, cw, &kk, err);
    if (st == XAI_OK) st = summary_space(s, centers, cw, kk, &space, err);
    xai_eval_opts eo = {.cache_bytes = 8u << 20};
    if (st == XAI_OK) st = xai_eval_new(xai_eval_model(mc->ev), space, &eo, &inner, err);
    if (st != XAI_OK) goto cleanup;
    xd_method_ctx inner_mc = *mc;
    inner_mc.ev = inner;
    st = run(&inner_mc, o, out, err);
    if (st == XAI_OK) st = annotate(*out, kk, inner, err);
cleanup:
    if (st != XAI_OK) {
        xai_result_free(*out);
        *out = NULL;
    }
    xai_eval_free(inner);
    xai_space_free(space);
    xd_free(cw);
    xd_free(centers);
    return st;
}
