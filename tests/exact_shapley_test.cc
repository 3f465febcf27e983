// exact_shapley_test.cc — exact Shapley values: a game worked by hand, the
// axioms (efficiency, symmetry, null player) on random games, and the closed
// form phi_i = w_i (x_i - E[b_i]) of a linear model on a tabular space.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine_fixtures.h"
#include "xai/rng.h"
extern "C" {
#include "methods/method.h"
}

namespace {

std::vector<double> random_game(size_t d, uint64_t seed) {
    xai_rng r;
    xai_rng_seed(&r, seed, 0);
    std::vector<double> v(size_t(1) << d);
    for (double &x : v) x = xai_rng_normal(&r);
    return v;
}

}  // namespace

TEST(ExactShapley, HandWorkedTwoPlayerGame) {
    // v({}) = 0, v({1}) = 1, v({2}) = 2, v({1,2}) = 4.
    // phi_1 = 1/2 (v(1) - v()) + 1/2 (v(12) - v(2)) = 1/2 + 1 = 1.5
    // phi_2 = 1/2 (v(2) - v()) + 1/2 (v(12) - v(1)) = 1 + 1.5 = 2.5
    double v[4] = {0, 1, 2, 4};
    double phi[2];
    ASSERT_EQ(XAI_OK, xd_shapley_exact_from_values(2, v, phi));
    EXPECT_DOUBLE_EQ(1.5, phi[0]);
    EXPECT_DOUBLE_EQ(2.5, phi[1]);
}

TEST(ExactShapley, HandWorkedThreePlayerMajorityGame) {
    // v(S) = 1 when |S| >= 2: symmetric, so each gets 1/3 (efficiency).
    // Player 3 a dictator instead (v(S) = 1 iff 3 in S): (0, 0, 1).
    double maj[8], dict[8], phi[3];
    for (int s = 0; s < 8; s++) {
        maj[s] = __builtin_popcount(s) >= 2;
        dict[s] = (s >> 2) & 1;
    }
    ASSERT_EQ(XAI_OK, xd_shapley_exact_from_values(3, maj, phi));
    for (double p : phi) EXPECT_NEAR(1.0 / 3, p, 1e-15);
    ASSERT_EQ(XAI_OK, xd_shapley_exact_from_values(3, dict, phi));
    EXPECT_NEAR(0.0, phi[0], 1e-15);
    EXPECT_NEAR(0.0, phi[1], 1e-15);
    EXPECT_NEAR(1.0, phi[2], 1e-15);
}

TEST(ExactShapley, EfficiencyOnRandomGames) {
    for (size_t d = 1; d <= 10; d++) {
        std::vector<double> v = random_game(d, 100 + d);
        std::vector<double> phi(d);
        ASSERT_EQ(XAI_OK, xd_shapley_exact_from_values(d, v.data(), phi.data()));
        double sum = 0;
        for (double p : phi) sum += p;
        EXPECT_NEAR(v.back() - v[0], sum, 1e-10) << "d = " << d;
    }
}

TEST(ExactShapley, SymmetryAndNullPlayerOnRandomGames) {
    const size_t d = 7;
    std::vector<double> v = random_game(d, 7);
    // Symmetrize in players 0 and 1 (average v over the swap of their bits),
    // and make player 4 a null player (v ignores bit 4).
    auto swap01 = [](size_t s) {
        size_t b0 = s & 1, b1 = (s >> 1) & 1;
        return (s & ~size_t(3)) | (b0 << 1) | b1;
    };
    std::vector<double> g(v.size());
    for (size_t s = 0; s < v.size(); s++) {
        size_t t = s & ~(size_t(1) << 4);
        g[s] = 0.5 * (v[t] + v[swap01(t)]);
    }
    std::vector<double> phi(d);
    ASSERT_EQ(XAI_OK, xd_shapley_exact_from_values(d, g.data(), phi.data()));
    EXPECT_NEAR(phi[0], phi[1], 1e-12);
    EXPECT_NEAR(0.0, phi[4], 1e-12);
    EXPECT_GT(std::fabs(phi[2] - phi[3]), 1e-6);  // a generic pair differs
}

TEST(ExactShapley, LinearityInTheGame) {
    const size_t d = 5;
    std::vector<double> a = random_game(d, 1), b = random_game(d, 2), ab(a.size());
    for (size_t s = 0; s < a.size(); s++) ab[s] = 2 * a[s] - 3 * b[s];
    std::vector<double> pa(d), pb(d), pab(d);
    xd_shapley_exact_from_values(d, a.data(), pa.data());
    xd_shapley_exact_from_values(d, b.data(), pb.data());
    xd_shapley_exact_from_values(d, ab.data(), pab.data());
    for (size_t i = 0; i < d; i++) EXPECT_NEAR(2 * pa[i] - 3 * pb[i], pab[i], 1e-12);
}

TEST(ExactShapley, TooManyPlayers) {
    double v[1] = {0}, phi[1];
    EXPECT_EQ(XAI_ERR_LIMIT, xd_shapley_exact_from_values(21, v, phi));
}

