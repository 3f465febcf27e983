// shapley_sampling_test.cc — permutation sampling (antithetic and
// per-feature, daemon/methods/shapley_sampling*.c) against exact Shapley
// values from enumeration: efficiency, null features, linear closed forms,
// the cost of a pair, the coverage of the standard errors, stopping, and the
// method through xai_explain.
#include <gtest/gtest.h>
#include <cstring>

#include "engine_fixtures.h"
#include "shap_models.h"

using shapt::Game;

namespace {

struct SsRun {
    std::vector<double> phi, se;
    xd_shap_out out{};
};

SsRun sample(Game &g, xd_ss_estimator e, size_t max_evals, uint64_t seed, double tol = 0,
             size_t batch = 0) {
    SsRun r;
    r.phi.assign(g.d, 0.0);
    r.se.assign(g.d, 0.0);
    r.out.phi = r.phi.data();
    r.out.se = r.se.data();
    xd_ss_opts o;
    memset(&o, 0, sizeof o);
    o.estimator = e;
    o.max_evals = max_evals;
    o.seed = seed;
    o.tol = tol;
    o.batch = batch;
    xd_oracle orc = shapt::oracle_of(&g);
    xai_error err;
    EXPECT_EQ(XAI_OK, xd_shapley_sampling(&orc, g.d, &o, &r.out, &err)) << err.message;
    return r;
}

double gap(const Game &g) {
    std::vector<uint8_t> zero(g.d, 0), one(g.d, 1);
    return g.value(one.data()) - g.value(zero.data());
}

const xd_ss_estimator kBoth[2] = {XD_SS_ANTITHETIC, XD_SS_PER_FEATURE};

}  // namespace

TEST(ShapleySampling, EfficiencyInEveryModeAndSize) {
    for (size_t d : {4, 8, 11, 12, 16})
        for (xd_ss_estimator e : kBoth)
            for (double tol : {0.0, 0.05}) {
                Game g = shapt::nonlinear_game(d, 2, d);
                SsRun r = sample(g, e, 3000, d, tol);
                EXPECT_NEAR(gap(g), shapt::sum(r.phi), 1e-9) << d << " " << e << " " << tol;
            }
}

TEST(ShapleySampling, LinearGamesAreExactWithZeroError) {
    // Every marginal contribution of feature j in an additive game is
    // w_j (x_j - mean b_j): every draw is the Shapley value, the variance 0.
    for (size_t d : {4, 12, 16})
        for (xd_ss_estimator e : kBoth) {
            std::vector<double> w;
            Game g = shapt::linear_game(d, 3, 100 + d, &w);
            SsRun r = sample(g, e, 1000, 3);
            for (size_t j = 0; j < d; j++) {
                double mean = (g.bg[j] + g.bg[d + j] + g.bg[2 * d + j]) / 3;
                EXPECT_NEAR(w[j] * (g.x[j] - mean), r.phi[j], 1e-9) << d << " " << j;
                EXPECT_LT(r.se[j], 1e-9);
            }
        }
}

TEST(ShapleySampling, NullFeaturesGetExactlyZero) {
    // nonlinear_game(16) weights feature j linearly by 0.1 (j % 3): features
    // 9, 12 and 15 (j % 3 == 0, past the nonlinear block) are ignored.
    Game g = shapt::nonlinear_game(16, 2, 4);
    for (xd_ss_estimator e : kBoth) {
        SsRun r = sample(g, e, 4000, 1);
        for (size_t j : {9u, 12u, 15u}) {
            EXPECT_EQ(0.0, r.phi[j]) << j << " " << e;
            EXPECT_EQ(0.0, r.se[j]);
        }
    }
}

TEST(ShapleySampling, AntitheticPairCosts2dMinus2Masks) {
    // Budget 2 + 10 * 2(d-1) with d = 8: exactly 10 pairs, 142 masks.
    Game g = shapt::nonlinear_game(8, 1, 2);
    SsRun r = sample(g, XD_SS_ANTITHETIC, 2 + 10 * 14, 0);
    EXPECT_EQ(142u, r.out.n_evals);
    EXPECT_EQ(142u, g.calls);
}

