// nn_model_test.cc — a network as a model: the tensor space (pixels,
// clipped patches, baselines), the model adapter (outputs or logits), sampling
// methods on a network against closed forms, and deletion/insertion curves
// and AOPC worked out by hand.
#include <gtest/gtest.h>
#include <cmath>
#include <cstring>
#include <string>
#include "nn_test_util.h"
#include "xai/methods.h"

using namespace nnt;

namespace {

// f(x) = w . x + b on a 1x2x2 input: w = [1, -2, 3, 0.5], b = 0.25.
xai_nn *affine_2x2() {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(1, 2, 2, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    const float w[4] = {1, -2, 3, 0.5f}, b[1] = {0.25f};
    EXPECT_EQ(xai_nn_set_weights(net, 1, w, 4, b, 1, &e), XAI_OK);
    return net;
}

const double X[4] = {2, 1, -1, 4};  // contributions w_i x_i = [2, -2, -3, 2], f = -0.75

struct Fixture {
    xai_nn *net = affine_2x2();
    xai_space *space = nullptr;
    xai_eval *ev = nullptr;
    xai_model model;
    Fixture() {
        xai_error e;
        EXPECT_EQ(xai_space_tensor_new(X, 1, 2, 2, nullptr, &space, &e), XAI_OK);
        xai_nn_model(net, false, "affine", &model);
        EXPECT_EQ(xai_eval_new(&model, space, nullptr, &ev, &e), XAI_OK) << e.message;
    }
    ~Fixture() {
        xai_eval_free(ev);
        xai_space_free(space);
        xai_nn_free(net);
    }
};

}  // namespace

TEST(NnModel, TensorSpaceRendersBaselinesThroughTheNetwork) {
    Fixture f;
    EXPECT_EQ(xai_space_n_features(f.space), 4u);
    EXPECT_STREQ(xai_space_feature_name(f.space, 3), "1,1");
    // Masks: all on -> -0.75; keep 0 and 2 -> 2 - 3 + 0.25 = -0.75;
    // keep 1 -> -2 + 0.25; none -> 0.25.
    const uint8_t masks[16] = {1, 1, 1, 1, 1, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    double y[4];
    xai_error e;
    ASSERT_EQ(xai_eval_masks(f.ev, masks, 4, y, &e), XAI_OK) << e.message;
    EXPECT_NEAR(y[0], -0.75, 1e-6);
    EXPECT_NEAR(y[1], -0.75, 1e-6);
    EXPECT_NEAR(y[2], -1.75, 1e-6);
    EXPECT_NEAR(y[3], 0.25, 1e-6);
}

TEST(NnModel, PatchesAreClippedAtTheBorderAndTakeTheBaseline) {
    // 1x4x4 input of ones, patch 3: a 2x2 grid whose last row and column of
    // patches are 1 pixel wide. Baseline 0. With f = sum of pixels (dense of
    // ones), removing patch 0 loses 9, patch 1 loses 3, patch 3 loses 1.
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(1, 4, 4, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    std::vector<float> ones(16, 1.0f);
    ASSERT_EQ(xai_nn_set_weights(net, 1, ones.data(), 16, nullptr, 0, &e), XAI_OK);
    std::vector<double> x(16, 1.0);
    xai_tensor_space_opts o = {3, nullptr, 0.0};
    xai_space *s = nullptr;
    ASSERT_EQ(xai_space_tensor_new(x.data(), 1, 4, 4, &o, &s, &e), XAI_OK);
    size_t gh, gw;
    xai_space_tensor_grid(s, &gh, &gw);
    EXPECT_EQ(gh, 2u);
    EXPECT_EQ(gw, 2u);
    EXPECT_STREQ(xai_space_feature_name(s, 1), "0,3");
    xai_model m;
    xai_nn_model(net, false, nullptr, &m);
    xai_eval *ev = nullptr;
    ASSERT_EQ(xai_eval_new(&m, s, nullptr, &ev, &e), XAI_OK) << e.message;
    const uint8_t masks[12] = {0, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0};
    double y[3];
    ASSERT_EQ(xai_eval_masks(ev, masks, 3, y, &e), XAI_OK) << e.message;
    EXPECT_NEAR(y[0], 16 - 9, 1e-6);
    EXPECT_NEAR(y[1], 16 - 3, 1e-6);
    EXPECT_NEAR(y[2], 16 - 1, 1e-6);
    xai_eval_free(ev);
    xai_space_free(s);
    xai_nn_free(net);
}

TEST(NnModel, OutputsAreProbabilitiesOrLogits) {
    // dense 2->2 (W = I) -> softmax at x = (1, 0): logits (1, 0),
    // probabilities (e / (e + 1), 1 / (e + 1)).
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(2, 1, 1, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_softmax(net, &e), XAI_OK);
    const float I[4] = {1, 0, 0, 1};
    ASSERT_EQ(xai_nn_set_weights(net, 0, I, 4, nullptr, 0, &e), XAI_OK);
    xai_model probs, logits;
    xai_nn_model(net, false, nullptr, &probs);
    xai_nn_model(net, true, nullptr, &logits);
    EXPECT_NE(probs.cache_id, logits.cache_id);
    const double row[2] = {1, 0};
    xai_batch b = {XAI_INPUT_ROWS, 1, nullptr, nullptr, 2, row};
    double p[2], z[2];
    ASSERT_EQ(probs.predict(probs.ctx, &b, p, &e), XAI_OK);
    ASSERT_EQ(logits.predict(logits.ctx, &b, z, &e), XAI_OK);
    EXPECT_NEAR(p[0], std::exp(1.0) / (std::exp(1.0) + 1), 1e-6);
    EXPECT_NEAR(p[1], 1 / (std::exp(1.0) + 1), 1e-6);
    EXPECT_NEAR(z[0], 1, 1e-6);
    EXPECT_NEAR(z[1], 0, 1e-6);
    b.cols = 3;
    EXPECT_EQ(probs.predict(probs.ctx, &b, p, &e), XAI_ERR_MODEL);
    xai_nn_free(net);
}

TEST(NnModel, SamplingMethodsRunOnANetwork) {
    // An affine model with baseline 0: occlusion and exact Shapley both give
    // the contributions w_i x_i = [2, -2, -3, 2].
    Fixture f;
    const double want[4] = {2, -2, -3, 2};
    for (const char *method : {"occlusion", "exact_shapley"}) {
        xai_result *r = nullptr;
        xai_error e;
        xai_value *params = xai_value_map();
        xai_value_set_int(params, "target", 0);
        ASSERT_EQ(xai_explain(f.ev, method, params, &r, &e), XAI_OK) << method << ": " << e.message;
        ASSERT_EQ(r->d, 4u);
        for (int i = 0; i < 4; i++) EXPECT_NEAR(r->values[i], want[i], 1e-6) << method << " " << i;
        EXPECT_NEAR(r->fx, -0.75, 1e-6);
        xai_result_free(r);
        xai_value_free(params);
    }
}

TEST(NnModel, DeletionInsertionAndAopcByHand) {
    // Attribution = contributions [2, -2, -3, 2]; order by decreasing value,
    // ties by index: 0, 3, 1, 2.
    // Deletion: f = -0.75, minus 2 -> -2.75, minus 2 -> -4.75, plus 2 ->
    //   -2.75, plus 3 -> 0.25.  AOPC = (0 + 2 + 4 + 2 - 1) / 5 = 1.4.
    // Insertion from the baseline 0.25: 2.25, 4.25, 2.25, -0.75.
    // Deletion area = mean of trapezoids = (-1.75 - 3.75 - 3.75 - 1.25) / 4.
    Fixture f;
    const double attr[4] = {2, -2, -3, 2};
    xai_faithfulness fa;
    xai_error e;
    ASSERT_EQ(xai_faithfulness_run(f.ev, attr, 0, 1, &fa, &e), XAI_OK) << e.message;
    ASSERT_EQ(fa.n_steps, 4u);
    const double del[5] = {-0.75, -2.75, -4.75, -2.75, 0.25}, ins[5] = {0.25, 2.25, 4.25, 2.25, -0.75};
    for (int k = 0; k < 5; k++) {
        EXPECT_NEAR(fa.deletion[k], del[k], 1e-6) << k;
        EXPECT_NEAR(fa.insertion[k], ins[k], 1e-6) << k;
    }
    EXPECT_NEAR(fa.aopc, 1.4, 1e-6);
    EXPECT_NEAR(fa.deletion_area, -10.5 / 4, 1e-6);
    xai_faithfulness_clear(&fa);
    // Two features per step: deletion at k = 0, 1, 2 is -0.75, -4.75, 0.25.
    ASSERT_EQ(xai_faithfulness_run(f.ev, attr, 0, 2, &fa, &e), XAI_OK);
    ASSERT_EQ(fa.n_steps, 2u);
    EXPECT_NEAR(fa.deletion[1], -4.75, 1e-6);
    EXPECT_NEAR(fa.deletion[2], 0.25, 1e-6);
    xai_faithfulness_clear(&fa);
    EXPECT_EQ(xai_faithfulness_run(f.ev, attr, 3, 1, &fa, &e), XAI_ERR_INVALID);
    EXPECT_EQ(fa.deletion, nullptr);
}
