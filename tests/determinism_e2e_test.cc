// determinism_e2e_test.cc — what a result promises about its bytes, and what
// a LIME text job shows the model, against a real xaid.
//
// docs/PROTOCOL.md says every field of a result is a function of the model,
// the input, the method, its parameters and the seed, except `seconds` and
// `stats` (timings and cache counters). Here each method runs on a text and
// a tabular model, and the result minus those two fields, packed with
// msgpack, must be the same bytes
//   * twice on one daemon (the second time from a warm cache),
//   * on a daemon with 1 worker and on one with 4,
//   * with every job submitted at once, twice over, next to other jobs
//     (so batches of different jobs are merged and the cache is shared).
//
// The models run in threads of this process (xai_model_server), xaid as a
// child process ($XAI_BUILD/san/xaid); the text model records every text it
// is asked about, so the LIME test can check what lime 0.2 would render.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "xai/client.h"
#include "xai/model_server.h"
#include "xai/result.h"
#include "e2e_util.h"

using namespace e2e;

namespace {

// ---- the models ---------------------------------------------------------------

// Text: p(spam) = sigmoid(-0.5 + word weights + 0.3 per "UNK" + 0.002 per
// byte), so the mask token and the length both show in the outputs.
double word_weight(const std::string &w) {
    if (w == "free") return 2.0;
    if (w == "money") return 1.5;
    if (w == "win") return 1.0;
    if (w == "meeting") return -1.5;
    if (w == "UNK") return 0.3;
    return 0.0;
}

double text_p(const char *s, size_t n) {
    double z = -0.5 + 0.002 * (double)n;
    std::string w;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && std::isalnum((unsigned char)s[i])) {
            w += s[i];
        } else if (!w.empty()) {
            z += word_weight(w);
            w.clear();
        }
    }
    return 1.0 / (1.0 + std::exp(-z));
}

struct TextModel {
    std::mutex mu;
    std::set<std::string> seen;
};

xai_status predict_text(void *ctx, const xai_batch *b, double *out, xai_error *) {
    TextModel *m = static_cast<TextModel *>(ctx);
    std::lock_guard<std::mutex> lock(m->mu);
    for (size_t i = 0; i < b->n; i++) {
        m->seen.insert(std::string(b->texts[i], b->text_lens[i]));
        double p = text_p(b->texts[i], b->text_lens[i]);
        out[2 * i] = 1 - p;
        out[2 * i + 1] = p;
    }
    return XAI_OK;
}

// Tabular, 4 columns: p = sigmoid(x0 - 2 x1 + x2 x3), two classes.
xai_status predict_rows(void *, const xai_batch *b, double *out, xai_error *) {
    for (size_t i = 0; i < b->n; i++) {
        const double *x = b->rows + i * b->cols;
        double p = 1.0 / (1.0 + std::exp(-(x[0] - 2 * x[1] + x[2] * x[3])));
        out[2 * i] = 1 - p;
        out[2 * i + 1] = p;
    }
    return XAI_OK;
}

const char *const kClasses[] = {"ham", "spam"};
const char *const kColumns[] = {"a", "b", "c", "d"};

// A model server in a thread of this process.
class Served {
  public:
    Served(bool text, const std::string &ep, TextModel *tm) {
        xai_model_server_opts o = {};
        o.endpoint = ep.c_str();
        o.n_outputs = 2;
        o.class_names = kClasses;
        if (text) {
            o.kind = XAI_INPUT_TEXT;
            o.predict = predict_text;
            o.ctx = tm;
        } else {
            o.kind = XAI_INPUT_ROWS;
            o.n_features = 4;
            o.feature_names = kColumns;
            o.predict = predict_rows;
        }
        xai_error err;
        EXPECT_EQ(xai_model_server_new(&o, &s_, &err), XAI_OK) << err.message;
        if (s_) th_ = std::thread([this] { xai_model_server_run(s_, &err_); });
    }
    ~Served() {
        xai_model_server_stop(s_);
        if (th_.joinable()) th_.join();
        xai_model_server_free(s_);
    }

  private:
    xai_model_server *s_ = nullptr;
    xai_error err_;
    std::thread th_;
};

// ---- a daemon -------------------------------------------------------------------

