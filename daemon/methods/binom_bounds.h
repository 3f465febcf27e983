/* binom_bounds.h — exact binomial tails and one-sided Clopper-Pearson
 * bounds, for tests of a proportion on a fixed number of fresh samples
 * (the precision check of the anchors method).
 *
 * With pos successes in n independent draws of a Bernoulli(q):
 *   tail_ge(k, n, q) = P(X >= k),          X ~ Binomial(n, q)
 *   lower(pos, n, delta) = the q with P(X >= pos | q) = delta (0 when pos = 0)
 *   upper(pos, n, delta) = the q with P(X <= pos | q) = delta (1 when pos = n)
 * Each bound holds with probability >= 1 - delta whatever q is, and "q <
 * t is rejected" exactly when tail_ge(pos, n, t) <= delta, the test the
 * lower bound stands for (computed without bisection).
 */
#ifndef XD_BINOM_BOUNDS_H
#define XD_BINOM_BOUNDS_H

#include <stddef.h>

/* P(X >= k) for X ~ Binomial(n, q), q in [0, 1]. */
double xd_binom_tail_ge(size_t k, size_t n, double q);
/* The one-sided bounds above, by bisection to within 1e-12, rounded away
 * from pos / n (never tighter than the exact bound). */
double xd_binom_lower(size_t pos, size_t n, double delta);
double xd_binom_upper(size_t pos, size_t n, double delta);

#endif
