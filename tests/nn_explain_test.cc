// nn_explain_test.cc — native methods by name (xai_nn_explain: options,
// results, errors) and the SGD step (its weight gradient against finite
// differences of the loss, and training on a separable toy problem).
#include <gtest/gtest.h>
#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include "nn_test_util.h"

using namespace nnt;

namespace {

// 1x4x4 -> conv 2 (3x3, pad 1) -> relu (tanh when smooth) -> flatten -> dense 3
xai_nn *small_cnn(uint64_t seed, bool smooth = false) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(1, 4, 4, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv2d(net, 2, 3, 3, 1, 1, &e), XAI_OK);
    EXPECT_EQ(smooth ? xai_nn_add_tanh(net, &e) : xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_flatten(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    return net;
}

xai_value *params(std::initializer_list<std::pair<const char *, xai_value *>> kv) {
    xai_value *m = xai_value_map();
    for (auto &p : kv) xai_value_set(m, p.first, p.second);
    return m;
}

// Mean loss at the current weights (an SGD step with lr 0 changes nothing).
double loss_at(xai_nn *net, const std::vector<float> &x, const std::vector<int32_t> &y) {
    double loss;
    xai_error e;
    EXPECT_EQ(xai_nn_sgd_step(net, x.data(), y.data(), y.size(), 0.0f, &loss, &e), XAI_OK);
    return loss;
}

}  // namespace

TEST(NnExplain, ByNameMatchesTheDirectCalls) {
    xai_nn *net = small_cnn(2);
    std::vector<float> x = random_input(16, 3), g(16);
    xai_error e;
    int64_t t = 1;
    ASSERT_EQ(xai_nn_saliency(net, x.data(), 1, &t, true, g.data(), &e), XAI_OK);
    xai_value *p = params({{"target", xai_value_int(1)}, {"abs", xai_value_bool(true)}});
    xai_result *r = nullptr;
    ASSERT_EQ(xai_nn_explain(net, "saliency", x.data(), p, &r, &e), XAI_OK) << e.message;
    ASSERT_EQ(r->d, 16u);
    EXPECT_EQ(r->rank, 3u);
    EXPECT_EQ(r->shape[0], 1u);
    EXPECT_EQ(r->shape[1], 4u);
    EXPECT_EQ(r->target, 1);
    EXPECT_STREQ(r->feature_names[5], "0,1,1");
    for (size_t i = 0; i < 16; i++) EXPECT_EQ(r->values[i], g[i]);
    float z[3];
    ASSERT_EQ(xai_nn_logits(net, x.data(), 1, z, &e), XAI_OK);
    EXPECT_FLOAT_EQ(r->fx, z[1]);
    xai_result_free(r);
    xai_value_free(p);

    // IG reports its completeness delta; with 64 Gauss nodes it is tiny.
    p = params({{"steps", xai_value_int(64)}, {"rule", xai_value_str("gauss_legendre")}});
    ASSERT_EQ(xai_nn_explain(net, "integrated_gradients", x.data(), p, &r, &e), XAI_OK) << e.message;
    ASSERT_NE(r->extra, nullptr);
    double sum = 0;
    for (size_t i = 0; i < 16; i++) sum += r->values[i];
    EXPECT_NEAR(xai_value_get_number(xai_value_get(r->extra, "delta")), 0, 1e-2 * (1 + std::fabs(sum)));
    xai_result_free(r);
    xai_value_free(p);

    // Grad-CAM without upsampling: a 4x4 map (the conv keeps 4x4), rank 2.
    p = params({{"upsample", xai_value_bool(false)}});
    ASSERT_EQ(xai_nn_explain(net, "gradcam", x.data(), p, &r, &e), XAI_OK) << e.message;
    EXPECT_EQ(r->rank, 2u);
    EXPECT_EQ(r->d, 16u);
    for (size_t i = 0; i < 16; i++) EXPECT_GE(r->values[i], 0);  // ReLU on by default
    xai_result_free(r);
    xai_value_free(p);

    // SmoothGrad over LRP with a composite, reproducible by seed.
    p = params({{"base", xai_value_str("lrp")}, {"composite", xai_value_str("epsilon_plus")},
                {"n_samples", xai_value_int(4)}, {"seed", xai_value_int(5)}});
    xai_result *r2 = nullptr;
    ASSERT_EQ(xai_nn_explain(net, "smoothgrad", x.data(), p, &r, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_explain(net, "smoothgrad", x.data(), p, &r2, &e), XAI_OK);
    EXPECT_EQ(std::memcmp(r->values, r2->values, 16 * sizeof(double)), 0);
    xai_result_free(r);
    xai_result_free(r2);
    xai_value_free(p);
    xai_nn_free(net);
}

TEST(NnExplain, BadNamesAndOptionsAreClearErrors) {
    xai_nn *net = small_cnn(1);
    std::vector<float> x = random_input(16, 1);
    xai_result *r = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_explain(net, "shap", x.data(), nullptr, &r, &e), XAI_ERR_UNKNOWN_METHOD);
    xai_value *p = params({{"steps", xai_value_int(5)}});
    EXPECT_EQ(xai_nn_explain(net, "saliency", x.data(), p, &r, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("steps"), std::string::npos) << e.message;
    xai_value_free(p);
    xai_value *rules = xai_value_array();
    xai_value_push(rules, xai_value_str("epsilon"));
    p = params({{"rules", rules}});
    EXPECT_EQ(xai_nn_explain(net, "lrp", x.data(), p, &r, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("rules"), std::string::npos) << e.message;
    xai_value_free(p);
    p = params({{"target", xai_value_int(3)}});
    EXPECT_EQ(xai_nn_explain(net, "lrp", x.data(), p, &r, &e), XAI_ERR_INVALID);
    xai_value_free(p);
    // Every method takes a seed (kept in the result); a negative one is refused.
    p = params({{"seed", xai_value_int(7)}});
    ASSERT_EQ(xai_nn_explain(net, "grad_x_input", x.data(), p, &r, &e), XAI_OK) << e.message;
    EXPECT_EQ(r->seed, 7u);
    xai_result_free(r);
    r = nullptr;
    xai_value_free(p);
    p = params({{"seed", xai_value_int(-1)}});
    EXPECT_EQ(xai_nn_explain(net, "saliency", x.data(), p, &r, &e), XAI_ERR_INVALID);
    xai_value_free(p);
    p = params({{"rule", xai_value_str("simpson")}});
    EXPECT_EQ(xai_nn_explain(net, "integrated_gradients", x.data(), p, &r, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("simpson"), std::string::npos) << e.message;
    xai_value_free(p);
    EXPECT_EQ(r, nullptr);
    xai_nn_free(net);
}

TEST(NnExplain, SgdWeightGradientMatchesFiniteDifferencesOfTheLoss) {
    // tanh: no kinks for the finite differences to straddle.
    xai_nn *net = small_cnn(4, true);
    std::vector<float> x = random_input(5 * 16, 8);
    std::vector<int32_t> y = {0, 1, 2, 1, 0};
    for (size_t layer : {0u, 3u}) {
        // Snapshot every layer: the step moves them all.
        std::vector<std::vector<float>> ws(5), bs(5);
        for (size_t l : {0u, 3u}) {
            const float *w, *b;
            size_t nw, nb;
            xai_nn_get_weights(net, l, &w, &nw, &b, &nb);
            ws[l].assign(w, w + nw);
            bs[l].assign(b, b + nb);
        }
        std::vector<float> &w0 = ws[layer], &b0 = bs[layer];
        size_t nw = w0.size(), nb = b0.size();
        // The step's update divided by lr is the gradient.
        const float lr = 1e-3f;
        double loss;
        xai_error e;
        ASSERT_EQ(xai_nn_sgd_step(net, x.data(), y.data(), 5, lr, &loss, &e), XAI_OK) << e.message;
        const float *w;
        xai_nn_get_weights(net, layer, &w, nullptr, nullptr, nullptr);
        std::vector<double> g(nw);
        for (size_t i = 0; i < nw; i++) g[i] = (w0[i] - w[i]) / lr;
        for (size_t l : {0u, 3u})
            ASSERT_EQ(xai_nn_set_weights(net, l, ws[l].data(), ws[l].size(), bs[l].data(), bs[l].size(), &e),
                      XAI_OK);
        Vec fd(nw);
        for (size_t i = 0; i < nw; i++) {
            std::vector<float> wp = w0, wm = w0;
            const float h = 1e-2f;
            wp[i] += h;
            wm[i] -= h;
            ASSERT_EQ(xai_nn_set_weights(net, layer, wp.data(), nw, b0.data(), nb, &e), XAI_OK);
            double lp = loss_at(net, x, y);
            ASSERT_EQ(xai_nn_set_weights(net, layer, wm.data(), nw, b0.data(), nb, &e), XAI_OK);
            double lm = loss_at(net, x, y);
            fd[i] = (lp - lm) / (2 * h);
        }
        ASSERT_EQ(xai_nn_set_weights(net, layer, w0.data(), nw, b0.data(), nb, &e), XAI_OK);
        std::vector<float> gf(g.begin(), g.end());
        EXPECT_LT(rel_err(gf.data(), fd), 5e-3) << "layer " << layer;
    }
    xai_nn_free(net);
}

TEST(NnExplain, SgdLearnsASeparableProblem) {
    // Class = which half of the 4x4 image is brighter: separable by the conv
    // net; 300 full-batch steps bring the loss well down and fit every sample.
    xai_nn *net = small_cnn(9);
    const size_t n = 40;
    std::vector<float> x = random_input(n * 16, 2, 0, 1);
    std::vector<int32_t> y(n);
    for (size_t s = 0; s < n; s++) {
        y[s] = (int32_t)(s % 2);
        for (size_t i = 0; i < 8; i++) x[s * 16 + (y[s] ? i : i + 8)] += 1.0f;
    }
    double first = loss_at(net, x, y), loss = 0;
    xai_error e;
    for (int it = 0; it < 300; it++)
        ASSERT_EQ(xai_nn_sgd_step(net, x.data(), y.data(), n, 0.1f, &loss, &e), XAI_OK);
    EXPECT_LT(loss, first / 4);
    std::vector<float> z(n * 3);
    ASSERT_EQ(xai_nn_logits(net, x.data(), n, z.data(), &e), XAI_OK);
    for (size_t s = 0; s < n; s++) {
        size_t best = std::max_element(z.begin() + s * 3, z.begin() + s * 3 + 3) - (z.begin() + s * 3);
        EXPECT_EQ((int32_t)best, y[s]) << s;
    }
    xai_nn_free(net);
}

TEST(NnExplain, OneNetworkServesSeveralThreadsAtOnce) {
    // The network is read-only during explanations; its scratch pool is
    // lock-free. Four threads running LRP and gradients on the same network
    // get the serial results.
    xai_nn *net = small_cnn(6);
    std::vector<float> x = random_input(8 * 16, 12);
    std::vector<float> want_lrp(8 * 16), want_g(8 * 16);
    xai_error e;
    ASSERT_EQ(xai_nn_lrp(net, x.data(), 8, nullptr, nullptr, want_lrp.data(), &e), XAI_OK);
    ASSERT_EQ(xai_nn_grad_x_input(net, x.data(), 8, nullptr, want_g.data(), &e), XAI_OK);
    std::vector<int> bad(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            std::vector<float> r(8 * 16);
            xai_error te;
            for (int it = 0; it < 20; it++) {
                bool lrp = (it + t) % 2 == 0;
                xai_status st = lrp ? xai_nn_lrp(net, x.data(), 8, nullptr, nullptr, r.data(), &te)
                                    : xai_nn_grad_x_input(net, x.data(), 8, nullptr, r.data(), &te);
                const std::vector<float> &want = lrp ? want_lrp : want_g;
                // (Equal up to rounding: a multi-threaded BLAS may split sums
                // differently when called from several threads.)
                bool same = st == XAI_OK;
                for (size_t i = 0; same && i < r.size(); i++)
                    same = std::fabs(r[i] - want[i]) <= 1e-5f * (1 + std::fabs(want[i]));
                bad[t] += !same;
            }
        });
    for (auto &th : threads) th.join();
    for (int t = 0; t < 4; t++) EXPECT_EQ(bad[t], 0) << "thread " << t;
    xai_nn_free(net);
}
