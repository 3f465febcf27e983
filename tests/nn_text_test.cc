// nn_text_test.cc — text networks: embedding lookups with case folding and
// the out-of-vocabulary index, conv1d and token pooling against a reference
// forward pass in double written here, per-token gradients against central
// finite differences of that reference, LRP-0 == gradient x input per
// token, LRP conservation and IG completeness over the tokens, native
// occlusion == sampling occlusion through a text space, the file format,
// and agreement with PyTorch on reference values a committed script made
// (tests/data/make_text_fixture.py).
#include <gtest/gtest.h>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>
#include "xai/methods.h"
#include "xai/nn.h"
#include "xai/rng.h"
#include "nn_test_util.h"

namespace {

const char *const kVocab[] = {"<unk>", "good", "bad", "movie", "the", "not", "a", "plot"};
const size_t kV = 8, kDim = 4;

struct Net {
    xai_nn *net = nullptr;
    ~Net() { xai_nn_free(net); }
};

// Text net: embedding 8 x 4 -> conv1d (5 channels, kernel k, padding p) ->
// relu -> token_pool(mode) -> dense 3. Random weights and embedding.
void make_net(Net *n, xai_nn_pool_mode mode, size_t k, size_t p, uint64_t seed, bool biases = true) {
    xai_nn_text_opts o = {kVocab, kV, kDim, 0, true, nullptr, 64};
    xai_error e;
    ASSERT_EQ(xai_nn_new_text(&o, &n->net, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_add_conv1d(n->net, 5, k, 1, p, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_add_relu(n->net, &e), XAI_OK);
    ASSERT_EQ(xai_nn_add_token_pool(n->net, mode, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_add_dense(n->net, 3, &e), XAI_OK) << e.message;
    xai_nn_init_random(n->net, seed);
    if (!biases)
        for (size_t l : {0, 3}) {
            const float *w, *b;
            size_t nw, nb;
            xai_nn_get_weights(n->net, l, &w, &nw, &b, &nb);
            std::vector<float> wc(w, w + nw);
            ASSERT_EQ(xai_nn_set_weights(n->net, l, wc.data(), nw, nullptr, 0, &e), XAI_OK);
        }
    xai_rng r;
    xai_rng_seed(&r, seed, 7);
    std::vector<float> emb(kV * kDim);
    for (float &v : emb) v = (float)(2 * xai_rng_uniform(&r) - 1);
    ASSERT_EQ(xai_nn_set_embedding(n->net, emb.data(), emb.size(), &e), XAI_OK) << e.message;
}

// The reference: embedded sequence E (dim x n, double) -> logits, by plain
// loops over the public description of the layers.
std::vector<double> ref_logits(const xai_nn *net, const std::vector<double> &E, size_t n,
                               xai_nn_pool_mode mode) {
    size_t kh, kw, st, pad, nw, nb;
    const float *w, *b;
    xai_nn_layer_geometry(net, 0, &kh, &kw, &st, &pad);
    xai_nn_get_weights(net, 0, &w, &nw, &b, &nb);
    size_t C = nb, L = (n + 2 * pad - kw) / st + 1;
    std::vector<double> pooled(C, 0);
    for (size_t c = 0; c < C; c++) {
        double acc_pool = mode == XAI_NN_POOL_MAX ? -1e300 : 0;
        for (size_t o = 0; o < L; o++) {
            double acc = b[c];
            for (size_t d = 0; d < kDim; d++)
                for (size_t k = 0; k < kw; k++) {
                    long pos = (long)(o * st + k) - (long)pad;
                    if (pos < 0 || pos >= (long)n) continue;
                    acc += (double)w[(c * kDim + d) * kw + k] * E[d * n + (size_t)pos];
                }
            acc = acc > 0 ? acc : 0;  // relu
            if (mode == XAI_NN_POOL_MAX)
                acc_pool = std::max(acc_pool, acc);
            else
                acc_pool += acc;
        }
        pooled[c] = mode == XAI_NN_POOL_MEAN ? acc_pool / (double)L : acc_pool;
    }
    xai_nn_get_weights(net, 3, &w, &nw, &b, &nb);
    std::vector<double> z(nb);
    for (size_t o = 0; o < nb; o++) {
        z[o] = b[o];
        for (size_t c = 0; c < C; c++) z[o] += (double)w[o * C + c] * pooled[c];
    }
    return z;
}

std::vector<double> embed(const xai_nn *net, const char *text, size_t *n) {
    xai_tokens *tk = nullptr;
    int64_t *ids = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_text_ids(net, text, std::strlen(text), &tk, &ids, &e), XAI_OK) << e.message;
    const float *emb;
    size_t V, D;
    xai_nn_get_embedding(net, &emb, &V, &D);
    *n = tk->n;
    std::vector<double> E(D * tk->n);
    for (size_t t = 0; t < tk->n; t++)
        for (size_t d = 0; d < D; d++) E[d * tk->n + t] = emb[(size_t)ids[t] * D + d];
    xai_tokens_free(tk);
    xai_free(ids);
    return E;
}

xai_result *explain(const xai_nn *net, const char *method, const char *text, const char *params_json = nullptr,
                    int64_t target = 1) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "target", target);
    if (params_json && std::strcmp(params_json, "lrp0") == 0) {
        xai_value *rules = xai_value_array();
        for (size_t l = 0; l < xai_nn_n_layers(net); l++) xai_value_push(rules, xai_value_str("zero"));
        xai_value_set(p, "rules", rules);
        xai_value_set_float(p, "epsilon", 0);
    }
    if (params_json && std::strcmp(params_json, "ig") == 0) {
        xai_value_set_int(p, "steps", 64);
        xai_value_set_str(p, "rule", "gauss_legendre");
    }
    xai_result *r = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_explain_text(net, method, text, std::strlen(text), p, &r, &e), XAI_OK)
        << method << ": " << e.message;
    xai_value_free(p);
    return r;
}

