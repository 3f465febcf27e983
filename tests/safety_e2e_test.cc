// safety_e2e_test.cc — end-to-end tests of issue 15's promises against real
// processes (xaid and C model servers, started as in client_e2e_test.cc):
//
//  * CacheE2E: a model server restarted on the same endpoint with other
//    weights gets no stale cache hit (its `version`, a digest of the
//    weights, is part of every cache key); restarted with the same weights
//    it gets its old entries back; `cache_clear` drops a model's entries;
//    per-model cache counters in `stats`.
//
// The model: p(spam) = sigmoid(scale * text_logit), the word model of
// e2e_util.h scaled, so occlusion values have a closed form for every scale.
#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <cmath>
#include <fstream>
#include <string>

#include "xai/client.h"
#include "xai/model_server.h"
#include "e2e_util.h"

using namespace e2e;

namespace {

struct Scaled {
    double scale = 1;
    double weights[4];   // the "parameters" the server digests into its version
};

xai_status predict_scaled(void *ctx, const xai_batch *b, double *out, xai_error *) {
    double s = static_cast<Scaled *>(ctx)->scale;
    for (size_t i = 0; i < b->n; i++) {
        double p = sigmoid(s * text_logit(b->texts[i], b->text_lens[i]));
        out[2 * i] = 1 - p;
        out[2 * i + 1] = p;
    }
    return XAI_OK;
}

const char *const kClasses[] = {"ham", "spam"};

// XAI_SAFETY_SERVE="scaled SCALE ENDPOINT": this process is a model server.
int serve_if_asked() {
    const char *spec = std::getenv("XAI_SAFETY_SERVE");
    if (spec == nullptr) return 0;
    char kind[16], ep[200];
    Scaled m;
    if (std::sscanf(spec, "%15s %lf %199s", kind, &m.scale, ep) != 3) std::_Exit(3);
    const double w[4] = {kBias, word_weight("free"), word_weight("money"), word_weight("meeting")};
    for (int i = 0; i < 4; i++) m.weights[i] = m.scale * w[i];
    xai_model_server_opts o = {};
    o.endpoint = ep;
    o.kind = XAI_INPUT_TEXT;
    o.n_outputs = 2;
    o.class_names = kClasses;
    o.predict = predict_scaled;
    o.ctx = &m;
    o.params = m.weights;
    o.params_len = sizeof m.weights;
    serve_and_exit(o);
}

const int g_serve_check = serve_if_asked();

pid_t spawn_scaled(double scale, const std::string &ep, const std::string &log) {
    char spec[300];
    std::snprintf(spec, sizeof spec, "XAI_SAFETY_SERVE=scaled %.17g %s", scale, ep.c_str());
    return spawn({"/proc/self/exe"}, {spec}, log);
}

// stats.models.<model>.<key>, or -1.
int64_t model_stat(xai_client *c, const char *model, const char *key) {
    xai_value *r = nullptr;
    xai_error err;
    if (xai_client_stats(c, &r, &err) != XAI_OK) return -1;
    const xai_value *m = xai_value_get(xai_value_get(xai_value_get(r, "stats"), "models"), model);
    const xai_value *v = xai_value_get(m, key);
    int64_t out = v ? xai_value_get_int(v) : -1;
    xai_value_free(r);
    return out;
}

class CacheE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string xaid = build_dir() + "/san/xaid";
        if (access(xaid.c_str(), X_OK) != 0) GTEST_SKIP() << "xaid is not built at " << xaid;
        dir_ = new TempDir();
        model_ep_ = dir_->ep("words.sock");
        log_ = dir_->path + "/models.log";
        model_ = spawn_scaled(1.0, model_ep_, log_);
        std::string conf = dir_->path + "/xaid.conf", ep = dir_->ep("xaid.sock");
        std::ofstream(conf) << "bind = " << ep << "\n"
                            << "workers = 2\n"
                            << "model words = text@" << model_ep_ << "\n"
                            << "model words.timeout_ms = 1000\n"
                            << "model words.retries = 1\n";
        xaid_ = spawn({xaid, "--config", conf}, {}, dir_->path + "/xaid.log");
        xai_error err;
        ASSERT_EQ(xai_client_connect(ep.c_str(), &c_, &err), XAI_OK);
        xai_client_set_timeout(c_, 2000);
        double s;
        ASSERT_TRUE(eventually(20, [&] { return xai_client_ping(c_, &s, &err) == XAI_OK; }));
        ASSERT_TRUE(eventually(10, [&] { return model_ready(c_, "words"); }));
    }
    void TearDown() override {
        xai_client_close(c_);
        stop_process(xaid_);
        stop_process(model_);
        delete dir_;
    }

    // Restarts the model server on the same endpoint with `scale` and waits
    // until xaid has asked the new one `info` and found it ready.
    void restart_model(double scale) {
        int64_t info0 = model_stat(c_, "words", "info_sent");
        stop_process(model_);
        model_ = spawn_scaled(scale, model_ep_, log_);
        ASSERT_TRUE(eventually(10, [&] {
            return model_stat(c_, "words", "info_sent") > info0 && model_ready(c_, "words");
        }));
    }

    // Occlusion of kText; checks the values against the closed form for
    // `scale` and returns (rows sent, cache hits) of the job.
    std::pair<uint64_t, uint64_t> explain_and_check(double scale) {
        xai_job_request rq = {};
        rq.model = "words";
        rq.method = "occlusion";
        rq.text = "Free money for the meeting";
        xai_result *r = nullptr;
        xai_error err;
        EXPECT_EQ(xai_client_explain(c_, &rq, 20000, &r, &err), XAI_OK) << err.message;
        if (r == nullptr) return {0, 0};
        const double S = 1.5, w[5] = {2.0, 1.5, 0, 0, -1.5};
        EXPECT_NEAR(xai_result_fx(r), sigmoid(scale * S), 1e-12);
        for (size_t i = 0; i < 5 && xai_result_n_features(r) == 5; i++)
            EXPECT_NEAR(xai_result_value(r, i), sigmoid(scale * S) - sigmoid(scale * (S - w[i])),
                        1e-12)
                << "scale " << scale << " feature " << i;
        std::pair<uint64_t, uint64_t> out{xai_result_stats(r)->rows_sent,
                                          xai_result_stats(r)->cache_hits};
        xai_result_free(r);
        return out;
    }

    TempDir *dir_ = nullptr;
    std::string model_ep_, log_;
    pid_t xaid_ = -1, model_ = -1;
    xai_client *c_ = nullptr;
};

