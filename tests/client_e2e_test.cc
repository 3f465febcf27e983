// client_e2e_test.cc — libxaiclient, the C model server and the `xai` CLI
// against real processes.
//
// Two suites:
//  * ModelServer: a C model server (xai_model_server) in a thread of this
//    process, spoken to directly over ipc:// with REQ and DEALER sockets:
//    info, predict, every envelope, bad requests answered with errors, stop()
//    from a signal handler.
//  * XaidE2E: xaid ($XAI_BUILD/san/xaid) and C model servers as separate
//    processes on ipc:// endpoints in a fresh temporary directory. A model
//    server process is this very test binary, re-executed with XAI_E2E_SERVE
//    set (fork + execve of /proc/self/exe, so no ZeroMQ state crosses the
//    fork); a static initializer below notices the variable and serves
//    instead of running tests. The suite skips, saying why, when xaid is not
//    built or does not answer ping.
//
// The models are small enough to explain by hand:
//  * "words" (text): p(spam) = sigmoid(-0.5 + sum of word weights), weights
//    free +2, money +1.5, win +1, meeting -1.5, report -1, any other word 0
//    (the mask token UNK too); outputs [1 - p, p], classes ham, spam.
//    Occlusion of a word of weight w in a text with logit S therefore gives
//    sigmoid(S) - sigmoid(S - w) for the spam column.
//  * "linear" (tabular, 4 columns): f(x) = 1 x0 - 2 x1 + 0.5 x2 + 3 x3 + 0.25,
//    one output. With a single background row b, removing column i sets
//    x_i = b_i, so occlusion gives w_i (x_i - b_i) and base value f(b).
#include <gtest/gtest.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "xai/client.h"
#include "xai/methods.h"
#include "xai/model_server.h"
#include "e2e_util.h"

using namespace e2e;

namespace {

// ---- the models -------------------------------------------------------------


const double kW[4] = {1.0, -2.0, 0.5, 3.0};
const double kC = 0.25;

double linear(const double *x) {
    double f = kC;
    for (int i = 0; i < 4; i++) f += kW[i] * x[i];
    return f;
}

struct ModelCtx {
    int sleep_ms = 0;   // per call, to make a job slow enough to interrupt
};

xai_status predict_words(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    int ms = static_cast<ModelCtx *>(ctx)->sleep_ms;
    if (ms) usleep(ms * 1000);
    for (size_t i = 0; i < b->n; i++) {
        if (b->text_lens[i] == 5 && std::memcmp(b->texts[i], "crash", 5) == 0) {
            err->code = XAI_ERR_MODEL;
            std::snprintf(err->message, sizeof err->message, "refusing to predict \"crash\"");
            return XAI_ERR_MODEL;
        }
        double p = sigmoid(text_logit(b->texts[i], b->text_lens[i]));
        out[2 * i] = 1 - p;
        out[2 * i + 1] = p;
    }
    return XAI_OK;
}

// Fails on x0 == 999 and leaves NaN (unset output) on x0 == -999.
xai_status predict_linear(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)ctx;
    for (size_t i = 0; i < b->n; i++) {
        const double *x = b->rows + i * b->cols;
        if (x[0] == 999) {
            std::snprintf(err->message, sizeof err->message, "x0 = 999 is out of range");
            return XAI_ERR_MODEL;
        }
        if (x[0] != -999) out[i] = linear(x);
    }
    return XAI_OK;
}

const char *const kClasses[] = {"ham", "spam"};
const char *const kColumns[] = {"a", "b", "c", "d"};

xai_model_server_opts model_opts(const std::string &kind, const std::string &ep, ModelCtx *ctx) {
    xai_model_server_opts o = {};
    o.endpoint = ep.c_str();
    o.ctx = ctx;
    if (kind == "words") {
        o.kind = XAI_INPUT_TEXT;
        o.n_outputs = 2;
        o.class_names = kClasses;
        o.predict = predict_words;
    } else {
        o.kind = XAI_INPUT_ROWS;
        o.n_outputs = 1;
        o.n_features = 4;
        o.feature_names = kColumns;
        o.predict = predict_linear;
    }
    return o;
}

// ---- model server processes --------------------------------------------------

// When XAI_E2E_SERVE="kind endpoint sleep_ms" is set, this process is a
// model server child: serve until SIGTERM, then exit without running tests.
int serve_if_asked() {
    const char *spec = std::getenv("XAI_E2E_SERVE");
    if (spec == nullptr) return 0;
    char kind[16], ep[200];
    ModelCtx ctx;
    if (std::sscanf(spec, "%15s %199s %d", kind, ep, &ctx.sleep_ms) != 3) std::_Exit(3);
    std::string k(kind), e(ep);
    serve_and_exit(model_opts(k, e, &ctx));
}

const int g_serve_check = serve_if_asked();

pid_t spawn_model(const std::string &kind, const std::string &ep, int sleep_ms,
                  const std::string &log) {
    std::string spec = "XAI_E2E_SERVE=" + kind + " " + ep + " " + std::to_string(sleep_ms);
    return spawn({"/proc/self/exe"}, {spec}, log);
}

// ---- direct talk to a model server -------------------------------------------

// Packs a value, or fails the test.
std::string pack(const xai_value *v) {
    char *buf = nullptr;
    size_t len = 0;
    xai_error err;
    EXPECT_EQ(xai_value_pack(v, &buf, &len, &err), XAI_OK);
    std::string s(buf ? buf : "", len);
    xai_free(buf);
    return s;
}

xai_value *unpack(const void *p, size_t n) {
    xai_value *v = nullptr;
    xai_error err;
    EXPECT_EQ(xai_value_unpack(p, n, nullptr, &v, &err), XAI_OK);
    return v;
}

// {"v": 1, "op": op, "id": id}
xai_value *model_request(const char *op, int64_t id) {
    xai_value *m = xai_value_map();
    xai_value_set_int(m, "v", 1);
    xai_value_set_str(m, "op", op);
    xai_value_set_int(m, "id", id);
    return m;
}

// A model server of `kind` running in a thread of this process.
class InProcessServer {
  public:
    InProcessServer(const std::string &kind, const std::string &ep) : ep_(ep) {
        xai_model_server_opts o = model_opts(kind, ep_, &ctx_);
        xai_error err;
        EXPECT_EQ(xai_model_server_new(&o, &s_, &err), XAI_OK) << err.message;
        if (s_) th_ = std::thread([this] { xai_model_server_run(s_, &run_err_); });
    }
    ~InProcessServer() {
        xai_model_server_stop(s_);
        if (th_.joinable()) th_.join();
        xai_model_server_free(s_);
    }
    xai_model_server *get() { return s_; }
    std::thread &thread() { return th_; }

  private:
    std::string ep_;
    ModelCtx ctx_;
    xai_model_server *s_ = nullptr;
    xai_error run_err_;
    std::thread th_;
};

