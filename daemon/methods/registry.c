/* registry.c — the table of methods and xai_explain(), the one entry point
 * that prepares the common context, runs a method and completes its result.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "method.h"

static const xd_method *const methods[] = {
    &xd_method_occlusion,
    &xd_method_exact_shapley,
    &xd_method_lime,
    &xd_method_kernelshap,
    &xd_method_shapley_sampling,
    &xd_method_anchors,
    &xd_method_faithfulness,
};

static const char *method_names[XD_ARRAY_LEN(methods) + 1];

const char *const *xai_method_names(void) {
    /* Filled on every call from constant data: idempotent, so concurrent
     * callers write the same values. */
    for (size_t i = 0; i < XD_ARRAY_LEN(methods); i++) method_names[i] = methods[i]->name;
    method_names[XD_ARRAY_LEN(methods)] = NULL;
    return method_names;
}

static const xd_method *find_method(const char *name) {
    for (size_t i = 0; i < XD_ARRAY_LEN(methods); i++)
        if (strcmp(methods[i]->name, name) == 0) return methods[i];
    return NULL;
}

/* Every option name a method accepts: the common ones, then its own. */
static xai_status check_params(const xd_method *m, const xai_value *params, xai_error *err) {
    const char *allowed[64];
    size_t n = 0;
    allowed[n++] = "seed";
    allowed[n++] = "target";
    for (const char *const *p = m->params; p && *p && n < XD_ARRAY_LEN(allowed) - 1; p++)
        allowed[n++] = *p;
    allowed[n] = NULL;
    return xai_opt_check_keys(params, allowed, m->name, err);
}

/* Resolves "target": an output index, a class name, or the argmax of f(x). */
static xai_status resolve_target(const xai_eval *ev, const xai_value *params, const double *fx,
                                 size_t k, size_t *target, xai_error *err) {
    const xai_value *t = xai_value_get(params, "target");
    if (t == NULL || xai_value_type(t) == XAI_V_NIL) {
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            if (fx[j] > fx[best]) best = j;
        *target = best;
        return XAI_OK;
    }
    if (xai_value_type(t) == XAI_V_INT) {
        int64_t i = xai_value_get_int(t);
        if (i < 0 || (size_t)i >= k)
            return xd_err(err, XAI_ERR_INVALID, "target %lld is not an output index in [0, %zu)",
                          (long long)i, k);
        *target = (size_t)i;
        return XAI_OK;
    }
    const char *name = xai_value_get_str(t, NULL);
    const xai_model *m = xai_eval_model(ev);
    if (name == NULL) return xd_err(err, XAI_ERR_INVALID, "target must be an index or a class name");
    for (size_t j = 0; m->class_names && j < k; j++)
        if (m->class_names[j] && strcmp(m->class_names[j], name) == 0) {
            *target = j;
            return XAI_OK;
        }
    return xd_err(err, XAI_ERR_INVALID, "target '%s' is not a class of the model", name);
}

/* Fills what every result carries, from the context. */
static xai_status complete_result(xai_result *r, const xd_method *m, const xd_method_ctx *mc,
                                  double t0, xai_error *err) {
    const xai_model *model = xai_eval_model(mc->ev);
    if (r->method == NULL) r->method = xd_strdup(m->name);
    if (r->model == NULL && model->name) r->model = xd_strdup(model->name);
    r->seed = mc->seed;
    r->target = (int64_t)mc->target;
    if (r->target_name == NULL && model->class_names && model->class_names[mc->target])
        r->target_name = xd_strdup(model->class_names[mc->target]);
    r->fx = mc->fx;
    xai_status st = xai_result_describe(r, mc->ev, err);
    r->seconds = xd_now() - t0;
    return st;
}

xai_status xai_explain(xai_eval *ev, const char *method, const xai_value *params,
                       xai_result **out, xai_error *err) {
    *out = NULL;
    double t0 = xd_now();
    const xd_method *m = method ? find_method(method) : NULL;
    if (m == NULL)
        return xd_err(err, XAI_ERR_UNKNOWN_METHOD, "unknown method '%s'", method ? method : "");
    xai_status st = check_params(m, params, err);
    if (st != XAI_OK) return st;

    xd_method_ctx mc;
    memset(&mc, 0, sizeof mc);
    mc.ev = ev;
    mc.params = params;
    mc.d = xai_eval_n_features(ev);
    mc.k = xai_eval_n_outputs(ev);
    int64_t seed;
    st = xai_opt_int(params, "seed", 0, 0, INT64_MAX, &seed, err);
    if (st != XAI_OK) return st;
    mc.seed = (uint64_t)seed;

    double *fx = xd_try_calloc(mc.k, sizeof *fx);
    uint8_t *ones = xd_try_malloc(mc.d ? mc.d : 1);
    xai_result *r = NULL;
    if (fx == NULL || ones == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "explain: %zu features", mc.d);
        goto cleanup;
    }
    memset(ones, 1, mc.d);
    st = xai_eval_masks(ev, ones, 1, fx, err);
    if (st != XAI_OK) goto cleanup;
    st = resolve_target(ev, params, fx, mc.k, &mc.target, err);
    if (st != XAI_OK) goto cleanup;
    mc.fx_all = fx;
    mc.fx = fx[mc.target];

    st = m->run(&mc, &r, err);
    if (st != XAI_OK) goto cleanup;
    st = complete_result(r, m, &mc, t0, err);
    if (st != XAI_OK) goto cleanup;
    *out = r;
    r = NULL;
cleanup:
    xai_result_free(r);
    xd_free(ones);
    xd_free(fx);
    return st;
}

void xd_method_rng(const xd_method_ctx *mc, xai_rng *r, uint64_t stream) {
    xai_rng_seed(r, mc->seed, stream);
}

xai_status xd_method_eval_target(const xd_method_ctx *mc, const uint8_t *masks, size_t n,
                                 double *y, xai_error *err) {
    if (n == 0) return XAI_OK;
    if (mc->k == 1) return xai_eval_masks(mc->ev, masks, n, y, err);
    double *out = xd_try_malloc(xd_mul(xd_mul(n, mc->k), sizeof *out));
    if (out == NULL) return xd_err(err, XAI_ERR_NOMEM, "outputs for %zu masks", n);
    xai_status st = xai_eval_masks(mc->ev, masks, n, out, err);
    if (st == XAI_OK)
        for (size_t i = 0; i < n; i++) y[i] = out[i * mc->k + mc->target];
    xd_free(out);
    return st;
}
