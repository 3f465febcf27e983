// truncnorm_test.cc — daemon/core/truncnorm.c: the normal quantile against
// the CDF and known values, and the truncated-normal draws of every method
// (inverse CDF, mirrored, narrow uniform rejection, far tail) against the
// closed-form mean and variance of the truncated normal (tolerances from
// the standard errors) and against its CDF (Kolmogorov-Smirnov); plus
// xai_rng_fill, the bulk draw the LIME sampler uses.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "xai/rng.h"
extern "C" {
#include "core/truncnorm.h"
}

namespace {

double density(double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI); }

// P(Z in [a, x]) for standard Z, from whichever tail keeps precision.
double mass(double a, double x) {
    if (a + x > 0) return xd_normal_cdf(-a) - xd_normal_cdf(-x);
    return xd_normal_cdf(x) - xd_normal_cdf(a);
}

struct Moments {
    double mean, var;
};

// Mean and variance of N(0, 1) truncated to [a, b] (Johnson, Kotz &
// Balakrishnan): m = (phi(a) - phi(b)) / Z, v = 1 + (a phi(a) - b phi(b)) / Z
// - m^2, with Z the mass of [a, b] (x phi(x) taken as 0 at infinity).
Moments truncated_moments(double a, double b) {
    double Z = mass(a, b);
    double pa = density(a), pb = density(b);
    double apa = std::isinf(a) ? 0.0 : a * pa, bpb = std::isinf(b) ? 0.0 : b * pb;
    double m = (pa - pb) / Z;
    return {m, 1 + (apa - bpb) / Z - m * m};
}

struct Case {
    const char *name;
    double mean, sd, lo, hi;
    xd_tn_kind kind;
    bool moments;       // false where the closed form itself cancels (width 1e-9)
};

// n draws; checks the range, the sample mean and variance against the
// closed form within 5 standard errors, and the KS distance.
void check_case(const Case &c, size_t n, uint64_t seed) {
    xd_truncnorm t;
    xd_truncnorm_init(&t, c.mean, c.sd, c.lo, c.hi);
    ASSERT_EQ(c.kind, t.kind) << c.name;
    xai_rng r;
    xai_rng_seed(&r, seed, 0);
    std::vector<double> z(n);
    double s1 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = xd_truncnorm_draw(&t, &r);
        ASSERT_GE(v, c.lo) << c.name;
        ASSERT_LE(v, c.hi) << c.name;
        z[i] = (v - c.mean) / c.sd;
        s1 += z[i];
    }
    double mean = s1 / n, m2 = 0, m4 = 0;
    for (double v : z) {
        double e = (v - mean) * (v - mean);
        m2 += e / n;
        m4 += e * e / n;
    }
    double a = (c.lo - c.mean) / c.sd, b = (c.hi - c.mean) / c.sd;
    if (c.moments) {
        Moments want = truncated_moments(a, b);
        EXPECT_NEAR(want.mean, mean, 5 * std::sqrt(m2 / n)) << c.name;
        EXPECT_NEAR(want.var, m2, 5 * std::sqrt((m4 - m2 * m2) / n)) << c.name;
    }
    // Kolmogorov-Smirnov: sup |F_n - F| below 1.95 / sqrt(n) (p = 0.001).
    std::sort(z.begin(), z.end());
    double Z = mass(a, b), dmax = 0;
    for (size_t i = 0; i < n; i++) {
        double F = mass(a, z[i]) / Z;
        dmax = std::max({dmax, std::fabs(F - (double)i / n), std::fabs(F - (double)(i + 1) / n)});
    }
    EXPECT_LT(dmax, 1.95 / std::sqrt((double)n)) << c.name;
}

}  // namespace

TEST(TruncNorm, QuantileInvertsTheCdf) {
    EXPECT_EQ(0.0, xd_normal_quantile(0.5));
    EXPECT_NEAR(1.959963984540054, xd_normal_quantile(0.975), 1e-15);
    EXPECT_NEAR(-1.959963984540054, xd_normal_quantile(0.025), 1e-15);
    EXPECT_NEAR(-37.04710, xd_normal_quantile(1e-300), 1e-4);
    EXPECT_EQ(-INFINITY, xd_normal_quantile(0.0));
    EXPECT_EQ(INFINITY, xd_normal_quantile(1.0));
    // Phi(q(p)) = p over all three ranges of AS 241: the error of z, read
    // through the density, is within a few units in the last place of z
    // (the rounding of p itself included).
    auto z_error = [](double p) {
        double z = xd_normal_quantile(p);
        return std::fabs(xd_normal_cdf(z) - p) / density(z) / (std::fabs(z) + 0.25);
    };
    for (int e = -300; e <= -1; e++)
        for (double m : {1.0, 2.5, 5.0, 7.5}) EXPECT_LT(z_error(m * std::pow(10.0, e)), 2e-15);
    for (int k = 1; k < 1024; k++) {
        double p = k / 1024.0;
        EXPECT_LT(z_error(p), 2e-15) << p;
        EXPECT_EQ(-xd_normal_quantile(p), xd_normal_quantile(1 - p)) << p;   // exact symmetry
    }
}

