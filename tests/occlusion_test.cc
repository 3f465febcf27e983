// occlusion_test.cc — occlusion against closed forms: a linear model on rows
// (R_i = w_i (x_i - E[b_i])), an additive word model on texts (R_i = value
// of token i), and n-gram windows averaged by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "engine_fixtures.h"

TEST(Occlusion, LinearModelOneBackgroundRow) {
    // f = 0.5 + 2 x0 - 3 x1 + 1 x2; x = (1, 2, 3), b = (0, 1, 5).
    // R_i = w_i (x_i - b_i) = (2, -3, -2); base = f(b) = 0.5 - 3 + 5 = 2.5.
    LinearModel m({2, -3, 1}, {1, 2, 3}, {0, 1, 5});
    m.bias = 0.5;
    xai_result *r = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "occlusion", nullptr, &r, &err)) << err.message;
    ASSERT_EQ(3u, r->d);
    EXPECT_NEAR(2.0, r->values[0], 1e-12);
    EXPECT_NEAR(-3.0, r->values[1], 1e-12);
    EXPECT_NEAR(-2.0, r->values[2], 1e-12);
    EXPECT_NEAR(2.5, r->base_value, 1e-12);
    EXPECT_NEAR(0.5 + 2 - 6 + 3, r->fx, 1e-12);
    EXPECT_STREQ("occlusion", r->method);
    EXPECT_STREQ("x1", r->feature_names[1]);
    // d + 1 masks after f(x): 3 windows + all removed, in one model call.
    EXPECT_EQ(2u, r->stats.model_calls);
    xai_result_free(r);
}

TEST(Occlusion, LinearModelWeightedBackground) {
    // Background rows (0,0) and (4,8), weights 3 and 1: E[b] = (1, 2).
    // x = (2, 2), w = (1, 1): R = (2 - 1, 2 - 2) = (1, 0).
    LinearModel m({1, 1}, {2, 2}, {0, 0, 4, 8}, {3, 1});
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "occlusion", nullptr, &r, nullptr));
    EXPECT_NEAR(1.0, r->values[0], 1e-12);
    EXPECT_NEAR(0.0, r->values[1], 1e-12);
    EXPECT_NEAR(0.75 * 0 + 0.25 * 12, r->base_value, 1e-12);
    xai_result_free(r);
}

TEST(Occlusion, WordIndicatorModel) {
    // f_spam = 0.9 per "viagra" in the text; one occurrence, so removing it
    // costs 0.9 and removing any other token costs nothing.
    WordModel m({{"viagra", 0.9}}, "Buy cheap viagra now!");
    xai_result *r = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {}, &r, &err, "spam")) << err.message;
    ASSERT_EQ(4u, r->d);
    EXPECT_EQ(1, r->target);
    EXPECT_STREQ("spam", r->target_name);
    double want[4] = {0, 0, 0.9, 0};
    for (int i = 0; i < 4; i++) EXPECT_NEAR(want[i], r->values[i], 1e-12) << i;
    EXPECT_NEAR(0.0, r->base_value, 1e-12);
    EXPECT_STREQ("viagra", r->feature_names[2]);
    EXPECT_EQ(4u, r->n_tokens);
    EXPECT_EQ(2, r->token_feature[2]);
    xai_result_free(r);
}

TEST(Occlusion, DefaultTargetIsThePredictedClass) {
    // f_spam = 0.2 < f_ham = 0.8, so the target is ham (output 0 = 1 - f):
    // removing "cheap" raises ham by 0.2, R = 0.8 - 1.0 = -0.2.
    WordModel m({{"cheap", 0.2}}, "cheap tricks");
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "occlusion", nullptr, &r, nullptr));
    EXPECT_EQ(0, r->target);
    EXPECT_NEAR(-0.2, r->values[0], 1e-12);
    EXPECT_NEAR(0.0, r->values[1], 1e-12);
    xai_result_free(r);
}

TEST(Occlusion, BagOfWordsRemovesEveryOccurrence) {
    // "spam" occurs twice; one feature; removing it costs 2 * 0.25.
    xai_text_space_opts o{};
    o.bag_of_words = true;
    WordModel m({{"spam", 0.25}, {"eggs", 0.1}}, "spam eggs spam", o);
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {{"target", 1}}, &r, nullptr));
    ASSERT_EQ(2u, r->d);
    EXPECT_NEAR(0.5, r->values[0], 1e-12);
    EXPECT_NEAR(0.1, r->values[1], 1e-12);
    xai_result_free(r);
}

TEST(Occlusion, WindowsAverageOverTheWindowsContainingAToken) {
    // Additive model a=1 b=2 c=4 d=8 e=16 on "a b c d e"; f(x) = 31.
    WordModel m({{"a", 1}, {"b", 2}, {"c", 4}, {"d", 8}, {"e", 16}}, "a b c d e");
    xai_result *r = nullptr;
    xai_error err{};
    // window 2, stride 1: windows {ab, bc, cd, de} with R = 3, 6, 12, 24.
    // Scores: a 3; b (3+6)/2; c (6+12)/2; d (12+24)/2; e 24.
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {{"window", 2}, {"target", 1}}, &r, &err))
        << err.message;
    double w21[5] = {3, 4.5, 9, 18, 24};
    for (int i = 0; i < 5; i++) EXPECT_NEAR(w21[i], r->values[i], 1e-12) << i;
    xai_result_free(r);
    // window 3, stride 2: windows {abc, cde}, R = 7, 28: a b 7, c 17.5, d e 28.
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {{"window", 3}, {"stride", 2}, {"target", 1}},
                                   &r, nullptr));
    double w32[5] = {7, 7, 17.5, 28, 28};
    for (int i = 0; i < 5; i++) EXPECT_NEAR(w32[i], r->values[i], 1e-12) << i;
    xai_result_free(r);
    // window 2, stride 2: {ab, cd} then {de} aligned to the end: R = 3, 12, 24.
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {{"window", 2}, {"stride", 2}, {"target", 1}},
                                   &r, nullptr));
    double w22[5] = {3, 3, 12, 18, 24};
    for (int i = 0; i < 5; i++) EXPECT_NEAR(w22[i], r->values[i], 1e-12) << i;
    EXPECT_EQ(3, xai_value_get_int(xai_value_get(r->extra, "windows")));
    EXPECT_NEAR(0.0, r->base_value, 1e-12);
    xai_result_free(r);
}

TEST(Occlusion, WindowLargerThanTheTextIsTheWholeText) {
    WordModel m({{"a", 1}, {"b", 2}}, "a b");
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {{"window", 10}, {"target", 1}}, &r, nullptr));
    EXPECT_NEAR(3.0, r->values[0], 1e-12);
    EXPECT_NEAR(3.0, r->values[1], 1e-12);
    xai_result_free(r);
}

TEST(Occlusion, BadOptionsAreRejected) {
    WordModel m({{"a", 1}}, "a b c");
    xai_result *r = nullptr;
    xai_error err{};
    EXPECT_EQ(XAI_ERR_INVALID, explain_with(m.ev, "occlusion", {{"stride", 3}}, &r, &err));
    EXPECT_NE(nullptr, strstr(err.message, "stride"));
    EXPECT_EQ(XAI_ERR_INVALID, explain_with(m.ev, "occlusion", {{"window", 0}}, &r, &err));
    EXPECT_EQ(XAI_ERR_INVALID, explain_with(m.ev, "occlusion", {{"windw", 2}}, &r, &err));
    EXPECT_NE(nullptr, strstr(err.message, "windw"));
    EXPECT_EQ(nullptr, r);
}
