// protocol_test.cc — xaid as a real process, spoken to over its wire
// protocol (docs/PROTOCOL.md) with raw ZeroMQ + msgpack.
//
// The suite starts, in a fresh temporary directory:
//   - model servers in forked children, each a REP socket answering `info`
//     and `predict` with a tiny deterministic model:
//       good  (text):    p_spam = 0.1 + 0.4 [token "free"] + 0.3 [token "money"]
//       nan   (text):    answers NaN
//       slow  (text):    like good, 150 ms per call (for cancellation, busy, shutdown)
//       tab   (tabular): p1 = 0.1 x0 + 0.2 x1, with background CSV "a,b / 0,0"
//     plus a model `dead` whose endpoint nobody serves;
//   - the daemon under test, $XAI_BUILD/san/xaid (ASan build), with a config
//     on ipc:// endpoints in that directory.
// Expected numbers are worked out from those definitions in the comments.
#include <gtest/gtest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "xai/value.h"
}

namespace {

struct ValueDeleter {
    void operator()(xai_value *v) const { xai_value_free(v); }
};
using Value = std::unique_ptr<xai_value, ValueDeleter>;

double now() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string pack(const xai_value *v) {
    char *buf = nullptr;
    size_t len = 0;
    xai_value_pack(v, &buf, &len, nullptr);
    std::string s(buf, len);
    xai_free(buf);
    return s;
}

// ---- the model servers (children) ---------------------------------------

enum class Behaviour { Good, Nan, Slow, Tab };

bool has_token(const std::string &text, const std::string &word) {
    size_t pos = 0;
    while ((pos = text.find(word, pos)) != std::string::npos) {
        bool left = pos == 0 || !isalnum((unsigned char)text[pos - 1]);
        size_t e = pos + word.size();
        bool right = e == text.size() || !isalnum((unsigned char)text[e]);
        if (left && right) return true;
        pos = e;
    }
    return false;
}

// One answer of the model to a decoded request.
xai_value *model_answer(Behaviour b, const xai_value *req) {
    xai_value *a = xai_value_map();
    xai_value_set_int(a, "v", 1);
    xai_value_set_int(a, "id", xai_value_get_int(xai_value_get(req, "id")));
    const char *op = xai_value_get_str(xai_value_get(req, "op"), nullptr);
    if (op && strcmp(op, "info") == 0) {
        xai_value_set_str(a, "kind", b == Behaviour::Tab ? "tabular" : "text");
        xai_value *cl = xai_value_array();
        xai_value_push(cl, xai_value_str("ham"));
        xai_value_push(cl, xai_value_str("spam"));
        xai_value_set(a, "classes", cl);
        return a;
    }
    std::vector<double> out;
    if (b == Behaviour::Tab) {
        double *rows = nullptr;
        size_t n = 0, d = 0;
        xai_value_to_matrix(xai_value_get(req, "rows"), true, true, &rows, &n, &d, nullptr);
        for (size_t i = 0; i < n; i++) {
            double p = 0.1 * rows[i * d] + 0.2 * rows[i * d + 1];
            out.push_back(1 - p);
            out.push_back(p);
        }
        xai_free(rows);
    } else {
        const xai_value *texts = xai_value_get(req, "texts");
        for (size_t i = 0; i < xai_value_len(texts); i++) {
            std::string t = xai_value_get_str(xai_value_at(texts, i), nullptr);
            double p = 0.1 + 0.4 * has_token(t, "free") + 0.3 * has_token(t, "money");
            if (b == Behaviour::Nan) p = NAN;
            out.push_back(1 - p);
            out.push_back(p);
        }
        if (b == Behaviour::Slow) usleep(150 * 1000);
    }
    xai_value_set(a, "outputs", xai_value_from_matrix(out.data(), out.size() / 2, 2));
    return a;
}

[[noreturn]] void serve_model(const std::string &endpoint, Behaviour b) {
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_REP);
    if (zmq_bind(s, endpoint.c_str()) != 0) _exit(3);
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, s, 0) < 0) _exit(4);
        xai_value *req = nullptr;
        xai_value_unpack(zmq_msg_data(&m), zmq_msg_size(&m), nullptr, &req, nullptr);
        zmq_msg_close(&m);
        xai_value *a = model_answer(b, req);
        std::string bytes = pack(a);
        xai_value_free(a);
        xai_value_free(req);
        zmq_send(s, bytes.data(), bytes.size(), 0);
    }
}

pid_t spawn_model(const std::string &endpoint, Behaviour b) {
    pid_t pid = fork();
    if (pid == 0) serve_model(endpoint, b);
    return pid;
}

// ---- the daemon ------------------------------------------------------------

struct Daemon {
    std::string dir, config, front;
    pid_t pid = -1;
    std::vector<pid_t> models;