TEST(TruncNorm, DrawsFollowTheTruncatedNormal) {
    const Case cases[] = {
        {"central bin (inverse)", 0.1, 0.08, 0.0, 0.2, XD_TN_INVERT, true},
        {"lopsided bin (inverse)", 0.95, 0.05, 0.8, 1.0, XD_TN_INVERT, true},
        {"right tail bin (mirrored inverse)", 0.0, 1.0, 2.5, 6.0, XD_TN_INVERT, true},
        {"left tail to -inf (inverse)", 3.0, 2.0, -INFINITY, -4.0, XD_TN_INVERT, true},
        {"half line (mirrored inverse)", 0.0, 1.0, 0.0, INFINITY, XD_TN_INVERT, true},
        {"narrow tail bin (uniform)", 0.0, 1.0, 3.0, 3.05, XD_TN_UNIFORM, true},
        {"narrow central bin (uniform)", 0.0, 2.0, -1.5, 1.0, XD_TN_UNIFORM, true},
        {"very narrow bin (uniform)", 5.0, 1.0, 5.3, 5.3 + 1e-9, XD_TN_UNIFORM, false},
        {"far tail (exponential)", 0.0, 1.0, 31.0, 33.0, XD_TN_TAIL, true},
        {"far tail to inf (exponential)", 1.0, 0.5, 16.5, INFINITY, XD_TN_TAIL, true},
    };
    uint64_t seed = 1;
    for (const Case &c : cases) check_case(c, 40000, seed++);
}

TEST(TruncNorm, DegenerateIntervalsAndSpreads) {
    xd_truncnorm t;
    xai_rng r;
    xai_rng_seed(&r, 3, 0);
    xd_truncnorm_init(&t, 1.0, 1.0, 2.0, 2.0);      // a point
    EXPECT_EQ(2.0, xd_truncnorm_draw(&t, &r));
    xd_truncnorm_init(&t, 1.0, 1.0, 3.0, 2.0);      // empty: lo, as lime does
    EXPECT_EQ(3.0, xd_truncnorm_draw(&t, &r));
    xd_truncnorm_init(&t, 7.0, 0.0, 2.0, 5.0);      // sd 0: mean clamped
    EXPECT_EQ(5.0, xd_truncnorm_draw(&t, &r));
    // lime's bins: sd 1e-11 with the mean on the upper end of a wide range
    // is a half normal of width 1e-11 below the mean.
    xd_truncnorm_init(&t, 0.3, 1e-11, 0.2, 0.3);
    for (int i = 0; i < 1000; i++) {
        double v = xd_truncnorm_draw(&t, &r);
        EXPECT_LE(v, 0.3);
        EXPECT_GT(v, 0.3 - 1e-9);
    }
}

TEST(TruncNorm, SameSeedSameDraws) {
    xd_truncnorm t;
    xd_truncnorm_init(&t, 0.4, 0.08, 0.2, 0.5);
    xai_rng a, b;
    xai_rng_seed(&a, 9, 2);
    xai_rng_seed(&b, 9, 2);
    for (int i = 0; i < 1000; i++) {
        // draw(t, r) is draw_word(t, next(r), r)
        double x = xd_truncnorm_draw(&t, &a);
        ASSERT_EQ(x, xd_truncnorm_draw_word(&t, xai_rng_next(&b), &b));
    }
}

TEST(TruncNorm, RngFillIsSuccessiveNext) {
    xai_rng a, b;
    xai_rng_seed(&a, 5, 1);
    xai_rng_seed(&b, 5, 1);
    std::vector<uint64_t> w(67);
    xai_rng_fill(&a, w.data(), w.size());
    for (uint64_t v : w) ASSERT_EQ(xai_rng_next(&b), v);
    EXPECT_EQ(xai_rng_next(&b), xai_rng_next(&a));   // the state moved on as far
    xai_rng_fill(&a, w.data(), 0);
    EXPECT_EQ(xai_rng_next(&b), xai_rng_next(&a));
}
