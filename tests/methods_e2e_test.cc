// methods_e2e_test.cc — lime, kernelshap, shapley_sampling and anchors end
// to end: xaid ($XAI_BUILD/san/xaid) and the Python spam model
// (examples/spam/serve.py, lang/python's xai.serve) as processes, asked
// through the C client (include/xai/client.h) and through the `xai` CLI
// ($XAI_BUILD/san/xai explain --json).
//
// The model is examples/spam/train.py's TF-IDF + logistic regression,
// trained here on the repository's fixture (examples/spam/fixture.tsv) into
// the test's temporary directory; never the downloaded corpus. The suite
// skips, saying why, when xaid or xai is not built, or python3 lacks
// sklearn, pyzmq or msgpack.
//
// What must hold (not just "it ran"):
//  * fx is the pickled model's P(spam | text), computed by python3 here;
//  * KernelSHAP at its default budget on d = 7 tokens enumerates every
//    coalition, so it equals exact_shapley from the same daemon to 1e-9;
//  * KernelSHAP with a small budget and permutation sampling are efficient:
//    sum phi = fx - base_value to 1e-6, with standard errors >= 0;
//  * LIME's surrogate at x, local_pred, is intercept + sum of coefficients
//    (every feature selected), its score is a weighted R^2 in [0, 1];
//  * anchors: the anchor's tokens are tokens of the text at the positions
//    it names, precision lies within its bounds, model rows sent <= rows
//    asked and cache hits are counted (> 0 on this 7-token text);
//  * the CLI's JSON for the same job and seed holds the same values as the
//    C client's result, bit for bit (JSON floats are shortest round-trip).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "e2e_util.h"
#include "xai/client.h"

using namespace e2e;

namespace {

const char kText[] = "Win free money now at the meeting";   // 7 tokens, P(spam) ~ 0.58
const char *const kWords[] = {"Win", "free", "money", "now", "at", "the", "meeting"};
const size_t kD = 7;

std::string python() {
    const char *p = std::getenv("PYTHON");
    return p && p[0] ? p : "/usr/bin/python3";
}

std::string root() {
    const char *r = std::getenv("XAI_ROOT");
    return r && r[0] ? r : ".";
}

// Prints a JSON result as "key number..." lines: fx, base (nan for null),
// values, and the extra and stats fields the tests look at; anchors also
// "names_ok 1" when each anchor name is the text's token at its positions.
const char kSummary[] = R"PY(
import json, re, sys
r = json.load(open(sys.argv[1]))
num = lambda v: "nan" if v is None else repr(float(v))
print("fx", num(r["fx"]))
print("base", num(r["base_value"]))
print("values", *[num(v) for v in r["values"]])
if r.get("stderrs") is not None:
    print("stderrs", *[num(v) for v in r["stderrs"]])
ex, st = r.get("extra") or {}, r["stats"]
for k in ("intercept", "local_pred", "score", "precision", "precision_lower",
          "precision_upper", "coverage", "size"):
    if k in ex:
        print(k, num(ex[k]))
for k in ("rows_asked", "rows_sent", "cache_hits"):
    print("stats_" + k, num(st[k]))
if "anchor" in ex:
    words = [r["text"][s:e] for s, e, f in r["tokens"] if f >= 0]
    ok = all(words[p] == a["name"] for a in ex["anchor"] for p in a["positions"])
    print("names_ok", int(ok and len(ex["anchor"]) > 0))
)PY";

using Summary = std::map<std::string, std::vector<double>>;

Summary parse_summary(const std::string &out) {
    Summary s;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string key, tok;
        ls >> key;
        while (ls >> tok) s[key].push_back(tok == "nan" ? NAN : std::strtod(tok.c_str(), nullptr));
    }
    return s;
}

double sum(const double *v, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += v[i];
    return s;
}

double extra_num(const xai_result *r, const char *key) {
    const xai_value *v = xai_value_get(r->extra, key);
    return v ? xai_value_get_number(v) : NAN;
}

}  // namespace

class MethodsE2E : public ::testing::Test {
  protected:
    static TempDir *dir_;
    static pid_t xaid_, spam_;
    static std::string skip_, ep_, pkl_;

