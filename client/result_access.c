/* result_access.c — the result accessors of include/xai/client.h.
 *
 * They read the plain xai_result struct (include/xai/result.h) with bounds
 * checks, so a caller written against the accessors never indexes past the
 * d features: out-of-range indices and NULL results give NaN / NULL / 0.
 * A multi-target result has n_targets rows (result.h); the accessors
 * without a row index read row 0.
 */
#include <math.h>
#include "xai/client.h"

size_t xai_result_n_features(const xai_result *r) { return r ? r->d : 0; }

const char *xai_result_feature_name(const xai_result *r, size_t i) {
    if (r == NULL || i >= r->d || r->feature_names == NULL) return NULL;
    return r->feature_names[i];
}

double xai_result_value(const xai_result *r, size_t i) {
    if (r == NULL || i >= r->d || r->values == NULL) return NAN;
    return r->values[i];
}

double xai_result_stderr(const xai_result *r, size_t i) {
    if (r == NULL || i >= r->d || r->stderrs == NULL) return NAN;
    return r->stderrs[i];
}

double xai_result_base_value(const xai_result *r) { return r ? r->base_value : NAN; }

double xai_result_fx(const xai_result *r) { return r ? r->fx : NAN; }

const xai_eval_stats *xai_result_stats(const xai_result *r) { return r ? &r->stats : NULL; }

size_t xai_result_n_targets(const xai_result *r) {
    return r == NULL ? 0 : r->n_targets ? r->n_targets : 1;
}

int64_t xai_result_target_at(const xai_result *r, size_t t) {
    if (r == NULL || t >= xai_result_n_targets(r)) return -1;
    return r->targets ? r->targets[t] : r->target;
}

const char *xai_result_target_name_at(const xai_result *r, size_t t) {
    if (r == NULL || t >= xai_result_n_targets(r)) return NULL;
    return r->target_names ? r->target_names[t] : r->target_name;
}

double xai_result_value_at(const xai_result *r, size_t t, size_t i) {
    if (r == NULL || i >= r->d || t >= xai_result_n_targets(r) || r->values == NULL) return NAN;
    return r->values[t * r->d + i];
}

double xai_result_stderr_at(const xai_result *r, size_t t, size_t i) {
    if (r == NULL || i >= r->d || t >= xai_result_n_targets(r) || r->stderrs == NULL) return NAN;
    return r->stderrs[t * r->d + i];
}

double xai_result_fx_at(const xai_result *r, size_t t) {
    if (r == NULL || t >= xai_result_n_targets(r)) return NAN;
    return r->fxs ? r->fxs[t] : r->fx;
}

double xai_result_base_value_at(const xai_result *r, size_t t) {
    if (r == NULL || t >= xai_result_n_targets(r)) return NAN;
    return r->base_values ? r->base_values[t] : r->base_value;
}