    void start(const std::string &extra_config) {
        char tmpl[] = "/tmp/xaid-proto-XXXXXX";
        dir = mkdtemp(tmpl);
        front = "ipc://" + dir + "/xaid.sock";
        std::ofstream(dir + "/bg.csv") << "a,b\n0,0\n";
        config = dir + "/xaid.conf";
        std::ofstream(config)
            << "bind = " << front << "\n"
            << "workers = 3\nmax_message_bytes = 65536\nmax_queue = 2\nmax_samples = 5000\n"
            << "log_level = debug\nshutdown_grace_ms = 300\n"
            << "model good = text@ipc://" << dir << "/good.sock\n"
            << "model nan = text@ipc://" << dir << "/nan.sock\n"
            << "model slow = text@ipc://" << dir << "/slow.sock\n"
            << "model slow.max_rows = 1\n"
            << "model tab = tabular@ipc://" << dir << "/tab.sock\n"
            << "model tab.background = " << dir << "/bg.csv\n"
            << "model dead = text@ipc://" << dir << "/dead.sock\n"
            << "model dead.timeout_ms = 300\nmodel dead.retries = 1\n"
            << "model flaky = text@ipc://" << dir << "/flaky.sock\n"
            << "model flaky.timeout_ms = 300\nmodel flaky.retries = 1\n"
            << "model down = text@ipc://" << dir << "/down.sock\n"
            << "model wrongkind = text@ipc://" << dir << "/wrongkind.sock\n"
            << extra_config;
        models.push_back(spawn_model("ipc://" + dir + "/good.sock", Behaviour::Good));
        models.push_back(spawn_model("ipc://" + dir + "/nan.sock", Behaviour::Nan));
        models.push_back(spawn_model("ipc://" + dir + "/slow.sock", Behaviour::Slow));
        models.push_back(spawn_model("ipc://" + dir + "/tab.sock", Behaviour::Tab));
        models.push_back(spawn_model("ipc://" + dir + "/wrongkind.sock", Behaviour::Tab));
        const char *build = getenv("XAI_BUILD");
        std::string bin = std::string(build ? build : "build") + "/san/xaid";
        std::string log = dir + "/xaid.log";
        pid = fork();
        if (pid == 0) {
            freopen(log.c_str(), "w", stderr);
            execl(bin.c_str(), bin.c_str(), "--config", config.c_str(), (char *)nullptr);
            _exit(127);
        }
    }

    // SIGTERM; returns the exit status (or -1 if it did not exit in time).
    int stop(double timeout = 10) {
        if (pid <= 0) return -1;
        kill(pid, SIGTERM);
        int status = 0;
        double t0 = now();
        while (waitpid(pid, &status, WNOHANG) == 0) {
            if (now() - t0 > timeout) {
                kill(pid, SIGKILL);
                waitpid(pid, &status, 0);
                pid = -1;
                return -1;
            }
            usleep(10 * 1000);
        }
        pid = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }

    void kill_models() {
        for (pid_t m : models) {
            kill(m, SIGKILL);
            waitpid(m, nullptr, 0);
        }
        models.clear();
    }

    std::string log() const {
        std::ifstream f(dir + "/xaid.log");
        return std::string(std::istreambuf_iterator<char>(f), {});
    }

    void cleanup() {
        kill_models();
        if (!dir.empty()) {
            std::string cmd = "rm -rf '" + dir + "'";
            if (system(cmd.c_str()) != 0) {}
        }
    }
};

// ---- the client ------------------------------------------------------------

struct Client {
    void *ctx = nullptr, *sock = nullptr;
    std::vector<Value> stash;   // events read while waiting for others
    int64_t next_req = 100;

    void connect(const std::string &ep) {
        ctx = zmq_ctx_new();
        sock = zmq_socket(ctx, ZMQ_DEALER);
        int zero = 0;
        zmq_setsockopt(sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_connect(sock, ep.c_str());
    }
    void close() {
        stash.clear();
        if (sock) zmq_close(sock);
        if (ctx) zmq_ctx_term(ctx);
        sock = ctx = nullptr;
    }
    void send_raw(const std::string &bytes) { zmq_send(sock, bytes.data(), bytes.size(), 0); }
    Value recv(int timeout_ms) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, timeout_ms) <= 0) return nullptr;
        zmq_msg_t m;
        zmq_msg_init(&m);
        zmq_msg_recv(&m, sock, 0);
        xai_value *v = nullptr;
        xai_error err{};
        EXPECT_EQ(xai_value_unpack(zmq_msg_data(&m), zmq_msg_size(&m), nullptr, &v, &err), XAI_OK)
            << err.message;
        zmq_msg_close(&m);
        return Value(v);
    }
    // The next message matching pred (from the stash first), or null.
    template <class Pred> Value wait_for(Pred pred, double timeout = 10) {
        for (auto it = stash.begin(); it != stash.end(); ++it)
            if (pred(it->get())) {
                Value v = std::move(*it);
                stash.erase(it);
                return v;
            }
        double t0 = now();
        while (now() - t0 < timeout) {
            Value v = recv(50);
            if (!v) continue;
            if (pred(v.get())) return v;
            stash.push_back(std::move(v));
        }
        return nullptr;
    }
    Value wait_req(int64_t req, double timeout = 10) {
        return wait_for([req](const xai_value *v) {
            const char *ev = xai_value_get_str(xai_value_get(v, "event"), nullptr);
            return xai_value_get_int(xai_value_get(v, "req")) == req && ev &&
                   (strcmp(ev, "reply") == 0 || strcmp(ev, "error") == 0 ||
                    strcmp(ev, "accepted") == 0);
        }, timeout);
    }
    // The final event (result or error) of job `job`.
    Value wait_final(int64_t job, double timeout = 20) {
        return wait_for([job](const xai_value *v) {
            const char *ev = xai_value_get_str(xai_value_get(v, "event"), nullptr);
            return xai_value_get_int(xai_value_get(v, "job")) == job && ev &&
                   (strcmp(ev, "result") == 0 || strcmp(ev, "error") == 0);
        }, timeout);
    }
    // Sends {"v":1,"op":op,"req":n, ...fields of extra} and waits for its answer.
    Value request(const char *op, xai_value *extra = nullptr, int64_t *req_out = nullptr) {
        Value m(extra ? extra : xai_value_map());
        int64_t req = next_req++;
        xai_value_set_int(m.get(), "v", 1);
        xai_value_set_str(m.get(), "op", op);
        xai_value_set_int(m.get(), "req", req);
        send_raw(pack(m.get()));
        if (req_out) *req_out = req;
        return wait_req(req);
    }
};