    static bool start_model() {
        std::string out, py = python();
        if (run_cmd(py + " -c 'import sklearn, zmq, msgpack' 2>&1", &out) != 0) {
            skip_ = py + " cannot import sklearn, zmq and msgpack (apt install python3-sklearn "
                         "python3-zmq python3-msgpack): " + out;
            return false;
        }
        pkl_ = dir_->path + "/spam.pkl";
        if (run_cmd(py + " " + root() + "/examples/spam/train.py --force --train " + root() +
                    "/examples/spam/fixture.tsv --out " + pkl_ + " 2>&1", &out) != 0) {
            skip_ = "examples/spam/train.py failed on the fixture: " + out;
            return false;
        }
        spam_ = spawn({py, root() + "/examples/spam/serve.py", "--endpoint",
                       dir_->ep("spam.sock"), "--model", pkl_},
                      {"PYTHONPATH=" + root() + "/lang/python", "OPENBLAS_NUM_THREADS=1"},
                      dir_->path + "/spam.log");
        return true;
    }

    static void SetUpTestSuite() {
        std::string xaid = build_dir() + "/san/xaid", cli = build_dir() + "/san/xai";
        if (access(xaid.c_str(), X_OK) != 0 || access(cli.c_str(), X_OK) != 0) {
            skip_ = "xaid or xai is not built at " + xaid + ", " + cli;
            return;
        }
        dir_ = new TempDir();
        ep_ = dir_->ep("xaid.sock");
        if (!start_model()) return;
        std::string conf = dir_->path + "/xaid.conf";
        std::ofstream(conf) << "bind = " << ep_ << "\nworkers = 2\njob_deadline_ms = 60000\n"
                            << "model spam = text@" << dir_->ep("spam.sock") << "\n"
                            << "model spam.timeout_ms = 10000\nmodel spam.retries = 1\n";
        xaid_ = spawn({xaid, "--config", conf}, {}, dir_->path + "/xaid.log");
        xai_client *c = nullptr;
        xai_error err;
        xai_client_connect(ep_.c_str(), &c, &err);
        xai_client_set_timeout(c, 500);
        double s;
        bool up = eventually(20, [&] { return xai_client_ping(c, &s, &err) == XAI_OK; });
        bool ready = up && eventually(40, [&] { return model_ready(c, "spam"); });
        xai_client_close(c);
        if (!up) skip_ = "xaid (" + xaid + ") does not answer ping; log in " + dir_->path;
        else if (!ready) skip_ = "the Python spam model did not become ready; logs in " + dir_->path;
    }

    static void TearDownTestSuite() {
        // SIGTERM: xaid exits 0 (under ASan also: no leak, no error report)
        int rc = stop_process(xaid_);
        if (skip_.empty()) {
            EXPECT_EQ(rc, 0) << "xaid's exit on SIGTERM; log in " << dir_->path;
        }
        stop_process(spam_);
        delete dir_;
        dir_ = nullptr;
    }

    void SetUp() override {
        if (!skip_.empty()) GTEST_SKIP() << skip_;
        xai_error err;
        ASSERT_EQ(xai_client_connect(ep_.c_str(), &c_, &err), XAI_OK);
        xai_client_set_timeout(c_, 10000);
    }
    void TearDown() override { xai_client_close(c_); }

    // Explains kText with `method`, seed 5, target "spam" and one optional
    // integer parameter; nullptr (and a test failure) on error.
    xai_result *explain(const char *method, const char *param = nullptr, int64_t value = 0) {
        xai_value *params = xai_value_map();
        xai_value_set_int(params, "seed", 5);
        xai_value_set_str(params, "target", "spam");
        if (param) xai_value_set_int(params, param, value);
        xai_job_request rq = {};
        rq.model = "spam";
        rq.method = method;
        rq.text = kText;
        rq.params = params;
        xai_result *r = nullptr;
        xai_error err;
        xai_status st = xai_client_explain(c_, &rq, 60000, &r, &err);
        xai_value_free(params);
        EXPECT_EQ(st, XAI_OK) << method << ": " << err.message;
        if (r == nullptr || r->d != kD) {
            ADD_FAILURE() << method << ": expected " << kD << " features";
            xai_result_free(r);
            return nullptr;
        }
        return r;
    }

    // The same job through the CLI with --json, summarized by kSummary.
    Summary cli(const char *method, const char *param = nullptr, int64_t value = 0) {
        std::string json = dir_->path + "/" + method + ".json", out;
        std::string cmd = build_dir() + "/san/xai --endpoint " + ep_ + " explain --model spam" +
                          " --method " + method + " --seed 5 --target spam --json --text '" +
                          kText + "'";
        if (param) cmd += std::string(" --param ") + param + "=" + std::to_string(value);
        EXPECT_EQ(run_cmd(cmd + " > " + json + " 2>&1", &out), 0) << cmd;
        std::string py = dir_->path + "/summary.py";
        std::ofstream(py) << kSummary;
        EXPECT_EQ(run_cmd(python() + " " + py + " " + json + " 2>&1", &out), 0) << out;
        return parse_summary(out);
    }

