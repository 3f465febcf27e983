// nn_lrp_test.cc — layer-wise relevance propagation: LRP-0 equals gradient x
// input on ReLU networks with biases, conservation layer by layer, the issue's
// two hand-derived cases (and Grad-CAM on the second), and a hand case for
// every other rule on one dense layer.
#include <gtest/gtest.h>
#include <cstring>
#include <numeric>
#include <string>
#include "nn_test_util.h"

using namespace nnt;

namespace {

// ReLU networks with biases: an MLP and a CNN with both kinds of pooling.
xai_nn *relu_mlp(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(5, 1, 1, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 7, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 6, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_softmax(net, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

xai_nn *relu_cnn(uint64_t seed) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(2, 8, 8, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 4, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_maxpool2d(net, 2, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 5, 3, 3, 1, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_avgpool2d(net, 2, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 4, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

void expect_lrp0_is_gxi(xai_nn *net, uint64_t seed) {
    const size_t n = 4, d = xai_nn_input_size(net);
    std::vector<float> x = random_input(n * d, seed), r(n * d), gx(n * d);
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.epsilon = 0;
    std::vector<xai_nn_rule> rules(xai_nn_n_layers(net), XAI_NN_RULE_ZERO);
    o.rules = rules.data();
    xai_error e;
    ASSERT_EQ(xai_nn_lrp(net, x.data(), n, nullptr, &o, r.data(), &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_grad_x_input(net, x.data(), n, nullptr, gx.data(), &e), XAI_OK);
    double scale = 0;
    for (float v : gx) scale = std::max(scale, (double)std::fabs(v));
    for (size_t i = 0; i < n * d; i++) EXPECT_NEAR(r[i], gx[i], 1e-4 * scale) << i;
}

// Sum of relevance at every layer's input equals the starting relevance.
void expect_conserved(xai_nn *net, const xai_nn_lrp_opts &o, uint64_t seed, double lo, double hi,
                      int *checked) {
    const size_t n = 3, top = xai_nn_logit_layer(net) + 1;
    std::vector<std::vector<float>> bufs(top + 1);
    std::vector<float *> ptrs(top + 1);
    for (size_t l = 0; l <= top; l++) {
        size_t s[3];
        xai_nn_layer_shape(net, l == 0 ? (size_t)-1 : l - 1, s);
        bufs[l].assign(n * s[0] * s[1] * s[2], 0);
        ptrs[l] = bufs[l].data();
    }
    std::vector<float> x = random_input(n * xai_nn_input_size(net), seed, lo, hi);
    xai_error e;
    ASSERT_EQ(xai_nn_lrp_layers(net, x.data(), n, nullptr, &o, ptrs.data(), &e), XAI_OK) << e.message;
    for (size_t s = 0; s < n; s++) {
        auto sum = [&](size_t l) {
            size_t m = bufs[l].size() / n;
            double acc = 0;
            for (size_t i = 0; i < m; i++) acc += bufs[l][s * m + i];
            return acc;
        };
        double total = sum(top);
        if (std::fabs(total) < 1e-3) continue;  // a dead network (all logits 0): nothing to conserve
        (*checked)++;
        for (size_t l = 0; l < top; l++)
            EXPECT_NEAR(sum(l), total, 1e-5 * std::fabs(total)) << "layer " << l << " sample " << s;
    }
}

// One dense layer 2 -> 1, W = [2, -1], b = 3, at x = [1, 2]: z = 2 - 2 + 3 = 3,
// so LRP starts from R = 3.
float one_layer(xai_nn_rule rule, double gamma, float low, float high, float out[2]) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(2, 1, 1, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    const float w[2] = {2, -1}, b[1] = {3};
    EXPECT_EQ(xai_nn_set_weights(net, 0, w, 2, b, 1, &e), XAI_OK);
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.gamma = gamma;
    o.epsilon = 0;
    o.low = low;
    o.high = high;
    o.rules = &rule;
    float x[2] = {1, 2};
    EXPECT_EQ(xai_nn_lrp(net, x, 1, nullptr, &o, out, &e), XAI_OK) << e.message;
    xai_nn_free(net);
    return out[0] + out[1];
}

}  // namespace

TEST(NnLrp, Lrp0EqualsGradientTimesInputOnReluNets) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *a = relu_mlp(seed), *b = relu_cnn(seed);
        expect_lrp0_is_gxi(a, seed);
        expect_lrp0_is_gxi(b, seed + 5);
        xai_nn_free(a);
        xai_nn_free(b);
    }
}

TEST(NnLrp, EpsilonConservesRelevanceLayerByLayerWithoutBiases) {
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.epsilon = 1e-9;
    int checked = 0;
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *a = relu_mlp(seed), *b = relu_cnn(seed);
        zero_biases(a);
        zero_biases(b);
        expect_conserved(a, o, seed, -1, 1, &checked);
        expect_conserved(b, o, seed, -1, 1, &checked);
        xai_nn_free(a);
        xai_nn_free(b);
    }
    EXPECT_GE(checked, 12);  // of 18 samples, most have a nonzero logit
}

TEST(NnLrp, BiasFreeRulesConserveRelevanceWithBiases) {
    // z+, flat and w^2 ignore the bias: relevance is conserved even though
    // the network has biases (positive inputs keep every denominator away
    // from zero). Alpha-beta conserves only where a unit has both positive
    // and negative contributions, which ReLU inputs do not guarantee.
    const xai_nn_rule rs[] = {XAI_NN_RULE_ZPLUS, XAI_NN_RULE_FLAT, XAI_NN_RULE_WSQUARE};
    int checked = 0;
    for (xai_nn_rule r : rs) {
        xai_nn *a = relu_mlp(4);
        std::vector<xai_nn_rule> rules(xai_nn_n_layers(a), r);
        rules[4] = XAI_NN_RULE_EPSILON;  // last layer: epsilon, but biases there are zeroed below
        const float *w, *b;
        size_t nw, nb;
        xai_nn_get_weights(a, 4, &w, &nw, &b, &nb);
        std::vector<float> wc(w, w + nw);
        xai_error e;
        ASSERT_EQ(xai_nn_set_weights(a, 4, wc.data(), nw, nullptr, 0, &e), XAI_OK);
        xai_nn_lrp_opts o;
        xai_nn_lrp_opts_init(&o);
        o.epsilon = 1e-9;
        o.rules = rules.data();
        expect_conserved(a, o, 9, 0.1, 1, &checked);
        xai_nn_free(a);
    }
    EXPECT_GE(checked, 6);
}

TEST(NnLrp, HandCaseDenseReluDense) {
    // Linear(3->3, no bias, all weights 2) -> ReLU -> Linear(3->1, all 3) at
    // x = [1, 2, 3]. Hidden z_k = 2 (1 + 2 + 3) = 12, output f = 3 * 36 = 108.
    // Top layer: R_k = a_k w_k / f * f = 12 * 3 = 36 for each hidden unit.
    // First layer: R_j = sum_k x_j 2 / 12 * 36 = 6 x_j * 3 = 18 x_j
    // -> [18, 36, 54] (epsilon 1e-6 changes this by ~1e-7 relative).
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(3, 1, 1, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    std::vector<float> w1(9, 2.0f), w2(3, 3.0f);
    ASSERT_EQ(xai_nn_set_weights(net, 0, w1.data(), 9, nullptr, 0, &e), XAI_OK);
    ASSERT_EQ(xai_nn_set_weights(net, 2, w2.data(), 3, nullptr, 0, &e), XAI_OK);
    float x[3] = {1, 2, 3}, r[3];
    ASSERT_EQ(xai_nn_lrp(net, x, 1, nullptr, nullptr, r, &e), XAI_OK) << e.message;
    EXPECT_NEAR(r[0], 18, 1e-4);
    EXPECT_NEAR(r[1], 36, 1e-4);
    EXPECT_NEAR(r[2], 54, 1e-4);
    xai_nn_free(net);
}

namespace {
// Input arange(16) as 1x4x4 -> Conv2d(1->2, 3x3, ones, biases [-50, -75]) ->
// ReLU -> flatten -> Linear(8->4), row 0 = [1,1,1,1,1,-1,-1,-1], other rows 0
// -> ReLU.
xai_nn *issue_conv_net() {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(1, 4, 4, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 2, 3, 3, 1, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 4, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    std::vector<float> wc(18, 1.0f), bc = {-50, -75}, wd(32, 0.0f);
    const float row[8] = {1, 1, 1, 1, 1, -1, -1, -1};
    std::memcpy(wd.data(), row, sizeof row);
    EXPECT_EQ(xai_nn_set_weights(net, 0, wc.data(), 18, bc.data(), 2, &e), XAI_OK);
    EXPECT_EQ(xai_nn_set_weights(net, 3, wd.data(), 32, nullptr, 0, &e), XAI_OK);
    return net;
}
}  // namespace

TEST(NnLrp, HandCaseConvIssueExample) {
    // Window sums of arange(16) (3x3, valid): [[45, 54], [81, 90]].
    // Conv pre-activations: ch0 = sums - 50 = [-5, 4, 31, 40],
    //                       ch1 = sums - 75 = [-30, -21, 6, 15].
    // After ReLU and flatten: a = [0, 4, 31, 40, 0, 0, 6, 15];
    // logit 0 = 4 + 31 + 40 - 6 - 15 = 54 (> 0, so the last ReLU passes it).
    // Dense, LRP-eps from R = 54: R_j = a_j w_j / 54 * 54 = a_j w_j
    //   = [0, 4, 31, 40, 0, 0, -6, -15].
    // Conv: R_k / z_k = ch0 [0, 1, 1, 1], ch1 [0, 0, -1, -1] (0/-5 = 0 etc.),
    // R_i = x_i sum_k w s_k over the windows holding i. Windows (1,0) and
    // (1,1) appear in both channels with +1 and -1 and cancel; only window
    // (0,1) of ch0 is left: R_i = x_i for rows 0-2, columns 1-3, else 0.
    xai_nn *net = issue_conv_net();
    float x[16], r[16];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    int64_t t = 0;
    xai_error e;
    ASSERT_EQ(xai_nn_lrp(net, x, 1, &t, nullptr, r, &e), XAI_OK) << e.message;
    const float want[16] = {0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 0, 0, 0};
    for (int i = 0; i < 16; i++) EXPECT_NEAR(r[i], want[i], 1e-4) << i;
    xai_nn_free(net);
}

TEST(NnLrp, HandCaseGradCamIssueExample) {
    // Grad-CAM at the conv output (before ReLU), target 0. d logit / d conv
    // output: ch0 = w[0..3] * relu'(z) = [0, 1, 1, 1], ch1 = [1,-1,-1,-1] *
    // relu'([-30,-21,6,15]) = [0, 0, -1, -1]. Channel weights = means:
    // 3/4 and -2/4. CAM = 0.75 [-5, 4, 31, 40] - 0.5 [-30, -21, 6, 15]
    //   = [11.25, 13.5, 20.25, 22.5].
    xai_nn *net = issue_conv_net();
    float x[16], cam[4];
    for (int i = 0; i < 16; i++) x[i] = (float)i;
    int64_t t = 0;
    xai_error e;
    ASSERT_EQ(xai_nn_gradcam(net, 0, x, 1, &t, false, false, cam, &e), XAI_OK) << e.message;
    const float want[4] = {11.25f, 13.5f, 20.25f, 22.5f};
    for (int i = 0; i < 4; i++) EXPECT_NEAR(cam[i], want[i], 1e-5) << i;
    // Upsampled to 4x4 (align_corners = false): the corner pixel (0,0) maps to
    // source (-0.25, -0.25), clamped to (0, 0): 11.25; pixel (1,1) maps to
    // (0.25, 0.25): 0.75*0.75*11.25 + 0.75*0.25*13.5 + 0.25*0.75*20.25 +
    // 0.25*0.25*22.5 = 6.328125 + 2.53125 + 3.796875 + 1.40625 = 14.0625.
    float up[16];
    ASSERT_EQ(xai_nn_gradcam(net, 0, x, 1, &t, true, true, up, &e), XAI_OK);
    EXPECT_NEAR(up[0], 11.25, 1e-5);
    EXPECT_NEAR(up[5], 14.0625, 1e-5);
    EXPECT_NEAR(up[15], 22.5, 1e-5);
    xai_nn_free(net);
}

TEST(NnLrp, HandCasesForEachRuleOnOneDenseLayer) {
    // W = [2, -1], b = 3, x = [1, 2], R = z = 3. Contributions a_j w_j = [2, -2].
    float r[2];
    // epsilon -> 0 keeps the bias in the denominator: R = [2, -2] / 3 * 3.
    one_layer(XAI_NN_RULE_EPSILON, 0, 0, 0, r);
    EXPECT_NEAR(r[0], 2, 1e-5);
    EXPECT_NEAR(r[1], -2, 1e-5);
    // gamma 0.5: W' = [3, -1], b' = 3 + 1.5 = 4.5, z' = 3 - 2 + 4.5 = 5.5;
    // R = [3, -2] / 5.5 * 3.
    one_layer(XAI_NN_RULE_GAMMA, 0.5, 0, 0, r);
    EXPECT_NEAR(r[0], 9 / 5.5, 1e-5);
    EXPECT_NEAR(r[1], -6 / 5.5, 1e-5);
    // z+: only positive contributions (2) count, bias ignored: R = [3, 0].
    EXPECT_NEAR(one_layer(XAI_NN_RULE_ZPLUS, 0, 0, 0, r), 3, 1e-5);
    EXPECT_NEAR(r[0], 3, 1e-5);
    EXPECT_NEAR(r[1], 0, 1e-5);
    // alpha 2, beta 1: 2 * [2/2, 0] * 3 - 1 * [0, -2/-2] * 3 = [6, -3].
    one_layer(XAI_NN_RULE_ALPHA_BETA, 0, 0, 0, r);
    EXPECT_NEAR(r[0], 6, 1e-5);
    EXPECT_NEAR(r[1], -3, 1e-5);
    // flat: equal shares [1.5, 1.5].
    one_layer(XAI_NN_RULE_FLAT, 0, 0, 0, r);
    EXPECT_NEAR(r[0], 1.5, 1e-5);
    EXPECT_NEAR(r[1], 1.5, 1e-5);
    // w^2: [4, 1] / 5 * 3 = [2.4, 0.6].
    one_layer(XAI_NN_RULE_WSQUARE, 0, 0, 0, r);
    EXPECT_NEAR(r[0], 2.4, 1e-5);
    EXPECT_NEAR(r[1], 0.6, 1e-5);
    // z^B with l = -1, h = 5: q_1 = 1*2 - (-1)*2 - 5*0 = 4,
    // q_2 = 2*(-1) - (-1)*0 - 5*(-1) = 3; R = [4, 3] / 7 * 3.
    one_layer(XAI_NN_RULE_ZBOX, 0, -1, 5, r);
    EXPECT_NEAR(r[0], 12.0 / 7, 1e-5);
    EXPECT_NEAR(r[1], 9.0 / 7, 1e-5);
}

TEST(NnLrp, CompositesMatchTheirPerLayerLists) {
    // conv -> relu -> maxpool -> conv -> relu -> avgpool -> flatten -> dense:
    // weighted layers are 0, 3 and 7.
    xai_nn *net = relu_cnn(3);
    const size_t L = xai_nn_n_layers(net), d = xai_nn_input_size(net);
    std::vector<float> x = random_input(2 * d, 5, 0, 1), a(2 * d), b(2 * d);
    struct Case {
        xai_nn_composite c;
        xai_nn_rule first, conv, dense;
    } cases[] = {
        {XAI_NN_COMPOSITE_EPSILON_PLUS, XAI_NN_RULE_ZPLUS, XAI_NN_RULE_ZPLUS, XAI_NN_RULE_EPSILON},
        {XAI_NN_COMPOSITE_EPSILON_PLUS_FLAT, XAI_NN_RULE_FLAT, XAI_NN_RULE_ZPLUS, XAI_NN_RULE_EPSILON},
        {XAI_NN_COMPOSITE_EPSILON_GAMMA_BOX, XAI_NN_RULE_ZBOX, XAI_NN_RULE_GAMMA, XAI_NN_RULE_EPSILON},
        {XAI_NN_COMPOSITE_EPSILON_ALPHA2_BETA1, XAI_NN_RULE_ALPHA_BETA, XAI_NN_RULE_ALPHA_BETA,
         XAI_NN_RULE_EPSILON},
    };
    xai_error e;
    for (const Case &c : cases) {
        xai_nn_lrp_opts o;
        xai_nn_lrp_opts_init(&o);
        o.composite = c.c;
        ASSERT_EQ(xai_nn_lrp(net, x.data(), 2, nullptr, &o, a.data(), &e), XAI_OK) << e.message;
        std::vector<xai_nn_rule> rules(L, XAI_NN_RULE_DEFAULT);
        rules[0] = c.first;
        rules[3] = c.conv;
        rules[7] = c.dense;
        xai_nn_lrp_opts_init(&o);
        o.rules = rules.data();
        ASSERT_EQ(xai_nn_lrp(net, x.data(), 2, nullptr, &o, b.data(), &e), XAI_OK) << e.message;
        double diff = 0, mag = 0;
        for (size_t i = 0; i < 2 * d; i++) diff += std::fabs(a[i] - b[i]), mag += std::fabs(b[i]);
        EXPECT_GT(mag, 0);
        EXPECT_LE(diff, 1e-6 * mag) << "composite " << (int)c.c;
    }
    xai_nn_free(net);
}

namespace {
// One dense layer 2 -> 1 with W = [2, -1] and bias b, gamma 0.5, at x.
void gamma_layer(float bias, const float x[2], float out[2]) {
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(2, 1, 1, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    const float w[2] = {2, -1};
    ASSERT_EQ(xai_nn_set_weights(net, 0, w, 2, &bias, 1, &e), XAI_OK);
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.gamma = 0.5;
    xai_nn_rule rule = XAI_NN_RULE_GAMMA;
    o.rules = &rule;
    ASSERT_EQ(xai_nn_lrp(net, x, 1, nullptr, &o, out, &e), XAI_OK) << e.message;
    xai_nn_free(net);
}
}  // namespace

TEST(NnLrp, GeneralisedGammaHandCasesWithNegativeInputs) {
    float r[2];
    // b = 3, x = [1, -2]: z = 2 + 2 + 3 = 7 > 0. W + g W+ = [3, -1] on
    // a+ = [1, 0]: 3; W + g W- = [2, -1.5] on a- = [0, -2]: 3; bias
    // b + g b+ = 4.5. R = [3, 3] / 10.5 * 7 = [2, 2]. (The original rule,
    // a (W + g W+) = [3, 2] over 9.5, would give [2.21, 1.47].)
    const float x1[2] = {1, -2};
    gamma_layer(3, x1, r);
    EXPECT_NEAR(r[0], 2, 1e-5);
    EXPECT_NEAR(r[1], 2, 1e-5);
    // b = -3, x = [-1, 2]: z = -2 - 2 - 3 = -7 < 0. W + g W- = [2, -1.5] on
    // a+ = [0, 2]: -3; W + g W+ = [3, -1] on a- = [-1, 0]: -3; bias
    // b + g b- = -4.5. R = [-3, -3] / -10.5 * -7 = [-2, -2].
    const float x2[2] = {-1, 2};
    gamma_layer(-3, x2, r);
    EXPECT_NEAR(r[0], -2, 1e-5);
    EXPECT_NEAR(r[1], -2, 1e-5);
}

TEST(NnLrp, GammaConservesOnTanhNetsWithStandardisedInputs) {
    // The case that blew up the original rule: inputs of both signs, a tanh
    // between dense layers. Zero biases: every unit's shares sum to its
    // relevance (each side's denominator is the sum of its own terms).
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(6, 1, 1, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 8, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 5, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_tanh(net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    int checked = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        xai_nn_init_random(net, seed);
        zero_biases(net);
        std::vector<xai_nn_rule> rules(xai_nn_n_layers(net), XAI_NN_RULE_GAMMA);
        xai_nn_lrp_opts o;
        xai_nn_lrp_opts_init(&o);
        o.rules = rules.data();
        expect_conserved(net, o, seed, -2, 2, &checked);
    }
    EXPECT_GE(checked, 10);
    xai_nn_free(net);
}

TEST(NnLrp, PoolEpsilonIsItsOwnStabiliser) {
    // 1x2x2 -> avgpool 2 -> flatten -> dense 1 (W = 1, b = 0) at x = [1, 1,
    // 1, 1]: pooled z = 1, logit 1. Dense epsilon 0.25: R = 1 * 1 / 1.25 =
    // 0.8. Pooling with pool_epsilon 0: R_j = x_j / 4 / 1 * 0.8 = 0.2 each;
    // with pool_epsilon 1: x_j / 4 / 2 * 0.8 = 0.1 each. The rules' epsilon
    // no longer touches the pooling.
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_new(1, 2, 2, &net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_avgpool2d(net, 2, 0, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_dense(net, 1, &e), XAI_OK);
    const float w = 1;
    ASSERT_EQ(xai_nn_set_weights(net, 2, &w, 1, nullptr, 0, &e), XAI_OK);
    const float x[4] = {1, 1, 1, 1};
    float r[4];
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.epsilon = 0.25;
    o.pool_epsilon = 0;
    ASSERT_EQ(xai_nn_lrp(net, x, 1, nullptr, &o, r, &e), XAI_OK) << e.message;
    for (float v : r) EXPECT_NEAR(v, 0.2, 1e-6);
    o.pool_epsilon = 1;
    ASSERT_EQ(xai_nn_lrp(net, x, 1, nullptr, &o, r, &e), XAI_OK);
    for (float v : r) EXPECT_NEAR(v, 0.1, 1e-6);
    xai_nn_free(net);
}

TEST(NnLrp, EpsilonGammaBoxPutsZBoxOnTheFirstConvolutionOnly) {
    // zennit's EpsilonGammaBox: an MLP gets epsilon on every dense layer
    // (no z^B), exactly the NONE composite.
    xai_nn *net = relu_mlp(2);
    const size_t d = xai_nn_input_size(net);
    std::vector<float> x = random_input(2 * d, 3, 0, 1), a(2 * d), b(2 * d);
    xai_nn_lrp_opts o;
    xai_nn_lrp_opts_init(&o);
    o.composite = XAI_NN_COMPOSITE_EPSILON_GAMMA_BOX;
    xai_error e;
    ASSERT_EQ(xai_nn_lrp(net, x.data(), 2, nullptr, &o, a.data(), &e), XAI_OK) << e.message;
    o.composite = XAI_NN_COMPOSITE_NONE;
    ASSERT_EQ(xai_nn_lrp(net, x.data(), 2, nullptr, &o, b.data(), &e), XAI_OK);
    double mag = 0;
    for (size_t i = 0; i < 2 * d; i++) {
        EXPECT_FLOAT_EQ(a[i], b[i]) << i;
        mag += std::fabs(b[i]);
    }
    EXPECT_GT(mag, 0);
    xai_nn_free(net);
}