const char *str(const xai_value *m, const char *k) {
    const char *s = xai_value_get_str(xai_value_get(m, k), nullptr);
    return s ? s : "";
}

xai_value *explain_msg(const char *model, const char *method, const char *text) {
    xai_value *m = xai_value_map();
    xai_value_set_str(m, "model", model);
    xai_value_set_str(m, "method", method);
    xai_value *in = xai_value_map();
    xai_value_set_str(in, "text", text);
    xai_value_set(m, "input", in);
    return m;
}

// Submits an explain; returns the job id (0 if not accepted: *refusal set).
int64_t submit(Client &c, xai_value *explain, Value *refusal = nullptr) {
    Value a = c.request("explain", explain);
    if (!a) return 0;
    if (strcmp(str(a.get(), "event"), "accepted") != 0) {
        if (refusal) *refusal = std::move(a);
        return 0;
    }
    return xai_value_get_int(xai_value_get(a.get(), "job"));
}

// Sets params[key] = x on an explain message (creating params).
xai_value *with_param(xai_value *explain, const char *key, int64_t x) {
    xai_value *p = xai_value_get(explain, "params");
    if (p == nullptr) {
        p = xai_value_map();
        xai_value_set(explain, "params", p);
    }
    xai_value_set_int(p, key, x);
    return explain;
}

// Submits and waits for the job's final event (null if not accepted).
Value run(Client &c, xai_value *explain) {
    int64_t job = submit(c, explain);
    return job > 0 ? c.wait_final(job) : nullptr;
}

bool ping_ok(Client &c) {
    Value r = c.request("ping");
    return r && xai_value_get_bool(xai_value_get(r.get(), "pong"));
}

}  // namespace

class Protocol : public ::testing::Test {
protected:
    static Daemon d;
    static Client c;

    static void SetUpTestSuite() {
        d.start("");
        c.connect(d.front);
        // Wait until the daemon answers and the live models are ready.
        double t0 = now();
        while (now() - t0 < 15) {
            Value r = c.request("models");
            int ready = 0;
            for (size_t i = 0; r && i < xai_value_len(xai_value_get(r.get(), "models")); i++)
                ready += xai_value_get_bool(
                    xai_value_get(xai_value_at(xai_value_get(r.get(), "models"), i), "ready"));
            if (ready == 4) break;
            usleep(50 * 1000);
        }
    }
    static void TearDownTestSuite() {
        c.close();
        int code = d.stop();
        EXPECT_EQ(code, 0) << d.log();
        d.cleanup();
    }
};
Daemon Protocol::d;
Client Protocol::c;

TEST_F(Protocol, PingRoundTrips) {
    int64_t req;
    Value r = c.request("ping", nullptr, &req);
    ASSERT_TRUE(r) << d.log();
    EXPECT_STREQ(str(r.get(), "event"), "reply");
    EXPECT_EQ(xai_value_get_int(xai_value_get(r.get(), "req")), req);
    EXPECT_EQ(xai_value_get_int(xai_value_get(r.get(), "v")), 1);
    EXPECT_TRUE(xai_value_get_bool(xai_value_get(r.get(), "pong")));
    EXPECT_STREQ(str(r.get(), "version"), XAI_VERSION_STRING);
}

TEST_F(Protocol, ModelsListsTheConfigAndReadiness) {
    Value r = c.request("models");
    ASSERT_TRUE(r);
    const xai_value *list = xai_value_get(r.get(), "models");
    ASSERT_EQ(xai_value_len(list), 8u);
    const char *names[] = {"good", "nan", "slow", "tab", "dead"};
    for (size_t i = 0; i < 5; i++) {
        const xai_value *m = xai_value_at(list, i);
        EXPECT_STREQ(str(m, "name"), names[i]);
        EXPECT_STREQ(str(m, "kind"), i == 3 ? "tabular" : "text");
        EXPECT_EQ(xai_value_get_bool(xai_value_get(m, "ready")), i != 4) << names[i];
    }
    const xai_value *good = xai_value_at(list, 0);
    EXPECT_EQ(xai_value_get_int(xai_value_get(good, "n_outputs")), 2);
    EXPECT_STREQ(xai_value_get_str(xai_value_at(xai_value_get(good, "classes"), 1), nullptr), "spam");
    EXPECT_EQ(xai_value_get_int(xai_value_get(xai_value_at(list, 3), "background_rows")), 1);
}