// A socket of `type` connected to ep, with a 5 s receive timeout.
struct Sock {
    void *ctx, *s;
    Sock(int type, const std::string &ep) {
        ctx = zmq_ctx_new();
        s = zmq_socket(ctx, type);
        int linger = 0, tmo = 5000;
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
        zmq_connect(s, ep.c_str());
    }
    ~Sock() {
        zmq_close(s);
        zmq_ctx_term(ctx);
    }
    void send(const std::string &frame, bool more = false) {
        ASSERT_GE(zmq_send(s, frame.data(), frame.size(), more ? ZMQ_SNDMORE : 0), 0);
    }
    // Receives all frames of one message.
    std::vector<std::string> recv() {
        std::vector<std::string> frames;
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            frames.emplace_back((const char *)zmq_msg_data(&m), zmq_msg_size(&m));
            bool more = zmq_msg_more(&m);
            zmq_msg_close(&m);
            if (!more) break;
        }
        return frames;
    }
    // Sends one msgpack request over REQ and decodes the answer.
    xai_value *ask(const xai_value *req) {
        send(pack(req));
        std::vector<std::string> f = recv();
        if (f.size() != 1) return nullptr;
        return unpack(f[0].data(), f[0].size());
    }
};

const char *error_code(const xai_value *answer) {
    return xai_value_get_str(xai_value_get(xai_value_get(answer, "error"), "code"), nullptr);
}

// The `outputs` matrix of a predict answer, row-major; empty if it has none.
std::vector<double> outputs_of(const xai_value *answer, size_t *cols) {
    double *out = nullptr;
    size_t n = 0, k = 0;
    xai_error err;
    std::vector<double> v;
    if (xai_value_to_matrix(xai_value_get(answer, "outputs"), true, true, &out, &n, &k, &err) ==
        XAI_OK)
        v.assign(out, out + n * k);
    xai_free(out);
    *cols = k;
    return v;
}

void expect_counts(const xai_model_server *s, uint64_t requests, uint64_t rows, uint64_t errors) {
    xai_model_server_stats st;
    xai_model_server_get_stats(s, &st);
    EXPECT_EQ(st.requests, requests);
    EXPECT_EQ(st.rows, rows);
    EXPECT_EQ(st.errors, errors);
}

}  // namespace

// ---- ModelServer --------------------------------------------------------------

TEST(ModelServer, AnswersInfoAndPredictOverReq) {
    TempDir dir;
    InProcessServer srv("linear", dir.ep("m.sock"));
    Sock req(ZMQ_REQ, dir.ep("m.sock"));

    xai_value *info_rq = model_request("info", 1);
    xai_value *info = req.ask(info_rq);
    ASSERT_NE(info, nullptr);
    EXPECT_EQ(xai_value_get_int(xai_value_get(info, "id")), 1);
    EXPECT_STREQ(xai_value_get_str(xai_value_get(info, "kind"), nullptr), "tabular");
    EXPECT_EQ(xai_value_get_int(xai_value_get(info, "n_outputs")), 1);
    EXPECT_EQ(xai_value_get_int(xai_value_get(info, "n_features")), 4);
    const xai_value *names = xai_value_get(info, "feature_names");
    ASSERT_EQ(xai_value_len(names), 4u);
    EXPECT_STREQ(xai_value_get_str(xai_value_at(names, 3), nullptr), "d");

    // Two rows in the nested-array form; f = x.w + 0.25 by hand:
    // (1,1,1,1): 1 - 2 + 0.5 + 3 + 0.25 = 2.75; (0,0,2,0): 1 + 0.25 = 1.25.
    xai_value *p = model_request("predict", 2);
    xai_value *rows = xai_value_array();
    const double r0[4] = {1, 1, 1, 1}, r1[4] = {0, 0, 2, 0};
    xai_value_push(rows, xai_value_float_array(r0, 4));
    xai_value_push(rows, xai_value_float_array(r1, 4));
    xai_value_set(p, "rows", rows);
    xai_value *ans = req.ask(p);
    ASSERT_NE(ans, nullptr);
    EXPECT_EQ(xai_value_get_int(xai_value_get(ans, "id")), 2);
    size_t k = 0;
    std::vector<double> out = outputs_of(ans, &k);
    ASSERT_EQ(out.size(), 2u);
    ASSERT_EQ(k, 1u);
    EXPECT_DOUBLE_EQ(out[0], 2.75);
    EXPECT_DOUBLE_EQ(out[1], 1.25);
    expect_counts(srv.get(), 2, 2, 0);
    for (xai_value *v : {info_rq, info, p, ans}) xai_value_free(v);
}

// A DEALER that sends a delimiter gets one back; a bare DEALER gets none.
// A C model server with a background sends it in `info` (the rows xaid
// then uses when its config names no CSV); bad backgrounds are refused.
TEST(ModelServer, SendsItsBackgroundInInfo) {
    TempDir dir;
    ModelCtx ctx;
    std::string ep = dir.ep("bg.sock");
    xai_model_server_opts o = model_opts("linear", ep, &ctx);
    const double bg[8] = {0.5, -1, 2, 0, 1, 1, 1, 1};
    o.background = bg;
    o.n_background = 2;
    xai_model_server *s = nullptr;
    xai_error err;
    ASSERT_EQ(xai_model_server_new(&o, &s, &err), XAI_OK) << err.message;
    std::thread th([s] { xai_error e; xai_model_server_run(s, &e); });
    {
        Sock req(ZMQ_REQ, ep);
        xai_value *rq = model_request("info", 1);
        xai_value *info = req.ask(rq);
        ASSERT_NE(info, nullptr);
        double *x = nullptr;
        size_t rows = 0, cols = 0;
        ASSERT_EQ(xai_value_to_matrix(xai_value_get(info, "background"), true, true, &x, &rows,
                                      &cols, &err), XAI_OK) << err.message;
        EXPECT_EQ(rows, 2u);
        EXPECT_EQ(cols, 4u);
        for (int i = 0; i < 8; i++) EXPECT_EQ(x[i], bg[i]) << i;
        xai_free(x);
        xai_value_free(rq);
        xai_value_free(info);
    }
    xai_model_server_stop(s);
    th.join();
    xai_model_server_free(s);
    const double nan_bg[4] = {0, NAN, 0, 0};
    o.background = nan_bg;
    o.n_background = 1;
    std::string ep2 = dir.ep("bg2.sock");
    o.endpoint = ep2.c_str();
    EXPECT_EQ(xai_model_server_new(&o, &s, &err), XAI_ERR_INVALID);
    o.kind = XAI_INPUT_TEXT;
    o.background = bg;
    EXPECT_EQ(xai_model_server_new(&o, &s, &err), XAI_ERR_INVALID);
}

