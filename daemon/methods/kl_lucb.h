/* kl_lucb.h — Bernoulli KL confidence bounds and KL-LUCB top-n arm
 * identification, the statistics under the anchors method.
 *
 * Pure math with no knowledge of models or masks: an arm is a Bernoulli
 * variable known through counts (n draws, pos successes); drawing is a
 * callback, so the same code runs on synthetic arms in tests and on anchor
 * candidates in anchors.c.
 *
 * Bounds (Kaufmann & Kalyanakrishnan 2013, "Information complexity in bandit
 * subset selection"): with p the empirical mean and level = beta / n,
 *   upper(p, level) = max { q >= p : kl(p, q) <= level }
 *   lower(p, level) = min { q <= p : kl(p, q) <= level }
 * found by bisection until the bracket is narrower than XD_KL_TOL (not a
 * fixed number of steps: a loose bound costs samples).
 */
#ifndef XD_KL_LUCB_H
#define XD_KL_LUCB_H

#include <stdbool.h>
#include <stddef.h>
#include "xai/xai.h"

/* Bisection tolerance on q. */
#define XD_KL_TOL 1e-10

/* kl(p, q) = p log(p/q) + (1-p) log((1-p)/(1-q)), with p and q clipped to
 * [1e-12, 1 - 1e-12] so the value is finite. */
double xd_kl_bernoulli(double p, double q);
/* The bounds above; level <= 0 gives p itself. */
double xd_kl_upper(double p, double level);
double xd_kl_lower(double p, double level);

/* Exploration rate of KL-LUCB for K arms at round t with confidence delta:
 *   beta = log(k K t^alpha / delta) + log(log(k K t^alpha / delta)),
 * alpha = 1.1, k = 405.5. */
double xd_kl_beta(size_t K, double t, double delta);

/* Draws more samples: counts[i] draws of arm arms[i], for i < n_req (the arms
 * are distinct). The callback adds to n[] and pos[] (the arrays given to
 * xd_kl_lucb) and may also add to arms it was not asked about (shared
 * samples). One call is one round: it should reach the model once. */
typedef xai_status (*xd_lucb_draw_fn)(void *ctx, const size_t *arms, const size_t *counts,
                                      size_t n_req, xai_error *err);

typedef struct xd_lucb_opts {
    size_t top_n;       /* arms to identify, >= 1 */
    double epsilon;     /* stop when ub(best outside) - lb(worst inside) <= epsilon */
    double delta;       /* error probability */
    size_t batch;       /* draws per sampled arm per round (the most, when adaptive) */
    bool adaptive;      /* per round, draw what the bounds need (xd_lucb_draw_size) */
    size_t min_batch;   /* smallest adaptive draw, >= 1 */
    size_t max_rounds;  /* 0 = no limit */
    void *work;         /* xd_lucb_work_size(K) bytes of scratch, or NULL to allocate */
} xd_lucb_opts;

/* The scratch xd_kl_lucb needs for K arms (o->work, aligned for a double).
 * A caller that runs it often passes memory it keeps, so large K does not
 * cost fresh pages each time. */
size_t xd_lucb_work_size(size_t K);

/* KL-LUCB: identifies top_n arms of K whose means are within epsilon of the
 * true top_n, with probability >= 1 - delta. Arms with n = 0 first get one
 * draw each. n[] and pos[] hold the counts (updated through `draw`). On
 * success top[0..min(top_n, K)) holds the chosen arms by decreasing mean,
 * and *rounds (if not NULL) the number of sampling rounds. */
xai_status xd_kl_lucb(size_t K, double *n, double *pos, const xd_lucb_opts *o,
                      xd_lucb_draw_fn draw, void *ctx, size_t *top, size_t *rounds,
                      xai_error *err);

/* How many draws an arm with n draws and mean p gets in one round under o:
 * o->batch, or when adaptive, the draws its bound needs to move past q if
 * the mean stays (n' with n' kl(p, q) >= beta), clamped to
 * [min_batch, batch]. */
size_t xd_lucb_draw_size(const xd_lucb_opts *o, double n, double p, double q, double beta);

/* Arms idx[0..K) ordered by decreasing mean pos/n (ties: lower index first;
 * n = 0 counts as mean 0). K < 2^32. */
void xd_lucb_sort_by_mean(size_t K, const double *n, const double *pos, size_t *idx);

#endif