TEST(ShapleySampling, WordIndicatorsConvergeToExact) {
    // Word game, d = 11: with 20000 masks both estimators are within 4
    // standard errors (and 0.02) of the enumerated values.
    Game g = shapt::word_game(11);
    std::vector<double> exact = g.exact();
    for (xd_ss_estimator e : kBoth) {
        SsRun r = sample(g, e, 20000, 7);
        for (size_t j = 0; j < 11; j++) {
            EXPECT_LE(std::fabs(r.phi[j] - exact[j]), 4 * r.se[j] + 1e-12) << j << " " << e;
            EXPECT_LT(std::fabs(r.phi[j] - exact[j]), 0.02);
        }
    }
}

TEST(ShapleySampling, StandardErrorsCoverTheExactValues) {
    // 200 seeds x 16 features, nonlinear game, 600 masks (about 20 pairs):
    // the 95% interval must hold the exact value for >= 90% of the pairs.
    // Features whose exact value is 0 with se 0 count as covered.
    Game g = shapt::nonlinear_game(16, 2, 21);
    std::vector<double> exact = g.exact();
    for (xd_ss_estimator e : kBoth) {
        size_t hit = 0, total = 0;
        for (uint64_t seed = 0; seed < 200; seed++) {
            SsRun r = sample(g, e, 600, seed);
            for (size_t j = 0; j < 16; j++, total++)
                hit += std::fabs(r.phi[j] - exact[j]) <= 1.96 * r.se[j] + 1e-12;
        }
        double coverage = (double)hit / (double)total;
        printf("shapley_sampling estimator %d coverage %.4f\n", (int)e, coverage);
        EXPECT_GE(coverage, 0.90) << e;
    }
}

namespace {
// Counts per-feature draws: the per-feature estimator asks for masks in
// pairs (S + i, S), so the feature of a pair is where the two differ.
struct PairCounter {
    Game *g;
    std::vector<size_t> count;
};
xai_status count_pairs(void *ctx, const uint8_t *m, size_t n, double *y, xai_error *e) {
    PairCounter *pc = static_cast<PairCounter *>(ctx);
    size_t d = pc->g->d;
    for (size_t r = 0; n > 2 && r + 1 < n; r += 2)
        for (size_t j = 0; j < d; j++)
            if (m[r * d + j] != m[(r + 1) * d + j]) pc->count[j]++;
    return shapt::game_eval(pc->g, m, n, y, e);
}
}  // namespace

TEST(ShapleySampling, PerFeatureSpendsTheBudgetWhereTheVarianceIs) {
    // Budget 16002: 2 for the ends, 8000 draws. First round m0 =
    // max(min(30, 8000/16), 8000/64) = 125 draws each (2000), the other 6000
    // follow the variances. Feature 9 is null (variance 0): it keeps its 125;
    // feature 1 (in u0 u1 and the sum) has the most variance of all.
    Game g = shapt::nonlinear_game(16, 2, 9);
    PairCounter pc{&g, std::vector<size_t>(16, 0)};
    xd_oracle o{count_pairs, &pc, nullptr};
    std::vector<double> phi(16), se(16);
    xd_shap_out out{};
    out.phi = phi.data();
    out.se = se.data();
    xd_ss_opts so;
    memset(&so, 0, sizeof so);
    so.estimator = XD_SS_PER_FEATURE;
    so.max_evals = 16002;
    ASSERT_EQ(XAI_OK, xd_shapley_sampling(&o, 16, &so, &out, nullptr));
    size_t total = 0;
    for (size_t c : pc.count) total += c;
    EXPECT_EQ(8000u, total);
    EXPECT_EQ(125u, pc.count[9]);
    EXPECT_GT(pc.count[1], 4 * pc.count[9]);
    EXPECT_GT(pc.count[1], pc.count[8]);
}