    xai_client *c_ = nullptr;
};

TempDir *MethodsE2E::dir_ = nullptr;
pid_t MethodsE2E::xaid_ = -1, MethodsE2E::spam_ = -1;
std::string MethodsE2E::skip_, MethodsE2E::ep_, MethodsE2E::pkl_;

// fx is the pickled model's P(spam | text); KernelSHAP at the default budget
// (2d + 2048 capped at 2^7 - 2 = 126: every coalition) is exact Shapley.
TEST_F(MethodsE2E, KernelShapEnumeratesToExactShapley) {
    xai_result *ks = explain("kernelshap"), *ex = explain("exact_shapley");
    ASSERT_TRUE(ks && ex);
    std::string out;
    ASSERT_EQ(run_cmd(python() + " -c 'import pickle, sys; m = pickle.load(open(sys.argv[1], "
                                 "\"rb\")); print(repr(m.predict_proba([sys.argv[2]])[0, 1]))' " +
                          pkl_ + " '" + kText + "'", &out), 0) << out;
    EXPECT_NEAR(ks->fx, std::strtod(out.c_str(), nullptr), 1e-12);
    for (size_t i = 0; i < kD; i++) {
        EXPECT_STREQ(ks->feature_names[i], kWords[i]);
        EXPECT_NEAR(ks->values[i], ex->values[i], 1e-9) << i;
        ASSERT_NE(ks->stderrs, nullptr);
        EXPECT_EQ(ks->stderrs[i], 0.0) << "enumerated: no sampling error";
    }
    EXPECT_NEAR(ks->base_value, ex->base_value, 1e-12);
    EXPECT_NEAR(sum(ks->values, kD), ks->fx - ks->base_value, 1e-9);
    EXPECT_EQ(extra_num(ks, "n_evals"), 128.0);
    xai_result_free(ks);
    xai_result_free(ex);
}

// Small budgets: efficiency still holds exactly (KernelSHAP eliminates a
// variable; every antithetic walk telescopes), and the errors are sampled.
TEST_F(MethodsE2E, SampledShapleyValuesAreEfficient) {
    xai_result *ks = explain("kernelshap", "nsamples", 20);
    xai_result *ss = explain("shapley_sampling", "max_evals", 100);
    ASSERT_TRUE(ks && ss);
    for (xai_result *r : {ks, ss}) {
        EXPECT_NEAR(sum(r->values, kD), r->fx - r->base_value, 1e-6) << r->method;
        ASSERT_NE(r->stderrs, nullptr) << r->method;
        double max_se = 0;
        for (size_t i = 0; i < kD; i++) {
            EXPECT_GE(r->stderrs[i], 0.0);
            max_se = std::fmax(max_se, r->stderrs[i]);
        }
        EXPECT_GT(max_se, 0.0) << r->method << " sampled, so uncertain";
        EXPECT_LE(r->stats.rows_sent, 128u) << "at most the 2^7 distinct masks";
    }
    EXPECT_LE(extra_num(ss, "n_evals"), 100.0);
    xai_result_free(ks);
    xai_result_free(ss);
}

// LIME with every feature selected: the surrogate at x (all ones) is the
// intercept plus the sum of the coefficients.
TEST_F(MethodsE2E, LimeReportsItsSurrogate) {
    xai_result *r = explain("lime", "num_samples", 500);
    ASSERT_TRUE(r);
    ASSERT_NE(r->extra, nullptr);
    double icpt = extra_num(r, "intercept"), local = extra_num(r, "local_pred");
    double score = extra_num(r, "score");
    EXPECT_NEAR(local, icpt + sum(r->values, kD), 1e-9);   // d = 7 < num_features 10
    EXPECT_GE(score, 0.0);
    EXPECT_LE(score, 1.0 + 1e-12);
    EXPECT_EQ(extra_num(r, "num_samples"), 500.0);
    EXPECT_TRUE(std::isnan(r->base_value));
    ASSERT_NE(r->stderrs, nullptr);
    xai_result_free(r);
}

