/* kernelshap.h — private interface of the two Shapley estimators (KernelSHAP
 * and permutation sampling): the value-function oracle they sample, the
 * reduction to features that can matter, and each estimator's core.
 *
 * The cores see only an oracle v: masks over d' features -> one number per
 * mask (the target output, in link space for KernelSHAP). The methods build
 * the oracle on the evaluator; tests and benchmarks build it on a plain C
 * function, which is how they measure a method's own cost and compare it
 * with exact enumeration.
 *
 * Reduction: in a tabular space a feature whose value in x equals its value
 * in every background row cannot change the model's input, so its Shapley
 * value is exactly 0 (shap's "varying features"). The methods drop such
 * features, run on the d' others, and scatter the values back.
 */
#ifndef XD_KERNELSHAP_H
#define XD_KERNELSHAP_H

#include <stdbool.h>
#include "method.h"

/* The value function: fills y[0..n k) with v_t(mask_r) at y[r k + t] for n
 * masks of d bytes, k the number of targets of the run (xd_shap_out's k:
 * several games on the same masks; 1 for one). */
typedef struct xd_oracle {
    xai_status (*eval)(void *ctx, const uint8_t *masks, size_t n, double *y, xai_error *err);
    void *ctx;
    /* Optional: told how far the estimator is, in [0, 1]. */
    void (*progress)(void *ctx, double fraction);
} xd_oracle;

/* What both estimators report besides the values. k (set by the caller,
 * 0 means 1) is the number of targets the oracle returns per mask; with
 * k > 1, phi and se hold k rows of d (row t for target t), bases and fulls
 * k entries, base/full target 0's, and rel_se and converged are the joint
 * ones (the largest rel_se; tol met by every target). */
typedef struct xd_shap_out {
    double *phi;            /* d values (k x d), caller's buffer */
    double *se;             /* d standard errors (k x d), caller's buffer */
    double base;            /* v(empty mask) */
    double full;            /* v(all-ones mask) */
    size_t n_evals;         /* masks handed to the oracle, empty and full included */
    size_t n_batches;       /* estimation rounds */
    bool converged;         /* tol > 0 was met (false when tol = 0) */
    double rel_se;          /* max se / (max phi - min phi) at the end */
    size_t k;               /* targets per mask, set by the caller (0 = 1) */
    double *bases, *fulls;  /* k > 1: per target, caller's buffers; NULL for k = 1 */
} xd_shap_out;

/* The run's number of targets, at least 1. */
static inline size_t xd_shap_k(const xd_shap_out *out) { return out->k ? out->k : 1; }

/* ---- KernelSHAP --------------------------------------------------------- */

typedef enum { XD_LINK_IDENTITY = 0, XD_LINK_LOGIT = 1 } xd_link;

typedef struct xd_kshap_opts {
    size_t nsamples;        /* coalitions besides empty and full; 0 = 2d + 2048, capped at 2^d - 2 */
    bool shap_schedule;     /* true: shap 0.4x exactly (draws with replacement, weights by
                               counts, middle size unpaired when d is even); false: the
                               improved schedule (distinct pairs stratified by size, every
                               size with its exact kernel mass) */
    bool additive_only;     /* improved schedule: fit the additive surrogate alone, without
                               the screened three-way terms (kernelshap_triples.c) */
    size_t max_triples;     /* at most this many three-way terms; 0 = 512, the ceiling */
    double tol;             /* > 0: sample in batches until rel_se < tol */
    size_t batch;           /* new coalitions per batch when tol > 0; 0 = max(64, nsamples / 16) */
    xd_link link;
    uint64_t seed;
} xd_kshap_opts;

/* KernelSHAP extras: how the budget was spent. */
typedef struct xd_kshap_info {
    size_t n_full_sizes;    /* coalition sizes (and complements) enumerated completely */
    size_t n_sampled;       /* distinct coalitions drawn at random */
    size_t n_draws;         /* random draws, repeats included (improved: pairs, never repeated) */
    size_t n_triples;       /* three-way terms in the final fit (0: additive surrogate) */
    /* Why the standard errors are withheld (every se NaN), or NULL: they
     * were estimated. stderr_df: the fewest effective degrees of freedom
     * of a feature's variance (kernelshap_se.c), INFINITY when unused. */
    const char *stderr_reason;
    double stderr_df;
    /* Optional, caller's d + 1 doubles (NULL = not wanted): the regression
     * weight of the final solve summed over the coalitions of each size
     * 0..d (0 and d are 0: empty and full enter through efficiency). */
    double *size_weight;
    /* Optional, caller's k doubles for an oracle of k targets: the three-way
     * terms of each target's final fit (n_triples is target 0's). */
    size_t *triples_by_target;
} xd_kshap_info;

/* Runs KernelSHAP over d features of oracle o. The oracle's outputs are
 * mapped through the link; phi sums to link(v(1)) - link(v(0)) to rounding,
 * out->base and out->full are in link space. info may be NULL. */
