// binom_bounds_test.cc — exact binomial tails against a long-double sum of
// the probabilities, and the Clopper-Pearson bounds against their closed
// forms at the ends (q^n = delta) and against the tail they invert.
#include <gtest/gtest.h>
#include <cmath>

extern "C" {
#include "methods/binom_bounds.h"
}

namespace {

// P(X >= k) for X ~ Binomial(n, q), summed term by term in long double.
long double tail_sum(size_t k, size_t n, long double q) {
    long double s = 0;
    for (size_t j = k; j <= n; j++) {
        long double lc = lgammal((long double)n + 1) - lgammal((long double)j + 1) -
                         lgammal((long double)(n - j) + 1);
        s += expl(lc + (long double)j * logl(q) + (long double)(n - j) * log1pl(-q));
    }
    return s;
}

}  // namespace

TEST(BinomBounds, TailMatchesTheSumOfProbabilities) {
    for (size_t n : {1u, 2u, 7u, 40u, 1000u})
        for (double q : {1e-3, 0.1, 0.5, 0.9375, 0.95, 0.999})
            for (size_t k = 0; k <= n; k += (n > 50 ? 37 : 1)) {
                double want = (double)(k == 0 ? 1.0L : tail_sum(k, n, q));
                EXPECT_NEAR(xd_binom_tail_ge(k, n, q), want, 1e-12 + 1e-9 * want)
                    << "n " << n << " q " << q << " k " << k;
            }
    // Ends: k = 0 is certain, k > n impossible, q = 0 and 1 degenerate.
    EXPECT_EQ(xd_binom_tail_ge(0, 5, 0.3), 1.0);
    EXPECT_EQ(xd_binom_tail_ge(6, 5, 0.3), 0.0);
    EXPECT_EQ(xd_binom_tail_ge(1, 5, 0.0), 0.0);
    EXPECT_EQ(xd_binom_tail_ge(5, 5, 1.0), 1.0);
    // P(X >= n) = q^n exactly.
    EXPECT_NEAR(xd_binom_tail_ge(1000, 1000, 0.999), std::pow(0.999, 1000), 1e-15);
}

TEST(BinomBounds, BoundsAtTheEndsHaveClosedForms) {
    // All n held: P(X >= n | q) = q^n = delta, so lower = delta^(1/n);
    // none held: P(X <= 0 | q) = (1 - q)^n = delta, upper = 1 - delta^(1/n).
    for (size_t n : {1u, 10u, 1000u})
        for (double delta : {0.05, 0.1, 0.5}) {
            EXPECT_NEAR(xd_binom_lower(n, n, delta), std::pow(delta, 1.0 / n), 1e-11);
            EXPECT_EQ(xd_binom_upper(n, n, delta), 1.0);
            EXPECT_NEAR(xd_binom_upper(0, n, delta), 1 - std::pow(delta, 1.0 / n), 1e-11);
            EXPECT_EQ(xd_binom_lower(0, n, delta), 0.0);
        }
}

TEST(BinomBounds, BoundsInvertTheTail) {
    // lower(pos, n) is where P(X >= pos) crosses delta; upper where
    // P(X <= pos) does; both bracket the mean pos / n.
    const double delta = 0.1;
    for (size_t n : {20u, 1000u})
        for (size_t pos : {n / 4, n / 2, n - n / 16, n - 1}) {
            double lo = xd_binom_lower(pos, n, delta), up = xd_binom_upper(pos, n, delta);
            double mean = (double)pos / (double)n;
            EXPECT_LT(lo, mean);
            EXPECT_GT(up, mean);
            EXPECT_NEAR(xd_binom_tail_ge(pos, n, lo), delta, 1e-8) << n << " " << pos;
            EXPECT_NEAR(1 - xd_binom_tail_ge(pos + 1, n, up), delta, 1e-8) << n << " " << pos;
            // The test the lower bound stands for: reject q < t iff tail(t) <= delta.
            EXPECT_LE(xd_binom_tail_ge(pos, n, lo), delta);
            EXPECT_GT(xd_binom_tail_ge(pos, n, lo + 1e-9), delta);
        }
    // 960 of 1000 at threshold 0.95: P(X >= 960 | 0.95) = 0.0806 <= 0.1,
    // so the precision is proved >= 0.95; 955 of 1000 is not (0.261).
    EXPECT_LE(xd_binom_tail_ge(960, 1000, 0.95), 0.1);
    EXPECT_GT(xd_binom_tail_ge(955, 1000, 0.95), 0.1);
}