const char *kText = "The movie was not GOOD, a bad plot!";  // 8 tokens, "was" and "!"-less OOV

}  // namespace

TEST(NnText, TokensFoldCaseAndMapUnknownWordsToOov) {
    Net n;
    make_net(&n, XAI_NN_POOL_MAX, 2, 1, 1);
    xai_tokens *tk = nullptr;
    int64_t *ids = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_text_ids(n.net, kText, std::strlen(kText), &tk, &ids, &e), XAI_OK);
    // The, movie, was, not, GOOD, a, bad, plot
    const int64_t want[] = {4, 3, 0, 5, 1, 6, 2, 7};
    ASSERT_EQ(tk->n, 8u);
    for (size_t i = 0; i < 8; i++) EXPECT_EQ(ids[i], want[i]) << i;
    EXPECT_EQ(tk->start[4], 18u);  // spans point into the text
    EXPECT_EQ(xai_nn_token_index(n.net, "PLOT", 4), 7u);
    xai_tokens_free(tk);
    xai_free(ids);
}

TEST(NnText, ForwardMatchesTheReferenceForEveryPoolingAndLength) {
    const char *texts[] = {"good", "the movie", kText, "bad bad bad not good movie"};
    for (xai_nn_pool_mode mode : {XAI_NN_POOL_MEAN, XAI_NN_POOL_MAX, XAI_NN_POOL_SUM}) {
        Net n;
        make_net(&n, mode, 3, 1, 2 + mode);
        size_t lens[4];
        for (int i = 0; i < 4; i++) lens[i] = std::strlen(texts[i]);
        std::vector<float> z(4 * 3);
        xai_error e;
        // lengths 1, 2, 8, 6: four instances in one call
        ASSERT_EQ(xai_nn_text_forward(n.net, texts, lens, 4, true, z.data(), &e), XAI_OK) << e.message;
        for (int i = 0; i < 4; i++) {
            size_t len;
            std::vector<double> E = embed(n.net, texts[i], &len);
            std::vector<double> want = ref_logits(n.net, E, len, mode);
            for (size_t o = 0; o < 3; o++)
                EXPECT_NEAR(z[i * 3 + o], want[o], 1e-5 * (1 + std::fabs(want[o])))
                    << "mode " << mode << " text " << i << " logit " << o;
        }
    }
}

