/* registry.c — the table of methods and xai_explain(), the one entry point
 * that prepares the common context, runs a method and completes its result.
 *
 * The registry is also the one description of every method and parameter
 * (xai_method_doc, xai_method_param): each method file keeps the table of
 * its own parameters, this file the two every method takes (seed, target)
 * and the one-line summary of each method. Unknown names are refused with
 * the valid choices and the closest one (xai_suggest, suggest.c).
 */
#include <math.h>
#include <stdio.h>
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

/* One line per method, in the order of `methods`. */
static const char *const method_docs[] = {
    "R_i = f(x) - f(x without i), over n-gram windows for text",
    "Shapley values by enumerating all 2^d coalitions (d <= 20)",
    "weights of a weighted ridge surrogate around x (LIME)",
    "Shapley values by weighted regression, with standard errors (KernelSHAP)",
    "Shapley values by sampling permutations, with standard errors",
    "the shortest rule that keeps the prediction, with its precision and coverage",
    "deletion / insertion curves and AOPC of a given attribution",
};

static const xai_param_info common_params[] = {
    {"seed", "int", "0", ">= 0", "same seed, input and model: same bytes out"},
    {"target", "int|string", "argmax", "an output index or a class name",
     "the explained output; default: the class with the highest f(x)"},
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

static size_t own_params(const xd_method *m) {
    size_t n = 0;
    while (m->params && m->params[n].name) n++;
    return n;
}

const char *xai_method_doc(const char *method) {
    for (size_t i = 0; method && i < XD_ARRAY_LEN(methods); i++)
        if (strcmp(methods[i]->name, method) == 0) return method_docs[i];
    return NULL;
}

size_t xai_method_n_params(const char *method) {
    const xd_method *m = method ? find_method(method) : NULL;
    return m ? XD_ARRAY_LEN(common_params) + own_params(m) : 0;
}

const xai_param_info *xai_method_param(const char *method, size_t i) {
    const xd_method *m = method ? find_method(method) : NULL;
    if (m == NULL) return NULL;
    if (i < XD_ARRAY_LEN(common_params)) return &common_params[i];
    i -= XD_ARRAY_LEN(common_params);
    return i < own_params(m) ? &m->params[i] : NULL;
}

/* "a, b, c" of n names into buf (cut to fit). */
static void join_names(const char *const *names, size_t n, char *buf, size_t len) {
    size_t at = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && at + 1 < len; i++) {
        int w = snprintf(buf + at, len - at, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) break;
        at += (size_t)w;
    }
}

/* Every option name a method accepts: the common ones, then its own. */
static xai_status check_params(const xd_method *m, const xai_value *params, xai_error *err) {
    const char *allowed[64];
    size_t n = 0;
    for (size_t i = 0; i < XD_ARRAY_LEN(common_params); i++) allowed[n++] = common_params[i].name;
    for (size_t i = 0; i < own_params(m) && n < XD_ARRAY_LEN(allowed) - 1; i++)
        allowed[n++] = m->params[i].name;
    allowed[n] = NULL;
    if (params == NULL || xai_value_type(params) == XAI_V_NIL) return XAI_OK;
    if (xai_value_type(params) != XAI_V_MAP)
        return xd_err(err, XAI_ERR_INVALID, "%s: options must be a map", m->name);
    for (size_t i = 0; i < xai_value_len(params); i++) {
        const char *k = xai_value_key_at(params, i);
        bool ok = false;
        for (size_t j = 0; j < n && !ok; j++) ok = strcmp(allowed[j], k) == 0;
        if (ok) continue;
        const char *near = xai_suggest(k, allowed, n);
        char list[600];
        join_names(allowed, n, list, sizeof list);
        return xd_err(err, XAI_ERR_INVALID, "%s: unknown option '%s'%s%s%s (options: %s)",
                      m->name, k, near ? "; did you mean '" : "", near ? near : "",
                      near ? "'?" : "", list);
    }
    return XAI_OK;
}

static xai_status unknown_method(const char *method, xai_error *err) {
    const char *const *names = xai_method_names();
    const char *near = xai_suggest(method, names, XD_ARRAY_LEN(methods));
    char list[600];
    join_names(names, XD_ARRAY_LEN(methods), list, sizeof list);
    return xd_err(err, XAI_ERR_UNKNOWN_METHOD, "unknown method '%s'%s%s%s (methods: %s)",
                  method ? method : "", near ? "; did you mean '" : "", near ? near : "",
                  near ? "'?" : "", list);
}

