// lime_test.cc — LIME (daemon/methods/lime*.c): the surrogate fit on
// samples the test supplies against a ridge solved here in long double, the
// feature selections, the text sampler and kernel by hand, the tabular
// discretizer by hand, recovery of a model linear in the mask, the standard
// errors against the spread over seeds, and same seed -> same bytes.
#include <gtest/gtest.h>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>
#include <string>

#include "engine_fixtures.h"
#include "ridge_reference.h"

extern "C" {
#include "methods/lime.h"
#include "xai/rng.h"
}

namespace {

using ridgeref::LVec;

struct Samples {
    size_t n, d;
    std::vector<uint8_t> masks;
    std::vector<double> X, y, w;
};

// LIME text samples for d features with y = g(mask).
template <class G>
Samples text_samples(size_t n, size_t d, uint64_t seed, G g) {
    Samples s{n, d, std::vector<uint8_t>(n * d), std::vector<double>(n * d),
              std::vector<double>(n), std::vector<double>(n)};
    xai_rng r;
    xai_rng_seed(&r, seed, 1);
    std::vector<size_t> scratch(d), pick(d);
    xd_lime_text_masks(&r, d, n, s.masks.data(), scratch.data(), pick.data());
    xd_lime_text_weights(s.masks.data(), n, d, 25.0, s.w.data());
    for (size_t i = 0; i < n * d; i++) s.X[i] = s.masks[i];
    for (size_t i = 0; i < n; i++) s.y[i] = g(&s.masks[i * d]);
    return s;
}

struct Fit {
    std::vector<double> coef, se;
    std::vector<size_t> selected;
    xd_lime_fit f{};
};

Fit fit(const Samples &s, xd_lime_selection sel, size_t k, double alpha) {
    Fit r;
    r.coef.assign(s.d, 0);
    r.se.assign(s.d, 0);
    r.selected.assign(s.d, 0);
    r.f.coef = r.coef.data();
    r.f.se = r.se.data();
    r.f.selected = r.selected.data();
    xai_error err;
    EXPECT_EQ(XAI_OK, xd_lime_fit_data(s.X.data(), s.n, s.d, s.y.data(), s.w.data(), sel, k, alpha,
                                       &r.f, &err))
        << err.message;
    r.selected.resize(r.f.n_selected);
    return r;
}

double nonlinear_of_mask(const uint8_t *z) {
    return 0.3 * z[0] + 0.5 * z[1] * z[2] - 0.2 * z[3] + 0.1 * (z[4] | z[5]) + 0.05 * z[6];
}

}  // namespace

