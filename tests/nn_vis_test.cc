// nn_vis_test.cc — feature visualisation: activation maximization (the
// maximiser of a linear unit under a norm bound is bound * w / ||w||, under
// L2 decay w / (2 l2); on a ReLU net the objective rises at every small
// step; same seed, same bytes), layer activations against the reference
// forward pass, CAM == H'W' x Grad-CAM at the pooled maps, guided Grad-CAM
// == guided backprop x upsampled Grad-CAM, and the methods by name.
#include <gtest/gtest.h>
#include <cstring>
#include <string>
#include "nn_test_util.h"

using namespace nnt;

namespace {

// 5 -> dense 3 with W row 1 = [1, -2, 0.5, 3, -1], bias 0.7.
xai_nn *linear_net() {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(5, 1, 1, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    std::vector<float> w(15, 0.25f), b = {0, 0.7f, 0};
    const float row[5] = {1, -2, 0.5f, 3, -1};
    std::memcpy(&w[5], row, sizeof row);
    EXPECT_EQ(xai_nn_set_weights(net, 0, w.data(), 15, b.data(), 3, &e), XAI_OK);
    return net;
}

// 1x8x8 -> conv 4 (3x3, p1) [0] -> relu [1] -> conv 3 (3x3, p1) [2] -> relu
// [3] -> global avgpool [4] -> flatten [5] -> dense 2 [6].
xai_nn *cam_net(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(1, 8, 8, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 3, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_global_avgpool(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

}  // namespace

TEST(NnVis, LinearUnitUnderANormBoundGoesToBoundTimesUnitW) {
    xai_nn *net = linear_net();
    xai_nn_actmax_opts o;
    xai_nn_actmax_opts_init(&o);
    o.unit = 1;
    o.norm_bound = 2;
    o.lr = 0.5;
    o.steps = 200;
    float x[5];
    std::vector<double> act(o.steps + 1);
    xai_error e;
    ASSERT_EQ(xai_nn_activation_max(net, &o, x, act.data(), &e), XAI_OK) << e.message;
    const double w[5] = {1, -2, 0.5, 3, -1}, norm = std::sqrt(1 + 4 + 0.25 + 9 + 1);
    for (int i = 0; i < 5; i++) EXPECT_NEAR(x[i], 2 * w[i] / norm, 1e-5) << i;
    EXPECT_NEAR(act.back(), 2 * norm + 0.7, 1e-4);  // the bound's best logit
    xai_nn_free(net);
}

TEST(NnVis, L2DecayOnALinearUnitGoesToWOverTwoL2) {
    // argmax w.x - l2 ||x||^2 = w / (2 l2); each step contracts the error
    // by (1 - 2 lr l2) = 0.8, so 200 steps leave 0.8^200 of it.
    xai_nn *net = linear_net();
    xai_nn_actmax_opts o;
    xai_nn_actmax_opts_init(&o);
    o.unit = 1;
    o.l2 = 0.5;
    o.lr = 0.1;
    o.steps = 200;
    float x[5];
    xai_error e;
    ASSERT_EQ(xai_nn_activation_max(net, &o, x, nullptr, &e), XAI_OK) << e.message;
    const double w[5] = {1, -2, 0.5, 3, -1};
    for (int i = 0; i < 5; i++) EXPECT_NEAR(x[i], w[i] / (2 * 0.5), 1e-5) << i;
    xai_nn_free(net);
}

TEST(NnVis, ReluNetActivationRisesAtEveryStepAndIsDeterministic) {
    xai_nn *net = cam_net(3);
    xai_nn_actmax_opts o;
    xai_nn_actmax_opts_init(&o);
    o.steps = 40;
    o.lr = 1e-3;
    o.seed = 5;
    o.low = 0, o.high = 1;
    std::vector<float> x(64), y(64);
    std::vector<double> act(o.steps + 1);
    xai_error e;
    for (size_t unit : {0, 1}) {
        o.unit = unit;
        ASSERT_EQ(xai_nn_activation_max(net, &o, x.data(), act.data(), &e), XAI_OK) << e.message;
        for (size_t k = 0; k < o.steps; k++) EXPECT_GT(act[k + 1], act[k]) << "unit " << unit << " step " << k;
    }
    // A channel of a hidden layer, with jitter and blur: twice the same bytes.
    o.layer = 2, o.unit = 1, o.channel = true, o.jitter = 1, o.blur_every = 4, o.steps = 12, o.lr = 0.05;
    ASSERT_EQ(xai_nn_activation_max(net, &o, x.data(), act.data(), &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_activation_max(net, &o, y.data(), nullptr, &e), XAI_OK);
    EXPECT_EQ(0, std::memcmp(x.data(), y.data(), 64 * sizeof(float)));
    o.seed = 6;
    ASSERT_EQ(xai_nn_activation_max(net, &o, y.data(), nullptr, &e), XAI_OK);
    EXPECT_NE(0, std::memcmp(x.data(), y.data(), 64 * sizeof(float)));
    for (float v : x) EXPECT_TRUE(v >= 0 && v <= 1);
    o.unit = 3;  // layer 2 has 3 channels
    EXPECT_EQ(xai_nn_activation_max(net, &o, x.data(), nullptr, &e), XAI_ERR_INVALID);
    xai_nn_free(net);
}

TEST(NnVis, ActivationsAreTheLayerOutputs) {
    xai_nn *net = cam_net(4);
    std::vector<float> x = random_input(2 * 64, 8, 0, 1), a(2 * 3 * 64);
    xai_error e;
    ASSERT_EQ(xai_nn_activations(net, 3, x.data(), 2, a.data(), &e), XAI_OK) << e.message;
    for (size_t s = 0; s < 2; s++) {
        Vec xs(x.begin() + (long)(s * 64), x.begin() + (long)(s * 64 + 64));
        Vec want = ref_forward(net, xs, 4);
        ASSERT_EQ(want.size(), 192u);
        for (size_t i = 0; i < 192; i++) EXPECT_NEAR(a[s * 192 + i], want[i], 1e-5) << i;
    }
    xai_nn_free(net);
}

TEST(NnVis, CamIsPositionsTimesGradCamAtThePooledMaps) {
    xai_nn *net = cam_net(5);
    std::vector<float> x = random_input(3 * 64, 9, 0, 1), cam(3 * 64), gc(3 * 64);
    int64_t t[3] = {0, 1, 1};
    xai_error e;
    ASSERT_EQ(xai_nn_cam(net, x.data(), 3, t, false, false, cam.data(), &e), XAI_OK) << e.message;
    // Grad-CAM at layer 3 (the ReLU whose output is pooled).
    ASSERT_EQ(xai_nn_gradcam(net, 3, x.data(), 3, t, false, false, gc.data(), &e), XAI_OK);
    double mag = 0;
    for (size_t i = 0; i < 3 * 64; i++) {
        EXPECT_NEAR(cam[i], 64 * gc[i], 1e-4 * (1 + std::fabs(cam[i]))) << i;
        mag += std::fabs(cam[i]);
    }
    EXPECT_GT(mag, 0);
    xai_nn *mlp = linear_net();
    EXPECT_EQ(xai_nn_cam(mlp, x.data(), 1, nullptr, true, true, cam.data(), &e), XAI_ERR_INVALID);
    xai_nn_free(mlp);
    xai_nn_free(net);
}

TEST(NnVis, GuidedGradCamIsGuidedBackpropTimesGradCam) {
    xai_nn *net = cam_net(6);
    std::vector<float> x = random_input(2 * 64, 10, 0, 1), out(128), gb(128), gc(128);
    int64_t t[2] = {1, 0};
    xai_error e;
    ASSERT_EQ(xai_nn_guided_gradcam(net, 2, x.data(), 2, t, out.data(), &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GUIDED, x.data(), 2, t, gb.data(), nullptr, &e), XAI_OK);
    ASSERT_EQ(xai_nn_gradcam(net, 2, x.data(), 2, t, true, true, gc.data(), &e), XAI_OK);
    for (size_t i = 0; i < 128; i++) EXPECT_FLOAT_EQ(out[i], gb[i] * gc[i]) << i;
    xai_nn_free(net);
}

TEST(NnVis, MethodsByName) {
    xai_nn *net = cam_net(7);
    std::vector<float> x = random_input(64, 11, 0, 1);
    xai_error e;
    xai_result *r = nullptr;
    ASSERT_EQ(xai_nn_explain(net, "cam", x.data(), nullptr, &r, &e), XAI_OK) << e.message;
    EXPECT_EQ(r->d, 64u);
    EXPECT_EQ(r->rank, 2u);
    xai_result_free(r);
    ASSERT_EQ(xai_nn_explain(net, "guided_gradcam", x.data(), nullptr, &r, &e), XAI_OK) << e.message;
    EXPECT_EQ(r->d, 64u);
    xai_result_free(r);
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "layer", 2);
    ASSERT_EQ(xai_nn_explain(net, "activations", x.data(), p, &r, &e), XAI_OK) << e.message;
    EXPECT_EQ(r->d, 192u);
    EXPECT_EQ(r->shape[0], 3u);
    xai_result_free(r);
    xai_value_set_int(p, "steps", 5);
    xai_value_set_int(p, "unit", 1);
    xai_value_set_bool(p, "channel", true);
    xai_value_set_float(p, "lr", 0.01);
    ASSERT_EQ(xai_nn_explain(net, "activation_max", nullptr, p, &r, &e), XAI_OK) << e.message;
    EXPECT_EQ(r->d, 64u);
    const xai_value *acts = xai_value_get(r->extra, "activations");
    ASSERT_EQ(xai_value_len(acts), 6u);
    EXPECT_DOUBLE_EQ(r->fx, xai_value_get_number(xai_value_at(acts, 5)));
    xai_result_free(r);
    xai_value_free(p);
    xai_nn_free(net);
}