// Anchors: tokens of the text at the positions named, precision within its
// bounds and near the threshold, rows after dedup and cache counted.
TEST_F(MethodsE2E, AnchorsOnAnEmail) {
    xai_result *r = explain("anchors");
    ASSERT_TRUE(r);
    const xai_value *anchor = xai_value_get(r->extra, "anchor");
    ASSERT_GT(xai_value_len(anchor), 0u) << "the empty text leans spam only weakly";
    for (size_t i = 0; i < xai_value_len(anchor); i++) {
        const xai_value *item = xai_value_at(anchor, i);
        const char *name = xai_value_get_str(xai_value_get(item, "name"), nullptr);
        const xai_value *pos = xai_value_get(item, "positions");
        ASSERT_GT(xai_value_len(pos), 0u);
        for (size_t j = 0; j < xai_value_len(pos); j++) {
            int64_t p = xai_value_get_int(xai_value_at(pos, j));
            ASSERT_TRUE(p >= 0 && p < (int64_t)kD);
            EXPECT_STREQ(name, kWords[p]);
            EXPECT_EQ(r->values[p], 1.0);
        }
    }
    EXPECT_TRUE(xai_value_get_bool(xai_value_get(r->extra, "success")));
    double prec = extra_num(r, "precision");
    EXPECT_LE(extra_num(r, "precision_lower"), prec);
    EXPECT_LE(prec, extra_num(r, "precision_upper"));
    EXPECT_GE(prec, 0.95 - 0.05);                        // threshold - epsilon_stop
    EXPECT_LE(r->stats.rows_sent, 128u);
    EXPECT_LE(r->stats.rows_sent + r->stats.cache_hits, r->stats.rows_asked);
    EXPECT_GT(r->stats.cache_hits, 0u);
    EXPECT_GT(extra_num(r, "rows_asked"), (double)r->stats.rows_sent);
    EXPECT_EQ(extra_num(r, "rows_sent"), (double)r->stats.rows_sent);
    xai_result_free(r);
}

// The CLI's --json for each method: the same numbers as the C client for
// the same seed, and the same properties.
TEST_F(MethodsE2E, CliJsonMatchesTheClientForEveryMethod) {
    struct Case { const char *method, *param; int64_t value; } cases[] = {
        {"lime", "num_samples", 500}, {"kernelshap", "nsamples", 20},
        {"shapley_sampling", "max_evals", 100}, {"anchors", nullptr, 0}};
    for (const Case &k : cases) {
        SCOPED_TRACE(k.method);
        xai_result *r = explain(k.method, k.param, k.value);
        Summary s = cli(k.method, k.param, k.value);
        ASSERT_TRUE(r);
        ASSERT_EQ(s["values"].size(), kD);
        for (size_t i = 0; i < kD; i++) EXPECT_EQ(s["values"][i], r->values[i]) << i;
        EXPECT_EQ(s["fx"].at(0), r->fx);
        EXPECT_LE(s["stats_rows_sent"].at(0), s["stats_rows_asked"].at(0));
        std::string m = k.method;
        if (m == "kernelshap" || m == "shapley_sampling") {
            double tot = 0;
            for (double v : s["values"]) tot += v;
            EXPECT_NEAR(tot, s["fx"][0] - s["base"].at(0), 1e-6);
            EXPECT_EQ(s["stderrs"].size(), kD);
        } else if (m == "lime") {
            double tot = 0;
            for (double v : s["values"]) tot += v;
            EXPECT_NEAR(s["local_pred"].at(0), s["intercept"].at(0) + tot, 1e-9);
            EXPECT_TRUE(std::isnan(s["base"].at(0)));
        } else {
            EXPECT_EQ(s["names_ok"].at(0), 1.0);
            EXPECT_LE(s["precision_lower"].at(0), s["precision"].at(0));
            EXPECT_EQ(s["precision"][0], extra_num(r, "precision"));
        }
        xai_result_free(r);
    }
}

// An option the method does not know is refused with invalid_argument.
TEST_F(MethodsE2E, UnknownOptionIsInvalidArgument) {
    for (const char *m : {"lime", "kernelshap", "shapley_sampling", "anchors"}) {
        xai_value *params = xai_value_map();
        xai_value_set_int(params, "no_such_option", 1);
        xai_job_request rq = {};
        rq.model = "spam";
        rq.method = m;
        rq.text = kText;
        rq.params = params;
        xai_result *r = nullptr;
        xai_error err;
        EXPECT_EQ(xai_client_explain(c_, &rq, 30000, &r, &err), XAI_ERR_INVALID) << m;
        EXPECT_NE(std::strstr(err.message, "no_such_option"), nullptr) << m << ": " << err.message;
        xai_value_free(params);
        xai_result_free(r);
    }
}