TEST(Lime, TextWeightsByHand) {
    // d = 4, one word kept: cosine similarity 1/(1*2) = 0.5, distance 50,
    // weight sqrt(exp(-2500/625)) = exp(-2). All kept: weight 1. None kept:
    // distance 100, weight exp(-8).
    uint8_t m[12] = {1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
    double w[3];
    xd_lime_text_weights(m, 3, 4, 25.0, w);
    EXPECT_NEAR(std::exp(-2.0), w[0], 1e-15);
    EXPECT_NEAR(1.0, w[1], 1e-15);
    EXPECT_NEAR(std::exp(-8.0), w[2], 1e-15);
}

TEST(Lime, TextMasksRemoveAUniformNumberOfWords) {
    // Row 0 keeps all; every other row removes m in [1, d], uniform: with
    // d = 5 and 10000 rows each m has 2000 expected (sd 40), so +-200.
    size_t d = 5, n = 10001;
    std::vector<uint8_t> masks(n * d);
    std::vector<size_t> scratch(d), pick(d);
    xai_rng r;
    xai_rng_seed(&r, 3, 1);
    xd_lime_text_masks(&r, d, n, masks.data(), scratch.data(), pick.data());
    for (size_t j = 0; j < d; j++) EXPECT_EQ(1, masks[j]);
    std::vector<size_t> count(d + 1, 0);
    for (size_t i = 1; i < n; i++) {
        size_t removed = 0;
        for (size_t j = 0; j < d; j++) removed += masks[i * d + j] == 0;
        count[removed]++;
    }
    EXPECT_EQ(0u, count[0]);
    for (size_t m = 1; m <= d; m++) EXPECT_NEAR(2000.0, (double)count[m], 200.0) << m;
}

TEST(Lime, FitEqualsAnIndependentWeightedRidge) {
    for (double alpha : {1.0, 0.3}) {
        Samples s = text_samples(3000, 9, 7, nonlinear_of_mask);
        Fit r = fit(s, XD_LIME_SEL_NONE, 10, alpha);
        LVec ref = ridgeref::ridge(s.X, s.n, s.d, s.y, s.w, alpha);
        for (size_t j = 0; j < s.d; j++) EXPECT_NEAR((double)ref[j], r.coef[j], 1e-9) << j;
        EXPECT_NEAR((double)ref[s.d], r.f.intercept, 1e-9);
        // the prediction at row 0 (all ones) and the weighted R^2, recomputed
        long double pred = ref[s.d], sw = 0, sy = 0, res = 0, tot = 0;
        for (size_t j = 0; j < s.d; j++) pred += ref[j];
        EXPECT_NEAR((double)pred, r.f.local_pred, 1e-9);
        for (size_t i = 0; i < s.n; i++) sw += s.w[i], sy += s.w[i] * s.y[i];
        for (size_t i = 0; i < s.n; i++) {
            long double yhat = ref[s.d];
            for (size_t j = 0; j < s.d; j++) yhat += ref[j] * s.X[i * s.d + j];
            res += s.w[i] * (s.y[i] - yhat) * (s.y[i] - yhat);
            tot += s.w[i] * (s.y[i] - sy / sw) * (s.y[i] - sy / sw);
        }
        EXPECT_NEAR((double)(1 - res / tot), r.f.score, 1e-9);
    }
}

TEST(Lime, HighestWeightsTakesTheLargestCoefficients) {
    // y linear in the mask with |weights| 0.9 (f3) > 0.7 (f0) > 0.5 (f6) > rest
    // 0.1: the alpha=0.01 ridge recovers them almost exactly, top 3 = {3, 0, 6}
    // in that order, and the final fit is on those three only.
    const double wt[8] = {0.7, 0.1, -0.1, -0.9, 0.1, 0.1, 0.5, -0.1};
    Samples s = text_samples(2000, 8, 2, [&](const uint8_t *z) {
        double v = 0;
        for (int j = 0; j < 8; j++) v += wt[j] * z[j];
        return v;
    });
    Fit r = fit(s, XD_LIME_SEL_HIGHEST, 3, 1.0);
    ASSERT_EQ(3u, r.selected.size());
    EXPECT_EQ(3u, r.selected[0]);
    EXPECT_EQ(0u, r.selected[1]);
    EXPECT_EQ(6u, r.selected[2]);
    EXPECT_EQ(0.0, r.coef[1]);
    EXPECT_EQ(XD_LIME_SEL_HIGHEST, r.f.used);
}

TEST(Lime, ForwardSelectionAddsTheBestFeatureFirst) {
    // y = 2 z4 + 0.5 z1 (+ nothing else): round 1 picks 4 (it alone explains
    // the most variance), round 2 picks 1, which makes the fit exact.
    Samples s = text_samples(1500, 7, 5, [](const uint8_t *z) { return 2.0 * z[4] + 0.5 * z[1]; });
    Fit r = fit(s, XD_LIME_SEL_AUTO, 2, 0.0);  // auto with k <= 6 is forward
    EXPECT_EQ(XD_LIME_SEL_FORWARD, r.f.used);
    ASSERT_EQ(2u, r.selected.size());
    EXPECT_EQ(4u, r.selected[0]);
    EXPECT_EQ(1u, r.selected[1]);
    EXPECT_NEAR(2.0, r.coef[4], 1e-9);
    EXPECT_NEAR(0.5, r.coef[1], 1e-9);
    EXPECT_NEAR(1.0, r.f.score, 1e-12);
    Fit h = fit(s, XD_LIME_SEL_AUTO, 7, 0.0);  // k > 6: highest weights
    EXPECT_EQ(XD_LIME_SEL_HIGHEST, h.f.used);
}

TEST(Lime, StandardErrorsMatchTheSpreadOverSeeds) {
    // The sandwich se estimates the sd of a coefficient across seeds. Over
    // 60 seeds the empirical sd and the mean reported se must agree within
    // 35% for every coefficient of a nonlinear target.
    const size_t d = 7, seeds = 60;
    std::vector<std::vector<double>> coefs(d);
    std::vector<double> se_mean(d, 0);
    for (uint64_t seed = 0; seed < seeds; seed++) {
        Samples s = text_samples(800, d, 100 + seed, nonlinear_of_mask);
        Fit r = fit(s, XD_LIME_SEL_NONE, d, 1.0);
        for (size_t j = 0; j < d; j++) {
            coefs[j].push_back(r.coef[j]);
            se_mean[j] += r.se[j] / seeds;
        }
    }
    for (size_t j = 0; j < d; j++) {
        double m = 0, v = 0;
        for (double c : coefs[j]) m += c / seeds;
        for (double c : coefs[j]) v += (c - m) * (c - m) / (seeds - 1);
        EXPECT_NEAR(1.0, se_mean[j] / std::sqrt(v), 0.35) << j;
    }
}

TEST(Lime, TabularDiscretizerByHand) {
    // Column 0 of the background is 1..8: numpy percentiles 25/50/75 are
    // 2.75, 4.5, 6.25; x0 = 5 is in bin 2, "4.50 < x0 <= 6.25"; each bin holds
    // two of the eight values, so a quarter of the samples share x's bin,
    // and a sample's value lies in its bin. Column 1 is constant (0): the
    // three percentiles collapse to one border 0, as np.unique makes them,
    // so x1 = 0 is "x1 <= 0.00" and every sample shares that bin.
    std::vector<double> bg;
    for (int i = 1; i <= 8; i++) bg.push_back(i), bg.push_back(0.0);
    double x[2] = {5.0, 0.0};
    const char *names[2] = {"x0", "x1"};
    size_t n = 4001;
    std::vector<double> X(n * 2), rows(n * 2), w(n);
    char *cond[2] = {nullptr, nullptr};
    xd_lime_tab_opts o{n, true, 0.0};
    xai_rng r;
    xai_rng_seed(&r, 1, 2);
    ASSERT_EQ(XAI_OK, xd_lime_tabular_sample(x, 2, bg.data(), 8, names, &o, &r, X.data(),
                                             rows.data(), w.data(), cond, nullptr));
    EXPECT_STREQ("4.50 < x0 <= 6.25", cond[0]);
    EXPECT_STREQ("x1 <= 0.00", cond[1]);
    xai_free(cond[0]);
    xai_free(cond[1]);
    EXPECT_EQ(5.0, rows[0]);
    size_t same = 0;
    double width = 0.75 * std::sqrt(2.0);
    for (size_t i = 1; i < n; i++) {
        double v = rows[i * 2];
        EXPECT_EQ(X[i * 2] == 1.0, v > 4.5 && v <= 6.25) << v;
        EXPECT_GE(v, 1.0);
        EXPECT_LE(v, 8.0);
        EXPECT_EQ(1.0, X[i * 2 + 1]);
        same += X[i * 2] == 1.0;
        double dist2 = (1 - X[i * 2]) * (1 - X[i * 2]);
        EXPECT_NEAR(std::sqrt(std::exp(-dist2 / (width * width))), w[i], 1e-15);
    }
    EXPECT_NEAR(1000.0, (double)same, 4 * std::sqrt(4000 * 0.25 * 0.75));
}

TEST(Lime, TabularValuesFollowTheirBinsTruncatedNormal) {
    // Background column 1, 2, 2, 3, 5, 6, 9, 10: borders 2, 4, 6.75 (numpy
    // percentiles); the bins hold {1, 2, 2}, {3}, {5, 6}, {9, 10} with
    // ranges [1, 2], [2, 4], [4, 6.75], [6.75, 10]. A sample's value in bin
    // b follows N(mean_b, sd_b^2) truncated to the range: per bin, the share
    // of samples must match the bin's frequency and their mean the closed
    // form, within 5 standard errors. Bin 1 ({3}: sd 1e-11) is all but a
    // point; bin 0's and bin 3's means sit off centre, so the truncation
    // shows.
    const double vals[8] = {1, 2, 2, 3, 5, 6, 9, 10};
    double x[1] = {5.5};
    const char *names[1] = {"v"};
    size_t n = 40001;
    std::vector<double> X(n), rows(n), w(n);
    xd_lime_tab_opts o{n, true, 0.0};
    xai_rng r;
    xai_rng_seed(&r, 7, 2);
    ASSERT_EQ(XAI_OK, xd_lime_tabular_sample(x, 1, vals, 8, names, &o, &r, X.data(),
                                             rows.data(), w.data(), nullptr, nullptr));
    struct Bin {
        double lo, hi, mean, sd, freq;
    } bins[4] = {{1, 2, 5.0 / 3, std::sqrt(2.0) / 3, 3.0 / 8},
                 {2, 4, 3, 1e-11, 1.0 / 8},
                 {4, 6.75, 5.5, 0.5, 2.0 / 8},
                 {6.75, 10, 9.5, 0.5, 2.0 / 8}};
    auto Phi = [](double z) { return 0.5 * std::erfc(-z / std::sqrt(2.0)); };
    auto phi = [](double z) { return std::exp(-0.5 * z * z) / std::sqrt(2 * M_PI); };
    auto bin_of_value = [](double v) {
        if (v <= 2) return 0;
        if (std::fabs(v - 3) < 1e-9) return 1;
        if (v > 4 && v <= 6.75) return 2;
        return v > 6.75 ? 3 : -1;
    };
    double sum[4] = {0}, sum2[4] = {0}, count[4] = {0};
    for (size_t i = 1; i < n; i++) {
        int b = bin_of_value(rows[i]);
        ASSERT_GE(b, 0) << rows[i];
        EXPECT_EQ(b == 2 ? 1.0 : 0.0, X[i]) << rows[i];   // x = 5.5 is in bin 2
        sum[b] += rows[i], sum2[b] += rows[i] * rows[i], count[b]++;
    }
    for (int b = 0; b < 4; b++) {
        const Bin &B = bins[b];
        EXPECT_NEAR(B.freq * (n - 1), count[b], 5 * std::sqrt((n - 1) * B.freq * (1 - B.freq)))
            << b;
        double mean = sum[b] / count[b], var = sum2[b] / count[b] - mean * mean;
        double a = (B.lo - B.mean) / B.sd, c = (B.hi - B.mean) / B.sd;
        double want = B.mean + B.sd * (phi(a) - phi(c)) / (Phi(c) - Phi(a));
        EXPECT_NEAR(want, mean, 5 * std::sqrt(std::max(var, 0.0) / count[b]) + 1e-9) << b;
    }
}

TEST(Lime, TabularSameSeedSameRows) {
    std::vector<double> bg;
    for (int i = 0; i < 40; i++) bg.push_back(i % 7), bg.push_back(i * 0.37), bg.push_back(1.0);
    double x[3] = {2.0, 5.0, 1.0};
    const char *names[3] = {"a", "b", "c"};
    size_t n = 300;
    std::vector<double> X[3], rows[3], w[3];
    for (int k = 0; k < 3; k++) {
        X[k].resize(n * 3), rows[k].resize(n * 3), w[k].resize(n);
        xd_lime_tab_opts o{n, true, 0.0};
        xai_rng r;
        xai_rng_seed(&r, k < 2 ? 11 : 12, 2);
        ASSERT_EQ(XAI_OK, xd_lime_tabular_sample(x, 3, bg.data(), 40, names, &o, &r, X[k].data(),
                                                 rows[k].data(), w[k].data(), nullptr, nullptr));
    }
    EXPECT_EQ(0, memcmp(rows[0].data(), rows[1].data(), n * 3 * sizeof(double)));
    EXPECT_EQ(0, memcmp(X[0].data(), X[1].data(), n * 3 * sizeof(double)));
    EXPECT_EQ(0, memcmp(w[0].data(), w[1].data(), n * sizeof(double)));
    EXPECT_NE(0, memcmp(rows[0].data(), rows[2].data(), n * 3 * sizeof(double)));
}

// ---- through xai_explain --------------------------------------------------

TEST(Lime, TextModelLinearInTheMaskIsRecovered) {
    // The word model sums word values; a removed word becomes UNK (0), so
    // f_spam is exactly linear in the position mask with the words' values
    // as weights. Without penalty (alpha 0) and with every feature, LIME
    // returns those weights and the intercept 0, with R^2 = 1.
    WordModel m({{"free", 0.4}, {"money", 0.3}, {"now", -0.1}}, "get free money now");
    xai_value *p = xai_value_map();
    xai_value_set_float(p, "alpha", 0.0);
    xai_value_set_str(p, "feature_selection", "none");
    xai_value_set_int(p, "target", 1);
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "lime", p, &r, &err)) << err.message;
    ASSERT_EQ(4u, r->d);
    const double want[4] = {0.0, 0.4, 0.3, -0.1};
    for (size_t j = 0; j < 4; j++) EXPECT_NEAR(want[j], r->values[j], 1e-9) << j;
    EXPECT_NEAR(0.0, xai_value_get_number(xai_value_get(r->extra, "intercept")), 1e-9);
    EXPECT_NEAR(1.0, xai_value_get_number(xai_value_get(r->extra, "score")), 1e-9);
    EXPECT_NEAR(0.6, xai_value_get_number(xai_value_get(r->extra, "local_pred")), 1e-9);
    EXPECT_STREQ("text", xai_value_get_str(xai_value_get(r->extra, "mode"), nullptr));
    xai_result_free(r);
    // With the default alpha = 1 the ridge shrinks the weights only slightly.
    xai_value_set_float(p, "alpha", 1.0);
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "lime", p, &r, &err)) << err.message;
    for (size_t j = 1; j < 4; j++) EXPECT_NEAR(want[j], r->values[j], 0.01 * std::fabs(want[j]) + 1e-3);
    xai_result_free(r);
    xai_value_free(p);
}

