// nn_graph_test.cc — networks with branches (add, concat, branch_from):
// forward against the reference in double (nn_test_util.h follows each
// layer's inputs), gradients against central finite differences, LRP-0 ==
// gradient x input on ReLU residual networks with biases, conservation with
// zero biases (add splits relevance in proportion to its summands), the
// file format, and agreement with PyTorch autograd on reference values
// from tests/data/make_resnet_fixture.py.
#include <gtest/gtest.h>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include "nn_test_util.h"

using namespace nnt;

namespace {

// 2x6x6 -> conv 4 (3x3, p1) [0] -> relu [1] -> conv 4 [2] -> relu [3] ->
// conv 4 [4] -> add(1) [5] -> relu [6]; branch from [1]: conv 4 (1x1) [7]
// -> add(6) [8] -> relu [9] -> concat(1) [10] (8 channels) -> maxpool 2
// [11] -> flatten [12] -> dense 3 [13].
xai_nn *residual_net(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(2, 6, 6, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_add(net, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_branch_from(net, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 1, 1, 1, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_add(net, 6, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_concat(net, 1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_maxpool2d(net, 2, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK) << e.message;
    xai_nn_init_random(net, seed);
    return net;
}

}  // namespace

TEST(NnGraph, ShapesAndInputsFollowTheBranches) {
    xai_nn *net = residual_net(1);
    size_t in[2], s[3];
    EXPECT_EQ(xai_nn_layer_inputs(net, 5, in), 2u);
    EXPECT_EQ(in[0], 4u);
    EXPECT_EQ(in[1], 1u);
    EXPECT_EQ(xai_nn_layer_inputs(net, 7, in), 1u);
    EXPECT_EQ(in[0], 1u);
    EXPECT_EQ(xai_nn_layer_inputs(net, 0, in), 1u);
    EXPECT_EQ(in[0], (size_t)-1);
    xai_nn_layer_shape(net, 10, s);
    EXPECT_EQ(s[0], 8u);
    EXPECT_EQ(xai_nn_layer_kind_of(net, 10), XAI_NN_CONCAT);
    xai_error e;
    EXPECT_EQ(xai_nn_add_add(net, 11, &e), XAI_ERR_INVALID);  // 8x6x6 + 8x3x3 ... here flatten: no match
    EXPECT_EQ(xai_nn_add_add(net, 40, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("does not exist"), std::string::npos) << e.message;
    xai_nn_free(net);
}

TEST(NnGraph, ForwardAndGradientsMatchTheReference) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *net = residual_net(seed);
        const size_t d = xai_nn_input_size(net);
        std::vector<float> x = random_input(d, seed + 10);
        Vec xd(x.begin(), x.end());
        Vec want = ref_forward(net, xd, xai_nn_n_layers(net));
        float z[3], g[72];
        xai_error e;
        ASSERT_EQ(xai_nn_logits(net, x.data(), 1, z, &e), XAI_OK) << e.message;
        for (size_t o = 0; o < 3; o++) EXPECT_NEAR(z[o], want[o], 1e-5 * (1 + std::fabs(want[o])));
        int64_t t = (int64_t)(seed % 3);
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x.data(), 1, &t, g, nullptr, &e), XAI_OK);
        Vec fd = fd_grad(net, xd, (size_t)t);
        EXPECT_LT(rel_err(g, fd), 1e-3) << "seed " << seed;
        xai_nn_free(net);
    }
}

TEST(NnGraph, Lrp0EqualsGradientTimesInputOnAReluResidualNet) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *net = residual_net(seed);
        const size_t n = 4, d = xai_nn_input_size(net);
        std::vector<float> x = random_input(n * d, seed), r(n * d), gx(n * d);
        xai_nn_lrp_opts o;
        xai_nn_lrp_opts_init(&o);
        o.epsilon = 0;
        o.pool_epsilon = 0;
        std::vector<xai_nn_rule> rules(xai_nn_n_layers(net), XAI_NN_RULE_ZERO);
        o.rules = rules.data();
        xai_error e;
        ASSERT_EQ(xai_nn_lrp(net, x.data(), n, nullptr, &o, r.data(), &e), XAI_OK) << e.message;
        ASSERT_EQ(xai_nn_grad_x_input(net, x.data(), n, nullptr, gx.data(), &e), XAI_OK);
        double scale = 0;
        for (float v : gx) scale = std::max(scale, (double)std::fabs(v));
        EXPECT_GT(scale, 0);
        for (size_t i = 0; i < n * d; i++) EXPECT_NEAR(r[i], gx[i], 1e-4 * scale) << i;
        xai_nn_free(net);
    }
}