TEST(ModelServer, AnswersInTheEnvelopeItWasAsked) {
    TempDir dir;
    InProcessServer srv("words", dir.ep("w.sock"));
    Sock dealer(ZMQ_DEALER, dir.ep("w.sock"));
    xai_value *p = model_request("predict", 7);
    xai_value *texts = xai_value_array();
    xai_value_push(texts, xai_value_str("free money"));
    xai_value_set(p, "texts", texts);
    std::string body = pack(p);

    dealer.send("", true);
    dealer.send(body);
    std::vector<std::string> f = dealer.recv();
    ASSERT_EQ(f.size(), 2u);
    EXPECT_EQ(f[0], "");

    dealer.send(body);
    std::vector<std::string> g = dealer.recv();
    ASSERT_EQ(g.size(), 1u);
    xai_value *ans = unpack(g[0].data(), g[0].size());
    size_t k = 0;
    std::vector<double> out = outputs_of(ans, &k);
    ASSERT_EQ(out.size(), 2u);
    // logit = -0.5 + 2 + 1.5 = 3.
    EXPECT_NEAR(out[1], sigmoid(3.0), 1e-12);
    EXPECT_NEAR(out[0] + out[1], 1.0, 1e-12);
    xai_value_free(ans);
    xai_value_free(p);
}

// Every malformed request gets an error answer with the right code, and the
// server goes on to answer a good request.
TEST(ModelServer, RejectsBadRequestsAndKeepsServing) {
    TempDir dir;
    InProcessServer srv("linear", dir.ep("m.sock"));
    Sock req(ZMQ_REQ, dir.ep("m.sock"));
    struct Case {
        const char *what, *code;
        xai_value *msg;
    };
    auto with_rows = [](int64_t id, const double *x, size_t n) {
        xai_value *m = model_request("predict", id);
        xai_value_set(m, "rows", xai_value_from_matrix(x, 1, n));
        return m;
    };
    const double three[3] = {1, 2, 3}, crash[4] = {999, 0, 0, 0}, nan_row[4] = {-999, 0, 0, 0};
    xai_value *v2 = model_request("info", 1);
    xai_value_set_int(v2, "v", 2);
    xai_value *no_id = xai_value_map();
    xai_value_set_int(no_id, "v", 1);
    xai_value_set_str(no_id, "op", "info");
    xai_value *texts = model_request("predict", 5);
    xai_value_set(texts, "texts", xai_value_array());
    std::vector<Case> cases = {
        {"version 2", "unsupported_version", v2},
        {"no id", "bad_request", no_id},
        {"unknown op", "unknown_op", model_request("train", 3)},
        {"3 columns for a 4-column model", "bad_request", with_rows(4, three, 3)},
        {"texts for a tabular model", "bad_request", texts},
        {"callback fails", "model_error", with_rows(6, crash, 4)},
        {"callback leaves NaN", "bad_model_output", with_rows(7, nan_row, 4)},
    };
    for (const Case &c : cases) {
        xai_value *ans = req.ask(c.msg);
        ASSERT_NE(ans, nullptr) << c.what;
        EXPECT_STREQ(error_code(ans), c.code) << c.what;
        xai_value_free(ans);
        xai_value_free(c.msg);
    }
    req.send("\xc1 not msgpack");
    std::vector<std::string> f = req.recv();
    ASSERT_EQ(f.size(), 1u);
    xai_value *ans = unpack(f[0].data(), f[0].size());
    EXPECT_STREQ(error_code(ans), "bad_request");
    xai_value_free(ans);

    const double good[4] = {0, 0, 0, 1};   // f = 3 + 0.25
    xai_value *p = with_rows(8, good, 4);
    ans = req.ask(p);
    size_t k = 0;
    std::vector<double> out = outputs_of(ans, &k);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_DOUBLE_EQ(out[0], 3.25);
    xai_value_free(ans);
    xai_value_free(p);
    expect_counts(srv.get(), 9, 1, 8);
}

InProcessServer *g_sig_server = nullptr;
void on_usr1(int) { xai_model_server_stop(g_sig_server->get()); }

// stop() from a signal handler makes run() return promptly.
TEST(ModelServer, StopsFromASignalHandler) {
    TempDir dir;
    auto *srv = new InProcessServer("words", dir.ep("s.sock"));
    g_sig_server = srv;
    struct sigaction sa = {}, old = {};
    sa.sa_handler = on_usr1;
    sigaction(SIGUSR1, &sa, &old);
    usleep(50000);
    pthread_kill(srv->thread().native_handle(), SIGUSR1);
    auto t0 = std::chrono::steady_clock::now();
    srv->thread().join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(s, 0.5);
    sigaction(SIGUSR1, &old, nullptr);
    delete srv;
    g_sig_server = nullptr;
}

// Without a daemon a call fails with `timeout` after the client's timeout.
TEST(Client, TimesOutWithoutADaemon) {
    TempDir dir;
    xai_client *c = nullptr;
    xai_error err;
    ASSERT_EQ(xai_client_connect(dir.ep("nobody.sock").c_str(), &c, &err), XAI_OK);
    xai_client_set_timeout(c, 200);
    double s = 0;
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(xai_client_ping(c, &s, &err), XAI_ERR_TIMEOUT);
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_GE(el, 0.19);
    EXPECT_LT(el, 2.0);
    EXPECT_STREQ(xai_client_errmsg(c), err.message);
    xai_job_request rq = {};
    rq.model = "m";
    rq.method = "occlusion";
    uint64_t job = 7;
    EXPECT_EQ(xai_client_submit(c, &rq, &job, &err), XAI_ERR_INVALID);   // no input
    EXPECT_EQ(job, 0u);
    xai_client_close(c);
}

// ---- XaidE2E: xaid and model servers as processes ------------------------------

class XaidE2E : public ::testing::Test {
  protected:
    static TempDir *dir_;
    static pid_t xaid_, words_, linear_, slow_;
    static std::string skip_, ep_;

    static void SetUpTestSuite() {
        std::string xaid = build_dir() + "/san/xaid";
        if (access(xaid.c_str(), X_OK) != 0) {
            skip_ = "xaid is not built at " + xaid + " (the daemon has not landed yet)";
            return;
        }
        dir_ = new TempDir();
        ep_ = dir_->ep("xaid.sock");
        std::string log = dir_->path + "/models.log";
        words_ = spawn_model("words", dir_->ep("words.sock"), 0, log);
        linear_ = spawn_model("linear", dir_->ep("linear.sock"), 0, log);
        slow_ = spawn_model("words", dir_->ep("slow.sock"), 150, log);
        std::string conf = dir_->path + "/xaid.conf";
        std::ofstream(conf) << "bind = " << ep_ << "\n"
                            << "workers = 2\n"
                            << "job_deadline_ms = 30000\n"
                            << "model words = text@" << dir_->ep("words.sock") << "\n"
                            << "model linear = tabular@" << dir_->ep("linear.sock") << "\n"
                            << "model slow = text@" << dir_->ep("slow.sock") << "\n"
                            << "model slow.timeout_ms = 1000\n"
                            << "model slow.retries = 1\n"
                            << "model slow.max_rows = 2\n";
        xaid_ = spawn({xaid, "--config", conf}, {}, dir_->path + "/xaid.log");
        xai_client *c = nullptr;
        xai_error err;
        xai_client_connect(ep_.c_str(), &c, &err);
        xai_client_set_timeout(c, 500);
        double s;
        bool up = eventually(20, [&] { return xai_client_ping(c, &s, &err) == XAI_OK; });
        bool ready = up && eventually(10, [&] {
            return model_ready(c, "words") && model_ready(c, "linear") && model_ready(c, "slow");
        });
        xai_client_close(c);
        if (!up) skip_ = "xaid (" + xaid + ") does not answer ping; log in " + dir_->path;
        else if (!ready) skip_ = "xaid does not report the models ready; log in " + dir_->path;
    }

