// nn_grad_test.cc — the native network's forward pass against a double
// reference, and every gradient against central finite differences, on
// small random networks covering every layer kind; guided backprop and
// deconvnet on hand cases; shape errors that name the layer.
#include <gtest/gtest.h>
#include <cstring>
#include <string>
#include "nn_test_util.h"

using namespace nnt;

namespace {

// in 6 -> dense 5 -> relu -> dense 4 -> tanh -> dense 4 -> sigmoid -> dense 3 -> softmax
xai_nn *mlp(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(6, 1, 1, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 5, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 4, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 4, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_sigmoid(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_softmax(net, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

// 2x6x6 -> conv 3 (3x3, pad 1) -> relu -> maxpool 2 -> conv 4 (2x2) -> tanh
// -> avgpool 2 stride 1 -> flatten -> dense 3
xai_nn *cnn(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(2, 6, 6, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 3, 3, 3, 1, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_maxpool2d(net, 2, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 2, 2, 1, 0, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_avgpool2d(net, 2, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

// 1x7x7 -> conv 3 (3x3, stride 2, pad 1) -> sigmoid -> global avgpool -> dense 2 -> softmax
xai_nn *cnn_strided(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(1, 7, 7, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 3, 3, 3, 2, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_sigmoid(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_global_avgpool(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_softmax(net, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

// The conv shapes linear.c has compiled-in paths for (3x3, stride 1, pad 1
// on 16x16, 8x8 and 4x4 images), each followed by a ReLU that the forward
// and the gradient fuse into the conv's own passes:
// 2x16x16 -> conv 3 -> relu -> maxpool 2 -> conv 4 -> relu -> maxpool 2
// -> conv 3 -> relu -> flatten -> dense 3
xai_nn *cnn_fast_shapes(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(2, 16, 16, &net, &e), XAI_OK);
    for (size_t out : {3, 4}) {
        EXPECT_EQ(xai_nn_add_conv2d(net, out, 3, 3, 1, 1, &e), XAI_OK) << e.message;
        EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
        EXPECT_EQ(xai_nn_add_maxpool2d(net, 2, 0, &e), XAI_OK);
    }
    EXPECT_EQ(xai_nn_add_conv2d(net, 3, 3, 3, 1, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

// Forward matches the double reference; the gradient of every logit of
// every sample of a batch matches central differences.
void check_net(xai_nn *net, uint64_t seed) {
    const size_t n = 3, d = xai_nn_input_size(net), k = xai_nn_n_logits(net);
    std::vector<float> x = random_input(n * d, seed);
    std::vector<float> out(n * xai_nn_output_size(net)), g(n * d), logits(n * k);
    xai_error e;
    ASSERT_EQ(xai_nn_forward(net, x.data(), n, out.data(), &e), XAI_OK) << e.message;
    for (size_t s = 0; s < n; s++) {
        Vec xs(x.begin() + s * d, x.begin() + (s + 1) * d);
        Vec ref = ref_forward(net, xs, xai_nn_n_layers(net));
        EXPECT_LT(rel_err(out.data() + s * ref.size(), ref), 1e-5);
    }
    for (size_t t = 0; t < k; t++) {
        std::vector<int64_t> tg(n, (int64_t)t);
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x.data(), n, tg.data(), g.data(),
                                  logits.data(), &e), XAI_OK) << e.message;
        for (size_t s = 0; s < n; s++) {
            Vec xs(x.begin() + s * d, x.begin() + (s + 1) * d);
            Vec fd = fd_grad(net, xs, t);
            EXPECT_LT(rel_err(g.data() + s * d, fd), 1e-3) << "logit " << t << " sample " << s;
            Vec z = ref_forward(net, xs, n_logit_layers(net));
            EXPECT_NEAR(logits[s * k + t], z[t], 1e-5 * (1 + std::fabs(z[t])));
        }
    }
}

}  // namespace

TEST(NnGrad, DenseTanhSigmoidReluSoftmaxMatchFiniteDifferences) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *net = mlp(seed);
        check_net(net, seed);
        xai_nn_free(net);
    }
}

TEST(NnGrad, ConvPoolingMatchFiniteDifferences) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *net = cnn(seed);
        check_net(net, 10 + seed);
        xai_nn_free(net);
    }
}

TEST(NnGrad, FastConvShapesWithFusedReluMatchFiniteDifferences) {
    for (uint64_t seed = 1; seed <= 2; seed++) {
        xai_nn *net = cnn_fast_shapes(seed);
        ASSERT_EQ(xai_nn_n_layers(net), 10u);
        check_net(net, 30 + seed);
        xai_nn_free(net);
    }
}

TEST(NnGrad, StridedConvGlobalPoolMatchFiniteDifferences) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *net = cnn_strided(seed);
        check_net(net, 20 + seed);
        xai_nn_free(net);
    }
}

TEST(NnGrad, BatchNormFoldsIntoPrecedingLayer) {
    // dense 2->2 with W = I, b = [1, -1]; batch norm gamma [2, 1], beta [0, 3],
    // mean [1, 0], var [3, 0], eps 1: y0 = 2 (x0 + 1 - 1) / 2 = x0,
    // y1 = 1 (x1 - 1 - 0) / 1 + 3 = x1 + 2.
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(2, 1, 1, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
    const float w[4] = {1, 0, 0, 1}, b[2] = {1, -1};
    ASSERT_EQ(xai_nn_set_weights(net, 0, w, 4, b, 2, &e), XAI_OK);
    const float g[2] = {2, 1}, be[2] = {0, 3}, m[2] = {1, 0}, v[2] = {3, 0};
    ASSERT_EQ(xai_nn_add_batchnorm(net, g, be, m, v, 1.0f, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_n_layers(net), 1u);
    float x[2] = {5, 7}, y[2];
    ASSERT_EQ(xai_nn_forward(net, x, 1, y, &e), XAI_OK);
    EXPECT_FLOAT_EQ(y[0], 5);
    EXPECT_FLOAT_EQ(y[1], 9);
    ASSERT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_batchnorm(net, g, be, m, v, 1.0f, &e), XAI_ERR_INVALID);
    xai_nn_free(net);
}

TEST(NnGrad, GuidedBackpropAndDeconvnetOnHandCases) {
    // x -> dense I -> relu -> dense [1, w1]. At x = (2, -3) the hidden units
    // are (2, 0). Gradient: (1, 0) (unit 2 is off). With w1 = -1 the signal
    // at the ReLU is (1, -1): guided keeps g > 0 and x > 0 -> (1, 0); deconv
    // keeps g > 0 -> (1, 0). With w1 = +1 the signal is (1, 1): guided (1, 0),
    // deconv (1, 1), ignoring that unit 2 was off.
    for (float w1 : {-1.0f, 1.0f}) {
        xai_nn *net = nullptr;
        xai_error e;
        ASSERT_EQ(xai_nn_new(2, 1, 1, &net, &e), XAI_OK);
        ASSERT_EQ(xai_nn_add_dense(net, 2, &e), XAI_OK);
        ASSERT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
        ASSERT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
        const float I[4] = {1, 0, 0, 1}, w2[2] = {1, w1};
        ASSERT_EQ(xai_nn_set_weights(net, 0, I, 4, nullptr, 0, &e), XAI_OK);
        ASSERT_EQ(xai_nn_set_weights(net, 2, w2, 2, nullptr, 0, &e), XAI_OK);
        float x[2] = {2, -3}, g[2], gb[2], dc[2];
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x, 1, nullptr, g, nullptr, &e), XAI_OK);
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GUIDED, x, 1, nullptr, gb, nullptr, &e), XAI_OK);
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_DECONV, x, 1, nullptr, dc, nullptr, &e), XAI_OK);
        EXPECT_EQ(g[0], 1);
        EXPECT_EQ(g[1], 0);
        EXPECT_EQ(gb[0], 1);
        EXPECT_EQ(gb[1], 0);
        EXPECT_EQ(dc[0], 1);
        EXPECT_EQ(dc[1], w1 > 0 ? 1 : 0);
        xai_nn_free(net);
    }
}

TEST(NnGrad, ShapeErrorsNameTheLayer) {
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(1, 4, 4, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_conv2d(net, 2, 3, 3, 1, 0, &e), XAI_OK);  // -> 2x2x2
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("layer 1 (dense)"), std::string::npos) << e.message;
    EXPECT_EQ(xai_nn_add_conv2d(net, 2, 3, 3, 1, 0, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("layer 1 (conv2d)"), std::string::npos) << e.message;
    EXPECT_EQ(xai_nn_add_maxpool2d(net, 3, 0, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("layer 1 (maxpool2d)"), std::string::npos);
    ASSERT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_softmax(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("layer 3 (relu)"), std::string::npos) << e.message;
    EXPECT_EQ(xai_nn_set_weights(net, 0, nullptr, 0, nullptr, 0, &e), XAI_ERR_INVALID);
    int64_t bad = 9;
    float x[16] = {0}, g[16];
    EXPECT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x, 1, &bad, g, nullptr, &e), XAI_ERR_INVALID);
    xai_nn_free(net);
}
