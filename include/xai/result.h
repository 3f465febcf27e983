/* result.h — an explanation: per-feature scores plus method-specific parts.
 *
 * Every method returns an xai_result. The fixed fields cover what all
 * attribution methods share (features, scores, standard errors, base value,
 * f(x), the target class, evaluator counters); anything particular to one
 * method (LIME's intercept and R^2, an anchor's rule and bounds, completeness
 * deltas) lives in `extra`, a map documented per method in docs/METHODS.md.
 *
 * Several targets. A job may explain several output columns at once (a
 * `target` list or "all", docs/PROTOCOL.md): then n_targets = k' and
 * `values` / `stderrs` are k' x d row-major, row t for targets[t]; targets,
 * target_names, fxs and base_values hold the k' per-target entries, and the
 * scalar target, target_name, fx and base_value repeat row 0's, so code
 * written for one target reads row 0. A single-target result has
 * n_targets = 1 and those four arrays NULL; `targets != NULL` is what marks
 * the multi-target form (also for a list of one).
 *
 * The struct is plain data owned by whoever holds it; free it with
 * xai_result_free(), which frees every field. A result converts to an
 * xai_value (the wire form in docs/PROTOCOL.md) and back without loss, and to
 * JSON.
 */
#ifndef XAI_RESULT_H
#define XAI_RESULT_H

#include <stdbool.h>
#include "xai.h"
#include "value.h"
#include "eval.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct xai_result {
    char *method;               /* "occlusion", "lime", ... */
    char *model;                /* model name, or NULL */
    uint64_t seed;
    int64_t target;             /* explained output column */
    char *target_name;          /* its class name, or NULL */
    double fx;                  /* f_target(x): the model on the unmasked input */
    double base_value;          /* reference: f_target(all removed), E[f(background)]; NaN if none */

    size_t d;                   /* number of features */
    char **feature_names;       /* d strings */
    double *values;             /* n_targets x d scores, row-major */
    double *stderrs;            /* n_targets x d standard errors, or NULL when not estimated */

    /* Several targets (see the top of this file); NULL arrays for one. */
    size_t n_targets;           /* rows of values and stderrs, >= 1 */
    int64_t *targets;           /* n_targets explained output columns, in the order asked */
    char **target_names;        /* n_targets class names (entries may be NULL) */
    double *fxs;                /* n_targets f_t(x) */
    double *base_values;        /* n_targets base values (NaN if none) */

    /* Text inputs: the text and each token's span and feature (so a client
     * can highlight); n_tokens = 0 otherwise. token_feature[j] = (int64_t)-1
     * for a token that is no feature. */
    char *text;
    size_t n_tokens;
    size_t *token_start, *token_end;
    int64_t *token_feature;

    /* Tensor inputs: the shape the d values are laid out in (e.g. 1,8,8);
     * rank 0 otherwise. */
    size_t rank;
    size_t shape[4];

    xai_value *extra;           /* method-specific map, or NULL */
    xai_eval_stats stats;
    double seconds;             /* wall time of the whole explanation */
} xai_result;

/* A zeroed result with d features (names, values allocated and zeroed,
 * stderrs NULL, base_value NaN), or NULL on out of memory. */
xai_result *xai_result_new(const char *method, size_t d);
/* A zeroed multi-target result: d features and n_targets >= 1 rows (values
 * n_targets x d zeroed; targets 0, target_names NULL, fxs and base_values
 * NaN), stderrs NULL; NULL on out of memory or n_targets = 0. */
xai_result *xai_result_new_multi(const char *method, size_t d, size_t n_targets);
/* Allocates r->stderrs (n_targets x d zeros) if absent; XAI_ERR_NOMEM. */
xai_status xai_result_alloc_stderrs(xai_result *r);
void xai_result_free(xai_result *r);

/* Copies feature names, and for text spaces the text and token spans, from
 * the space of `ev`; copies the evaluator stats. */
xai_status xai_result_describe(xai_result *r, const xai_eval *ev, xai_error *err);

/* The wire form (see docs/PROTOCOL.md, "result"). NULL on out of memory. */
xai_value *xai_result_to_value(const xai_result *r);
/* Parses the wire form; XAI_ERR_BAD_REQUEST on a malformed one. */
xai_status xai_result_from_value(const xai_value *v, xai_result **out, xai_error *err);
/* JSON of the wire form (free with xai_free); NULL on out of memory. */
char *xai_result_to_json(const xai_result *r, bool pretty);

#ifdef __cplusplus
}
#endif
#endif
