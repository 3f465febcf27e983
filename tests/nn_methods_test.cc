// nn_methods_test.cc — the gradient methods built on backward passes:
// integrated gradients (exactness on affine networks, convergence of the
// completeness delta by rule), SmoothGrad's closed forms on an affine network
// and its seeding, saliency and gradient x input against each other.
#include <gtest/gtest.h>
#include <cmath>
#include <cstring>
#include "nn_test_util.h"

using namespace nnt;

namespace {

// in 4 -> dense 6 -> tanh -> dense 5 -> tanh -> dense 3: smooth everywhere.
xai_nn *tanh_net(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(4, 1, 1, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 6, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 5, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

// f(x) = w . x + b with w = [1, -2, 3], b = 0.5 (one output).
xai_nn *affine_net() {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(3, 1, 1, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    const float w[3] = {1, -2, 3}, b[1] = {0.5f};
    EXPECT_EQ(xai_nn_set_weights(net, 0, w, 3, b, 1, &e), XAI_OK);
    return net;
}

double ig_delta(xai_nn *net, const float *x, xai_nn_ig_rule rule, size_t steps) {
    xai_nn_ig_opts o = {steps, rule, nullptr};
    float attr[4];
    double delta;
    xai_error e;
    EXPECT_EQ(xai_nn_integrated_gradients(net, x, 1, nullptr, &o, attr, &delta, &e), XAI_OK) << e.message;
    return std::fabs(delta);
}

}  // namespace

TEST(NnMethods, IntegratedGradientsExactOnAffineNetwork) {
    // grad f = w everywhere, so IG = w * (x - x') for every rule and steps,
    // and completeness is exact: sum = w . (x - x') = f(x) - f(x').
    xai_nn *net = affine_net();
    const float x[3] = {2, 1, -1}, base[3] = {1, 1, 1};
    const xai_nn_ig_rule rules[] = {XAI_NN_IG_RIEMANN_RIGHT, XAI_NN_IG_TRAPEZOID,
                                    XAI_NN_IG_GAUSS_LEGENDRE};
    for (xai_nn_ig_rule r : rules) {
        xai_nn_ig_opts o = {7, r, base};
        float attr[3];
        double delta;
        xai_error e;
        ASSERT_EQ(xai_nn_integrated_gradients(net, x, 1, nullptr, &o, attr, &delta, &e), XAI_OK);
        EXPECT_NEAR(attr[0], 1 * (2 - 1), 1e-5);
        EXPECT_NEAR(attr[1], -2 * (1 - 1), 1e-5);
        EXPECT_NEAR(attr[2], 3 * (-1 - 1), 1e-5);
        EXPECT_NEAR(delta, 0, 1e-5);
    }
    xai_nn_free(net);
}

TEST(NnMethods, IntegratedGradientsDeltaShrinksFasterWithGaussLegendre) {
    xai_nn *net = tanh_net(3);
    const float x[4] = {1.5f, -2.0f, 0.7f, 2.5f};
    // Measured on this net (float32): m = 4, 8, 16, 32 give Riemann 0.55,
    // 0.29, 0.14, 0.072; trapezoid 0.061, 7.9e-4, 1.1e-4, 3.0e-5; Gauss 0.011,
    // 2.5e-5, 7e-8, 4e-8 (float noise). The assertions are the orders of the
    // rules: right Riemann O(1/m), trapezoid O(1/m^2), Gauss-Legendre
    // exponential until float precision.
    for (size_t m : {4, 8, 16}) {
        double r = ig_delta(net, x, XAI_NN_IG_RIEMANN_RIGHT, m);
        double t = ig_delta(net, x, XAI_NN_IG_TRAPEZOID, m);
        double g = ig_delta(net, x, XAI_NN_IG_GAUSS_LEGENDRE, m);
        EXPECT_LT(g, t) << m;
        EXPECT_LT(t, r) << m;
        EXPECT_LT(ig_delta(net, x, XAI_NN_IG_RIEMANN_RIGHT, 2 * m), 0.6 * r) << m;
        EXPECT_LT(ig_delta(net, x, XAI_NN_IG_TRAPEZOID, 2 * m), 0.35 * t) << m;
    }
    EXPECT_LT(ig_delta(net, x, XAI_NN_IG_GAUSS_LEGENDRE, 8),
              ig_delta(net, x, XAI_NN_IG_RIEMANN_RIGHT, 64) / 100);
    EXPECT_LT(ig_delta(net, x, XAI_NN_IG_GAUSS_LEGENDRE, 16), 1e-6);
    xai_nn_free(net);
}

TEST(NnMethods, IntegratedGradientsBatchEqualsOneByOne) {
    // Samples are independent: a batch of 3 gives each sample's own result.
    xai_nn *net = tanh_net(5);
    std::vector<float> x = random_input(12, 4), all(12), one(4);
    xai_error e;
    ASSERT_EQ(xai_nn_integrated_gradients(net, x.data(), 3, nullptr, nullptr, all.data(), nullptr, &e),
              XAI_OK);
    for (size_t s = 0; s < 3; s++) {
        ASSERT_EQ(xai_nn_integrated_gradients(net, x.data() + 4 * s, 1, nullptr, nullptr, one.data(),
                                              nullptr, &e), XAI_OK);
        for (size_t j = 0; j < 4; j++) EXPECT_NEAR(all[4 * s + j], one[j], 1e-6);
    }
    xai_nn_free(net);
}

TEST(NnMethods, SmoothGradClosedFormsOnAffineNetwork) {
    // The gradient of an affine function is w at every noisy copy, so
    // plain = w, squared = w^2, VarGrad = 0, whatever the noise.
    xai_nn *net = affine_net();
    const float x[3] = {0.2f, 0.9f, -0.4f}, w[3] = {1, -2, 3};
    const xai_nn_smooth_kind kinds[] = {XAI_NN_SMOOTH_PLAIN, XAI_NN_SMOOTH_SQUARED,
                                        XAI_NN_SMOOTH_VARGRAD};
    for (xai_nn_smooth_kind k : kinds) {
        xai_nn_smooth_opts o = {20, 0.3, k, 11};
        float out[3];
        xai_error e;
        ASSERT_EQ(xai_nn_smoothgrad(net, XAI_NN_SALIENCY, x, -1, nullptr, &o, out, &e), XAI_OK)
            << e.message;
        for (int j = 0; j < 3; j++) {
            double want = k == XAI_NN_SMOOTH_PLAIN ? w[j] : k == XAI_NN_SMOOTH_SQUARED ? w[j] * w[j] : 0;
            EXPECT_NEAR(out[j], want, 1e-5) << "kind " << k << " j " << j;
        }
    }
    // Gradient x input over noise: the mean is w * mean(x + noise), so it
    // differs from w * x by the sample mean of the noise: nonzero for sigma >
    // 0, identical for sigma = 0.
    xai_nn_smooth_opts o = {8, 0.0, XAI_NN_SMOOTH_PLAIN, 1};
    float out[3];
    xai_error e;
    ASSERT_EQ(xai_nn_smoothgrad(net, XAI_NN_GRAD_X_INPUT, x, 0, nullptr, &o, out, &e), XAI_OK);
    for (int j = 0; j < 3; j++) EXPECT_NEAR(out[j], w[j] * x[j], 1e-6);
    xai_nn_free(net);
}

TEST(NnMethods, SmoothGradIsReproducibleBySeed) {
    xai_nn *net = tanh_net(2);
    const float x[4] = {0.5f, -1, 0.25f, 2};
    float a[4], b[4], c[4];
    xai_nn_smooth_opts o = {16, 0.2, XAI_NN_SMOOTH_PLAIN, 42};
    xai_error e;
    ASSERT_EQ(xai_nn_smoothgrad(net, XAI_NN_SALIENCY, x, -1, nullptr, &o, a, &e), XAI_OK);
    ASSERT_EQ(xai_nn_smoothgrad(net, XAI_NN_SALIENCY, x, -1, nullptr, &o, b, &e), XAI_OK);
    o.seed = 43;
    ASSERT_EQ(xai_nn_smoothgrad(net, XAI_NN_SALIENCY, x, -1, nullptr, &o, c, &e), XAI_OK);
    EXPECT_EQ(std::memcmp(a, b, sizeof a), 0);
    EXPECT_NE(std::memcmp(a, c, sizeof a), 0);
    xai_nn_free(net);
}

TEST(NnMethods, SaliencyAndGradientTimesInputAgree) {
    xai_nn *net = tanh_net(7);
    std::vector<float> x = random_input(8, 9), g(8), s(8), gx(8);
    xai_error e;
    ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x.data(), 2, nullptr, g.data(), nullptr, &e),
              XAI_OK);
    ASSERT_EQ(xai_nn_saliency(net, x.data(), 2, nullptr, true, s.data(), &e), XAI_OK);
    ASSERT_EQ(xai_nn_grad_x_input(net, x.data(), 2, nullptr, gx.data(), &e), XAI_OK);
    for (size_t i = 0; i < 8; i++) {
        EXPECT_FLOAT_EQ(s[i], std::fabs(g[i]));
        EXPECT_FLOAT_EQ(gx[i], g[i] * x[i]);
    }
    xai_nn_free(net);
}