// xaid with `workers` workers on the two models; empty skip() when it is up.
struct Daemon {
    pid_t pid = -1;
    std::string ep, why;
    Daemon(const TempDir &dir, const std::string &name, int workers) {
        std::string xaid = build_dir() + "/san/xaid";
        if (access(xaid.c_str(), X_OK) != 0) {
            why = "xaid is not built at " + xaid;
            return;
        }
        ep = dir.ep(name + ".sock");
        std::string bg = dir.path + "/bg.csv", conf = dir.path + "/" + name + ".conf";
        std::ofstream(bg) << "a,b,c,d\n0,0,0,0\n1,0.5,-1,2\n-1,1,0.5,0.5\n0.5,-0.5,2,-1\n"
                          << "2,1,1,1\n-0.5,0.25,-2,0\n";
        std::ofstream(conf) << "bind = " << ep << "\n"
                            << "workers = " << workers << "\n"
                            << "job_deadline_ms = 120000\n"
                            << "max_queue = 64\n"
                            << "model words = text@" << dir.ep("words.sock") << "\n"
                            << "model rows = tabular@" << dir.ep("rows.sock") << "\n"
                            << "model rows.background = " << bg << "\n";
        pid = spawn({xaid, "--config", conf}, {}, dir.path + "/" + name + ".log");
        xai_client *c = nullptr;
        xai_error err;
        xai_client_connect(ep.c_str(), &c, &err);
        xai_client_set_timeout(c, 500);
        double s;
        bool up = eventually(20, [&] { return xai_client_ping(c, &s, &err) == XAI_OK; });
        bool ready = up && eventually(10, [&] {
            return model_ready(c, "words") && model_ready(c, "rows");
        });
        xai_client_close(c);
        if (!ready) why = "xaid does not come up with its models ready; log in " + dir.path;
    }
    ~Daemon() { stop_process(pid); }
};

// ---- jobs -----------------------------------------------------------------------

struct Job {
    const char *model, *method;
    std::string text;
    std::vector<double> row;
    std::vector<std::pair<const char *, int64_t>> params;
};

std::vector<Job> all_jobs() {
    const std::string t = "win free money now, the meeting is free";
    const std::vector<double> x = {1.5, -0.5, 0.75, 2.0};
    std::vector<Job> jobs;
    for (const char *model : {"words", "rows"}) {
        bool text = std::string(model) == "words";
        auto add = [&](const char *method, std::vector<std::pair<const char *, int64_t>> p) {
            p.push_back({"seed", 7});
            jobs.push_back({model, method, text ? t : "", text ? std::vector<double>{} : x, p});
        };
        add("occlusion", {});
        add("exact_shapley", {});
        add("lime", {{"num_samples", 300}});
        add("kernelshap", {{"nsamples", 64}});
        add("shapley_sampling", {{"max_evals", 200}});
        add("anchors", {{"fresh_samples", 300}, {"coverage_samples", 500}});
    }
    return jobs;
}

xai_value *params_of(const Job &j, int64_t seed_offset) {
    xai_value *p = xai_value_map();
    for (auto &kv : j.params)
        xai_value_set_int(p, kv.first, kv.second + (std::string(kv.first) == "seed" ? seed_offset : 0));
    return p;
}

// The result's wire form without `seconds` and `stats`, packed.
std::string canonical(const xai_result *r) {
    xai_value *v = xai_result_to_value(r), *keep = xai_value_map();
    for (size_t i = 0; i < xai_value_len(v); i++) {
        std::string k = xai_value_key_at(v, i);
        if (k != "seconds" && k != "stats")
            xai_value_set(keep, k.c_str(), xai_value_clone(xai_value_val_at(v, i)));
    }
    char *buf = nullptr;
    size_t len = 0;
    EXPECT_EQ(xai_value_pack(keep, &buf, &len, nullptr), XAI_OK);
    std::string s(buf ? buf : "", len);
    xai_free(buf);
    xai_value_free(keep);
    xai_value_free(v);
    return s;
}

// Submits the jobs (seed + seed_offset) all at once, then collects them:
// their canonical bytes in job order; "" for a job that failed.
std::vector<std::string> run_all(const std::string &ep, const std::vector<Job> &jobs,
                                 int64_t seed_offset, bool at_once) {
    xai_client *c = nullptr;
    xai_error err;
    EXPECT_EQ(xai_client_connect(ep.c_str(), &c, &err), XAI_OK);
    xai_client_set_timeout(c, 10000);
    std::vector<std::string> out(jobs.size());
    std::vector<uint64_t> ids(jobs.size());
    auto collect = [&](size_t i) {
        xai_result *r = nullptr;
        xai_status st = xai_client_wait(c, ids[i], 120000, nullptr, nullptr, &r, &err);
        EXPECT_EQ(st, XAI_OK) << jobs[i].model << " " << jobs[i].method << ": " << err.message;
        if (st == XAI_OK) out[i] = canonical(r);
        xai_result_free(r);
    };
    for (size_t i = 0; i < jobs.size(); i++) {
        xai_job_request rq = {};
        rq.model = jobs[i].model;
        rq.method = jobs[i].method;
        if (!jobs[i].text.empty()) rq.text = jobs[i].text.c_str();
        else rq.row = jobs[i].row.data(), rq.n_cols = jobs[i].row.size();
        xai_value *p = params_of(jobs[i], seed_offset);
        rq.params = p;
        EXPECT_EQ(xai_client_submit(c, &rq, &ids[i], &err), XAI_OK)
            << jobs[i].model << " " << jobs[i].method << ": " << err.message;
        xai_value_free(p);
        if (!at_once) collect(i);
    }
    if (at_once)
        for (size_t i = 0; i < jobs.size(); i++) collect(i);
    xai_client_close(c);
    return out;
}