TEST_F(Protocol, ExplainTextEndToEndWithStatusAndStats) {
    // "free money now": f_spam(x) = 0.1 + 0.4 + 0.3 = 0.8 (the predicted
    // class is spam, 0.8 > 0.2). Occlusion with UNK: removing "free" gives
    // 0.4 (R = 0.4), "money" 0.5 (R = 0.3), "now" 0.8 (R = 0).
    int64_t job = submit(c, explain_msg("good", "occlusion", "free money now"));
    ASSERT_GT(job, 0) << d.log();
    Value res = c.wait_final(job);
    ASSERT_TRUE(res) << d.log();
    ASSERT_STREQ(str(res.get(), "event"), "result") << str(res.get(), "message");
    const xai_value *r = xai_value_get(res.get(), "result");
    EXPECT_STREQ(str(r, "model"), "good");
    EXPECT_STREQ(str(r, "target_name"), "spam");
    EXPECT_NEAR(xai_value_get_number(xai_value_get(r, "fx")), 0.8, 1e-12);
    const xai_value *vals = xai_value_get(r, "values");
    ASSERT_EQ(xai_value_len(vals), 3u);
    EXPECT_NEAR(xai_value_get_number(xai_value_at(vals, 0)), 0.4, 1e-12);
    EXPECT_NEAR(xai_value_get_number(xai_value_at(vals, 1)), 0.3, 1e-12);
    EXPECT_NEAR(xai_value_get_number(xai_value_at(vals, 2)), 0.0, 1e-12);
    EXPECT_STREQ(str(r, "text"), "free money now");

    xai_value *q = xai_value_map();
    xai_value_set_int(q, "job", job);
    Value st = c.request("status", q);
    ASSERT_TRUE(st);
    EXPECT_STREQ(str(st.get(), "state"), "done");
    EXPECT_EQ(xai_value_get_number(xai_value_get(st.get(), "progress")), 1.0);

    Value stats = c.request("stats");
    ASSERT_TRUE(stats);
    const xai_value *s = xai_value_get(stats.get(), "stats");
    EXPECT_GE(xai_value_get_int(xai_value_get(xai_value_get(s, "jobs"), "done")), 1);
    const xai_value *good = xai_value_get(xai_value_get(s, "models"), "good");
    EXPECT_GE(xai_value_get_int(xai_value_get(good, "calls")), 1);
    EXPECT_GE(xai_value_get_int(xai_value_get(good, "rows")), 4);  // x and 3 occlusions
    EXPECT_GE(xai_value_get_int(xai_value_get(xai_value_get(s, "cache"), "entries")), 4);
}

TEST_F(Protocol, SpaceOptionsReachTheTextSpace) {
    auto values_of = [](const Value &fin) {
        std::vector<double> v;
        const xai_value *a = xai_value_get(xai_value_get(fin.get(), "result"), "values");
        for (size_t i = 0; i < xai_value_len(a); i++) v.push_back(xai_value_get_number(xai_value_at(a, i)));
        return v;
    };
    // bag_of_words on "free free money": features {free, money}; removing
    // "free" removes both: p = 0.1 + 0.3 = 0.4, fx = 0.8, so R_free = 0.4,
    // R_money = 0.3. (By position, removing one "free" keeps the other: 0.)
    xai_value *m = explain_msg("good", "occlusion", "free free money");
    xai_value *sp = xai_value_map();
    xai_value_set_bool(sp, "bag_of_words", true);
    xai_value_set(m, "space", sp);
    Value fin = run(c, m);
    ASSERT_TRUE(fin);
    ASSERT_STREQ(str(fin.get(), "event"), "result") << str(fin.get(), "message");
    std::vector<double> v = values_of(fin);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NEAR(v[0], 0.4, 1e-12);
    EXPECT_NEAR(v[1], 0.3, 1e-12);
    fin = run(c, explain_msg("good", "occlusion", "free free money"));
    ASSERT_TRUE(fin);
    v = values_of(fin);
    ASSERT_EQ(v.size(), 3u);
    EXPECT_NEAR(v[0], 0.0, 1e-12);
    EXPECT_NEAR(v[1], 0.0, 1e-12);
    // mask_token "free" on "money now" (fx = 0.4, target spam): removing
    // "now" renders "money free", p = 0.8, so R_now = 0.4 - 0.8 = -0.4.
    m = with_param(explain_msg("good", "occlusion", "money now"), "target", 1);
    sp = xai_value_map();
    xai_value_set_str(sp, "mask_token", "free");
    xai_value_set(m, "space", sp);
    fin = run(c, m);
    ASSERT_TRUE(fin);
    ASSERT_STREQ(str(fin.get(), "event"), "result") << str(fin.get(), "message");
    v = values_of(fin);
    ASSERT_EQ(v.size(), 2u);
    EXPECT_NEAR(v[1], -0.4, 1e-12);
}

TEST_F(Protocol, ExplainTabularUsesTheConfiguredBackground) {
    // f_1(x) = 0.1 x0 + 0.2 x1, background (0, 0), x = (1, 2): f = 0.5 and
    // f_0 = 0.5 tie; ask target 1. R_a = 0.1 (1 - 0) = 0.1, R_b = 0.2 (2 - 0) = 0.4.
    xai_value *m = xai_value_map();
    xai_value_set_str(m, "model", "tab");
    xai_value_set_str(m, "method", "occlusion");
    xai_value *in = xai_value_map();
    xai_value_set(in, "row", xai_value_float_array((const double[]){1, 2}, 2));
    xai_value_set(m, "input", in);
    Value res = run(c, with_param(m, "target", 1));
    ASSERT_TRUE(res);
    ASSERT_STREQ(str(res.get(), "event"), "result") << str(res.get(), "message");
    const xai_value *r = xai_value_get(res.get(), "result");
    const xai_value *vals = xai_value_get(r, "values"), *names = xai_value_get(r, "features");
    ASSERT_EQ(xai_value_len(vals), 2u);
    EXPECT_NEAR(xai_value_get_number(xai_value_at(vals, 0)), 0.1, 1e-12);
    EXPECT_NEAR(xai_value_get_number(xai_value_at(vals, 1)), 0.4, 1e-12);
    EXPECT_STREQ(xai_value_get_str(xai_value_at(names, 0), nullptr), "a");  // CSV header
    EXPECT_STREQ(xai_value_get_str(xai_value_at(names, 1), nullptr), "b");
}