    static void TearDownTestSuite() {
        for (pid_t *p : {&xaid_, &words_, &linear_, &slow_}) stop_process(*p);
        delete dir_;
        dir_ = nullptr;
    }

    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        xai_error err;
        ASSERT_EQ(xai_client_connect(ep_.c_str(), &c_, &err), XAI_OK);
        xai_client_set_timeout(c_, 5000);
    }
    void TearDown() override { xai_client_close(c_); }

    // Explains a text with occlusion; XAI_OK and *out, or the error.
    xai_status explain_text(const char *model, const char *text, xai_result **out,
                            xai_error *err, int timeout_ms = 20000) {
        xai_job_request rq = {};
        rq.model = model;
        rq.method = "occlusion";
        rq.text = text;
        return xai_client_explain(c_, &rq, timeout_ms, out, err);
    }

    // Submits occlusion of `text` on the slow model (150 ms per call of 2 rows).
    uint64_t submit_slow(const std::string &text) {
        xai_job_request rq = {};
        rq.model = "slow";
        rq.method = "occlusion";
        rq.text = text.c_str();
        uint64_t job = 0;
        xai_error err;
        EXPECT_EQ(xai_client_submit(c_, &rq, &job, &err), XAI_OK) << err.message;
        return job;
    }

    xai_client *c_ = nullptr;
};

TempDir *XaidE2E::dir_ = nullptr;
pid_t XaidE2E::xaid_ = -1, XaidE2E::words_ = -1, XaidE2E::linear_ = -1, XaidE2E::slow_ = -1;
std::string XaidE2E::skip_, XaidE2E::ep_;

TEST_F(XaidE2E, PingAndModels) {
    double s = 0;
    xai_error err;
    ASSERT_EQ(xai_client_ping(c_, &s, &err), XAI_OK) << err.message;
    EXPECT_GT(s, 0.0);
    xai_value *r = nullptr;
    ASSERT_EQ(xai_client_models(c_, &r, &err), XAI_OK) << err.message;
    const xai_value *ms = xai_value_get(r, "models");
    ASSERT_EQ(xai_value_len(ms), 3u);
    bool saw_words = false;
    for (size_t i = 0; i < 3; i++) {
        const xai_value *m = xai_value_at(ms, i);
        EXPECT_TRUE(xai_value_get_bool(xai_value_get(m, "ready")));
        const char *n = xai_value_get_str(xai_value_get(m, "name"), nullptr);
        if (n && std::strcmp(n, "words") == 0) {
            saw_words = true;
            const xai_value *cls = xai_value_get(m, "classes");
            ASSERT_EQ(xai_value_len(cls), 2u);
            EXPECT_STREQ(xai_value_get_str(xai_value_at(cls, 1), nullptr), "spam");
        }
    }
    EXPECT_TRUE(saw_words);
    xai_value_free(r);
    ASSERT_EQ(xai_client_stats(c_, &r, &err), XAI_OK) << err.message;
    EXPECT_EQ(xai_value_type(xai_value_get(r, "stats")), XAI_V_MAP);
    xai_value_free(r);
}

// "Free money for the meeting": logit S = -0.5 + 2 + 1.5 + 0 + 0 - 1.5 = 1.5,
// so spam (p = sigmoid(1.5) > 0.5) is the target; removing a word of weight w
// gives sigmoid(S - w); everything removed gives sigmoid(-0.5).
TEST_F(XaidE2E, OcclusionOnWordModelMatchesHand) {
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(explain_text("words", "Free money for the meeting", &r, &err), XAI_OK)
        << err.message;
    const double S = 1.5, w[5] = {2.0, 1.5, 0, 0, -1.5};
    const char *names[5] = {"Free", "money", "for", "the", "meeting"};
    EXPECT_EQ(r->target, 1);
    ASSERT_NE(r->target_name, nullptr);
    EXPECT_STREQ(r->target_name, "spam");
    EXPECT_NEAR(xai_result_fx(r), sigmoid(S), 1e-12);
    EXPECT_NEAR(xai_result_base_value(r), sigmoid(kBias), 1e-12);
    ASSERT_EQ(xai_result_n_features(r), 5u);
    for (size_t i = 0; i < 5; i++) {
        EXPECT_STREQ(xai_result_feature_name(r, i), names[i]);
        EXPECT_NEAR(xai_result_value(r, i), sigmoid(S) - sigmoid(S - w[i]), 1e-12) << names[i];
    }
    ASSERT_EQ(r->n_tokens, 5u);
    EXPECT_EQ(r->token_start[1], 5u);   // "money" starts at byte 5
    EXPECT_EQ(r->token_end[1], 10u);
    const xai_eval_stats *st = xai_result_stats(r);
    EXPECT_EQ(st->masks_unique, 7u);    // x itself, 5 leave-one-out masks, all removed
    EXPECT_GE(st->model_calls, 1u);
    xai_result_free(r);
}

// Both classes from one job ("target": "all"): per class the closed form
// of the hand test above (ham = 1 - spam, so its row is the negative), read
// through the per-target accessors, with the model rows of one target.
TEST_F(XaidE2E, AllTargetsFromOneJobMatchHand) {
    xai_value *params = xai_value_map();
    xai_value_set_str(params, "target", "all");
    xai_job_request rq = {};
    rq.model = "words";
    rq.method = "occlusion";
    rq.text = "Free money for the meeting, win";
    rq.params = params;
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(xai_client_explain(c_, &rq, 20000, &r, &err), XAI_OK) << err.message;
    xai_value_free(params);
    const double S = 2.5, w[6] = {2.0, 1.5, 0, 0, -1.5, 1.0};
    ASSERT_EQ(xai_result_n_targets(r), 2u);
    EXPECT_EQ(xai_result_target_at(r, 0), 0);
    EXPECT_EQ(xai_result_target_at(r, 1), 1);
    EXPECT_EQ(xai_result_target_at(r, 2), -1);
    EXPECT_STREQ(xai_result_target_name_at(r, 0), "ham");
    EXPECT_STREQ(xai_result_target_name_at(r, 1), "spam");
    EXPECT_NEAR(xai_result_fx_at(r, 1), sigmoid(S), 1e-12);
    EXPECT_NEAR(xai_result_fx_at(r, 0), 1 - sigmoid(S), 1e-12);
    EXPECT_NEAR(xai_result_base_value_at(r, 1), sigmoid(kBias), 1e-12);
    EXPECT_NEAR(xai_result_base_value_at(r, 0), 1 - sigmoid(kBias), 1e-12);
    ASSERT_EQ(xai_result_n_features(r), 6u);
    for (size_t i = 0; i < 6; i++) {
        double spam = sigmoid(S) - sigmoid(S - w[i]);
        EXPECT_NEAR(xai_result_value_at(r, 1, i), spam, 1e-12) << i;
        EXPECT_NEAR(xai_result_value_at(r, 0, i), -spam, 1e-12) << i;
        EXPECT_EQ(xai_result_value(r, i), xai_result_value_at(r, 0, i));   // old accessor: row 0
    }
    EXPECT_TRUE(std::isnan(xai_result_value_at(r, 2, 0)));
    EXPECT_EQ(xai_result_fx(r), xai_result_fx_at(r, 0));
    // One target's masks: x, 6 leave-one-out, all removed.
    EXPECT_EQ(xai_result_stats(r)->masks_unique, 8u);
    EXPECT_LE(xai_result_stats(r)->rows_sent, 8u);
    xai_result_free(r);
}