TEST(NnText, PerTokenGradientsMatchFiniteDifferences) {
    // Token t's saliency is sum_d dz/dE[d, t]: the derivative along moving
    // every embedding value of token t at once, which a central difference
    // of the reference gives directly. grad x input is sum_d g[d, t] E[d, t].
    for (xai_nn_pool_mode mode : {XAI_NN_POOL_MEAN, XAI_NN_POOL_SUM, XAI_NN_POOL_MAX}) {
        Net n;
        make_net(&n, mode, 2, 1, 11 + mode);
        size_t len;
        std::vector<double> E = embed(n.net, kText, &len);
        xai_result *sal = explain(n.net, "saliency", kText);
        xai_result *gxi = explain(n.net, "grad_x_input", kText);
        ASSERT_TRUE(sal && gxi);
        ASSERT_EQ(sal->d, len);
        const double h = 1e-5;
        for (size_t t = 0; t < len; t++) {
            std::vector<double> up = E, dn = E;
            for (size_t d = 0; d < kDim; d++) up[d * len + t] += h, dn[d * len + t] -= h;
            double fd = (ref_logits(n.net, up, len, mode)[1] - ref_logits(n.net, dn, len, mode)[1]) / (2 * h);
            EXPECT_NEAR(sal->values[t], fd, 1e-3 * (1 + std::fabs(fd))) << "mode " << mode << " token " << t;
            double gx = 0;  // per-dim FD for grad x input
            for (size_t d = 0; d < kDim; d++) {
                std::vector<double> u = E, v = E;
                u[d * len + t] += h, v[d * len + t] -= h;
                gx += E[d * len + t] *
                      (ref_logits(n.net, u, len, mode)[1] - ref_logits(n.net, v, len, mode)[1]) / (2 * h);
            }
            EXPECT_NEAR(gxi->values[t], gx, 1e-3 * (1 + std::fabs(gx))) << "mode " << mode << " token " << t;
        }
        EXPECT_STREQ(sal->feature_names[4], "GOOD");
        EXPECT_EQ(sal->n_tokens, len);
        EXPECT_EQ(sal->token_feature[7], 7);
        EXPECT_EQ(sal->rank, 0u);
        EXPECT_NEAR(sal->fx, ref_logits(n.net, E, len, mode)[1], 1e-5);
        xai_result_free(sal);
        xai_result_free(gxi);
    }
}

TEST(NnText, Lrp0EqualsGradientTimesInputPerToken) {
    for (xai_nn_pool_mode mode : {XAI_NN_POOL_MEAN, XAI_NN_POOL_MAX, XAI_NN_POOL_SUM}) {
        Net n;
        make_net(&n, mode, 3, 1, 21 + mode);
        xai_result *lrp = explain(n.net, "lrp", kText, "lrp0");
        xai_result *gxi = explain(n.net, "grad_x_input", kText);
        ASSERT_TRUE(lrp && gxi);
        for (size_t t = 0; t < gxi->d; t++)
            EXPECT_NEAR(lrp->values[t], gxi->values[t], 1e-4 * (1 + std::fabs(gxi->values[t])))
                << "mode " << mode << " token " << t;
        xai_result_free(lrp);
        xai_result_free(gxi);
    }
}

TEST(NnText, LrpConservesAndIgIsCompleteOverTheTokens) {
    for (xai_nn_pool_mode mode : {XAI_NN_POOL_MEAN, XAI_NN_POOL_MAX, XAI_NN_POOL_SUM}) {
        Net n;
        make_net(&n, mode, 2, 0, 31 + mode, false);
        for (const char *comp : {"none", "epsilon_plus"}) {
            xai_value *p = xai_value_map();
            xai_value_set_int(p, "target", 2);
            xai_value_set_str(p, "composite", comp);
            xai_value_set_float(p, "epsilon", 1e-9);
            xai_result *r = nullptr;
            xai_error e;
            ASSERT_EQ(xai_nn_explain_text(n.net, "lrp", kText, std::strlen(kText), p, &r, &e), XAI_OK)
                << e.message;
            double sum = 0;
            for (size_t t = 0; t < r->d; t++) sum += r->values[t];
            if (std::fabs(r->fx) > 1e-3) {
                EXPECT_NEAR(sum, r->fx, 1e-4 * std::fabs(r->fx)) << "mode " << mode << " " << comp;
            }
            xai_result_free(r);
            xai_value_free(p);
        }
        // IG from the zero embedding: sum over tokens = f(x) - f(0) (the
        // reference gives f(0)), Gauss-Legendre with 64 nodes.
        xai_result *ig = explain(n.net, "integrated_gradients", kText, "ig", 2);
        ASSERT_TRUE(ig);
        size_t len;
        std::vector<double> E = embed(n.net, kText, &len), Z(E.size(), 0.0);
        double sum = 0, want = ref_logits(n.net, E, len, mode)[2] - ref_logits(n.net, Z, len, mode)[2];
        for (size_t t = 0; t < ig->d; t++) sum += ig->values[t];
        EXPECT_NEAR(sum, want, 2e-2 * (1 + std::fabs(want))) << "mode " << mode;
        xai_result_free(ig);
    }
}