TEST_F(Protocol, CancelStopsARunningJob) {
    // slow: max_rows 1 and 150 ms per call; occlusion of 8 tokens needs 9
    // calls (1.35 s). Cancelled right after `accepted`, it must end with
    // `cancelled` well before that.
    int64_t job = submit(c, explain_msg("slow", "occlusion", "a b c d e f g h"));
    ASSERT_GT(job, 0);
    // Calls take 150 ms, so within 400 ms at least one progress event (they
    // come before model calls, at most every 100 ms) has arrived.
    Value prog = c.wait_for([job](const xai_value *v) {
        return strcmp(str(v, "event"), "progress") == 0 &&
               xai_value_get_int(xai_value_get(v, "job")) == job;
    }, 0.4);
    ASSERT_TRUE(prog);
    double frac = xai_value_get_number(xai_value_get(prog.get(), "progress"));
    EXPECT_TRUE(frac >= 0 && frac <= 1) << frac;
    EXPECT_EQ(xai_value_type(xai_value_get(xai_value_get(prog.get(), "stats"), "model_calls")), XAI_V_INT);
    usleep(100 * 1000);
    double t0 = now();
    xai_value *q = xai_value_map();
    xai_value_set_int(q, "job", job);
    Value r = c.request("cancel", q);
    ASSERT_TRUE(r);
    EXPECT_TRUE(xai_value_get_bool(xai_value_get(r.get(), "ok")));
    Value fin = c.wait_final(job);
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "event"), "error");
    EXPECT_STREQ(str(fin.get(), "code"), "cancelled");
    EXPECT_LT(now() - t0, 0.9);  // the 8 remaining calls would take 1.2 s
    q = xai_value_map();
    xai_value_set_int(q, "job", job);
    Value st = c.request("status", q);
    EXPECT_STREQ(str(st.get(), "state"), "cancelled");
    q = xai_value_map();
    xai_value_set_int(q, "job", 999999);
    Value nf = c.request("cancel", q);
    EXPECT_STREQ(str(nf.get(), "code"), "not_found");
}

TEST_F(Protocol, FullQueueAnswersBusy) {
    // 3 workers and max_queue 2: with 5 slow jobs holding workers and queue,
    // the 6th is refused with `busy`. Then every job is cancelled.
    std::vector<int64_t> jobs;
    Value refusal;
    for (int i = 0; i < 6; i++) {
        int64_t j = submit(c, explain_msg("slow", "occlusion", "a b c d e f g h"), &refusal);
        if (j == 0) break;
        jobs.push_back(j);
        usleep(30 * 1000);  // let a worker take it before the next one
    }
    EXPECT_EQ(jobs.size(), 5u);
    ASSERT_TRUE(refusal);
    EXPECT_STREQ(str(refusal.get(), "code"), "busy");
    for (int64_t j : jobs) {
        xai_value *q = xai_value_map();
        xai_value_set_int(q, "job", j);
        c.request("cancel", q);
    }
    for (int64_t j : jobs) {
        Value fin = c.wait_final(j);
        ASSERT_TRUE(fin);
        EXPECT_STREQ(str(fin.get(), "code"), "cancelled");
    }
}

TEST_F(Protocol, MalformedInputGetsAClearErrorAndTheDaemonStaysUp) {
    auto map_with = [](std::initializer_list<std::pair<const char *, xai_value *>> kv) {
        xai_value *m = xai_value_map();
        for (auto &p : kv) xai_value_set(m, p.first, p.second);
        std::string bytes = pack(m);
        xai_value_free(m);
        return bytes;
    };
    std::string ping = map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("ping")},
                                 {"req", xai_value_int(1)}});
    std::string deep(1000, '\x91');
    deep += '\xc0';
    std::string big = map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("ping")},
                                {"pad", xai_value_str(std::string(70000, 'x').c_str())}});
    xai_value *nested_in = xai_value_map();
    xai_value_set_int(nested_in, "text", 5);
    struct Case { const char *what; std::string bytes; const char *code; } cases[] = {
        {"truncated msgpack", ping.substr(0, ping.size() / 2), "bad_request"},
        {"empty frame", "", "bad_request"},
        {"not a map", std::string("\x93\x01\x02\x03", 4), "bad_request"},
        {"2^28-element array header", std::string("\xdd\x10\x00\x00\x00", 5), "bad_request"},
        {"nesting 1000 deep", deep, "bad_request"},
        {"over max_message_bytes", big, "limit_exceeded"},
        {"wrong v", map_with({{"v", xai_value_int(2)}, {"op", xai_value_str("ping")}}),
         "unsupported_version"},
        {"missing v", map_with({{"op", xai_value_str("ping")}}), "bad_request"},
        {"op not a string", map_with({{"v", xai_value_int(1)}, {"op", xai_value_int(5)}}),
         "bad_request"},
        {"req not an int", map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("ping")},
                                     {"req", xai_value_str("x")}}), "bad_request"},
        {"unknown op", map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("explode")}}),
         "unknown_op"},
        {"status job not an int", map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("status")},
                                            {"job", xai_value_str("7")}}), "bad_request"},
        {"unknown model", map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("explain")},
                                    {"model", xai_value_str("nope")},
                                    {"method", xai_value_str("occlusion")}}), "unknown_model"},
        {"unknown method", map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("explain")},
                                     {"model", xai_value_str("good")},
                                     {"method", xai_value_str("astrology")}}), "unknown_method"},
        {"text not a string", map_with({{"v", xai_value_int(1)}, {"op", xai_value_str("explain")},
                                        {"model", xai_value_str("good")},
                                        {"method", xai_value_str("occlusion")},
                                        {"input", nested_in}}), "bad_request"},
        {"duplicate keys", std::string("\x82\xa1v\x01\xa1v\x01", 7), "bad_request"},
        {"extension type", std::string("\xd4\x01\x02", 3), "bad_request"},
    };
    for (const Case &k : cases) {
        c.send_raw(k.bytes);
        Value e = c.wait_for([](const xai_value *v) {
            return strcmp(str(v, "event"), "error") == 0 && xai_value_get(v, "job") == nullptr;
        }, 5);
        ASSERT_TRUE(e) << k.what << "\n" << d.log();
        EXPECT_STREQ(str(e.get(), "code"), k.code) << k.what << ": " << str(e.get(), "message");
        EXPECT_GT(strlen(str(e.get(), "message")), 5u) << k.what;
        ASSERT_TRUE(ping_ok(c)) << "daemon down after: " << k.what << "\n" << d.log();
    }
}

