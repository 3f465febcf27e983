// safety_e2e_test.cc — end-to-end tests of issue 15's promises against real
// processes (xaid and C model servers, started as in client_e2e_test.cc):
//
//  * CacheE2E: a model server restarted on the same endpoint with other
//    weights gets no stale cache hit (its `version`, a digest of the
//    weights, is part of every cache key); restarted with the same weights
//    it gets its old entries back; `cache_clear` drops a model's entries;
//    per-model cache counters in `stats`.
//  * MemoryE2E: the issue's hostile requests (LIME on 20 tokens with a
//    1 MiB mask token and 2000 samples; occlusion on 400 tokens with a
//    2 MiB mask token; a 100 MB model answer) each get their error, a job
//    whose masked texts total ~400 MB runs in bounded chunks, and the
//    daemon's peak RSS (VmHWM of the release build) stays within 256 MiB
//    of its RSS at start, while it keeps serving.
//
// The model: p(spam) = sigmoid(scale * text_logit), the word model of
// e2e_util.h scaled, so occlusion values have a closed form for every scale.
#include <gtest/gtest.h>

#include <cctype>
#include <csignal>
#include <cmath>
#include <fstream>
#include <string>

#include <zmq.h>

#include "xai/client.h"
#include "xai/model_server.h"
#include "e2e_util.h"

using namespace e2e;

namespace {

struct Scaled {
    double scale = 1;
    int sleep_ms = 0;    // per call, to keep a job running across a restart
    double weights[4];   // the "parameters" the server digests into its version
};

xai_status predict_scaled(void *ctx, const xai_batch *b, double *out, xai_error *) {
    double s = static_cast<Scaled *>(ctx)->scale;
    if (static_cast<Scaled *>(ctx)->sleep_ms) usleep(static_cast<Scaled *>(ctx)->sleep_ms * 1000);
    for (size_t i = 0; i < b->n; i++) {
        double p = sigmoid(s * text_logit(b->texts[i], b->text_lens[i]));
        out[2 * i] = 1 - p;
        out[2 * i + 1] = p;
    }
    return XAI_OK;
}

const char *const kClasses[] = {"ham", "spam"};

// A hostile text model on a raw ROUTER socket: a normal `info`, and to
// every `predict` an `outputs` of `mb` MiB (binary f64 of the wrong shape).
[[noreturn]] void serve_huge(const char *ep, double mb) {
    void *ctx = zmq_ctx_new(), *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (zmq_bind(s, ep) != 0) std::_Exit(5);
    std::string blob((size_t)(mb * 1048576), '\0');
    for (;;) {
        std::vector<std::string> f;
        int more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, 0) < 0) std::_Exit(0);
            f.emplace_back((const char *)zmq_msg_data(&m), zmq_msg_size(&m));
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        xai_value *rq = nullptr;
        if (f.size() < 2 || xai_value_unpack(f.back().data(), f.back().size(), nullptr, &rq,
                                             nullptr) != XAI_OK)
            continue;
        const char *op = xai_value_get_str(xai_value_get(rq, "op"), nullptr);
        xai_value *a = xai_value_map();
        xai_value_set_int(a, "v", 1);
        xai_value_set_int(a, "id", xai_value_get_int(xai_value_get(rq, "id")));
        if (op && std::strcmp(op, "info") == 0) {
            xai_value_set_str(a, "kind", "text");
            xai_value_set_int(a, "n_outputs", 2);
        } else {
            xai_value *o = xai_value_map(), *shape = xai_value_array();
            xai_value_push(shape, xai_value_int((int64_t)(blob.size() / 16)));
            xai_value_push(shape, xai_value_int(2));
            xai_value_set(o, "shape", shape);
            xai_value_set_str(o, "dtype", "f64");
            xai_value_set(o, "data", xai_value_bin(blob.data(), blob.size()));
            xai_value_set(a, "outputs", o);
        }
        char *buf = nullptr;
        size_t len = 0;
        xai_value_pack(a, &buf, &len, nullptr);
        for (size_t i = 0; i + 1 < f.size(); i++) zmq_send(s, f[i].data(), f[i].size(), ZMQ_SNDMORE);
        zmq_send(s, buf, len, 0);
        xai_free(buf);
        xai_value_free(a);
        xai_value_free(rq);
    }
}