// x = (1,2,3,4), one background row b = (0.5,-1,2,0): R_i = w_i (x_i - b_i) =
// (0.5, -6, 0.5, 12); f(x) = 10.75, base f(b) = 3.75; sum R = f(x) - f(b).
TEST_F(XaidE2E, OcclusionOnLinearRowMatchesClosedForm) {
    const double x[4] = {1, 2, 3, 4}, b[4] = {0.5, -1, 2, 0};
    xai_value *space = xai_value_map();
    xai_value_set(space, "background", xai_value_from_matrix(b, 1, 4));
    xai_job_request rq = {};
    rq.model = "linear";
    rq.method = "occlusion";
    rq.row = x;
    rq.n_cols = 4;
    rq.space = space;
    uint64_t job = 0;
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(xai_client_submit(c_, &rq, &job, &err), XAI_OK) << err.message;
    ASSERT_EQ(xai_client_wait(c_, job, 20000, nullptr, nullptr, &r, &err), XAI_OK) << err.message;
    EXPECT_NEAR(r->fx, linear(x), 1e-12);
    EXPECT_NEAR(r->base_value, linear(b), 1e-12);
    ASSERT_EQ(r->d, 4u);
    for (size_t i = 0; i < 4; i++) {
        EXPECT_NEAR(r->values[i], kW[i] * (x[i] - b[i]), 1e-12) << i;
        EXPECT_STREQ(r->feature_names[i], kColumns[i]);
    }
    xai_result_free(r);
    // The job is over: a second wait for it finds nothing within the timeout.
    EXPECT_EQ(xai_client_wait(c_, job, 100, nullptr, nullptr, &r, &err), XAI_ERR_TIMEOUT);
    xai_value_free(space);
}

// Errors keep the daemon's code and message.
TEST_F(XaidE2E, ErrorsCarryTheDaemonsCode) {
    xai_result *r = nullptr;
    xai_error err;
    EXPECT_EQ(explain_text("no_such_model", "free", &r, &err), XAI_ERR_UNKNOWN_MODEL);
    EXPECT_EQ(r, nullptr);
    EXPECT_NE(std::strstr(err.message, "no_such_model"), nullptr) << err.message;
    EXPECT_STREQ(xai_client_errmsg(c_), err.message);
    xai_job_request rq = {};
    rq.model = "words";
    rq.method = "no_such_method";
    rq.text = "free";
    EXPECT_EQ(xai_client_explain(c_, &rq, 5000, &r, &err), XAI_ERR_UNKNOWN_METHOD);
    // The words model refuses the text "crash": its error reaches the client.
    EXPECT_EQ(explain_text("words", "crash", &r, &err), XAI_ERR_MODEL) << err.message;
    EXPECT_NE(std::strstr(err.message, "crash"), nullptr) << err.message;
    EXPECT_EQ(xai_client_cancel(c_, 987654321, &err), XAI_ERR_NOT_FOUND);
}

// Two jobs in flight on one client: the fast job's result arrives while the
// client waits for the slow one, is kept, and a later wait with a zero
// timeout finds it without reading the socket.
TEST_F(XaidE2E, EventsOfOtherJobsAreKeptForTheirWait) {
    xai_job_request slow = {}, fast = {};
    slow.model = "slow";
    slow.method = fast.method = "occlusion";
    slow.text = "free report";   // 2 calls of 150 ms at least
    fast.model = "words";
    fast.text = "money";         // S = 1: R = sigmoid(1) - sigmoid(-0.5)
    uint64_t a = 0, b = 0;
    xai_error err;
    ASSERT_EQ(xai_client_submit(c_, &slow, &a, &err), XAI_OK) << err.message;
    ASSERT_EQ(xai_client_submit(c_, &fast, &b, &err), XAI_OK) << err.message;
    EXPECT_NE(a, b);
    xai_result *ra = nullptr, *rb = nullptr;
    ASSERT_EQ(xai_client_wait(c_, a, 20000, nullptr, nullptr, &ra, &err), XAI_OK) << err.message;
    ASSERT_EQ(xai_client_wait(c_, b, 0, nullptr, nullptr, &rb, &err), XAI_OK) << err.message;
    ASSERT_EQ(rb->d, 1u);
    EXPECT_NEAR(rb->values[0], sigmoid(1.0) - sigmoid(-0.5), 1e-12);
    ASSERT_EQ(ra->d, 2u);
    EXPECT_NEAR(ra->values[0], sigmoid(0.5) - sigmoid(-1.5), 1e-12);
    xai_result_free(ra);
    xai_result_free(rb);
}

struct ProgressLog {
    int calls = 0;
    double last = -1;
    bool monotone = true;
};

void on_progress(void *ctx, uint64_t, double f, const xai_eval_stats *) {
    auto *p = static_cast<ProgressLog *>(ctx);
    if (f < p->last) p->monotone = false;
    p->last = f;
    p->calls++;
}

// A slow job (13 calls of 150 ms) reports progress, shows as running, and
// ends with `cancelled` once cancelled.
TEST_F(XaidE2E, ProgressStatusAndCancel) {
    std::string text;
    for (int i = 0; i < 24; i++) text += i % 3 ? "word " : "free ";
    uint64_t job = submit_slow(text);
    ASSERT_FALSE(HasFailure());
    xai_error err;
    ProgressLog pl;
    xai_result *r = nullptr;
    EXPECT_EQ(xai_client_wait(c_, job, 600, on_progress, &pl, &r, &err), XAI_ERR_TIMEOUT);
    EXPECT_GE(pl.calls, 1);
    EXPECT_TRUE(pl.monotone);
    xai_value *st = nullptr;
    ASSERT_EQ(xai_client_status(c_, job, &st, &err), XAI_OK) << err.message;
    EXPECT_STREQ(xai_value_get_str(xai_value_get(st, "state"), nullptr), "running");
    xai_value_free(st);
    ASSERT_EQ(xai_client_cancel(c_, job, &err), XAI_OK) << err.message;
    EXPECT_EQ(xai_client_wait(c_, job, 5000, nullptr, nullptr, &r, &err), XAI_ERR_CANCELLED)
        << err.message;
}