TEST(ExactShapley, LinearModelWithSeveralBackgroundRows) {
    // w = (1, -2, 0.5, 3), x = (1, 1, 1, 1), background rows
    // (0,0,0,0), (2,4,6,8), (1,-1,2,0) with weights 1, 1, 2:
    // E[b] = (0 + 2 + 2, 0 + 4 - 2, 0 + 6 + 4, 0 + 8 + 0) / 4 = (1, 0.5, 2.5, 2).
    // phi = w (x - E[b]) = (0, -1, -0.75, -3).
    LinearModel m({1, -2, 0.5, 3}, {1, 1, 1, 1}, {0, 0, 0, 0, 2, 4, 6, 8, 1, -1, 2, 0}, {1, 1, 2});
    xai_result *r = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "exact_shapley", nullptr, &r, &err)) << err.message;
    double want[4] = {0, -1, -0.75, -3};
    for (int i = 0; i < 4; i++) EXPECT_NEAR(want[i], r->values[i], 1e-12) << i;
    // base = E[f(b)] = w . E[b] = 1 - 1 + 1.25 + 6 = 7.25; f(x) = 2.5.
    EXPECT_NEAR(7.25, r->base_value, 1e-12);
    EXPECT_NEAR(2.5, r->fx, 1e-12);
    EXPECT_EQ(16, xai_value_get_int(xai_value_get(r->extra, "coalitions")));
    // 16 masks: the all-ones mask came from the cache.
    EXPECT_EQ(17u, r->stats.masks_asked);
    xai_result_free(r);
}

TEST(ExactShapley, AdditiveTextModelGivesEachTokenItsValue) {
    WordModel m({{"good", 0.3}, {"bad", -0.2}}, "good not bad good");
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "exact_shapley", {{"target", 1}}, &r, nullptr));
    double want[4] = {0.3, 0, -0.2, 0.3};
    for (int i = 0; i < 4; i++) EXPECT_NEAR(want[i], r->values[i], 1e-12) << i;
    xai_result_free(r);
}

TEST(ExactShapley, MoreThanTwentyFeaturesIsALimit) {
    std::vector<double> w(21, 1.0), x(21, 1.0), b(21, 0.0);
    LinearModel m(w, x, b);
    xai_result *r = nullptr;
    xai_error err{};
    EXPECT_EQ(XAI_ERR_LIMIT, xai_explain(m.ev, "exact_shapley", nullptr, &r, &err));
    EXPECT_EQ(nullptr, r);
}

TEST(ExactShapley, SeveralChunksOfCoalitions) {
    // d = 17: 2^17 = 131072 coalitions, two chunks of 65536 masks.
    // Linear with x = 1, b = 0: phi_i = w_i (x_i - b_i) = w_i = i + 1.
    const size_t d = 17;
    std::vector<double> w(d), x(d, 1.0), b(d, 0.0);
    for (size_t i = 0; i < d; i++) w[i] = double(i + 1);
    LinearModel m(w, x, b);
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "exact_shapley", nullptr, &r, nullptr));
    for (size_t i = 0; i < d; i++) EXPECT_NEAR(w[i], r->values[i], 1e-9) << i;
    EXPECT_EQ(131072u + 1, r->stats.masks_unique);  // + the f(x) request
    EXPECT_EQ(131072u, r->stats.rows_sent);        // f(x) came from the cache
    xai_result_free(r);
}

namespace {
// Records the progress the method reported before each model call.
xai_status record_progress(void *ctx, const xai_eval_stats *, double progress, xai_error *) {
    static_cast<std::vector<double> *>(ctx)->push_back(progress);
    return XAI_OK;
}
}  // namespace

TEST(ExactShapley, SixteenFeaturesReportProgressBeforeTheEnd) {
    // 2^16 = 65,536 coalitions: the first chunk is 1,024 masks, so the
    // model calls after it see a progress strictly between 0 and 1 (before,
    // one chunk of 65,536 held all of them and progress read 0 until done).
    const size_t d = 16;
    std::vector<double> w(d), x(d, 1.0), b(d, 0.0);
    for (size_t i = 0; i < d; i++) w[i] = double(i) - 7.5;
    LinearModel m(w, x, b);
    std::vector<double> seen;
    xai_eval_set_check(m.ev, record_progress, &seen);
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "exact_shapley", nullptr, &r, nullptr));
    for (size_t i = 0; i < d; i++) EXPECT_NEAR(w[i], r->values[i], 1e-9) << i;
    size_t inside = 0;
    for (size_t i = 0; i < seen.size(); i++) {
        if (seen[i] > 0 && seen[i] < 1) inside++;
        if (i > 0) {
            EXPECT_GE(seen[i], seen[i - 1]) << i;
        }
    }
    EXPECT_GE(inside, 1u) << seen.size() << " model calls";
    // The first model calls see 0 (f(x), the first chunk), none sees 1.
    ASSERT_FALSE(seen.empty());
    EXPECT_EQ(0.0, seen[0]);
    EXPECT_LT(seen.back(), 1.0);
    xai_result_free(r);
}