xai_status xai_method_check_params(const char *method, const xai_value *params,
                                   xai_error *err) {
    const xd_method *m = method ? find_method(method) : NULL;
    if (m == NULL) return unknown_method(method, err);
    return check_params(m, params, err);
}

/* The model's classes for an error message: "0 'ham', 1 'spam'" (or
 * "outputs 0..k-1" when they have no names), cut to fit buf. */
static void describe_classes(const xai_model *m, size_t k, char *buf, size_t cap) {
    size_t len = 0;
    buf[0] = 0;
    if (m->class_names == NULL) {
        snprintf(buf, cap, "outputs 0..%zu", k ? k - 1 : 0);
        return;
    }
    for (size_t j = 0; j < k; j++) {
        int w = snprintf(buf + len, cap - len, "%s%zu '%s'", j ? ", " : "", j,
                         m->class_names[j] ? m->class_names[j] : "");
        if (w < 0 || len + (size_t)w + 6 >= cap) {
            snprintf(buf + len, cap - len, ", ...");
            return;
        }
        len += (size_t)w;
    }
}

/* One target entry: an output index or a class name. */
static xai_status resolve_one(const xai_eval *ev, const xai_value *t, size_t k, size_t *col,
                              xai_error *err) {
    const xai_model *m = xai_eval_model(ev);
    char classes[160];
    if (xai_value_type(t) == XAI_V_INT) {
        int64_t i = xai_value_get_int(t);
        if (i >= 0 && (size_t)i < k) {
            *col = (size_t)i;
            return XAI_OK;
        }
        describe_classes(m, k, classes, sizeof classes);
        return xd_err(err, XAI_ERR_INVALID, "target %lld is not an output index in [0, %zu) "
                      "(classes: %s)", (long long)i, k, classes);
    }
    const char *name = xai_value_get_str(t, NULL);
    for (size_t j = 0; name && m->class_names && j < k; j++)
        if (m->class_names[j] && strcmp(m->class_names[j], name) == 0) {
            *col = j;
            return XAI_OK;
        }
    describe_classes(m, k, classes, sizeof classes);
    if (name == NULL)
        return xd_err(err, XAI_ERR_INVALID, "target must be an index, a class name, a list of "
                      "them or \"all\" (classes: %s)", classes);
    const char *near =
        m->class_names ? xai_suggest(name, (const char *const *)m->class_names, k) : NULL;
    return xd_err(err, XAI_ERR_INVALID, "target '%.40s' is not a class of the model%s%s%s "
                  "(classes: %s)", name, near ? "; did you mean '" : "", near ? near : "",
                  near ? "'?" : "", classes);
}

/* A list of targets: non-empty, each an index or name, none twice. */
static xai_status resolve_list(const xai_eval *ev, const xai_value *t, size_t k, size_t *cols,
                               size_t *n, xai_error *err) {
    size_t len = xai_value_len(t);
    if (len == 0) return xd_err(err, XAI_ERR_INVALID, "target: an empty list");
    if (len > k)
        return xd_err(err, XAI_ERR_INVALID, "target: %zu entries, the model has %zu outputs",
                      len, k);
    for (size_t i = 0; i < len; i++) {
        xai_status st = resolve_one(ev, xai_value_at(t, i), k, &cols[i], err);
        if (st != XAI_OK) return st;
        for (size_t j = 0; j < i; j++)
            if (cols[j] == cols[i])
                return xd_err(err, XAI_ERR_INVALID, "target: output %zu is listed twice", cols[i]);
    }
    *n = len;
    return XAI_OK;
}

/* Resolves "target" into mc->targets (cols, k entries of room): absent or
 * nil gives the argmax of f(x); an index or a class name one column; a list
 * or "all" (every output in order; it wins over a class named "all") the
 * multi-target form. */
