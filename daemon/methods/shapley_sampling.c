/* shapley_sampling.c — the "shapley_sampling" method: options, the oracle on
 * the evaluator, the result. The estimators are in shapley_sampling_core.c;
 * docs/METHODS.md has the math and the extra fields.
 */
#include <string.h>
#include "../core/core.h"
#include "kernelshap.h"

static const xai_param_info params[] = {
    {"estimator", "string", "antithetic", "antithetic|per_feature", "the sampling estimator"},
    {"max_evals", "int", "0 = 2d + 2048", ">= 0", "budget of masks, empty and full included"},
    {"tol", "number", "0 (off)", "[0, 1e9]", "stop when max se / (max phi - min phi) < tol"},
    {"batch_size", "int", "0 = auto", ">= 0", "pairs or draws per batch when tol > 0"},
    {NULL, NULL, NULL, NULL, NULL}};

static xai_status read_opts(const xai_value *pm, xd_ss_opts *o, xai_error *err) {
    int64_t n;
    const char *est;
    memset(o, 0, sizeof *o);
    xai_status st = xai_opt_str(pm, "estimator", "antithetic", &est, err);
    if (st == XAI_OK) st = xai_opt_int(pm, "max_evals", 0, 0, INT32_MAX, &n, err);
    if (st == XAI_OK) st = xd_shap_read_stopping(pm, &o->tol, &o->batch, err);
    if (st != XAI_OK) return st;
    o->max_evals = (size_t)n;
    if (strcmp(est, "antithetic") == 0) {
        o->estimator = XD_SS_ANTITHETIC;
    } else if (strcmp(est, "per_feature") == 0) {
        o->estimator = XD_SS_PER_FEATURE;
    } else {
        return xd_err(err, XAI_ERR_INVALID,
                      "option 'estimator' must be \"antithetic\" or \"per_feature\"");
    }
    return XAI_OK;
}

static xai_status add_extra(xai_value *m, xd_ss_estimator e) {
    bool pf = e == XD_SS_PER_FEATURE;
    xai_status st = xai_value_set_str(m, "estimator", pf ? "per_feature" : "antithetic");
    if (st == XAI_OK)
        st = xai_value_set_str(m, "stderr_method", pf ? "per_feature_variance" : "pair_variance");
    return st;
}

static xai_status estimate(const xd_oracle *o, size_t dv, void *arg, xd_shap_out *out,
                           xai_error *err) {
    return xd_shapley_sampling(o, dv, arg, out, err);
}

static xai_status run(const xd_method_ctx *mc, xai_result **out, xai_error *err) {
    xd_ss_opts o;
    *out = NULL;
    xai_status st = read_opts(mc->params, &o, err);
    if (st != XAI_OK) return st;
    o.seed = mc->seed;
    st = xd_shap_run(mc, "shapley_sampling", estimate, &o, out, err);
    if (st == XAI_OK && add_extra((*out)->extra, o.estimator) != XAI_OK) {
        xai_result_free(*out);
        *out = NULL;
        st = xd_err(err, XAI_ERR_NOMEM, "shapley_sampling: result");
    }
    return st;
}

const xd_method xd_method_shapley_sampling = {"shapley_sampling", run, params, true};
