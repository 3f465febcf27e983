/* result.c — creating, freeing and describing xai_result (the wire form and
 * JSON are in result_wire.c), with one target or several (result.h).
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "xai/result.h"

xai_result *xai_result_new(const char *method, size_t d) {
    xai_result *r = xd_try_calloc(1, sizeof *r);
    if (r == NULL) return NULL;
    r->method = method ? xd_strdup(method) : NULL;
    r->d = d;
    r->n_targets = 1;
    r->base_value = NAN;
    r->feature_names = xd_try_calloc(d, sizeof *r->feature_names);
    r->values = xd_try_calloc(d, sizeof *r->values);
    if (r->feature_names == NULL || r->values == NULL) {
        xai_result_free(r);
        return NULL;
    }
    return r;
}

xai_result *xai_result_new_multi(const char *method, size_t d, size_t n_targets) {
    if (n_targets == 0) return NULL;
    xai_result *r = xai_result_new(method, d);
    if (r == NULL) return NULL;
    xd_free(r->values);
    r->n_targets = n_targets;
    r->values = xd_try_calloc(XD_MAX(xd_mul(d, n_targets), 1), sizeof *r->values);
    r->targets = xd_try_calloc(n_targets, sizeof *r->targets);
    r->target_names = xd_try_calloc(n_targets, sizeof *r->target_names);
    r->fxs = xd_try_malloc(xd_mul(n_targets, sizeof *r->fxs));
    r->base_values = xd_try_malloc(xd_mul(n_targets, sizeof *r->base_values));
    if (!r->values || !r->targets || !r->target_names || !r->fxs || !r->base_values) {
        xai_result_free(r);
        return NULL;
    }
    for (size_t t = 0; t < n_targets; t++) r->fxs[t] = r->base_values[t] = NAN;
    r->fx = NAN;
    return r;
}

xai_status xai_result_alloc_stderrs(xai_result *r) {
    if (r->stderrs != NULL) return XAI_OK;
    r->stderrs = xd_try_calloc(XD_MAX(xd_mul(r->d, r->n_targets ? r->n_targets : 1), 1),
                               sizeof *r->stderrs);
    return r->stderrs ? XAI_OK : XAI_ERR_NOMEM;
}

void xai_result_free(xai_result *r) {
    if (r == NULL) return;
    xd_free(r->method);
    xd_free(r->model);
    xd_free(r->target_name);
    if (r->feature_names)
        for (size_t i = 0; i < r->d; i++) xd_free(r->feature_names[i]);
    xd_free(r->feature_names);
    xd_free(r->values);
    xd_free(r->stderrs);
    for (size_t t = 0; r->target_names && t < r->n_targets; t++) xd_free(r->target_names[t]);
    xd_free(r->target_names);
    xd_free(r->targets);
    xd_free(r->fxs);
    xd_free(r->base_values);
    xd_free(r->text);
    xd_free(r->token_start);
    xd_free(r->token_end);
    xd_free(r->token_feature);
    xai_value_free(r->extra);
    xd_free(r);
}

xai_status xai_result_describe(xai_result *r, const xai_eval *ev, xai_error *err) {
    const xai_space *s = xai_eval_space(ev);
    size_t d = xai_space_n_features(s);
    if (d != r->d)
        return xd_err(err, XAI_ERR_INTERNAL, "result has %zu features, space has %zu", r->d, d);
    for (size_t i = 0; i < d; i++)
        if (r->feature_names[i] == NULL) {
            const char *name = xai_space_feature_name(s, i);
            r->feature_names[i] = xd_strdup(name ? name : "");
        }
    const xai_tokens *toks = xai_space_text_tokens(s);
    if (toks != NULL && r->text == NULL) {
        r->text = xd_strndup(toks->text, toks->len);
        r->n_tokens = toks->n;
        r->token_start = xd_calloc(toks->n, sizeof *r->token_start);
        r->token_end = xd_calloc(toks->n, sizeof *r->token_end);
        r->token_feature = xd_calloc(toks->n, sizeof *r->token_feature);
        for (size_t j = 0; j < toks->n; j++) {
            size_t f = xai_space_text_token_feature(s, j);
            r->token_start[j] = toks->start[j];
            r->token_end[j] = toks->end[j];
            r->token_feature[j] = f == (size_t)-1 ? -1 : (int64_t)f;
        }
    }
    r->stats = *xai_eval_get_stats(ev);
    return XAI_OK;
}
