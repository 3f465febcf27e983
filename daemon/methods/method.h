/* method.h — what every method shares inside libxai: the calling context
 * prepared by xai_explain() and the registry entry.
 *
 * xai_explain() checks the parameters against the method's list, reads the
 * common ones (seed, target), evaluates the unmasked input once (so every
 * method knows f(x) and the explained column), calls the method, and then
 * fills the fields every result has (method, seed, target, f(x), features,
 * stats, time). A method fills values, stderrs, base_value and extra.
 *
 * Several targets. When the request's "target" is a list or "all", the
 * context carries k' = n_targets columns and multi is set; a method whose
 * entry says `multi` computes all of them from one set of masks and model
 * rows (xd_method_eval_targets) and returns a result from
 * xd_method_result_new (n_targets x d values, base values through
 * xd_method_set_base). xai_explain rejects such a request for a method
 * without `multi`. A single-target request has n_targets = 1, multi false.
 */
#ifndef XD_METHOD_H
#define XD_METHOD_H

#include "xai/methods.h"
#include "xai/rng.h"

typedef struct xd_method_ctx {
    xai_eval *ev;
    const xai_value *params;    /* the method's options (map or NULL) */
    uint64_t seed;
    size_t d;                   /* features */
    size_t k;                   /* model outputs */
    size_t target;              /* explained output column (targets[0]) */
    size_t n_targets;           /* k' >= 1 explained columns */
    const size_t *targets;      /* n_targets columns, in the order asked */
    bool multi;                 /* a list or "all" was asked: the multi-target result form */
    const double *fx_all;       /* k outputs on the unmasked input */
    double fx;                  /* fx_all[target] */
} xd_method_ctx;

/* Runs the method; on success sets *out to a result with d values. */
typedef xai_status (*xd_method_fn)(const xd_method_ctx *mc, xai_result **out, xai_error *err);

typedef struct xd_method {
    const char *name;
    xd_method_fn run;
    /* The options beyond seed/target, ended by an entry with a NULL name:
     * the one description of each (xai_param_info, include/xai/methods.h). */
    const xai_param_info *params;
    bool multi;                 /* explains several targets from one set of rows */
} xd_method;

/* Seeds r with the job's seed and a per-purpose stream number. */
void xd_method_rng(const xd_method_ctx *mc, xai_rng *r, uint64_t stream);

/* Evaluates masks and copies column `target` of the outputs into y[0..n). */
xai_status xd_method_eval_target(const xd_method_ctx *mc, const uint8_t *masks, size_t n,
                                 double *y, xai_error *err);

/* Evaluates masks once and copies the explained columns out: y[t * ts + i *
 * rs] = output targets[t] of mask i. Target-major is (rs, ts) = (1, ld),
 * ld >= n; mask-major (rs, ts) = (n_targets, 1). With one target y[i]. */
xai_status xd_method_eval_targets(const xd_method_ctx *mc, const uint8_t *masks, size_t n,
                                  double *y, size_t rs, size_t ts, xai_error *err);

/* Copies the explained columns of n output rows (k per row) into y[t * ts +
 * i * rs]. */
void xd_method_pick_targets(const xd_method_ctx *mc, const double *out, size_t n, double *y,
                            size_t rs, size_t ts);

/* A zeroed result of the context's shape: xai_result_new for a single
 * target, xai_result_new_multi with n_targets rows otherwise. */
xai_result *xd_method_result_new(const xd_method_ctx *mc, const char *method);

/* Sets the base value of row t (and base_value itself for row 0). */
void xd_method_set_base(xai_result *r, size_t t, double base);

/* Exact Shapley values of a game on d <= 20 players given by all its 2^d
 * values: v[S] for the coalition whose bit i is set when player i is in it.
 * phi[i] = sum over S without i of |S|!(d-|S|-1)!/d! (v(S+i) - v(S)).
 * XAI_ERR_LIMIT when d > 20 (exact_shapley.c; tests use it as ground truth). */
#define XD_SHAPLEY_EXACT_MAX_D 20
xai_status xd_shapley_exact_from_values(size_t d, const double *v, double *phi);

/* The methods of this build (registry.c). */
extern const xd_method xd_method_occlusion;
extern const xd_method xd_method_exact_shapley;
extern const xd_method xd_method_lime;
extern const xd_method xd_method_kernelshap;
extern const xd_method xd_method_shapley_sampling;
extern const xd_method xd_method_anchors;
extern const xd_method xd_method_faithfulness;

#endif