// XAI_SAFETY_SERVE="scaled SCALE ENDPOINT" or "huge MIB ENDPOINT": this
// process is a model server.
int serve_if_asked() {
    const char *spec = std::getenv("XAI_SAFETY_SERVE");
    if (spec == nullptr) return 0;
    char kind[16], ep[200];
    Scaled m;
    if (std::sscanf(spec, "%15s %lf %199s %d", kind, &m.scale, ep, &m.sleep_ms) < 3) std::_Exit(3);
    if (std::strcmp(kind, "huge") == 0) serve_huge(ep, m.scale);
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

pid_t spawn_scaled(double scale, const std::string &ep, const std::string &log,
                   const char *kind = "scaled", int sleep_ms = 0) {
    char spec[300];
    std::snprintf(spec, sizeof spec, "XAI_SAFETY_SERVE=%s %.17g %s %d", kind, scale, ep.c_str(),
                  sleep_ms);
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
                            << "model words.retries = 1\n"
                            << "model words.max_rows = 1\n";
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
    void restart_model(double scale, int sleep_ms = 0) {
        int64_t info0 = model_stat(c_, "words", "info_sent");
        stop_process(model_);
        model_ = spawn_scaled(scale, model_ep_, log_, "scaled", sleep_ms);
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

// A job running while its model is replaced by one with other weights must
// not mix the two models' outputs: it fails with model_unavailable, and
// the next job gets the new model's values.
TEST_F(CacheE2E, AJobAcrossAModelChangeFailsInsteadOfMixing) {
    restart_model(1.0, 150);   // 150 ms per call of one row: 7 calls, ~1 s
    xai_job_request rq = {};
    rq.model = "words";
    rq.method = "occlusion";
    rq.text = "Free money for the meeting";
    uint64_t job = 0;
    xai_error err;
    ASSERT_EQ(xai_client_submit(c_, &rq, &job, &err), XAI_OK) << err.message;
    usleep(400 * 1000);        // a few calls answered by the first model
    stop_process(model_);
    model_ = spawn_scaled(2.0, model_ep_, log_);
    xai_result *r = nullptr;
    EXPECT_EQ(xai_client_wait(c_, job, 20000, nullptr, nullptr, &r, &err),
              XAI_ERR_MODEL_UNAVAILABLE);
    EXPECT_NE(std::strstr(err.message, "changed"), nullptr) << err.message;
    xai_result_free(r);
    ASSERT_TRUE(eventually(10, [&] { return model_ready(c_, "words"); }));
    EXPECT_EQ(model_stat(c_, "words", "identity_changes"), 1);
    explain_and_check(2.0);    // the new model's closed form
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

// VmRSS or VmHWM of a process, in KiB (-1 if unreadable).
long proc_kib(pid_t pid, const char *field) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::strlen(field) + 1);
    return -1;
}

// The release xaid (ASan's quarantine would hold freed memory in RSS).
class MemoryE2E : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string xaid = build_dir() + "/rel/xaid";
        if (access(xaid.c_str(), X_OK) != 0) GTEST_SKIP() << "xaid is not built at " << xaid;
        dir_ = new TempDir();
        std::string log = dir_->path + "/models.log";
        words_ = spawn_scaled(1.0, dir_->ep("words.sock"), log);
        huge_ = spawn_scaled(100, dir_->ep("huge.sock"), log, "huge");
        std::string conf = dir_->path + "/xaid.conf", ep = dir_->ep("xaid.sock");
        // A mask token of up to 1 MiB is allowed here (the default is 64
        // bytes), so the per-call and chunk bounds are what is tested.
        std::ofstream(conf) << "bind = " << ep << "\n"
                            << "workers = 2\n"
                            << "max_mask_token_bytes = 1048576\n"
                            << "model words = text@" << dir_->ep("words.sock") << "\n"
                            << "model huge = text@" << dir_->ep("huge.sock") << "\n"
                            << "model huge.timeout_ms = 3000\n"
                            << "model huge.retries = 0\n"
                            << "model rows = tabular@" << dir_->ep("nobody.sock") << "\n";
        xaid_ = spawn({xaid, "--config", conf}, {}, dir_->path + "/xaid.log");
        xai_error err;
        ASSERT_EQ(xai_client_connect(ep.c_str(), &c_, &err), XAI_OK);
        xai_client_set_timeout(c_, 5000);
        double s;
        ASSERT_TRUE(eventually(20, [&] { return xai_client_ping(c_, &s, &err) == XAI_OK; }));
        ASSERT_TRUE(eventually(10, [&] { return model_ready(c_, "words") && model_ready(c_, "huge"); }));
    }
    void TearDown() override {
        xai_client_close(c_);
        stop_process(xaid_);
        stop_process(words_);
        stop_process(huge_);
        delete dir_;
    }
    // Runs a job; its final status (submit's error if it was refused).
    xai_status run(const char *model, const char *method, const std::string &text,
                   const xai_value *params, const xai_value *space, bool *accepted,
                   xai_error *err, int64_t deadline_ms = 0) {
        xai_job_request rq = {};
        rq.model = model;
        rq.method = method;
        rq.text = text.c_str();
        rq.text_len = text.size();
        rq.params = params;
        rq.space = space;
        rq.deadline_ms = deadline_ms;
        uint64_t job = 0;
        xai_status st = xai_client_submit(c_, &rq, &job, err);
        *accepted = st == XAI_OK;
        if (st != XAI_OK) return st;
        xai_result *r = nullptr;
        st = xai_client_wait(c_, job, 120000, nullptr, nullptr, &r, err);
        xai_result_free(r);
        return st;
    }
    static std::string words(int n) {
        std::string t;
        for (int i = 0; i < n; i++) t += (i % 3 == 0 ? "free " : i % 3 == 1 ? "money " : "w ");
        return t;
    }
    TempDir *dir_ = nullptr;
    pid_t xaid_ = -1, words_ = -1, huge_ = -1;
    xai_client *c_ = nullptr;
};