// Jobs j interleaved with other work: every job twice, and each once more
// with another seed, all submitted before any is collected.
std::vector<Job> crowded(const std::vector<Job> &jobs) {
    std::vector<Job> all;
    for (const Job &j : jobs) {
        all.push_back(j);
        Job other = j;
        for (auto &kv : other.params)
            if (std::string(kv.first) == "seed") kv.second += 1000;
        all.push_back(other);
    }
    for (const Job &j : jobs) all.push_back(j);
    return all;
}

class Determinism : public ::testing::Test {
  protected:
    void SetUp() override {
        text_ = std::make_unique<Served>(true, dir_.ep("words.sock"), &tm_);
        rows_ = std::make_unique<Served>(false, dir_.ep("rows.sock"), nullptr);
    }
    TempDir dir_;
    TextModel tm_;
    std::unique_ptr<Served> text_, rows_;
};

}  // namespace

TEST_F(Determinism, ResultBytesDoNotDependOnCacheWorkersOrOtherJobs) {
    std::vector<Job> jobs = all_jobs();
    std::vector<std::string> first, again, four;
    {
        Daemon one(dir_, "one", 1);
        if (!one.why.empty()) GTEST_SKIP() << one.why;
        first = run_all(one.ep, jobs, 0, false);
        again = run_all(one.ep, jobs, 0, false);    // the cache answers now
    }
    {
        Daemon many(dir_, "four", 4);
        if (!many.why.empty()) GTEST_SKIP() << many.why;
        std::vector<Job> all = crowded(jobs);
        std::vector<std::string> got = run_all(many.ep, all, 0, true);
        for (size_t i = 0; i < jobs.size(); i++) {
            SCOPED_TRACE(std::string(jobs[i].model) + " " + jobs[i].method);
            EXPECT_EQ(got[2 * i], first[i]) << "4 workers, other jobs running";
            EXPECT_EQ(got[2 * jobs.size() + i], first[i]) << "4 workers, the repeat";
            EXPECT_NE(got[2 * i + 1], first[i]) << "another seed gives other bytes";
        }
    }
    for (size_t i = 0; i < jobs.size(); i++) {
        SCOPED_TRACE(std::string(jobs[i].model) + " " + jobs[i].method);
        ASSERT_FALSE(first[i].empty());
        EXPECT_EQ(again[i], first[i]) << "1 worker, warm cache";
    }
}

TEST_F(Determinism, LimeTextRendersWhatLime02Renders) {
    // lime 0.2 in bag-of-words mode deletes every occurrence of a removed
    // word and keeps the separators. "free money, free!" has the words
    // free (twice) and money; by hand the texts LIME may ask about are
    //   "free money, free!"  (x)   " money, !"  (free removed)
    //   "free , free!"  (money)    " , !"       (both)
    // and with space.delete = false (UNK replacement, still available)
    //   "UNK money, UNK!", "free UNK, free!", "UNK UNK, UNK!".
    Daemon d(dir_, "lime", 2);
    if (!d.why.empty()) GTEST_SKIP() << d.why;
    xai_client *c = nullptr;
    xai_error err;
    ASSERT_EQ(xai_client_connect(d.ep.c_str(), &c, &err), XAI_OK);
    auto seen_with = [&](xai_value *space) {
        {
            std::lock_guard<std::mutex> lock(tm_.mu);
            tm_.seen.clear();
        }
        xai_value *p = xai_value_map();
        xai_value_set_int(p, "num_samples", 200);
        xai_value_set_int(p, "seed", 3);
        xai_job_request rq = {};
        rq.model = "words";
        rq.method = "lime";
        rq.text = "free money, free!";
        rq.params = p;
        rq.space = space;
        xai_result *r = nullptr;
        EXPECT_EQ(xai_client_explain(c, &rq, 60000, &r, &err), XAI_OK) << err.message;
        EXPECT_EQ(r ? r->d : 0u, 2u);      // bag of words: free, money
        xai_result_free(r);
        xai_value_free(p);
        xai_value_free(space);
        std::lock_guard<std::mutex> lock(tm_.mu);
        std::set<std::string> s = tm_.seen;
        s.erase("free money, free!");   // x itself: the second time from the cache
        return s;
    };
    EXPECT_EQ(seen_with(nullptr), (std::set<std::string>{" money, !", "free , free!", " , !"}));
    xai_value *unk = xai_value_map();
    xai_value_set_bool(unk, "delete", false);
    EXPECT_EQ(seen_with(unk),
              (std::set<std::string>{"UNK money, UNK!", "free UNK, free!", "UNK UNK, UNK!"}));
    xai_client_close(c);
}