// The CLI: --json parses (checked with Python's json module) and holds the
// closed-form values; plain output marks tokens; errors exit 1 with the code.
TEST_F(XaidE2E, CliExplainJsonAndText) {
    std::string xai = build_dir() + "/san/xai", out;
    std::string base = xai + " --endpoint " + ep_ + " explain ";
    std::string json = dir_->path + "/r.json";
    ASSERT_EQ(run_cmd(base + "--model linear --row 1,2,3,4 --space 'background=[[0.5,-1,2,0]]'"
                      " --json > " + json, &out), 0);
    const char *py = std::getenv("PYTHON");
    ASSERT_EQ(run_cmd(std::string(py && py[0] ? py : "python3") +
                      " -c 'import json,sys; d=json.load(open(sys.argv[1])); "
                      "print(d[\"fx\"], d[\"base_value\"], *d[\"values\"])' " + json, &out), 0);
    double v[6] = {0};
    ASSERT_EQ(std::sscanf(out.c_str(), "%lf %lf %lf %lf %lf %lf", v, v + 1, v + 2, v + 3, v + 4,
                          v + 5), 6) << out;
    const double want[6] = {10.75, 3.75, 0.5, -6, 0.5, 12};   // see the linear test
    for (int i = 0; i < 6; i++) EXPECT_NEAR(v[i], want[i], 1e-9) << i;

    ASSERT_EQ(run_cmd(base + "--model words --text 'free report'", &out), 0);
    // S = -0.5 + 2 - 1 = 0.5: free -> sigmoid(.5) - sigmoid(-1.5), report -> sigmoid(.5) - sigmoid(1.5)
    char a[64], b[64];
    std::snprintf(a, sizeof a, "free[%+.3f]", sigmoid(0.5) - sigmoid(-1.5));
    std::snprintf(b, sizeof b, "report[%+.3f]", sigmoid(0.5) - sigmoid(1.5));
    EXPECT_NE(out.find(std::string(a) + " " + b), std::string::npos) << out;
    EXPECT_NE(out.find("rows sent"), std::string::npos) << out;

    EXPECT_EQ(run_cmd(base + "--model nope --text hi 2>&1", &out), 1);
    EXPECT_NE(out.find("unknown_model"), std::string::npos) << out;
    EXPECT_EQ(run_cmd(base + "--model words 2>&1", &out), 2);   // no input: usage error
    std::string top = xai + " --endpoint " + ep_ + " ";
    ASSERT_EQ(run_cmd(top + "ping", &out), 0);
    EXPECT_EQ(out.find("pong from " + ep_), 0u) << out;
    ASSERT_EQ(run_cmd(top + "models", &out), 0);
    EXPECT_NE(out.find("ham,spam"), std::string::npos) << out;
}

// `xai explain --target all` and `--target spam,ham`: one score column per
// class, in the order asked, and the matrix form in --json.
TEST_F(XaidE2E, CliTargetAllShowsAColumnPerClass) {
    std::string xai = build_dir() + "/san/xai", out;
    std::string base = xai + " --endpoint " + ep_ + " explain --model words --no-color ";
    ASSERT_EQ(run_cmd(base + "--text 'free report' --target all", &out), 0) << out;
    EXPECT_NE(out.find("targets 0 (ham), 1 (spam)"), std::string::npos) << out;
    size_t head = out.find("rank");
    ASSERT_NE(head, std::string::npos) << out;
    std::string header = out.substr(head, out.find('\n', head) - head);
    EXPECT_LT(header.find("ham"), header.find("spam")) << header;
    char row[128];   // free: spam +(sigmoid(.5) - sigmoid(-1.5)), ham the negative
    double v = sigmoid(0.5) - sigmoid(-1.5);
    std::snprintf(row, sizeof row, "free                     %+12.6f %+12.6f", -v, v);
    EXPECT_NE(out.find(row), std::string::npos) << out;
    ASSERT_EQ(run_cmd(base + "--text 'free report' --target spam,ham", &out), 0) << out;
    EXPECT_NE(out.find("targets 1 (spam), 0 (ham)"), std::string::npos) << out;
    std::snprintf(row, sizeof row, "free                     %+12.6f %+12.6f", v, -v);
    EXPECT_NE(out.find(row), std::string::npos) << out;
    ASSERT_EQ(run_cmd(base + "--text 'free report' --target 1,0 --json", &out), 0) << out;
    EXPECT_NE(out.find("\"targets\":[1,0]"), std::string::npos) << out;
    EXPECT_EQ(run_cmd(base + "--text 'free report' --target spam,eggs 2>&1", &out), 1);
    EXPECT_NE(out.find("\"eggs\" is not a class"), std::string::npos) << out;   // the daemon's check
    EXPECT_NE(out.find("choices: ham, spam"), std::string::npos) << out;
}