TEST(NnText, NativeOcclusionAgreesWithSamplingOcclusionThroughATextSpace) {
    Net n;
    make_net(&n, XAI_NN_POOL_MEAN, 2, 1, 41);
    xai_result *nat = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_text_occlusion(n.net, kText, std::strlen(kText), nullptr, 1, &nat, &e), XAI_OK)
        << e.message;
    // The sampling path: the PCRE2 tokens in a text space (mask token UNK,
    // rendered and re-tokenized by the text model), occlusion window 1.
    xai_tokens *tk = nullptr;
    int64_t *ids = nullptr;
    ASSERT_EQ(xai_nn_text_ids(n.net, kText, std::strlen(kText), &tk, &ids, &e), XAI_OK);
    xai_space *space = nullptr;
    ASSERT_EQ(xai_space_text_new(tk, nullptr, &space, &e), XAI_OK) << e.message;
    xai_model model;
    xai_nn_text_model(n.net, true, "text", &model);
    xai_eval *ev = nullptr;
    ASSERT_EQ(xai_eval_new(&model, space, nullptr, &ev, &e), XAI_OK) << e.message;
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "target", 1);
    xai_result *smp = nullptr;
    ASSERT_EQ(xai_explain(ev, "occlusion", p, &smp, &e), XAI_OK) << e.message;
    ASSERT_EQ(smp->d, nat->d);
    double mag = 0;
    for (size_t t = 0; t < nat->d; t++) {
        EXPECT_NEAR(nat->values[t], smp->values[t], 1e-5) << t;
        EXPECT_STREQ(nat->feature_names[t], smp->feature_names[t]);
        EXPECT_EQ(nat->token_start[t], smp->token_start[t]);
        mag += std::fabs(nat->values[t]);
    }
    EXPECT_GT(mag, 1e-3);
    EXPECT_NEAR(nat->fx, smp->fx, 1e-5);
    EXPECT_NEAR(nat->base_value, smp->base_value, 1e-5);
    xai_value_free(p);
    xai_result_free(smp);
    xai_result_free(nat);
    xai_eval_free(ev);
    xai_space_free(space);
    xai_tokens_free(tk);
    xai_free(ids);
}

TEST(NnText, FileRoundTripKeepsVocabularyEmbeddingAndLayers) {
    Net n, m;
    make_net(&n, XAI_NN_POOL_MAX, 3, 1, 51);
    char *buf = nullptr;
    size_t len = 0;
    xai_error e;
    ASSERT_EQ(xai_nn_save_mem(n.net, &buf, &len, &e), XAI_OK) << e.message;
    ASSERT_EQ(xai_nn_load_mem(buf, len, &m.net, &e), XAI_OK) << e.message;
    ASSERT_TRUE(xai_nn_is_text(m.net));
    EXPECT_EQ(xai_nn_layer_kind_of(m.net, 0), XAI_NN_CONV1D);
    EXPECT_EQ(xai_nn_layer_kind_of(m.net, 2), XAI_NN_TOKEN_POOL);
    const char *texts[] = {kText, "PLOT twist"};
    size_t lens[] = {std::strlen(kText), 10};
    float a[6], b[6];
    ASSERT_EQ(xai_nn_text_forward(n.net, texts, lens, 2, false, a, &e), XAI_OK);
    ASSERT_EQ(xai_nn_text_forward(m.net, texts, lens, 2, false, b, &e), XAI_OK);
    for (int i = 0; i < 6; i++) EXPECT_EQ(a[i], b[i]) << i;
    // Every truncation is refused with a format error, never a crash.
    for (size_t cut = 0; cut < len; cut += 7) {
        xai_nn *t = nullptr;
        EXPECT_NE(xai_nn_load_mem(buf, cut, &t, &e), XAI_OK) << cut;
        xai_nn_free(t);
    }
    xai_free(buf);
}