TEST_F(Protocol, GarbageFuzzNeverTakesTheDaemonDown) {
    // 400 messages, fixed seed: random bytes, and random byte changes of a
    // valid explain. Each gets at most one answer; the daemon must answer a
    // ping afterwards. Jobs that happen to be accepted are waited for.
    xai_value *m = explain_msg("good", "occlusion", "free money now");
    xai_value_set_int(m, "v", 1);
    xai_value_set_str(m, "op", "explain");
    xai_value_set_int(m, "req", 5);
    std::string base = pack(m);
    xai_value_free(m);
    uint64_t x = 88172645463325252ull;  // xorshift64
    auto next = [&x]() { x ^= x << 13; x ^= x >> 7; x ^= x << 17; return x; };
    for (int i = 0; i < 400; i++) {
        std::string b;
        if (i % 2 == 0) {
            b.resize(next() % 40);
            for (char &ch : b) ch = (char)next();
        } else {
            b = base;
            for (int f = 0; f < 3; f++) b[next() % b.size()] = (char)next();
        }
        c.send_raw(b);
    }
    // Drain whatever comes back, then the daemon must still answer.
    while (c.recv(300)) {}
    c.stash.clear();
    EXPECT_TRUE(ping_ok(c)) << d.log();
    Value st = c.request("stats");
    ASSERT_TRUE(st);
    const xai_value *jobs = xai_value_get(xai_value_get(st.get(), "stats"), "jobs");
    int64_t active = xai_value_get_int(xai_value_get(jobs, "queued")) +
                     xai_value_get_int(xai_value_get(jobs, "running"));
    for (int i = 0; i < 100 && active > 0; i++) {  // let accepted jobs finish
        usleep(50 * 1000);
        st = c.request("stats");
        jobs = xai_value_get(xai_value_get(st.get(), "stats"), "jobs");
        active = xai_value_get_int(xai_value_get(jobs, "queued")) +
                 xai_value_get_int(xai_value_get(jobs, "running"));
    }
    EXPECT_EQ(active, 0);
    c.stash.clear();
    while (c.recv(100)) {}
}

TEST_F(Protocol, RequestLimitsAreEnforced) {
    // num_samples above max_samples (5000) is refused before the job starts.
    xai_value *m = with_param(explain_msg("good", "occlusion", "free money"), "num_samples", 5001);
    Value refusal;
    EXPECT_EQ(submit(c, m, &refusal), 0);
    ASSERT_TRUE(refusal);
    EXPECT_STREQ(str(refusal.get(), "code"), "limit_exceeded");
    // An unknown method parameter is refused before the job exists too.
    EXPECT_EQ(submit(c, with_param(explain_msg("good", "occlusion", "free money"), "no_such_option", 1),
                     &refusal), 0);
    ASSERT_TRUE(refusal);
    EXPECT_STREQ(str(refusal.get(), "code"), "invalid_argument");
    EXPECT_NE(std::string(str(refusal.get(), "message")).find("no_such_option"), std::string::npos);
}

// The strings of an error's `choices` array.
std::vector<std::string> choices_of(const xai_value *e) {
    std::vector<std::string> out;
    const xai_value *a = xai_value_get(e, "choices");
    for (size_t i = 0; i < xai_value_len(a); i++) {
        const char *x = xai_value_get_str(xai_value_at(a, i), nullptr);
        out.push_back(x ? x : "?");
    }
    return out;
}

TEST_F(Protocol, UnknownNamesListTheChoicesAndTheClosest) {
    auto first = [](const xai_value *a) {
        return xai_value_get_str(xai_value_at(xai_value_get(a, "choices"), 0), nullptr);
    };
    // Model: every configured name, in config order; "goood" is one edit from "good".
    Value r;
    EXPECT_EQ(submit(c, explain_msg("goood", "occlusion", "x"), &r), 0);
    ASSERT_TRUE(r);
    EXPECT_STREQ(str(r.get(), "code"), "unknown_model");
    EXPECT_STREQ(str(r.get(), "suggestion"), "good");
    EXPECT_STREQ(first(r.get()), "good");
    EXPECT_EQ(xai_value_len(xai_value_get(r.get(), "choices")), 8u);  // the models of the config
    EXPECT_NE(std::string(str(r.get(), "message")).find("did you mean \"good\""), std::string::npos);
    // Method: a typo, and a word contained in one name.
    EXPECT_EQ(submit(c, explain_msg("good", "kernelshapp", "x"), &r), 0);
    EXPECT_STREQ(str(r.get(), "code"), "unknown_method");
    EXPECT_STREQ(str(r.get(), "suggestion"), "kernelshap");
    EXPECT_EQ(submit(c, explain_msg("good", "shap", "x"), &r), 0);
    EXPECT_STREQ(str(r.get(), "suggestion"), "kernelshap");
    // Nothing close: choices but no suggestion.
    EXPECT_EQ(submit(c, explain_msg("good", "astrology", "x"), &r), 0);
    EXPECT_EQ(xai_value_get(r.get(), "suggestion"), nullptr);
    EXPECT_GE(xai_value_len(xai_value_get(r.get(), "choices")), 7u);
    // Method parameter: seed and target first, then the method's own.
    EXPECT_EQ(submit(c, with_param(explain_msg("good", "kernelshap", "x"), "nsample", 10), &r), 0);
    EXPECT_STREQ(str(r.get(), "code"), "invalid_argument");
    EXPECT_STREQ(str(r.get(), "suggestion"), "nsamples");
    std::vector<std::string> ch = choices_of(r.get());
    ASSERT_GE(ch.size(), 3u);
    EXPECT_EQ(ch[0], "seed");
    EXPECT_EQ(ch[1], "target");
    EXPECT_EQ(ch[2], "nsamples");
    // Space key of a text model.
    xai_value *m = explain_msg("good", "occlusion", "x");
    xai_value *sp = xai_value_map();
    xai_value_set_bool(sp, "bag_of_word", true);
    xai_value_set(m, "space", sp);
    EXPECT_EQ(submit(c, m, &r), 0);
    EXPECT_STREQ(str(r.get(), "suggestion"), "bag_of_words");
    // Class name: known once the model is, so the job's error lists them.
    m = explain_msg("good", "occlusion", "free money");
    xai_value *pm = xai_value_map();
    xai_value_set_str(pm, "target", "spma");
    xai_value_set(m, "params", pm);
    Value fin = run(c, m);
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "invalid_argument") << str(fin.get(), "message");
    EXPECT_STREQ(str(fin.get(), "suggestion"), "spam");
    EXPECT_EQ(choices_of(fin.get()), (std::vector<std::string>{"ham", "spam"}));
}