static xai_status resolve_targets(const xai_eval *ev, const xai_value *params, const double *fx,
                                  size_t k, size_t *cols, xd_method_ctx *mc, xai_error *err) {
    const xai_value *t = xai_value_get(params, "target");
    const char *s = xai_value_get_str(t, NULL);
    xai_status st = XAI_OK;
    mc->n_targets = 1;
    mc->multi = false;
    if (t == NULL || xai_value_type(t) == XAI_V_NIL) {
        cols[0] = 0;
        for (size_t j = 1; j < k; j++)
            if (fx[j] > fx[cols[0]]) cols[0] = j;
    } else if (s != NULL && strcmp(s, "all") == 0) {
        for (size_t j = 0; j < k; j++) cols[j] = j;
        mc->n_targets = k;
        mc->multi = true;
    } else if (xai_value_type(t) == XAI_V_ARRAY) {
        st = resolve_list(ev, t, k, cols, &mc->n_targets, err);
        mc->multi = true;
    } else {
        st = resolve_one(ev, t, k, &cols[0], err);
    }
    mc->targets = cols;
    mc->target = cols[0];
    return st;
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
    if (mc->multi != (r->targets != NULL) || (r->targets && r->n_targets != mc->n_targets))
        return xd_err(err, XAI_ERR_INTERNAL, "%s: %zu result rows for %zu targets", m->name,
                      r->n_targets, mc->n_targets);
    for (size_t t = 0; r->targets && t < mc->n_targets; t++) {
        size_t c = mc->targets[t];
        r->targets[t] = (int64_t)c;
        r->fxs[t] = mc->fx_all[c];
        if (r->target_names[t] == NULL && model->class_names && model->class_names[c])
            r->target_names[t] = xd_strdup(model->class_names[c]);
    }
    xai_status st = xai_result_describe(r, mc->ev, err);
    r->seconds = xd_now() - t0;
    return st;
}

xai_status xai_explain(xai_eval *ev, const char *method, const xai_value *params,
                       xai_result **out, xai_error *err) {
    *out = NULL;
    double t0 = xd_now();
    const xd_method *m = method ? find_method(method) : NULL;
    if (m == NULL) return unknown_method(method, err);
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
    size_t *cols = xd_try_calloc(mc.k ? mc.k : 1, sizeof *cols);
    uint8_t *ones = xd_try_malloc(mc.d ? mc.d : 1);
    xai_result *r = NULL;
    if (fx == NULL || cols == NULL || ones == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "explain: %zu features", mc.d);
        goto cleanup;
    }
    memset(ones, 1, mc.d);
    st = xai_eval_masks(ev, ones, 1, fx, err);
    if (st != XAI_OK) goto cleanup;
    st = resolve_targets(ev, params, fx, mc.k, cols, &mc, err);
    if (st != XAI_OK) goto cleanup;
    if (mc.multi && !m->multi) {
        st = xd_err(err, XAI_ERR_UNSUPPORTED, "%s explains one target at a time: give one class "
                    "index or name (or none: the predicted class), not a list or \"all\"",
                    m->name);
        goto cleanup;
    }
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
    xd_free(cols);
    xd_free(fx);
    return st;
}

void xd_method_rng(const xd_method_ctx *mc, xai_rng *r, uint64_t stream) {
    xai_rng_seed(r, mc->seed, stream);
}

void xd_method_pick_targets(const xd_method_ctx *mc, const double *out, size_t n, double *y,
                            size_t rs, size_t ts) {
    for (size_t t = 0; t < mc->n_targets; t++)
        for (size_t i = 0; i < n; i++) y[t * ts + i * rs] = out[i * mc->k + mc->targets[t]];
}

xai_status xd_method_eval_targets(const xd_method_ctx *mc, const uint8_t *masks, size_t n,
                                  double *y, size_t rs, size_t ts, xai_error *err) {
    if (n == 0) return XAI_OK;
    if (mc->n_targets == 1) return xd_method_eval_target(mc, masks, n, y, err);
    double *out = xd_try_malloc(xd_mul(xd_mul(n, mc->k), sizeof *out));
    if (out == NULL) return xd_err(err, XAI_ERR_NOMEM, "outputs for %zu masks", n);
    xai_status st = xai_eval_masks(mc->ev, masks, n, out, err);
    if (st == XAI_OK) xd_method_pick_targets(mc, out, n, y, rs, ts);
    xd_free(out);
    return st;
}

xai_result *xd_method_result_new(const xd_method_ctx *mc, const char *method) {
    return mc->multi ? xai_result_new_multi(method, mc->d, mc->n_targets)
                     : xai_result_new(method, mc->d);
}

void xd_method_set_base(xai_result *r, size_t t, double base) {
    if (r->base_values) r->base_values[t] = base;
    if (t == 0) r->base_value = base;
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
