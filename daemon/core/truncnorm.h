/* truncnorm.h — exact draws from a normal truncated to an interval, with
 * the per-interval constants computed once (see truncnorm.c), and the
 * standard normal's CDF and quantile they rest on.
 *
 * Use: xd_truncnorm_init() once per (mean, sd, lo, hi), then
 * xd_truncnorm_draw() as often as needed; the struct is plain data, no
 * allocation. Draws depend only on the rng stream, so a seed gives the same
 * values on every run.
 */
#ifndef XD_TRUNCNORM_H
#define XD_TRUNCNORM_H

#include "xai/rng.h"

typedef enum {
    XD_TN_POINT = 0,    /* empty interval or sd <= 0: a fixed value */
    XD_TN_INVERT,       /* inverse CDF of a uniform on [Phi(a), Phi(b)] */
    XD_TN_UNIFORM,      /* uniform proposals on [a, b], density ratio test */
    XD_TN_TAIL          /* far tail: shifted exponential proposals (Robert 1995) */
} xd_tn_kind;

typedef struct xd_truncnorm {
    xd_tn_kind kind;
    double mean, sd, lo, hi;   /* the distribution, as given */
    double flip;               /* +1, or -1 when the standard interval was mirrored */
    double a, b;               /* the standard interval after the mirror, a + b <= 0 */
    double p0, dp;             /* XD_TN_INVERT: Phi(a), Phi(b) - Phi(a) */
    double c;                  /* XD_TN_UNIFORM: min z^2 on [a, b]; XD_TN_TAIL: the rate */
    double point;              /* XD_TN_POINT: the value */
} xd_truncnorm;

/* Prepares draws of N(mean, sd^2) conditioned on [lo, hi], for finite mean
 * and sd; lo and hi may be infinite. hi <= lo (or NaN) gives the constant
 * lo; sd <= 0 gives mean clamped to [lo, hi]. */
void xd_truncnorm_init(xd_truncnorm *t, double mean, double sd, double lo, double hi);

/* One draw, always in [lo, hi]. */
double xd_truncnorm_draw(const xd_truncnorm *t, xai_rng *r);

/* The same draw started from `word`, a next() value the caller drew (in
 * bulk, say, with xai_rng_fill); r gives the further values a rejection
 * method may need. xd_truncnorm_draw(t, r) is this with xai_rng_next(r). */
double xd_truncnorm_draw_word(const xd_truncnorm *t, uint64_t word, xai_rng *r);

/* Standard normal CDF, from erfc (full relative precision in the lower tail). */
double xd_normal_cdf(double z);

/* Standard normal quantile for p in (0, 1) (Wichura's AS 241, relative
 * error about 1e-16); -inf at p <= 0, +inf at p >= 1. */
double xd_normal_quantile(double p);

#endif