TEST(NnText, ClearErrorsForTextsTheLayersCannotTake) {
    Net n;
    make_net(&n, XAI_NN_POOL_MAX, 3, 0, 61);  // kernel 3, no padding: >= 3 tokens
    xai_result *r = nullptr;
    xai_error e;
    EXPECT_EQ(xai_nn_explain_text(n.net, "saliency", "good movie", 10, nullptr, &r, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("layer 0 (conv1d)"), std::string::npos) << e.message;
    EXPECT_EQ(xai_nn_explain_text(n.net, "saliency", "!!", 2, nullptr, &r, &e), XAI_ERR_INVALID);
    EXPECT_EQ(xai_nn_explain_text(n.net, "gradcam", kText, 5, nullptr, &r, &e), XAI_ERR_INVALID);
    std::string longtext;
    for (int i = 0; i < 70; i++) longtext += "good ";
    EXPECT_EQ(xai_nn_explain_text(n.net, "saliency", longtext.c_str(), longtext.size(), nullptr, &r, &e),
              XAI_ERR_LIMIT);
    EXPECT_EQ(r, nullptr);
    const char *dup[] = {"a", "b", "a"};
    xai_nn_text_opts o = {dup, 3, 2, 0, false, nullptr, 0};
    xai_nn *bad = nullptr;
    EXPECT_EQ(xai_nn_new_text(&o, &bad, &e), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("twice"), std::string::npos);
}

// Reference values from PyTorch (tests/data/make_text_fixture.py): the same
// float32 weights exported with lang/python/xai/torch_export.py, torch's
// logits and autograd per-token sums for a few texts.
TEST(NnText, AgreesWithTorchOnTheCommittedFixture) {
    const char *root = std::getenv("XAI_ROOT");
    std::string dir = std::string(root ? root : ".") + "/tests/data/";
    xai_nn *net = nullptr;
    xai_error e;
    ASSERT_EQ(xai_nn_load((dir + "text_cnn.xnn").c_str(), &net, &e), XAI_OK) << e.message;
    xai_value *ref = nnt::read_reference(dir + "text_cnn_ref.msgpack");
    ASSERT_NE(ref, nullptr);
    const xai_value *cases = xai_value_get(ref, "cases");
    ASSERT_GE(xai_value_len(cases), 3u);
    size_t checked = 0;
    for (size_t c = 0; c < xai_value_len(cases); c++) {
        const xai_value *k = xai_value_at(cases, c);
        size_t tlen;
        const char *text = xai_value_get_str(xai_value_get(k, "text"), &tlen);
        int64_t target = xai_value_get_int(xai_value_get(k, "target"));
        const xai_value *logits = xai_value_get(k, "logits");
        std::vector<float> z(xai_value_len(logits));
        ASSERT_EQ(xai_nn_text_forward(net, &text, &tlen, 1, true, z.data(), &e), XAI_OK) << e.message;
        for (size_t o = 0; o < z.size(); o++) {
            double want = xai_value_get_number(xai_value_at(logits, o));
            EXPECT_NEAR(z[o], want, 1e-5 * (1 + std::fabs(want))) << text << " logit " << o;
        }
        for (const char *method : {"saliency", "grad_x_input"}) {
            const xai_value *want = xai_value_get(k, method);
            xai_result *r = explain(net, method, text, nullptr, target);
            ASSERT_TRUE(r);
            ASSERT_EQ(r->d, xai_value_len(want)) << text;
            for (size_t t = 0; t < r->d; t++) {
                double w = xai_value_get_number(xai_value_at(want, t));
                EXPECT_NEAR(r->values[t], w, 1e-5 * (1 + std::fabs(w))) << text << " " << method << " " << t;
                checked++;
            }
            xai_result_free(r);
        }
    }
    EXPECT_GE(checked, 20u);
    xai_value_free(ref);
    xai_nn_free(net);
}