xai_status xd_kernelshap(const xd_oracle *o, size_t d, const xd_kshap_opts *opts,
                         xd_shap_out *out, xd_kshap_info *info, xai_error *err);

/* Runs `run` on a copy of `mc` whose evaluator uses a tabular space around
 * the same x with the background replaced by its weighted k-means summary
 * (xai_background_kmeans, k centres, values rounded to observed ones), the
 * same model and a private cache. A space that is not tabular is
 * XAI_ERR_INVALID; a background of at most k rows is used as it is. The
 * result's extra gets "background_kmeans" (centres used) and "kmeans_stats"
 * (the inner evaluator's counters; the result's own stats are the outer
 * evaluator's). Deadline and cancel checks of the outer evaluator do not
 * reach the inner one (eval.h has no getter for them). */
typedef xai_status (*xd_kshap_runner)(const xd_method_ctx *mc, const xd_kshap_opts *o,
                                      xai_result **out, xai_error *err);
xai_status xd_kernelshap_run_kmeans(const xd_method_ctx *mc, const xd_kshap_opts *o, size_t k,
                                    xd_kshap_runner run, xai_result **out, xai_error *err);

/* ---- the regression's rows --------------------------------------------- */

/* Whether coalitions a and b (d bytes 0 or 1) are each other's complement.
 * Every regression column is odd (x(complement) = -x), so such a pair adds
 * (w_a + w_b) x x^T to a Gram matrix and (w_a y_a - w_b y_b) x to its right
 * side: one row instead of two. */
static inline bool xd_kshap_is_complement(const uint8_t *a, const uint8_t *b, size_t d) {
    for (size_t j = 0; j < d; j++)
        if (a[j] == b[j]) return false;
    return true;
}

/* ---- the fit's rows as bits (kernelshap_bits.c) -------------------------- */

/* The rows (units) of a regression whose columns are x_p = 2 a_p D_p (1 -
 * 2 z_last), D_p the parity of a set of features xor z_last (the file's
 * comment has the math): the rows grouped in classes of equal weight, each
 * padded to whole 64-bit words. */
enum { XD_KSHAP_MAX_CLASSES = 128 };   /* more than the sizes of any d with triples */

typedef struct xd_kshap_bits {
    size_t n, d;            /* rows, features */
    size_t W;               /* 64-bit words per column */
    size_t P, stride;       /* columns; stride = P rounded up to 8 */
    size_t n_class;
    size_t *class_end;      /* the word where each class ends */
    double *class_w;        /* the weight of each class's rows */
    size_t *pos;            /* n: the bit of each row */
    uint64_t *feat;         /* d x W: bit = z_j of the row's coalition */
    uint64_t *col;          /* W x stride, word-major: D_p in col[w * stride + p] */
    uint64_t *set;          /* stride + 8: scratch, the columns a row has (times) */
} xd_kshap_bits;

/* Rows u = 0..n-1: coalition first[u] of z (bytes 0 or 1, d per row),
 * weight w[u]; room for P columns. *fits is false (and b empty) when the
 * rows carry more than XD_KSHAP_MAX_CLASSES distinct weights. */
xai_status xd_kshap_bits_init(xd_kshap_bits *b, const uint8_t *z, size_t d,
                              const size_t *first, const double *w, size_t n, size_t P,
                              bool *fits, xai_error *err);
void xd_kshap_bits_release(xd_kshap_bits *b);

/* Column p: D_p = the parity of the k features set[] xor feature `last`. */
void xd_kshap_bits_column(xd_kshap_bits *b, size_t p, const size_t *set, size_t k,
                          size_t last);

/* Keeps only the first P columns (P <= b->P): the others are cleared, as
 * the kernels that run in blocks of columns past P expect (stride). */
void xd_kshap_bits_shrink(xd_kshap_bits *b, size_t P);

/* out[j - j0] = sum over rows of w [bit of x xor z_j], for j = j0..d-1:
 * x is W words over the rows. */
void xd_kshap_bits_weigh_xor(const xd_kshap_bits *b, const uint64_t *x, size_t j0,
                             double *out);

/* G (P x P, full) over the first P columns: G[p][q] = (sum over rows of
 * w [D_p and D_q]) val[p] val[q]. */
void xd_kshap_bits_gram(const xd_kshap_bits *b, const double *val, size_t P, double *G);

/* out[p] = sum of y[pos] over the rows with D_p, p < P; y is indexed by bit
 * position (b->pos), 64 W values, padding 0. */
void xd_kshap_bits_tsum(const xd_kshap_bits *b, const double *y, size_t P, double *out);

/* T (m x qs) = X V for the rows u0..u0+m-1 with X[r][p] = 1 where the row
 * has D_p, else 0: V is P x qs, qs a multiple of 4. Uses b->set. */
void xd_kshap_bits_times(const xd_kshap_bits *b, size_t u0, size_t m, const double *V,
                         size_t qs, double *T);

/* ---- three-way terms (kernelshap_triples.c) ------------------------------ */