// `--help` on every command; `xai methods` prints the registry; unknown
// names come back with "did you mean"; anchors print as a rule built from
// the same result the C client gets; `stats --prometheus` holds the same
// counters as the stats reply, in the exposition format.
TEST_F(XaidE2E, CliHelpMethodsSuggestionsRuleAndPrometheus) {
    std::string xai = build_dir() + "/san/xai", out;
    std::string top = xai + " --endpoint " + ep_ + " ";
    for (const char *cmd : {"explain", "methods", "models", "stats", "ping"}) {
        ASSERT_EQ(run_cmd(top + cmd + " --help", &out), 0) << cmd;
        EXPECT_EQ(out.find(std::string("usage: xai")), 0u) << cmd << ": " << out;
        EXPECT_NE(out.find(cmd), std::string::npos) << out;
    }
    ASSERT_EQ(run_cmd(xai + " methods kernelshap", &out), 0);
    for (size_t i = 0; i < xai_method_n_params("kernelshap"); i++) {
        const xai_param_info *p = xai_method_param("kernelshap", i);
        EXPECT_NE(out.find(std::string(p->name) + " "), std::string::npos) << p->name << "\n" << out;
        EXPECT_NE(out.find(std::string("default ") + p->def + "; range " + p->range),
                  std::string::npos) << p->name << "\n" << out;
    }
    EXPECT_EQ(run_cmd(xai + " methods shap 2>&1", &out), 1);
    EXPECT_NE(out.find("did you mean \"kernelshap\""), std::string::npos) << out;
    EXPECT_EQ(run_cmd(top + "explain --model wrods --text hi 2>&1", &out), 1);
    EXPECT_NE(out.find("did you mean \"words\""), std::string::npos) << out;
    EXPECT_EQ(run_cmd(top + "explain --model words --param nsample=3 --method kernelshap --text hi 2>&1",
                      &out), 1);
    EXPECT_NE(out.find("did you mean \"nsamples\""), std::string::npos) << out;
    EXPECT_EQ(run_cmd(top + "explian 2>&1", &out), 2);
    EXPECT_NE(out.find("did you mean \"explain\""), std::string::npos) << out;

    // The C client keeps the daemon's error event: choices and suggestion.
    {
        xai_job_request bad = {};
        bad.model = "wrods";
        bad.method = "occlusion";
        bad.text = "hi";
        uint64_t job = 0;
        xai_error e2;
        EXPECT_EQ(xai_client_submit(c_, &bad, &job, &e2), XAI_ERR_UNKNOWN_MODEL);
        const xai_value *det = xai_client_error_detail(c_);
        ASSERT_NE(det, nullptr);
        EXPECT_STREQ(xai_value_get_str(xai_value_get(det, "suggestion"), nullptr), "words");
        EXPECT_EQ(xai_value_len(xai_value_get(det, "choices")), 3u);
        EXPECT_NE(std::string(e2.message).find("did you mean \"words\""), std::string::npos);
    }

    // Anchors: the rule line from the result's own numbers.
    const char *text = "free money win meeting report today";
    xai_job_request rq = {};
    rq.model = "words";
    rq.method = "anchors";
    rq.text = text;
    xai_result *r = nullptr;
    xai_error err;
    ASSERT_EQ(xai_client_explain(c_, &rq, 60000, &r, &err), XAI_OK) << err.message;
    std::string want = "IF ";
    const xai_value *names = xai_value_get(r->extra, "names");
    for (size_t i = 0; i < xai_value_len(names); i++)
        want += std::string(i ? " AND " : "") + "\"" + xai_value_get_str(xai_value_at(names, i), nullptr) + "\"";
    char nums[200];
    std::snprintf(nums, sizeof nums, " THEN %s  precision %.2f [%.2f, %.2f]  coverage %.2f",
                  r->target_name, xai_value_get_number(xai_value_get(r->extra, "precision")),
                  xai_value_get_number(xai_value_get(r->extra, "precision_lower")),
                  xai_value_get_number(xai_value_get(r->extra, "precision_upper")),
                  xai_value_get_number(xai_value_get(r->extra, "coverage")));
    want += nums;
    EXPECT_GE(xai_value_len(names), 1u);
    xai_result_free(r);
    ASSERT_EQ(run_cmd(top + "explain --model words --method anchors --text '" + text + "'", &out), 0);
    EXPECT_NE(out.find("\n" + want + "\n"), std::string::npos) << want << "\n" << out;

    // Prometheus: well-formed lines, and the same numbers as the stats reply.
    ASSERT_EQ(run_cmd(top + "stats --prometheus", &out), 0);
    xai_value *st = nullptr;
    ASSERT_EQ(xai_client_stats(c_, &st, &err), XAI_OK);
    const xai_value *stats = xai_value_get(st, "stats");
    std::istringstream lines(out);
    std::string line;
    int samples = 0;
    while (std::getline(lines, line)) {
        if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) continue;
        size_t sp = line.rfind(' ');
        ASSERT_NE(sp, std::string::npos) << line;
        std::string name = line.substr(0, line.find_first_of("{ "));
        EXPECT_EQ(name.rfind("xaid_", 0), 0u) << line;
        for (char ch : name) EXPECT_TRUE(std::islower((unsigned char)ch) || ch == '_') << line;
        char *end = nullptr;
        std::strtod(line.c_str() + sp + 1, &end);
        EXPECT_EQ(*end, '\0') << line;
        samples++;
    }
    EXPECT_GE(samples, 20);
    auto sample = [&](const std::string &key) {
        size_t at = out.find("\n" + key + " ");
        return at == std::string::npos ? -1.0 : std::strtod(out.c_str() + at + key.size() + 2, nullptr);
    };
    const xai_value *jobs = xai_value_get(stats, "jobs");
    EXPECT_EQ(sample("xaid_jobs_accepted_total"), (double)xai_value_get_int(xai_value_get(jobs, "accepted")));
    EXPECT_EQ(sample("xaid_jobs_done_total"), (double)xai_value_get_int(xai_value_get(jobs, "done")));
    const xai_value *words = xai_value_get(xai_value_get(stats, "models"), "words");
    EXPECT_EQ(sample("xaid_model_calls_total{model=\"words\"}"),
              (double)xai_value_get_int(xai_value_get(words, "calls")));
    EXPECT_EQ(sample("xaid_model_ready{model=\"slow\"}"), 1.0);
    EXPECT_NE(out.find("# TYPE xaid_model_rows_total counter\n"), std::string::npos) << out;
    EXPECT_NE(out.find("# TYPE xaid_jobs_queued gauge\n"), std::string::npos) << out;
    xai_value_free(st);
}

// Killing the model server mid-job ends that job with model_unavailable
// within its call timeout and retries (1000 ms x 2 here); a model server
// restarted on the same endpoint then serves without restarting xaid.
TEST_F(XaidE2E, KilledModelEndsJobAndRestartedModelServes) {
    std::string text;
    for (int i = 0; i < 24; i++) text += "money ";
    uint64_t job = submit_slow(text);
    ASSERT_FALSE(HasFailure());
    xai_error err;
    xai_result *r = nullptr;
    EXPECT_EQ(xai_client_wait(c_, job, 400, nullptr, nullptr, &r, &err), XAI_ERR_TIMEOUT);
    kill(slow_, SIGKILL);
    waitpid(slow_, nullptr, 0);
    slow_ = -1;
    auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(xai_client_wait(c_, job, 15000, nullptr, nullptr, &r, &err),
              XAI_ERR_MODEL_UNAVAILABLE) << err.message;
    double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(el, 6.0) << "timeout 1 s x (1 + 1 retry) plus slack";

    slow_ = spawn_model("words", dir_->ep("slow.sock"), 150, dir_->path + "/models.log");
    ASSERT_TRUE(eventually(10, [&] { return model_ready(c_, "slow"); }));
    ASSERT_EQ(explain_text("slow", "free report", &r, &err), XAI_OK) << err.message;
    ASSERT_EQ(r->d, 2u);
    EXPECT_NEAR(r->values[0], sigmoid(0.5) - sigmoid(-1.5), 1e-12);
    EXPECT_NEAR(r->values[1], sigmoid(0.5) - sigmoid(1.5), 1e-12);
    xai_result_free(r);
}

namespace {

struct ManyLog {
    std::vector<int> seen;          // completions per input index
    std::vector<double> spam_free;  // value of the first feature per input (ok ones)
    size_t progress_calls = 0, last_done = 0, last_errors = 0;
    xai_status crash_status = XAI_OK;
    int stop_after = 0;             // non-zero: stop once this many ended
};

int many_done(void *ctx, size_t i, xai_status st, const xai_value *result, const xai_error *e) {
    ManyLog *l = static_cast<ManyLog *>(ctx);
    l->seen[i]++;
    if (st != XAI_OK) {
        l->crash_status = st;
        EXPECT_NE(e, nullptr);
    } else {
        l->spam_free[i] = xai_value_get_number(xai_value_at(xai_value_get(result, "values"), 0));
    }
    size_t ended = 0;
    for (int n : l->seen) ended += (size_t)n;
    return l->stop_after && (int)ended >= l->stop_after;
}

void many_progress(void *ctx, size_t done, size_t total, size_t errors) {
    ManyLog *l = static_cast<ManyLog *>(ctx);
    l->progress_calls++;
    l->last_done = done;
    l->last_errors = errors;
    EXPECT_EQ(total, 8u);
}

}  // namespace

