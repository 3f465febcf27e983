/* result_access.c — the result accessors of include/xai/client.h.
 *
 * They read the plain xai_result struct (include/xai/result.h) with bounds
 * checks, so a caller written against the accessors never indexes past the
 * d features: out-of-range indices and NULL results give NaN / NULL / 0.
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