// Occlusion of 5 tokens renders 7 distinct texts (x, 5 leave-one-out, all
// removed), so a cold job sends 7 rows and a warm one hits 7 times.
TEST_F(CacheE2E, RestartWithOtherWeightsGetsNoStaleHit) {
    auto cold = explain_and_check(1.0);
    EXPECT_EQ(cold.first, 7u);
    auto warm = explain_and_check(1.0);
    EXPECT_EQ(warm.first, 0u);
    EXPECT_EQ(warm.second, 7u);
    EXPECT_EQ(model_stat(c_, "words", "cache_entries"), 7);
    EXPECT_EQ(model_stat(c_, "words", "cache_hits"), 7);
    EXPECT_EQ(model_stat(c_, "words", "cache_misses"), 7);

    restart_model(2.0);   // other weights: another version
    EXPECT_EQ(model_stat(c_, "words", "identity_changes"), 1);
    auto other = explain_and_check(2.0);   // the closed form of scale 2: new values
    EXPECT_EQ(other.first, 7u);
    EXPECT_EQ(other.second, 0u);

    restart_model(2.0);   // the same weights again: the same identity
    EXPECT_EQ(model_stat(c_, "words", "identity_changes"), 1);
    auto same = explain_and_check(2.0);
    EXPECT_EQ(same.first, 0u);
    EXPECT_EQ(same.second, 7u);
    EXPECT_EQ(model_stat(c_, "words", "cache_entries"), 14);   // both identities' entries
}

TEST_F(CacheE2E, CacheClearDropsAModelsEntries) {
    explain_and_check(1.0);
    uint64_t removed = 99;
    xai_error err;
    EXPECT_EQ(xai_client_cache_clear(c_, "nope", &removed, &err), XAI_ERR_UNKNOWN_MODEL);
    EXPECT_EQ(removed, 0u);
    ASSERT_EQ(xai_client_cache_clear(c_, "words", &removed, &err), XAI_OK) << err.message;
    EXPECT_EQ(removed, 7u);
    EXPECT_EQ(model_stat(c_, "words", "cache_entries"), 0);
    EXPECT_EQ(explain_and_check(1.0).first, 7u);   // cold again
    ASSERT_EQ(xai_client_cache_clear(c_, nullptr, &removed, &err), XAI_OK) << err.message;
    EXPECT_EQ(removed, 7u);
}

}  // namespace