TEST(ShapleySampling, ToleranceStopsEarly) {
    Game g = shapt::nonlinear_game(12, 2, 6);
    for (xd_ss_estimator e : kBoth) {
        SsRun r = sample(g, e, 200000, 2, 0.002, 4);
        EXPECT_TRUE(r.out.converged) << e;
        EXPECT_LT(r.out.rel_se, 0.002);
        EXPECT_LT(r.out.n_evals, 200000u);
        EXPECT_GT(r.out.n_batches, 1u) << e << " " << r.out.n_evals;
    }
}

TEST(ShapleySampling, SameSeedSameBits) {
    Game g = shapt::nonlinear_game(10, 2, 1);
    for (xd_ss_estimator e : kBoth) {
        SsRun a = sample(g, e, 2000, 5), b = sample(g, e, 2000, 5), c = sample(g, e, 2000, 6);
        EXPECT_EQ(0, memcmp(a.phi.data(), b.phi.data(), 10 * sizeof(double)));
        EXPECT_EQ(0, memcmp(a.se.data(), b.se.data(), 10 * sizeof(double)));
        EXPECT_NE(0, memcmp(a.phi.data(), c.phi.data(), 10 * sizeof(double)));
    }
}

TEST(ShapleySampling, MethodOnTabularSpace) {
    std::vector<double> w = {1.0, -2.0, 3.0, 0.5};
    std::vector<double> x = {1.0, 2.0, 7.0, -1.0};
    std::vector<double> bg = {0, 0, 7, 0, 1, 1, 7, 1};
    LinearModel m(w, x, bg);
    for (const char *est : {"antithetic", "per_feature"}) {
        xai_value *p = xai_value_map();
        xai_value_set_str(p, "estimator", est);
        xai_result *r = nullptr;
        xai_error err;
        ASSERT_EQ(XAI_OK, xai_explain(m.ev, "shapley_sampling", p, &r, &err)) << err.message;
        for (size_t j = 0; j < 4; j++)
            EXPECT_NEAR(w[j] * (x[j] - (bg[j] + bg[4 + j]) / 2), r->values[j], 1e-9) << j;
        EXPECT_EQ(0.0, r->values[2]);
        EXPECT_STREQ(est, xai_value_get_str(xai_value_get(r->extra, "estimator"), nullptr));
        EXPECT_NEAR(r->fx - r->base_value, r->values[0] + r->values[1] + r->values[3], 1e-9);
        xai_result_free(r);
        xai_value_free(p);
    }
}

TEST(ShapleySampling, UnknownEstimatorIsAnError) {
    std::vector<double> w = {1.0}, x = {1.0}, bg = {0.0};
    LinearModel m(w, x, bg);
    xai_value *p = xai_value_map();
    xai_value_set_str(p, "estimator", "owen");
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(XAI_ERR_INVALID, xai_explain(m.ev, "shapley_sampling", p, &r, &err));
    xai_value_free(p);
}

TEST(ShapleySampling, MethodOnTextWordIndicators) {
    // Additive word model over positions (UNK scores 0): every walk credits
    // each word with exactly its value, so antithetic sampling returns the
    // exact Shapley values (exact_shapley agrees) with zero standard error.
    WordModel m({{"free", 0.4}, {"money", 0.3}, {"now", -0.1}}, "get free money now, free!");
    xai_result *r = nullptr, *ex = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "shapley_sampling", {{"target", 1}, {"max_evals", 200}},
                                   &r, &err)) << err.message;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "exact_shapley", {{"target", 1}}, &ex, &err)) << err.message;
    ASSERT_EQ(ex->d, r->d);
    for (size_t j = 0; j < r->d; j++) {
        EXPECT_NEAR(ex->values[j], r->values[j], 1e-12) << j;
        EXPECT_NEAR(0.0, r->stderrs[j], 1e-12) << j;
    }
    EXPECT_NEAR(-0.1, r->values[3], 1e-12);  // tokens: get free money now free
    xai_result_free(r);
    xai_result_free(ex);
}
