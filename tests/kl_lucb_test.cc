// kl_lucb_test.cc — the statistics under anchors: Bernoulli KL bounds against
// an independent long-double root, the KL-LUCB exploration rate against the
// values worked out by hand, and KL-LUCB on synthetic Bernoulli arms.
#include <gtest/gtest.h>
#include <cmath>
#include <vector>

extern "C" {
#include "methods/kl_lucb.h"
#include "xai/rng.h"
}

namespace {

// kl(p, q) in long double with the limits 0 log 0 = 0 (no clipping).
long double kl_exact(long double p, long double q) {
    long double a = p > 0 ? p * logl(p / q) : 0.0L;
    long double b = p < 1 ? (1 - p) * logl((1 - p) / (1 - q)) : 0.0L;
    return a + b;
}

// The q on the far side of p where kl(p, q) = level, by 300 halvings of the
// bracket in long double; kl(p, .) is monotone between p and the end.
long double root(long double p, long double level, bool upper) {
    long double near = p, far = upper ? 1.0L : 0.0L;
    for (int i = 0; i < 300; i++) {
        long double mid = (near + far) / 2;
        if (kl_exact(p, mid) > level) far = mid;
        else near = mid;
    }
    return (near + far) / 2;
}

}  // namespace

TEST(KlLucb, BoundsMatchIndependentRoot) {
    const double ps[] = {0.0, 0.01, 0.2, 0.5, 0.77, 0.95, 0.999, 1.0};
    const double levels[] = {1e-4, 0.003, 0.05, 0.3, 1.0, 4.0};
    for (double p : ps)
        for (double lv : levels) {
            if (p < 1.0) {
                double want = (double)root(p, lv, true);
                EXPECT_NEAR(xd_kl_upper(p, lv), want, 1e-8) << "p=" << p << " level=" << lv;
                EXPECT_GE(xd_kl_upper(p, lv), p);
            }
            if (p > 0.0) {
                double want = (double)root(p, lv, false);
                EXPECT_NEAR(xd_kl_lower(p, lv), want, 1e-8) << "p=" << p << " level=" << lv;
                EXPECT_LE(xd_kl_lower(p, lv), p);
            }
        }
}

TEST(KlLucb, BoundsAtTheEdgesHaveClosedForms) {
    // kl(1, q) = -log q, so lower(1, L) = exp(-L); kl(0, q) = -log(1 - q), so
    // upper(0, L) = 1 - exp(-L). Upper of 1 and lower of 0 are the point itself.
    for (double lv : {0.01, 0.274, 2.0}) {
        EXPECT_NEAR(xd_kl_lower(1.0, lv), std::exp(-lv), 1e-8);
        EXPECT_NEAR(xd_kl_upper(0.0, lv), 1.0 - std::exp(-lv), 1e-8);
    }
    EXPECT_EQ(xd_kl_upper(1.0, 0.5), 1.0);
    EXPECT_EQ(xd_kl_lower(0.0, 0.5), 0.0);
    EXPECT_EQ(xd_kl_upper(0.3, 0.0), 0.3);
    // Symmetry: kl(p, q) = kl(1-p, 1-q), so lower(p) = 1 - upper(1-p).
    EXPECT_NEAR(xd_kl_lower(0.8, 0.07), 1.0 - xd_kl_upper(0.2, 0.07), 1e-9);
}

TEST(KlLucb, BetaMatchesHandValues) {
    // beta(10, 1, 0.1): a = log(405.5 * 10 / 0.1) = log(40550) = 10.6103,
    // a + log(a) = 10.6103 + 2.3618 = 12.972.
    EXPECT_NEAR(xd_kl_beta(10, 1, 0.1), 12.97, 0.005);
    // beta(50, 100, 0.1): a = log(405.5 * 50 * 100^1.1 / 0.1) = 12.2198 + 5.0657
    // = 17.2855; + log(17.2855) = 2.8499 -> 20.135.
    EXPECT_NEAR(xd_kl_beta(50, 100, 0.1), 20.14, 0.005);
    EXPECT_GT(xd_kl_beta(10, 2, 0.1), xd_kl_beta(10, 1, 0.1));
}

