// nn_batch_test.cc — large batches through the fast paths of daemon/nn: the
// padded im2col / col2im, 2x2 max pooling, and passes split into chunks of
// samples (backward.c) must give, sample by sample, what one-sample passes
// (never chunked) and the independent double reference of nn_test_util.h
// give. Each pass is per sample, so the only allowed difference is float32
// rounding from sgemm summing in another order.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "nn_test_util.h"

namespace {

// 1x16x16 -> conv 8 (3x3, stride 1, pad 1) -> ReLU -> maxpool 2 -> conv 8
// (3x3, stride 2, pad 1) -> ReLU -> flatten -> dense 10. About 5.3k floats
// of activations per sample, so 150 samples run as chunks of 49, 49, 49, 3.
xai_nn *cnn() {
    xai_nn *net = nullptr;
    xai_error e{};
    EXPECT_EQ(XAI_OK, xai_nn_new(1, 16, 16, &net, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_conv2d(net, 8, 3, 3, 1, 1, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_relu(net, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_maxpool2d(net, 2, 0, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_conv2d(net, 8, 3, 3, 2, 1, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_relu(net, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_flatten(net, &e));
    EXPECT_EQ(XAI_OK, xai_nn_add_dense(net, 10, &e));
    xai_nn_init_random(net, 11);
    return net;
}

constexpr size_t kN = 150, kD = 256;

// max_i |a_i - b_i| <= tol * max(max_i |b_i|, 1e-3), sample by sample.
void expect_close(const float *a, const float *b, size_t n, size_t d, double tol) {
    for (size_t s = 0; s < n; s++) {
        double scale = 1e-3, diff = 0;
        for (size_t j = 0; j < d; j++) {
            scale = std::max(scale, (double)std::fabs(b[s * d + j]));
            diff = std::max(diff, (double)std::fabs(a[s * d + j] - b[s * d + j]));
        }
        EXPECT_LE(diff, tol * scale) << "sample " << s;
    }
}

}  // namespace

TEST(NnBatch, ForwardMatchesTheDoubleReference) {
    xai_nn *net = cnn();
    std::vector<float> x = nnt::random_input(kN * kD, 3), y(kN * 10);
    xai_error e{};
    ASSERT_EQ(XAI_OK, xai_nn_forward(net, x.data(), kN, y.data(), &e)) << e.message;
    for (size_t s = 0; s < kN; s++) {
        nnt::Vec xs(x.begin() + s * kD, x.begin() + (s + 1) * kD);
        nnt::Vec want = nnt::ref_forward(net, xs, xai_nn_n_layers(net));
        for (size_t j = 0; j < 10; j++) EXPECT_NEAR(want[j], y[s * 10 + j], 1e-4) << s << "," << j;
    }
    xai_nn_free(net);
}

TEST(NnBatch, ChunkedGradientAndLrpEqualOneSampleAtATime) {
    xai_nn *net = cnn();
    std::vector<float> x = nnt::random_input(kN * kD, 5);
    std::vector<float> g(kN * kD), r(kN * kD), g1(kN * kD), r1(kN * kD);
    xai_error e{};
    // LRP-epsilon with a stabilizer well above float rounding: with the
    // default 1e-6, a pre-activation within ~1e-5 of zero turns the rounding
    // differences of two summation orders into large relevance differences.
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.epsilon = 0.1;
    ASSERT_EQ(XAI_OK, xai_nn_grad_x_input(net, x.data(), kN, nullptr, g.data(), &e)) << e.message;
    ASSERT_EQ(XAI_OK, xai_nn_lrp(net, x.data(), kN, nullptr, &o, r.data(), &e)) << e.message;
    for (size_t s = 0; s < kN; s++) {
        ASSERT_EQ(XAI_OK, xai_nn_grad_x_input(net, &x[s * kD], 1, nullptr, &g1[s * kD], &e));
        ASSERT_EQ(XAI_OK, xai_nn_lrp(net, &x[s * kD], 1, nullptr, &o, &r1[s * kD], &e));
    }
    SCOPED_TRACE("gxi");
    expect_close(g.data(), g1.data(), kN, kD, 1e-5);
    SCOPED_TRACE("lrp");
    expect_close(r.data(), r1.data(), kN, kD, 1e-5);
    // The maps are not all zero (the comparison above would pass trivially).
    double mass = 0;
    for (float v : g) mass += std::fabs(v);
    EXPECT_GT(mass, 1.0);
    xai_nn_free(net);
}

TEST(NnBatch, ChunkedGradientMatchesFiniteDifferences) {
    // The gradient of the predicted logit of the last sample (in the last,
    // partial chunk) against central differences on the double reference.
    xai_nn *net = cnn();
    std::vector<float> x = nnt::random_input(kN * kD, 9), g(kN * kD), logits(kN * 10);
    xai_error e{};
    ASSERT_EQ(XAI_OK, xai_nn_saliency(net, x.data(), kN, nullptr, false, g.data(), &e))
        << e.message;
    ASSERT_EQ(XAI_OK, xai_nn_logits(net, x.data(), kN, logits.data(), &e));
    size_t s = kN - 1;
    const float *z = &logits[s * 10];
    size_t t = (size_t)(std::max_element(z, z + 10) - z);
    nnt::Vec xs(x.begin() + s * kD, x.begin() + (s + 1) * kD);
    nnt::Vec fd = nnt::fd_grad(net, xs, t);
    EXPECT_LT(nnt::rel_err(&g[s * kD], fd), 1e-3);
    xai_nn_free(net);
}
