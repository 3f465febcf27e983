// faithfulness_test.cc — the "faithfulness" method (daemon/methods/
// faithfulness.c) through xai_explain on an in-process linear model, with
// the deletion and insertion curves, AOPC and areas derived by hand.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine_fixtures.h"

namespace {

// f = 0.5 + 2 x0 - 3 x1 + x2 on x = (1, 2, 3); a removed feature takes the
// background row b = (0, 1, 5). Removing feature i changes f by
// -w_i (x_i - b_i) = (-2, +3, +2), independently of the others (f is linear).
// f(x) = 0.5 + 2 - 6 + 3 = -0.5; f(b) = 0.5 + 0 - 3 + 5 = 2.5.
struct Fixture {
    LinearModel m{{2, -3, 1}, {1, 2, 3}, {0, 1, 5}};
    Fixture() { m.bias = 0.5; }
};

xai_status run(xai_eval *ev, const std::vector<double> &attr, int64_t step, const char *mode,
               xai_result **r, xai_error *err) {
    xai_value *p = xai_value_map();
    if (!attr.empty()) xai_value_set(p, "attr", xai_value_float_array(attr.data(), attr.size()));
    if (step != 0) xai_value_set_int(p, "step", step);
    if (mode) xai_value_set_str(p, "mode", mode);
    xai_status st = xai_explain(ev, "faithfulness", p, r, err);
    xai_value_free(p);
    return st;
}

std::vector<double> curve(const xai_result *r, const char *key) {
    std::vector<double> c;
    const xai_value *v = xai_value_get(r->extra, key);
    for (size_t i = 0; i < xai_value_len(v); i++)
        c.push_back(xai_value_get_number(xai_value_at(v, i)));
    return c;
}

double num(const xai_result *r, const char *key) {
    return xai_value_get_number(xai_value_get(r->extra, key));
}

}  // namespace

TEST(Faithfulness, DeletionAndInsertionCurvesByHand) {
    // attr = (1, 3, 2) ranks the features 1, 2, 0.
    // Deletion (remove x1, then x2, then x0):
    //   -0.5, -0.5 + 3 = 2.5, 2.5 + 2 = 4.5, 4.5 - 2 = 2.5 (= f(b)).
    // Insertion (from b, add x1, x2, x0): 2.5, 2.5 - 3 = -0.5, -0.5 - 2 = -2.5,
    //   -2.5 + 2 = -0.5 (= f(x)).
    // AOPC = mean_k (c0 - ck) = (0 - 3 - 5 - 3) / 4 = -2.75.
    // Deletion area (trapezoids, x in [0, 1]) = ((-0.5 + 2.5) / 2 + (2.5 + 4.5) / 2
    //   + (4.5 + 2.5) / 2) / 3 = 8 / 3; insertion area = (1 - 1.5 - 1.5) / 3 = -2 / 3.
    Fixture f;
    xai_result *r = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, run(f.m.ev, {1, 3, 2}, 0, nullptr, &r, &err)) << err.message;
    EXPECT_STREQ("faithfulness", r->method);
    ASSERT_EQ(3u, r->d);
    EXPECT_EQ(1.0, r->values[0]);  // values are the attribution under test
    EXPECT_EQ(3.0, r->values[1]);
    EXPECT_EQ(2.0, r->values[2]);
    EXPECT_NEAR(2.5, r->base_value, 1e-12);
    EXPECT_NEAR(-0.5, r->fx, 1e-12);
    std::vector<double> del = curve(r, "deletion"), ins = curve(r, "insertion");
    std::vector<double> want_del = {-0.5, 2.5, 4.5, 2.5}, want_ins = {2.5, -0.5, -2.5, -0.5};
    ASSERT_EQ(4u, del.size());
    ASSERT_EQ(4u, ins.size());
    for (size_t k = 0; k < 4; k++) {
        EXPECT_NEAR(want_del[k], del[k], 1e-12) << k;
        EXPECT_NEAR(want_ins[k], ins[k], 1e-12) << k;
    }
    EXPECT_NEAR(-2.75, num(r, "aopc"), 1e-12);
    EXPECT_NEAR(8.0 / 3.0, num(r, "deletion_area"), 1e-12);
    EXPECT_NEAR(-2.0 / 3.0, num(r, "insertion_area"), 1e-12);
    EXPECT_EQ(3, xai_value_get_int(xai_value_get(r->extra, "n_steps")));
    EXPECT_STREQ("both", xai_value_get_str(xai_value_get(r->extra, "mode"), nullptr));
    xai_result_free(r);
}

TEST(Faithfulness, DeletionOnlyWithTwoFeaturesPerStep) {
    // Same ranking (1, 2, 0), step 2: n_steps = ceil(3 / 2) = 2.
    // Deletion: -0.5, remove {x1, x2}: -0.5 + 3 + 2 = 4.5, remove x0: 2.5.
    // AOPC = (0 - 5 - 3) / 3 = -8 / 3. No insertion curve in the result.
    Fixture f;
    xai_result *r = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, run(f.m.ev, {1, 3, 2}, 2, "deletion", &r, &err)) << err.message;
    std::vector<double> del = curve(r, "deletion");
    ASSERT_EQ(3u, del.size());
    EXPECT_NEAR(-0.5, del[0], 1e-12);
    EXPECT_NEAR(4.5, del[1], 1e-12);
    EXPECT_NEAR(2.5, del[2], 1e-12);
    EXPECT_NEAR(-8.0 / 3.0, num(r, "aopc"), 1e-12);
    EXPECT_EQ(nullptr, xai_value_get(r->extra, "insertion"));
    EXPECT_EQ(2, xai_value_get_int(xai_value_get(r->extra, "step")));
    xai_result_free(r);
}

TEST(Faithfulness, BadParametersAreRejectedWithAMessage) {
    Fixture f;
    xai_result *r = nullptr;
    xai_error err{};
    EXPECT_EQ(XAI_ERR_INVALID, run(f.m.ev, {}, 0, nullptr, &r, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("attr")) << err.message;
    EXPECT_EQ(nullptr, r);
    EXPECT_EQ(XAI_ERR_INVALID, run(f.m.ev, {1, 2}, 0, nullptr, &r, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("3 features")) << err.message;
    EXPECT_EQ(XAI_ERR_INVALID, run(f.m.ev, {1, 2, 3}, 0, "sideways", &r, &err));
    EXPECT_NE(std::string::npos, std::string(err.message).find("sideways")) << err.message;
    EXPECT_EQ(XAI_ERR_INVALID, run(f.m.ev, {1, 2, 3}, -1, nullptr, &r, &err));
    EXPECT_EQ(nullptr, r);
}