TEST(Lime, TabularContinuousLinearModelIsExact) {
    // Continuous mode: the model sees mean + sd z and the surrogate sees z,
    // so f = bias + sum w_j (mean_j + sd_j z_j) is linear in z with weights
    // w_j sd_j (sd the population std of the background column).
    std::vector<double> w = {1.0, -2.0, 0.5};
    std::vector<double> x = {0.3, 1.0, 2.0};
    std::vector<double> bg = {0, 1, 2, 2, 1, 4, 4, 4, 0, 6, 2, 2};
    LinearModel m(w, x, bg);
    xai_value *p = xai_value_map();
    xai_value_set_bool(p, "discretize", false);
    xai_value_set_float(p, "alpha", 0.0);
    xai_value_set_str(p, "feature_selection", "none");
    xai_value_set_int(p, "num_samples", 500);
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "lime", p, &r, &err)) << err.message;
    for (size_t j = 0; j < 3; j++) {
        double mean = 0, var = 0;
        for (size_t b = 0; b < 4; b++) mean += bg[b * 3 + j] / 4;
        for (size_t b = 0; b < 4; b++) var += (bg[b * 3 + j] - mean) * (bg[b * 3 + j] - mean) / 4;
        EXPECT_NEAR(w[j] * std::sqrt(var), r->values[j], 1e-9) << j;
    }
    EXPECT_STREQ("tabular_continuous", xai_value_get_str(xai_value_get(r->extra, "mode"), nullptr));
    xai_result_free(r);
    xai_value_free(p);
}