namespace {

struct Arms {
    std::vector<double> mu;
    std::vector<double> n, pos;
    xai_rng rng;
    size_t calls = 0, max_arms_per_call = 0, draws = 0;
};

xai_status draw_bernoulli(void *ctx, const size_t *arms, const size_t *counts, size_t n_req,
                          xai_error *) {
    Arms *a = static_cast<Arms *>(ctx);
    a->calls++;
    if (n_req > a->max_arms_per_call) a->max_arms_per_call = n_req;
    for (size_t i = 0; i < n_req; i++)
        for (size_t j = 0; j < counts[i]; j++) {
            a->n[arms[i]] += 1;
            a->pos[arms[i]] += xai_rng_uniform(&a->rng) < a->mu[arms[i]];
            a->draws++;
        }
    return XAI_OK;
}

// Runs KL-LUCB on arms with means mu from zero counts; returns the top arms.
std::vector<size_t> run(Arms &a, const std::vector<double> &mu, uint64_t seed,
                        const xd_lucb_opts &o) {
    a.mu = mu;
    a.n.assign(mu.size(), 0);
    a.pos.assign(mu.size(), 0);
    xai_rng_seed(&a.rng, seed, 7);
    std::vector<size_t> top(o.top_n);
    xai_error err;
    EXPECT_EQ(xd_kl_lucb(mu.size(), a.n.data(), a.pos.data(), &o, draw_bernoulli, &a,
                         top.data(), nullptr, &err), XAI_OK);
    return top;
}

xd_lucb_opts opts(size_t top_n, bool adaptive) {
    xd_lucb_opts o = {};
    o.top_n = top_n;
    o.epsilon = 0.1;
    o.delta = 0.1;
    o.batch = 50;
    o.adaptive = adaptive;
    o.min_batch = 5;
    return o;
}

}  // namespace

TEST(KlLucb, FindsTheBestArmWithConfidence) {
    // Means 0.9 and then <= 0.75: with epsilon 0.1 only arm 2 is acceptable.
    // The guarantee is >= 1 - delta = 90% of runs; bounds are conservative,
    // so in practice all 40 pass; we require 36.
    std::vector<double> mu = {0.5, 0.75, 0.9, 0.3, 0.7, 0.6};
    for (bool adaptive : {false, true}) {
        int ok = 0;
        for (uint64_t s = 0; s < 40; s++) {
            Arms a;
            std::vector<size_t> top = run(a, mu, s, opts(1, adaptive));
            ok += top[0] == 2;
            EXPECT_EQ(a.max_arms_per_call, mu.size());  // the first call: one draw for every arm
        }
        EXPECT_GE(ok, 36) << "adaptive=" << adaptive;
    }
}

TEST(KlLucb, FindsTopTwoAndSamplesTwoArmsPerRound) {
    std::vector<double> mu = {0.2, 0.95, 0.4, 0.85, 0.5};
    int ok = 0;
    for (uint64_t s = 0; s < 30; s++) {
        Arms a;
        xd_lucb_opts o = opts(2, false);
        std::vector<size_t> top = run(a, mu, s, o);
        bool want = (top[0] == 1 && top[1] == 3) || (top[0] == 3 && top[1] == 1);
        ok += want;
        // draws = 5 initial singles + 2 * batch per later round.
        EXPECT_EQ((a.draws - mu.size()) % (2 * o.batch), 0u);
        EXPECT_EQ(a.draws, mu.size() + (a.calls - 1) * 2 * o.batch);
    }
    EXPECT_GE(ok, 27);
}

TEST(KlLucb, StopsAtOnceWhenTopNCoversEveryArm) {
    Arms a;
    std::vector<double> mu = {0.1, 0.9};
    std::vector<size_t> top = run(a, mu, 1, opts(2, false));
    EXPECT_EQ(a.draws, 2u);  // only the initial single draws
    EXPECT_EQ(a.calls, 1u);
}

TEST(KlLucb, AdaptiveDrawsFewerThanFixedBatches) {
    // A clear best arm: fixed batches of 50 overshoot what the bounds need.
    std::vector<double> mu = {0.95, 0.4, 0.35, 0.3};
    size_t fixed = 0, adaptive = 0;
    for (uint64_t s = 0; s < 20; s++) {
        Arms a, b;
        run(a, mu, s, opts(1, false));
        run(b, mu, s, opts(1, true));
        fixed += a.draws;
        adaptive += b.draws;
    }
    EXPECT_LT(adaptive, fixed);
}

TEST(KlLucb, AdaptiveDrawSizeSolvesForTheBound) {
    // kl(1, 0.9) = -log(0.9) = 0.1053605; with beta 10 the bound passes 0.9
    // at n = 10 / 0.1053605 = 94.91, so an arm with 50 draws needs 45 more.
    xd_lucb_opts o = opts(1, true);
    o.batch = 100;
    o.min_batch = 10;
    EXPECT_EQ(xd_lucb_draw_size(&o, 50, 1.0, 0.9, 10.0), 45u);
    EXPECT_EQ(xd_lucb_draw_size(&o, 94, 1.0, 0.9, 10.0), 10u);   // 1 needed, floor 10
    EXPECT_EQ(xd_lucb_draw_size(&o, 0, 0.5, 0.51, 10.0), 100u);  // capped at batch
    o.adaptive = false;
    EXPECT_EQ(xd_lucb_draw_size(&o, 50, 1.0, 0.9, 10.0), 100u);
}