TEST(NnGraph, LrpConservesWithZeroBiases) {
    int checked = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        xai_nn *net = residual_net(seed);
        zero_biases(net);
        const size_t n = 3, d = xai_nn_input_size(net);
        std::vector<float> x = random_input(n * d, seed, 0, 1), r(n * d), z(n * 3);
        xai_error e;
        ASSERT_EQ(xai_nn_logits(net, x.data(), n, z.data(), &e), XAI_OK);
        // epsilon -> 0 everywhere, and flat everywhere (z+ is left out: a conv
        // output that feeds an add, not a ReLU, can hold relevance without
        // any positive contribution, which z+ cannot pass on).
        std::vector<xai_nn_rule> flat(xai_nn_n_layers(net), XAI_NN_RULE_FLAT);
        for (int c = 0; c < 2; c++) {
            xai_nn_lrp_opts o;
            xai_nn_lrp_opts_init(&o);
            o.rules = c ? flat.data() : nullptr;
            o.epsilon = 1e-9;
            o.pool_epsilon = 1e-9;
            ASSERT_EQ(xai_nn_lrp(net, x.data(), n, nullptr, &o, r.data(), &e), XAI_OK) << e.message;
            for (size_t s = 0; s < n; s++) {
                double top = *std::max_element(z.begin() + (long)(3 * s), z.begin() + (long)(3 * s + 3));
                if (std::fabs(top) < 1e-3) continue;
                double sum = 0;
                for (size_t i = 0; i < d; i++) sum += r[s * d + i];
                EXPECT_NEAR(sum, top, 1e-4 * std::fabs(top)) << "seed " << seed << (c ? " flat" : " epsilon");
                checked++;
            }
        }
        xai_nn_free(net);
    }
    EXPECT_GE(checked, 16);
}

TEST(NnGraph, FileRoundTripKeepsTheGraph) {
    xai_nn *net = residual_net(5), *back = nullptr;
    char *buf = nullptr;
    size_t len = 0;
    xai_error e;
    ASSERT_EQ(xai_nn_save_mem(net, &buf, &len, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_load_mem(buf, len, &back, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_n_layers(back), xai_nn_n_layers(net));
    for (size_t l = 0; l < xai_nn_n_layers(net); l++) {
        size_t a[2] = {0, 0}, b[2] = {0, 0};
        ASSERT_EQ(xai_nn_layer_inputs(net, l, a), xai_nn_layer_inputs(back, l, b)) << l;
        EXPECT_EQ(a[0], b[0]) << l;
        EXPECT_EQ(a[1], b[1]) << l;
    }
    std::vector<float> x = random_input(2 * 72, 3);
    float za[6], zb[6];
    ASSERT_EQ(xai_nn_logits(net, x.data(), 2, za, &e), XAI_OK);
    ASSERT_EQ(xai_nn_logits(back, x.data(), 2, zb, &e), XAI_OK);
    for (int i = 0; i < 6; i++) EXPECT_EQ(za[i], zb[i]);
    for (size_t cut = 0; cut < len; cut += 11) {
        xai_nn *t = nullptr;
        EXPECT_NE(xai_nn_load_mem(buf, cut, &t, &e), XAI_OK) << cut;
        xai_nn_free(t);
    }
    xai_free(buf);
    xai_nn_free(back);
    xai_nn_free(net);
}

// A ResNet-like block from PyTorch (tests/data/make_resnet_fixture.py):
// conv-bn-relu-conv-bn + identity, relu, a strided block with a 1x1 conv
// shortcut, global average pooling, linear; exported with
// xai.torch_export, torch's logits and autograd input gradients stored.
TEST(NnGraph, AgreesWithTorchAutogradOnAResNetBlock) {
    const char *root = std::getenv("XAI_ROOT");
    std::string dir = std::string(root ? root : ".") + "/tests/data/";
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_load((dir + "resnet_block.xnn").c_str(), &net, &e), XAI_OK) << e.message;
    xai_value *ref = read_reference(dir + "resnet_block_ref.msgpack");
    ASSERT_NE(ref, nullptr);
    const xai_value *cases = xai_value_get(ref, "cases");
    const size_t d = xai_nn_input_size(net), k = xai_nn_n_logits(net);
    ASSERT_GE(xai_value_len(cases), 2u);
    for (size_t c = 0; c < xai_value_len(cases); c++) {
        const xai_value *kc = xai_value_get(xai_value_at(cases, c), "x");
        ASSERT_EQ(xai_value_len(kc), d);
        std::vector<float> x(d), z(k), g(d);
        for (size_t i = 0; i < d; i++) x[i] = (float)xai_value_get_number(xai_value_at(kc, i));
        int64_t t = xai_value_get_int(xai_value_get(xai_value_at(cases, c), "target"));
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x.data(), 1, &t, g.data(), z.data(), &e), XAI_OK)
            << e.message;
        const xai_value *zl = xai_value_get(xai_value_at(cases, c), "logits");
        for (size_t o = 0; o < k; o++) {
            double w = xai_value_get_number(xai_value_at(zl, o));
            EXPECT_NEAR(z[o], w, 1e-5 * (1 + std::fabs(w))) << "case " << c << " logit " << o;
        }
        const xai_value *gl = xai_value_get(xai_value_at(cases, c), "grad");
        Vec want(d);
        for (size_t i = 0; i < d; i++) want[i] = xai_value_get_number(xai_value_at(gl, i));
        EXPECT_LT(rel_err(g.data(), want), 1e-5) << "case " << c;
    }
    xai_value_free(ref);
    xai_nn_free(net);
}