TEST_F(MemoryE2E, HostileRequestsGetErrorsAndBoundedMemory) {
    long rss0 = proc_kib(xaid_, "VmRSS");
    ASSERT_GT(rss0, 0);
    xai_error err;
    bool accepted = true;
    xai_value *space = xai_value_map(), *params = xai_value_map();
    // 1. LIME, 20 tokens, a 1 MiB mask token, 2000 samples: a masked text
    //    may render to ~20 MiB, more than one call's max_bytes (16 MiB).
    xai_value_set(space, "mask_token", xai_value_strn(std::string(1 << 20, 'M').data(), 1 << 20));
    xai_value_set_int(params, "num_samples", 2000);
    EXPECT_EQ(run("words", "lime", words(20), params, space, &accepted, &err), XAI_ERR_LIMIT);
    EXPECT_FALSE(accepted);
    EXPECT_NE(std::strstr(err.message, "max_bytes"), nullptr) << err.message;
    // 2. occlusion, 400 tokens, a 2 MiB mask token: over max_mask_token_bytes.
    xai_value_set(space, "mask_token", xai_value_strn(std::string(2 << 20, 'M').data(), 2 << 20));
    EXPECT_EQ(run("words", "occlusion", words(400), nullptr, space, &accepted, &err), XAI_ERR_LIMIT);
    EXPECT_FALSE(accepted);
    EXPECT_NE(std::strstr(err.message, "max_mask_token_bytes"), nullptr) << err.message;
    // 3. a 100 MiB answer: bad_model_output, not an allocation.
    EXPECT_EQ(run("huge", "occlusion", words(3), nullptr, nullptr, &accepted, &err),
              XAI_ERR_MODEL_OUTPUT);
    EXPECT_TRUE(accepted);
    EXPECT_NE(std::strstr(err.message, "bytes for"), nullptr) << err.message;
    // 4. allowed but big: LIME on 8 tokens with a 1 MiB mask token and 100
    //    samples renders ~100 x 4 MiB = 400 MiB of text in all (held at
    //    once before eval.c rendered in chunks of 4 calls' worth).
    xai_value_set(space, "mask_token", xai_value_strn(std::string(1 << 20, 'M').data(), 1 << 20));
    xai_value_set_int(params, "num_samples", 100);
    std::string distinct;   // 8 distinct words: 2^8 possible masks, ~100 of them drawn
    for (int i = 0; i < 8; i++) distinct += "w" + std::to_string(i) + " ";
    EXPECT_EQ(run("words", "lime", distinct, params, space, &accepted, &err), XAI_OK) << err.message;
    // 5. deadline_ms above max_deadline_ms (1 h), and a NUL byte in the text.
    EXPECT_EQ(run("words", "occlusion", "a b", nullptr, nullptr, &accepted, &err, 7200000),
              XAI_ERR_LIMIT);
    EXPECT_EQ(run("words", "occlusion", std::string("free\0money", 10), nullptr, nullptr,
                  &accepted, &err),
              XAI_ERR_BAD_REQUEST);
    EXPECT_NE(std::strstr(err.message, "NUL byte at offset 4"), nullptr) << err.message;
    // 6. a tabular job's budget: 10^6 samples of a 100-column row would
    //    need ~9 bytes x 10^8 (masks and design matrix), over max_job_bytes;
    //    refused before `accepted` (the model need not even be up).
    std::vector<double> row(100, 1.0);
    xai_job_request tq = {};
    tq.model = "rows";
    tq.method = "kernelshap";
    tq.row = row.data();
    tq.n_cols = row.size();
    xai_value *many = xai_value_map();
    xai_value_set_int(many, "nsamples", 1000000);
    tq.params = many;
    uint64_t tjob = 0;
    EXPECT_EQ(xai_client_submit(c_, &tq, &tjob, &err), XAI_ERR_LIMIT);
    EXPECT_NE(std::strstr(err.message, "max_job_bytes"), nullptr) << err.message;
    xai_value_free(many);
    // Still serving, with the closed form of the word model.
    xai_job_request rq = {};
    rq.model = "words";
    rq.method = "occlusion";
    rq.text = "free money";
    xai_result *r = nullptr;
    ASSERT_EQ(xai_client_explain(c_, &rq, 20000, &r, &err), XAI_OK) << err.message;
    EXPECT_NEAR(xai_result_fx(r), sigmoid(kBias + 3.5), 1e-12);
    xai_result_free(r);
    long hwm = proc_kib(xaid_, "VmHWM");
    std::printf("xaid RSS at start %ld KiB, peak %ld KiB (+%ld MiB)\n", rss0, hwm,
                (hwm - rss0) / 1024);
    EXPECT_LT(hwm - rss0, 256 * 1024);
    xai_value_free(space);
    xai_value_free(params);
}

}  // namespace