// Eight inputs through a window of 3: each reported exactly once; "crash"
// is its own model_error and the rest go on; "free <w>" has logit
// S = -0.5 + 2 + w(word), so removing "free" gives sigmoid(S) - sigmoid(S - 2).
TEST_F(XaidE2E, ExplainManyReportsEveryInputOnce) {
    const char *words[8] = {"money", "win", "meeting", "report", "x", "crash", "free", "money"};
    const double w[8] = {1.5, 1, -1.5, -1, 0, 0, 2, 1.5};
    std::vector<std::string> texts;
    for (int i = 0; i < 8; i++) texts.push_back(i == 5 ? "crash" : std::string("free ") + words[i]);
    std::vector<xai_job_request> rq(8);
    for (int i = 0; i < 8; i++) {
        rq[i] = xai_job_request{};
        rq[i].model = "words";
        rq[i].method = "occlusion";
        rq[i].text = texts[i].c_str();
    }
    xai_value *params = xai_value_map();
    xai_value_set_int(params, "target", 1);
    for (auto &r : rq) r.params = params;
    ManyLog log;
    log.seen.assign(8, 0);
    log.spam_free.assign(8, NAN);
    xai_many_opts o = {};
    o.window = 3;
    xai_error err;
    ASSERT_EQ(xai_client_explain_many(c_, rq.data(), 8, &o, many_done, many_progress, &log, &err),
              XAI_OK) << err.message;
    for (int i = 0; i < 8; i++) EXPECT_EQ(log.seen[i], 1) << i;
    EXPECT_EQ(log.crash_status, XAI_ERR_MODEL);
    EXPECT_EQ(log.progress_calls, 8u);
    EXPECT_EQ(log.last_done, 8u);
    EXPECT_EQ(log.last_errors, 1u);
    for (int i = 0; i < 8; i++) {
        if (i == 5) continue;
        double S = kBias + 2 + (i == 6 ? 2 : w[i]);
        // "free free": removing one "free" leaves S - 2 either way
        EXPECT_NEAR(log.spam_free[i], sigmoid(S) - sigmoid(S - 2), 1e-12) << texts[i];
    }
    xai_value_free(params);
}

namespace {

// Per input of a multi-target explain_many: both rows of the first feature
// and the distinct masks evaluated, read through the C result accessors.
struct ManyAll {
    std::vector<int> seen;
    std::vector<double> ham, spam, rows;
    std::vector<size_t> n_targets;
};

int many_all_done(void *ctx, size_t i, xai_status st, const xai_value *result, const xai_error *) {
    ManyAll *l = static_cast<ManyAll *>(ctx);
    l->seen[i]++;
    xai_result *r = nullptr;
    xai_error e;
    if (st != XAI_OK || xai_result_from_value(result, &r, &e) != XAI_OK) return 0;
    l->n_targets[i] = xai_result_n_targets(r);
    l->ham[i] = xai_result_value_at(r, 0, 0);
    l->spam[i] = xai_result_value_at(r, 1, 0);
    l->rows[i] = (double)xai_result_stats(r)->masks_unique;
    xai_result_free(r);
    return 0;
}

}  // namespace

// explain_many with "target": "all": every input's result has both rows,
// each the closed form of ExplainManyReportsEveryInputOnce (ham = 1 - spam,
// so its row is the negative), and every job evaluated the masks of a
// single-target job on the same text (x, one leave-one-out mask per word,
// all removed: 4 for two words; AllTargetsFromOneJobMatchHand checks the
// rows sent).
TEST_F(XaidE2E, ExplainManyAllTargetsMatchHand) {
    const char *words[4] = {"money", "win", "meeting", "report"};
    const double w[4] = {1.5, 1, -1.5, -1};
    std::vector<std::string> texts;
    for (int i = 0; i < 4; i++) texts.push_back(std::string("free ") + words[i]);
    xai_value *params = xai_value_map();
    xai_value_set_str(params, "target", "all");
    std::vector<xai_job_request> rq(4);
    for (int i = 0; i < 4; i++) {
        rq[i] = xai_job_request{};
        rq[i].model = "words";
        rq[i].method = "occlusion";
        rq[i].text = texts[i].c_str();
        rq[i].params = params;
    }
    ManyAll log;
    log.seen.assign(4, 0);
    log.ham.assign(4, NAN);
    log.spam.assign(4, NAN);
    log.rows.assign(4, NAN);
    log.n_targets.assign(4, 0);
    xai_many_opts o = {};
    o.window = 2;
    xai_error err;
    ASSERT_EQ(xai_client_explain_many(c_, rq.data(), 4, &o, many_all_done, nullptr, &log, &err),
              XAI_OK) << err.message;
    xai_value_free(params);
    for (int i = 0; i < 4; i++) {
        EXPECT_EQ(log.seen[i], 1) << i;
        EXPECT_EQ(log.n_targets[i], 2u) << i;
        double S = kBias + 2 + w[i];
        EXPECT_NEAR(log.spam[i], sigmoid(S) - sigmoid(S - 2), 1e-12) << texts[i];
        EXPECT_NEAR(log.ham[i], -(sigmoid(S) - sigmoid(S - 2)), 1e-12) << texts[i];
        EXPECT_EQ(log.rows[i], 4.0) << texts[i];
    }
}

// The done callback asking to stop: the run ends with cancelled and the
// jobs still in flight are cancelled in the daemon (none left running).
TEST_F(XaidE2E, ExplainManyStopCancelsJobsInFlight) {
    std::vector<std::string> texts(8, "free money win meeting report now");
    std::vector<xai_job_request> rq(8);
    for (int i = 0; i < 8; i++) {
        rq[i] = xai_job_request{};
        rq[i].model = "slow";
        rq[i].method = "occlusion";
        rq[i].text = texts[i].c_str();
    }
    ManyLog log;
    log.seen.assign(8, 0);
    log.spam_free.assign(8, NAN);
    log.stop_after = 1;
    xai_many_opts o = {};
    o.window = 4;
    xai_error err;
    EXPECT_EQ(xai_client_explain_many(c_, rq.data(), 8, &o, many_done, nullptr, &log, &err),
              XAI_ERR_CANCELLED);
    int ended = 0;
    for (int n : log.seen) ended += n;
    EXPECT_EQ(ended, 1);
    bool idle = eventually(10, [&] {
        xai_value *r = nullptr;
        xai_error e;
        if (xai_client_stats(c_, &r, &e) != XAI_OK) return false;
        const xai_value *jobs = xai_value_get(xai_value_get(r, "stats"), "jobs");
        bool none = xai_value_get_int(xai_value_get(jobs, "running")) == 0 &&
                    xai_value_get_int(xai_value_get(jobs, "queued")) == 0;
        xai_value_free(r);
        return none;
    });
    EXPECT_TRUE(idle);
}