/* C(d, 3). */
size_t xd_kshap_n_triples(size_t d);

/* Screens all triples of the d = b->d features over the rows of b (row u:
 * coalition first[u] of z, weight from its class, wr[u] its weight times
 * the residual of the additive fit, a complement pair's combined), triple T
 * scoring (sum w r h_T)^2 / sum w h_T^2; writes the m best (or all C(d, 3)
 * when fewer) to out, 3 indices each, best first. */
xai_status xd_kshap_screen_triples(const xd_kshap_bits *b, const uint8_t *z,
                                   const size_t *first, const double *wr, size_t m,
                                   size_t *out, xai_error *err);

/* ---- the variance from the draws (kernelshap_se.c) ---------------------- */

#define XD_KSHAP_Z975 1.959963985   /* the normal's 0.975 quantile */

/* The 0.975 quantile of Student's t with df >= 1 degrees of freedom (to
 * 1e-3; +inf below 1). */
double xd_kshap_t975(double df);

/* Var_j (var[0..d)) and Satterthwaite's degrees of freedom (df[0..d)) of
 * d projections of the draws' scores from H strata: seen[h] draws with
 * running mean and m2 (H x d, overwritten: strata are collapsed in place
 * until each group has two draws), sampled from pop[h] pairs without
 * replacement (0: with replacement). Returns the number of groups; 0 (fewer
 * than two draws) leaves var 0 and df +inf. */
size_t xd_kshap_strata_var(size_t d, size_t H, const size_t *seen, double *mean, double *m2,
                           const double *pop, double *var, double *df);

/* ---- permutation sampling ----------------------------------------------- */

typedef enum { XD_SS_ANTITHETIC = 0, XD_SS_PER_FEATURE = 1 } xd_ss_estimator;

typedef struct xd_ss_opts {
    xd_ss_estimator estimator;
    size_t max_evals;       /* budget of masks; 0 = 2d + 2048 */
    double tol;             /* > 0: stop as soon as rel_se < tol */
    size_t batch;           /* antithetic: pairs per batch; per-feature: samples per batch; 0 = auto */
    uint64_t seed;
} xd_ss_opts;

/* Permutation-sampling estimates of the Shapley values of oracle o.
 * Antithetic: every permutation is walked forward and backward; phi sums to
 * v(1) - v(0) by telescoping. Per-feature: after a first round, samples go
 * to features in proportion to their variance; the estimates are then made
 * to sum to v(1) - v(0) by the variance-weighted (least squares) correction. */
xai_status xd_shapley_sampling(const xd_oracle *o, size_t d, const xd_ss_opts *opts,
                               xd_shap_out *out, xai_error *err);

/* ---- shared by both methods (kernelshap_common.c) ----------------------- */

/* An oracle on a method context: masks over the d' features that vary are
 * widened to the space's d features (the others kept) and evaluated through
 * the evaluator; the context's n_targets columns are returned. */
typedef struct xd_shap_problem {
    const xd_method_ctx *mc;
    size_t d;               /* features of the space */
    size_t dv;              /* features that vary */
    size_t *vary;           /* dv indices into [0, d) */
    uint8_t *wide;          /* scratch for widened masks */
    size_t wide_cap;        /* masks it holds */
    xd_oracle oracle;
} xd_shap_problem;

xai_status xd_shap_problem_init(xd_shap_problem *p, const xd_method_ctx *mc, xai_error *err);
void xd_shap_problem_release(xd_shap_problem *p);

/* Reads "tol" (>= 0) and "batch_size" (>= 0), common to both methods. */
xai_status xd_shap_read_stopping(const xai_value *params, double *tol, size_t *batch,
                                 xai_error *err);

/* max se / (max phi - min phi); 0 when every se is 0, +inf when the values
 * are all equal but some se is not. */
double xd_shap_rel_se(const double *phi, const double *se, size_t d);
/* The largest xd_shap_rel_se over kt rows of d (phi, se kt x d). */
double xd_shap_rel_se_all(const double *phi, const double *se, size_t d, size_t kt);

/* An estimator on an oracle over dv features (arg: its options). */
typedef xai_status (*xd_shap_estimator)(const xd_oracle *o, size_t dv, void *arg,
                                        xd_shap_out *out, xai_error *err);

/* The common frame of both methods: reduces the context's evaluator to the
 * varying features, runs `est` on them, and returns the result of
 * xd_shap_result (the caller adds its own extra entries). */
xai_status xd_shap_run(const xd_method_ctx *mc, const char *method, xd_shap_estimator est,
                       void *arg, xai_result **out, xai_error *err);

/* A new result holding out's values scattered to the space's features (the
 * others 0 with se 0), per target, base_value = out->base (per target), and
 * the extra entries common to both methods (n_evals, n_batches, converged,
 * rel_se, n_varying). */
xai_status xd_shap_result(const xd_shap_problem *p, const char *method, const xd_shap_out *out,
                          xai_result **res, xai_error *err);

#endif