TEST_F(Protocol, AModelThatIsNotReadyFailsFastAndLimitsComeFirst) {
    // `down` has the default timeout_ms 5000 and retries 2 (15 s of calls),
    // but no server: the job waits ready_wait_ms (default 1000) and no more.
    double t0 = now();
    Value fin = run(c, explain_msg("down", "occlusion", "free money"));
    double took = now() - t0;
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "model_unavailable") << str(fin.get(), "message");
    EXPECT_GE(took, 0.9);
    EXPECT_LT(took, 1.0 + 1.0);
    // A text over max_tokens (20000) is refused without waiting at all.
    std::string big;
    for (int i = 0; i < 20001; i++) big += "w ";
    t0 = now();
    fin = run(c, explain_msg("down", "occlusion", big.c_str()));
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "limit_exceeded") << str(fin.get(), "message");
    EXPECT_LT(now() - t0, 0.8);
}

TEST_F(Protocol, ARefusedInfoAnswerIsTheReasonGiven) {
    // `wrongkind` is configured as text, its server says tabular.
    Value fin = run(c, explain_msg("wrongkind", "occlusion", "free money"));
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "model_unavailable");
    std::string msg = str(fin.get(), "message");
    EXPECT_NE(msg.find("refused"), std::string::npos) << msg;
    EXPECT_NE(msg.find("\"tabular\""), std::string::npos) << msg;
    EXPECT_EQ(msg.find("no answer to info"), std::string::npos) << msg;
}

TEST_F(Protocol, JobErrorsCarryStableCodes) {
    auto with_space = [](xai_value *m, const char *key, xai_value *v) {
        xai_value *sp = xai_value_map();
        xai_value_set(sp, key, v);
        xai_value_set(m, "space", sp);
        return m;
    };
    std::string many_a(30, 'a');
    many_a += 'b';
    struct Case { const char *what; xai_value *msg; const char *code; } cases[] = {
        {"pattern that does not compile",
         with_space(explain_msg("good", "occlusion", "free money"), "pattern", xai_value_str("(")),
         "bad_pattern"},
        {"catastrophic pattern",
         with_space(explain_msg("good", "occlusion", many_a.c_str()), "pattern",
                    xai_value_str("^(a+)+$")),
         "pattern_limit"},
        {"invalid UTF-8", explain_msg("good", "occlusion", "caf\xc3("), "invalid_utf8"},
    };
    for (const Case &k : cases) {
        Value fin = run(c, k.msg);
        ASSERT_TRUE(fin) << k.what;
        EXPECT_STREQ(str(fin.get(), "code"), k.code) << k.what << ": " << str(fin.get(), "message");
    }
    // An unknown space key is refused before the job exists.
    Value refusal;
    EXPECT_EQ(submit(c, with_space(explain_msg("good", "occlusion", "x"), "colour", xai_value_int(1)),
                     &refusal), 0);
    ASSERT_TRUE(refusal);
    EXPECT_STREQ(str(refusal.get(), "code"), "invalid_argument");
    EXPECT_NE(std::string(str(refusal.get(), "message")).find("colour"), std::string::npos);
}

TEST_F(Protocol, NanFromTheModelIsBadModelOutput) {
    Value fin = run(c, explain_msg("nan", "occlusion", "free money"));
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "event"), "error");
    EXPECT_STREQ(str(fin.get(), "code"), "bad_model_output") << str(fin.get(), "message");
    EXPECT_TRUE(ping_ok(c));
}

TEST_F(Protocol, DeadModelIsUnavailableWhileOthersGoOn) {
    // dead: timeout 300 ms, 1 retry, so the job must end within
    // 300 * (1 + 1) ms plus slack; a job on `good` sent just after succeeds.
    double t0 = now();
    int64_t dead = submit(c, explain_msg("dead", "occlusion", "free money"));
    int64_t good = submit(c, explain_msg("good", "occlusion", "free money"));
    ASSERT_GT(dead, 0);
    ASSERT_GT(good, 0);
    Value g = c.wait_final(good);
    ASSERT_TRUE(g);
    EXPECT_STREQ(str(g.get(), "event"), "result") << str(g.get(), "message");
    Value fin = c.wait_final(dead);
    double took = now() - t0;
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "model_unavailable") << str(fin.get(), "message");
    EXPECT_LT(took, 0.6 + 1.5);
    EXPECT_GE(took, 0.25);  // it did wait for the model
}

