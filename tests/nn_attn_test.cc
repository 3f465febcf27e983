// nn_attn_test.cc — layer norm and multi-head self-attention: gradients
// against central finite differences (in double, on a reference forward pass
// written here), LRP with conservative propagation conserved through each
// transformer block with zero biases, attention weights (rows sum to 1), and
// agreement with PyTorch on a nn.TransformerEncoderLayer text classifier:
// logits, per-token gradients and every head's attention weights from
// tests/data/make_transformer_fixture.py.
#include <gtest/gtest.h>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "xai/nn.h"
#include "xai/rng.h"
#include "nn_test_util.h"

namespace {

using Vec = std::vector<double>;
const size_t kD = 6, kT = 5, kH = 2;

// 6 x 1 x 5 -> attention(2 heads) [0] -> add(input) [1] -> layernorm [2] ->
// conv1d 8 (k1) [3] -> relu [4] -> conv1d 6 (k1) [5] -> add(2) [6] ->
// layernorm [7] -> token_pool mean [8] -> dense 3 [9].
xai_nn *encoder(uint64_t seed, bool zero_bias) {
    xai_nn *net = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_new(kD, 1, kT, &net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_attention(net, kH, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_add(net, (size_t)-1, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_layernorm(net, 1e-5f, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_conv1d(net, 8, 1, 1, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_relu(net, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_conv1d(net, kD, 1, 1, 0, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_add(net, 2, &e), XAI_OK) << e.message;
    EXPECT_EQ(xai_nn_add_layernorm(net, 1e-5f, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_token_pool(net, XAI_NN_POOL_MEAN, &e), XAI_OK);
    EXPECT_EQ(xai_nn_add_dense(net, 3, &e), XAI_OK);
    xai_nn_init_random(net, seed);
    for (size_t l = 0; zero_bias && l < xai_nn_n_layers(net); l++) {
        const float *w, *b;
        size_t nw, nb;
        xai_nn_get_weights(net, l, &w, &nw, &b, &nb);
        if (nw == 0) continue;
        std::vector<float> wc(w, w + nw);
        EXPECT_EQ(xai_nn_set_weights(net, l, wc.data(), nw, nullptr, 0, &e), XAI_OK);
    }
    return net;
}

// The reference forward in double, from the weights.
Vec layernorm(const xai_nn *net, size_t l, const Vec &x) {
    const float *g, *b;
    size_t nw, nb;
    xai_nn_get_weights(net, l, &g, &nw, &b, &nb);
    Vec y(x.size());
    for (size_t t = 0; t < kT; t++) {
        double m = 0, v = 0;
        for (size_t d = 0; d < kD; d++) m += x[d * kT + t] / kD;
        for (size_t d = 0; d < kD; d++) v += (x[d * kT + t] - m) * (x[d * kT + t] - m) / kD;
        for (size_t d = 0; d < kD; d++) y[d * kT + t] = g[d] * (x[d * kT + t] - m) / std::sqrt(v + 1e-5) + b[d];
    }
    return y;
}

Vec attention(const xai_nn *net, const Vec &x) {
    const float *w, *b;
    size_t nw, nb;
    xai_nn_get_weights(net, 0, &w, &nw, &b, &nb);
    Vec qkv(3 * kD * kT), o(kD * kT), y(kD * kT);
    for (size_t r = 0; r < 3 * kD; r++)
        for (size_t t = 0; t < kT; t++) {
            double s = b[r];
            for (size_t d = 0; d < kD; d++) s += w[r * kD + d] * x[d * kT + t];
            qkv[r * kT + t] = s;
        }
    size_t dh = kD / kH;
    for (size_t h = 0; h < kH; h++)
        for (size_t i = 0; i < kT; i++) {
            Vec a(kT);
            double mx = -1e300, z = 0;
            for (size_t j = 0; j < kT; j++) {
                double s = 0;
                for (size_t e = h * dh; e < (h + 1) * dh; e++) s += qkv[e * kT + i] * qkv[(kD + e) * kT + j];
                a[j] = s / std::sqrt((double)dh);
                mx = std::max(mx, a[j]);
            }
            for (double &v : a) z += (v = std::exp(v - mx));
            for (size_t e = h * dh; e < (h + 1) * dh; e++) {
                double s = 0;
                for (size_t j = 0; j < kT; j++) s += a[j] / z * qkv[(2 * kD + e) * kT + j];
                o[e * kT + i] = s;
            }
        }
    for (size_t r = 0; r < kD; r++)
        for (size_t t = 0; t < kT; t++) {
            double s = b[3 * kD + r];
            for (size_t d = 0; d < kD; d++) s += w[3 * kD * kD + r * kD + d] * o[d * kT + t];
            y[r * kT + t] = s;
        }
    return y;
}

Vec pointwise(const xai_nn *net, size_t l, const Vec &x, size_t in) {
    const float *w, *b;
    size_t nw, nb;
    xai_nn_get_weights(net, l, &w, &nw, &b, &nb);
    Vec y(nb * kT);
    for (size_t o = 0; o < nb; o++)
        for (size_t t = 0; t < kT; t++) {
            double s = b[o];
            for (size_t d = 0; d < in; d++) s += w[o * in + d] * x[d * kT + t];
            y[o * kT + t] = s;
        }
    return y;
}

double ref_logit(const xai_nn *net, const Vec &x, size_t target) {
    Vec a = attention(net, x);
    for (size_t i = 0; i < a.size(); i++) a[i] += x[i];
    Vec h1 = layernorm(net, 2, a);
    Vec f = pointwise(net, 3, h1, kD);
    for (double &v : f) v = v > 0 ? v : 0;
    Vec f2 = pointwise(net, 5, f, 8);
    for (size_t i = 0; i < f2.size(); i++) f2[i] += h1[i];
    Vec h2 = layernorm(net, 7, f2);
    const float *w, *b;
    size_t nw, nb;
    xai_nn_get_weights(net, 9, &w, &nw, &b, &nb);
    double z = b[target];
    for (size_t d = 0; d < kD; d++) {
        double m = 0;
        for (size_t t = 0; t < kT; t++) m += h2[d * kT + t] / kT;
        z += w[target * kD + d] * m;
    }
    return z;
}

std::vector<float> input(uint64_t seed) {
    xai_rng r;
    xai_rng_seed(&r, seed, 3);
    std::vector<float> x(kD * kT);
    for (float &v : x) v = (float)(2 * xai_rng_uniform(&r) - 1);
    return x;
}

}  // namespace

TEST(NnAttn, ForwardAndGradientMatchTheReference) {
    for (uint64_t seed = 1; seed <= 3; seed++) {
        xai_nn *net = encoder(seed, false);
        std::vector<float> x = input(seed), g(kD * kT);
        Vec xd(x.begin(), x.end());
        float z[3];
        xai_error e;
        ASSERT_EQ(xai_nn_logits(net, x.data(), 1, z, &e), XAI_OK) << e.message;
        for (size_t t = 0; t < 3; t++) EXPECT_NEAR(z[t], ref_logit(net, xd, t), 1e-5) << t;
        int64_t t = (int64_t)(seed % 3);
        ASSERT_EQ(xai_nn_gradient(net, XAI_NN_BP_GRADIENT, x.data(), 1, &t, g.data(), nullptr, &e), XAI_OK);
        for (size_t i = 0; i < kD * kT; i++) {
            Vec a = xd, b = xd;
            a[i] += 1e-5, b[i] -= 1e-5;
            double fd = (ref_logit(net, a, (size_t)t) - ref_logit(net, b, (size_t)t)) / 2e-5;
            EXPECT_NEAR(g[i], fd, 1e-4 * (1 + std::fabs(fd))) << "seed " << seed << " input " << i;
        }
        xai_nn_free(net);
    }
}

TEST(NnAttn, LrpIsConservedThroughEachBlockWithZeroBiases) {
    // Trace tensors 0 (the input), 3 (after the attention block's layer
    // norm) and 8 (after the feed-forward block's) each carry all the
    // relevance; the start is the logit.
    int checked = 0;
    for (uint64_t seed = 1; seed <= 4; seed++) {
        xai_nn *net = encoder(seed, true);
        const size_t n = 2, L = xai_nn_n_layers(net);
        std::vector<std::vector<float>> bufs(L + 1);
        std::vector<float *> ptrs(L + 1, nullptr);
        for (size_t k : {(size_t)0, (size_t)3, (size_t)8, L}) {
            size_t s[3];
            xai_nn_layer_shape(net, k == 0 ? (size_t)-1 : k - 1, s);
            bufs[k].assign(n * s[0] * s[1] * s[2], 0);
            ptrs[k] = bufs[k].data();
        }
        std::vector<float> x = input(seed + 20), x2 = input(seed + 40);
        x.insert(x.end(), x2.begin(), x2.end());
        xai_nn_lrp_opts o;
        xai_nn_lrp_opts_init(&o);
        o.epsilon = 1e-9;
        o.pool_epsilon = 1e-9;
        xai_error e;
        ASSERT_EQ(xai_nn_lrp_layers(net, x.data(), n, nullptr, &o, ptrs.data(), &e), XAI_OK) << e.message;
        for (size_t s = 0; s < n; s++) {
            auto sum = [&](size_t k) {
                size_t m = bufs[k].size() / n;
                double acc = 0;
                for (size_t i = 0; i < m; i++) acc += bufs[k][s * m + i];
                return acc;
            };
            double top = sum(L);
            if (std::fabs(top) < 1e-3) continue;
            for (size_t k : {(size_t)8, (size_t)3, (size_t)0})
                EXPECT_NEAR(sum(k), top, 1e-4 * std::fabs(top)) << "seed " << seed << " tensor " << k;
            checked++;
        }
        xai_nn_free(net);
    }
    EXPECT_GE(checked, 6);
}

TEST(NnAttn, AttentionWeightsAreRowStochastic) {
    xai_nn *net = encoder(5, false);
    std::vector<float> x = input(5), a(kH * kT * kT);
    xai_error e;
    ASSERT_EQ(xai_nn_attention_weights(net, 0, x.data(), 1, a.data(), &e), XAI_OK) << e.message;
    for (size_t r = 0; r < kH * kT; r++) {
        double s = 0;
        for (size_t j = 0; j < kT; j++) {
            s += a[r * kT + j];
            EXPECT_GE(a[r * kT + j], 0);
        }
        EXPECT_NEAR(s, 1, 1e-6);
    }
    EXPECT_EQ(xai_nn_attention_weights(net, 1, x.data(), 1, a.data(), &e), XAI_ERR_INVALID);
    xai_nn_free(net);
}

TEST(NnAttn, AgreesWithTorchTransformerEncoderLayer) {
    const char *root = std::getenv("XAI_ROOT");
    std::string dir = std::string(root ? root : ".") + "/tests/data/";
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_load((dir + "transformer.xnn").c_str(), &net, &e), XAI_OK) << e.message;
    xai_value *ref = nnt::read_reference(dir + "transformer_ref.msgpack");
    ASSERT_NE(ref, nullptr);
    const xai_value *cases = xai_value_get(ref, "cases");
    ASSERT_GE(xai_value_len(cases), 3u);
    size_t checked = 0;
    for (size_t c = 0; c < xai_value_len(cases); c++) {
        const xai_value *k = xai_value_at(cases, c);
        size_t tlen;
        const char *text = xai_value_get_str(xai_value_get(k, "text"), &tlen);
        int64_t target = xai_value_get_int(xai_value_get(k, "target"));
        float z[2];
        ASSERT_EQ(xai_nn_text_forward(net, &text, &tlen, 1, true, z, &e), XAI_OK) << e.message;
        for (size_t o = 0; o < 2; o++) {
            double w = xai_value_get_number(xai_value_at(xai_value_get(k, "logits"), o));
            EXPECT_NEAR(z[o], w, 1e-5 * (1 + std::fabs(w))) << text;
        }
        xai_value *p = xai_value_map();
        xai_value_set_int(p, "target", target);
        for (const char *method : {"saliency", "grad_x_input"}) {
            xai_result *r = nullptr;
            ASSERT_EQ(xai_nn_explain_text(net, method, text, tlen, p, &r, &e), XAI_OK) << e.message;
            const xai_value *want = xai_value_get(k, method);
            ASSERT_EQ(r->d, xai_value_len(want));
            for (size_t t = 0; t < r->d; t++) {
                double w = xai_value_get_number(xai_value_at(want, t));
                EXPECT_NEAR(r->values[t], w, 1e-5 * (1 + std::fabs(w))) << text << " " << method << " " << t;
                checked++;
            }
            xai_result_free(r);
        }
        xai_value_free(p);
        // Attention weights: the embedded text through layer 0.
        xai_tokens *tk = nullptr;
        int64_t *ids = nullptr;
        ASSERT_EQ(xai_nn_text_ids(net, text, tlen, &tk, &ids, &e), XAI_OK);
        size_t n = tk->n, V, D;
        const float *emb;
        xai_nn_get_embedding(net, &emb, &V, &D);
        std::vector<float> x(D * n);
        for (size_t t = 0; t < n; t++)
            for (size_t d = 0; d < D; d++) x[d * n + t] = emb[(size_t)ids[t] * D + d];
        const xai_value *wa = xai_value_get(k, "attention");
        // xai_nn_attention_weights runs on a network of the text's length:
        // build one with the same attention weights.
        xai_nn *one = nullptr;
        ASSERT_EQ(xai_nn_new(D, 1, n, &one, &e), XAI_OK);
        ASSERT_EQ(xai_nn_add_attention(one, 2, &e), XAI_OK);
        const float *w, *b;
        size_t nw, nb;
        xai_nn_get_weights(net, 0, &w, &nw, &b, &nb);
        ASSERT_EQ(xai_nn_set_weights(one, 0, w, nw, b, nb, &e), XAI_OK) << e.message;
        std::vector<float> att(2 * n * n);
        ASSERT_EQ(xai_nn_attention_weights(one, 0, x.data(), 1, att.data(), &e), XAI_OK) << e.message;
        ASSERT_EQ(xai_value_len(wa), att.size());
        for (size_t i = 0; i < att.size(); i++)
            EXPECT_NEAR(att[i], xai_value_get_number(xai_value_at(wa, i)), 1e-6) << text << " " << i;
        xai_nn_free(one);
        // The same weights on request in a text explanation's extra.
        xai_value *q = xai_value_map();
        xai_value_set_bool(q, "attention", true);
        xai_result *r = nullptr;
        ASSERT_EQ(xai_nn_explain_text(net, "lrp", text, tlen, q, &r, &e), XAI_OK) << e.message;
        const xai_value *ex = xai_value_at(xai_value_get(r->extra, "attention"), 0);
        EXPECT_EQ(xai_value_get_int(xai_value_get(ex, "heads")), 2);
        const xai_value *ew = xai_value_get(ex, "weights");
        ASSERT_EQ(xai_value_len(ew), att.size());
        for (size_t i = 0; i < att.size(); i++)
            EXPECT_NEAR(xai_value_get_number(xai_value_at(ew, i)), xai_value_get_number(xai_value_at(wa, i)), 1e-6);
        xai_result_free(r);
        xai_value_free(q);
        xai_tokens_free(tk);
        xai_free(ids);
    }
    EXPECT_GE(checked, 20u);
    xai_value_free(ref);
    xai_nn_free(net);
}
