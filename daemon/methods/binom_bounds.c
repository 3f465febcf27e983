/* binom_bounds.c — exact binomial tails and Clopper-Pearson bounds (see
 * binom_bounds.h).
 *
 * The tail is a sum of probabilities from the term next to the mode
 * outwards, where the terms only decrease: for k above the mode, P(X >= k)
 * sums k, k + 1, ...; for k at or below it, 1 - P(X <= k - 1) sums
 * k - 1, k - 2, .... The first term comes from lgamma, each next one from
 * the ratio of neighbours, and the sum stops once a term no longer changes
 * it. A first term that underflows means the sum is below 1e-300, so the
 * result is then 0 (or 1) to double precision. Cost: O(n) at worst, a few
 * hundred terms for the n of a precision check.
 */
#include <math.h>
#include "binom_bounds.h"

/* log P(X = j). */
static double log_pmf(size_t j, size_t n, double q) {
    double lc = lgamma((double)n + 1) - lgamma((double)j + 1) - lgamma((double)(n - j) + 1);
    return lc + (double)j * log(q) + (double)(n - j) * log1p(-q);
}

/* sum_{j >= k} P(X = j), k above the mode: terms decrease from k up. */
static double sum_up(size_t k, size_t n, double q) {
    double t = exp(log_pmf(k, n, q)), sum = 0, r = q / (1 - q);
    for (size_t j = k; j <= n && t > 0; j++) {
        double next = sum + t;
        if (next == sum) break;
        sum = next;
        t *= (double)(n - j) / (double)(j + 1) * r;
    }
    return sum;
}

/* sum_{j <= k} P(X = j), k at or below the mode: terms decrease from k down. */
static double sum_down(size_t k, size_t n, double q) {
    double t = exp(log_pmf(k, n, q)), sum = 0, r = (1 - q) / q;
    for (size_t j = k;; j--) {
        double next = sum + t;
        if (next == sum || t <= 0) break;
        sum = next;
        if (j == 0) break;
        t *= (double)j / (double)(n - j + 1) * r;
    }
    return sum;
}

double xd_binom_tail_ge(size_t k, size_t n, double q) {
    if (k == 0) return 1.0;
    if (k > n || !(q > 0.0)) return 0.0;
    if (q >= 1.0) return 1.0;
    double mode = floor((double)(n + 1) * q);
    double p = (double)k > mode ? sum_up(k, n, q) : 1.0 - sum_down(k - 1, n, q);
    return p < 0 ? 0 : p > 1 ? 1 : p;
}

#define BISECT_TOL 1e-12

double xd_binom_lower(size_t pos, size_t n, double delta) {
    if (pos == 0 || n == 0) return 0.0;
    double lo = 0.0, hi = (double)pos / (double)n;  /* tail(lo) <= delta < tail(hi) */
    if (xd_binom_tail_ge(pos, n, hi) <= delta) return hi;
    while (hi - lo > BISECT_TOL) {
        double mid = 0.5 * (lo + hi);
        if (xd_binom_tail_ge(pos, n, mid) > delta) hi = mid;
        else lo = mid;
    }
    return lo;
}

double xd_binom_upper(size_t pos, size_t n, double delta) {
    if (n == 0 || pos >= n) return 1.0;
    /* P(X <= pos | q) = 1 - tail(pos + 1), decreasing in q. */
    double lo = (double)pos / (double)n, hi = 1.0;
    if (1.0 - xd_binom_tail_ge(pos + 1, n, lo) <= delta) return lo;
    while (hi - lo > BISECT_TOL) {
        double mid = 0.5 * (lo + hi);
        if (1.0 - xd_binom_tail_ge(pos + 1, n, mid) > delta) lo = mid;
        else hi = mid;
    }
    return hi;
}