TEST_F(Protocol, DeadlineEndsAJob) {
    // 9 slow calls take 1.35 s; with deadline_ms 300 the job ends with
    // deadline_exceeded after about 0.3 s (+ one call and the 100 ms tick).
    xai_value *m = explain_msg("slow", "occlusion", "a b c d e f g h");
    xai_value_set_int(m, "deadline_ms", 300);
    double t0 = now();
    int64_t job = submit(c, m);
    ASSERT_GT(job, 0);
    Value fin = c.wait_final(job);
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "deadline_exceeded") << str(fin.get(), "message");
    EXPECT_GE(now() - t0, 0.28);
    EXPECT_LT(now() - t0, 1.2);  // the whole job would take 1.35 s
}

TEST_F(Protocol, RestartedModelIsServedAgain) {
    // `flaky` (timeout 300 ms, 1 retry) is served by a model started here.
    // Killed, its next job fails with model_unavailable within 2 x 300 ms
    // plus slack; restarted on the same endpoint, the daemon reconnects,
    // re-checks readiness with `info`, and serves it without a restart.
    std::string ep = "ipc://" + d.dir + "/flaky.sock";
    pid_t m = spawn_model(ep, Behaviour::Good);
    double t0 = now();
    int64_t job = 0;
    Value fin;
    while (now() - t0 < 10) {  // wait until the link saw it ready and a job succeeds
        job = submit(c, explain_msg("flaky", "occlusion", "free money"));
        fin = c.wait_final(job);
        if (fin && strcmp(str(fin.get(), "event"), "result") == 0) break;
    }
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "event"), "result") << str(fin.get(), "message");
    kill(m, SIGKILL);
    waitpid(m, nullptr, 0);
    t0 = now();
    job = submit(c, explain_msg("flaky", "occlusion", "free money now"));
    fin = c.wait_final(job);
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "model_unavailable") << str(fin.get(), "message");
    EXPECT_LT(now() - t0, 0.6 + 1.5);
    m = spawn_model(ep, Behaviour::Good);
    t0 = now();
    job = submit(c, explain_msg("flaky", "occlusion", "free money now"));
    fin = c.wait_final(job);
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "event"), "result") << str(fin.get(), "message") << d.log();
    EXPECT_LT(now() - t0, 3.0);
    kill(m, SIGKILL);
    waitpid(m, nullptr, 0);
}

TEST(ProtocolConfig, BadConfigAndFlagsAreRefusedClearly) {
    char tmpl[] = "/tmp/xaid-conf-XXXXXX";
    std::string dir = mkdtemp(tmpl);
    std::ofstream(dir + "/bad.conf") << "workers = 2\n# fine\nmodel m = text@ipc:///tmp/x.sock\n"
                                        "model m.timeout_ms = soon\n";
    const char *build = getenv("XAI_BUILD");
    std::string bin = std::string(build ? build : "build") + "/san/xaid";
    auto run = [&](const std::string &args, std::string *out) {
        std::string cmd = bin + " " + args + " 2>&1";
        FILE *p = popen(cmd.c_str(), "r");
        char buf[512];
        out->clear();
        while (p && fgets(buf, sizeof buf, p)) *out += buf;
        int st = p ? pclose(p) : -1;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    };
    std::string out;
    EXPECT_EQ(run("--config " + dir + "/bad.conf", &out), 2);
    EXPECT_NE(out.find("bad.conf:4: "), std::string::npos) << out;   // names the line
    EXPECT_NE(out.find("timeout_ms"), std::string::npos) << out;
    EXPECT_EQ(run("--model nokind", &out), 2);
    EXPECT_NE(out.find("name=kind@endpoint"), std::string::npos) << out;
    EXPECT_EQ(run("--model m=video@ipc:///tmp/x", &out), 2);
    EXPECT_NE(out.find("text|tabular"), std::string::npos) << out;
    EXPECT_EQ(run("--config " + dir + "/missing.conf", &out), 2);
    EXPECT_EQ(run("--version", &out), 0);
    EXPECT_NE(out.find(XAI_VERSION_STRING), std::string::npos) << out;
    std::string cmd = "rm -rf '" + dir + "'";
    EXPECT_EQ(system(cmd.c_str()), 0);
}

TEST(ProtocolShutdown, SigtermCancelsRunningJobsAfterTheGraceAndExitsZero) {
    // shutdown_grace_ms is 300; a slow job (9 calls of 150 ms) is running.
    // After SIGTERM: a new explain gets shutting_down, the running job ends
    // with shutting_down once the grace is over, and xaid exits 0.
    Daemon d;
    Client c;
    d.start("");
    c.connect(d.front);
    double t0 = now();
    while (now() - t0 < 15 && !ping_ok(c)) usleep(50 * 1000);
    int64_t job = submit(c, explain_msg("slow", "occlusion", "a b c d e f g h"));
    ASSERT_GT(job, 0) << d.log();
    usleep(300 * 1000);
    kill(d.pid, SIGTERM);
    usleep(100 * 1000);
    Value refusal;
    EXPECT_EQ(submit(c, explain_msg("good", "occlusion", "free"), &refusal), 0);
    ASSERT_TRUE(refusal);
    EXPECT_STREQ(str(refusal.get(), "code"), "shutting_down");
    Value fin = c.wait_final(job, 5);
    ASSERT_TRUE(fin);
    EXPECT_STREQ(str(fin.get(), "code"), "shutting_down");
    int code = d.stop(10);
    EXPECT_EQ(code, 0) << d.log();
    EXPECT_NE(d.log().find("msg=\"xaid stopped\" code=0"), std::string::npos) << d.log();
    c.close();
    d.cleanup();
}