TEST(Lime, TabularDiscretizedRunsAndNamesBins) {
    std::vector<double> w = {1.0, -2.0};
    std::vector<double> x = {5.0, 0.0};
    std::vector<double> bg;
    for (int i = 1; i <= 8; i++) bg.push_back(i), bg.push_back(i % 3);
    LinearModel m(w, x, bg);
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "lime", {{"seed", 4}}, &r, &err)) << err.message;
    const xai_value *c = xai_value_get(r->extra, "conditions");
    ASSERT_EQ(2u, xai_value_len(c));
    EXPECT_STREQ("4.50 < x0 <= 6.25", xai_value_get_str(xai_value_at(c, 0), nullptr));
    // Staying in x0's bin keeps f near 5 instead of the background's 4.5
    // mean: the coefficient of "same bin" for x0 is positive.
    EXPECT_GT(r->values[0], 0.0);
    xai_result_free(r);
}

TEST(Lime, SameSeedSameBytes) {
    WordModel m({{"free", 0.4}, {"money", 0.3}, {"now", -0.1}, {"win", 0.2}},
                "win free money now, win a prize now");
    xai_result *a = nullptr, *b = nullptr, *c = nullptr;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "lime", {{"seed", 9}, {"num_samples", 700}}, &a, nullptr));
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "lime", {{"seed", 9}, {"num_samples", 700}}, &b, nullptr));
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "lime", {{"seed", 10}, {"num_samples", 700}}, &c, nullptr));
    ASSERT_EQ(a->d, b->d);
    EXPECT_EQ(0, memcmp(a->values, b->values, a->d * sizeof(double)));
    EXPECT_EQ(0, memcmp(a->stderrs, b->stderrs, a->d * sizeof(double)));
    char *ja = xai_value_to_json(a->extra, false), *jb = xai_value_to_json(b->extra, false);
    EXPECT_STREQ(ja, jb);
    EXPECT_NE(0, memcmp(a->values, c->values, a->d * sizeof(double)));
    xai_free(ja);
    xai_free(jb);
    xai_result_free(a);
    xai_result_free(b);
    xai_result_free(c);
}

TEST(Lime, BadOptionsAreErrors) {
    WordModel m({{"a", 0.1}}, "a b");
    xai_value *p = xai_value_map();
    xai_value_set_str(p, "feature_selection", "lasso_path");
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(XAI_ERR_INVALID, xai_explain(m.ev, "lime", p, &r, &err));
    EXPECT_NE(nullptr, strstr(err.message, "feature_selection"));
    xai_value_free(p);
    EXPECT_EQ(XAI_ERR_INVALID, explain_with(m.ev, "lime", {{"num_samples", 1}}, &r, &err));
}
