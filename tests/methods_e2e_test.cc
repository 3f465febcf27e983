// methods_e2e_test.cc — lime, kernelshap, shapley_sampling and anchors end
// to end: xaid ($XAI_BUILD/san/xaid) and two Python models served with
// lang/python's xai.serve, as processes, asked through the C client
// (include/xai/client.h) and through the `xai` CLI ($XAI_BUILD/san/xai
// explain --json).
//
// The models, both trained here into the test's temporary directory from
// local fixtures (never the downloaded corpus):
//  * spam (text): examples/spam/train.py's TF-IDF + logistic regression on
//    the repository's examples/spam/fixture.tsv, served by
//    examples/spam/serve.py;
//  * cancer (tabular): a StandardScaler + logistic regression on the first
//    kTab columns of sklearn's bundled breast-cancer data, background 20 of
//    its rows (kTrainTab), served by kServeTab.
// The suite skips, saying why, when xaid or xai is not built, or python3
// lacks sklearn, pyzmq or msgpack.
//
// What must hold (not just "it ran"):
//  * fx is the pickled model's P(spam | text), computed by python3 here;
//  * KernelSHAP at its default budget on d = 7 tokens or kTab = 8 columns
//    enumerates every coalition, so it equals exact_shapley from the same
//    daemon to 1e-9;
//  * KernelSHAP with a small budget and permutation sampling are efficient:
//    sum phi = fx - base_value to 1e-6, with standard errors >= 0;
//  * LIME's surrogate at x, local_pred, is intercept + sum of coefficients
//    (every feature selected), its score is a weighted R^2 in [0, 1];
//  * anchors: the anchor's tokens are tokens of the text at the positions
//    it names, precision lies within its bounds, model rows sent <= rows
//    asked and cache hits are counted (> 0 on this 7-token text); on a row,
//    x satisfies every predicate of its anchor;
//  * unknown method options are invalid_argument;
//  * the CLI's JSON for the same job and seed holds the same values as the
//    C client's result, bit for bit (JSON floats are shortest round-trip).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
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
const size_t kTab = 8;

// Trains the tabular model into argv[1]/cancer.pkl, writes the background
// argv[1]/bg.csv (header of feature names) and prints the explained row.
const char kTrainTab[] = R"PY(
import pickle, sys, numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
data = load_breast_cancer()
x = data.data[:, :8]
m = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(x, data.target)
with open(sys.argv[1] + "/cancer.pkl", "wb") as f:
    pickle.dump(m, f)
bg = x[np.random.default_rng(0).choice(len(x), 20, replace=False)]
with open(sys.argv[1] + "/bg.csv", "w") as f:
    f.write(",".join(n.replace(" ", "_") for n in data.feature_names[:8]) + "\n")
    f.writelines(",".join(repr(float(v)) for v in r) + "\n" for r in bg)
print(",".join(repr(float(v)) for v in x[0]))
)PY";

// Serves argv[2] (a pickled classifier) at endpoint argv[1].
const char kServeTab[] = R"PY(
import pickle, sys, xai
with open(sys.argv[2], "rb") as f:
    m = pickle.load(f)
xai.serve(m.predict_proba, sys.argv[1], kind="tabular", classes=["malignant", "benign"],
          n_features=8, log=False)
)PY";

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
if "anchor" in ex and "tokens" in r:
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
    static pid_t xaid_, spam_, cancer_;
    static std::string skip_, ep_, pkl_, row_;
    static std::vector<double> x_;

    // Trains both models and starts their servers; false (and skip_) when
    // python3 cannot.
    static bool start_models() {
        std::string out, py = python(), dir = dir_->path;
        if (run_cmd(py + " -c 'import sklearn, zmq, msgpack' 2>&1", &out) != 0) {
            skip_ = py + " cannot import sklearn, zmq and msgpack (apt install python3-sklearn "
                         "python3-zmq python3-msgpack): " + out;
            return false;
        }
        pkl_ = dir + "/spam.pkl";
        if (run_cmd(py + " " + root() + "/examples/spam/train.py --force --train " + root() +
                    "/examples/spam/fixture.tsv --out " + pkl_ + " 2>&1", &out) != 0) {
            skip_ = "examples/spam/train.py failed on the fixture: " + out;
            return false;
        }
        std::ofstream(dir + "/train_tab.py") << kTrainTab;
        std::ofstream(dir + "/serve_tab.py") << kServeTab;
        if (run_cmd(py + " " + dir + "/train_tab.py " + dir, &row_) != 0) {
            skip_ = "training the tabular model failed: " + row_;
            return false;
        }
        row_.erase(row_.find_last_not_of("\n") + 1);
        std::istringstream in(row_);
        for (std::string v; std::getline(in, v, ',');) x_.push_back(std::strtod(v.c_str(), nullptr));
        std::vector<std::string> env = {"PYTHONPATH=" + root() + "/lang/python",
                                        "OPENBLAS_NUM_THREADS=1"};
        spam_ = spawn({py, root() + "/examples/spam/serve.py", "--endpoint",
                       dir_->ep("spam.sock"), "--model", pkl_}, env, dir + "/spam.log");
        cancer_ = spawn({py, dir + "/serve_tab.py", dir_->ep("cancer.sock"), dir + "/cancer.pkl"},
                        env, dir + "/cancer.log");
        return x_.size() == kTab;
    }

    static void SetUpTestSuite() {
        std::string xaid = build_dir() + "/san/xaid", cli = build_dir() + "/san/xai";
        if (access(xaid.c_str(), X_OK) != 0 || access(cli.c_str(), X_OK) != 0) {
            skip_ = "xaid or xai is not built at " + xaid + ", " + cli;
            return;
        }
        dir_ = new TempDir();
        ep_ = dir_->ep("xaid.sock");
        if (!start_models()) return;
        std::string conf = dir_->path + "/xaid.conf";
        std::ofstream(conf) << "bind = " << ep_ << "\nworkers = 2\njob_deadline_ms = 60000\n"
                            << "model spam = text@" << dir_->ep("spam.sock") << "\n"
                            << "model spam.timeout_ms = 10000\nmodel spam.retries = 1\n"
                            << "model cancer = tabular@" << dir_->ep("cancer.sock") << "\n"
                            << "model cancer.background = " << dir_->path << "/bg.csv\n"
                            << "model cancer.timeout_ms = 10000\nmodel cancer.retries = 1\n";
        xaid_ = spawn({xaid, "--config", conf}, {}, dir_->path + "/xaid.log");
        xai_client *c = nullptr;
        xai_error err;
        xai_client_connect(ep_.c_str(), &c, &err);
        xai_client_set_timeout(c, 500);
        double s;
        bool up = eventually(20, [&] { return xai_client_ping(c, &s, &err) == XAI_OK; });
        bool ready = up && eventually(40, [&] {
            return model_ready(c, "spam") && model_ready(c, "cancer");
        });
        xai_client_close(c);
        if (!up) skip_ = "xaid (" + xaid + ") does not answer ping; log in " + dir_->path;
        else if (!ready) skip_ = "the Python models did not become ready; logs in " + dir_->path;
    }

    static void TearDownTestSuite() {
        // SIGTERM: xaid exits 0 (under ASan also: no leak, no error report)
        int rc = stop_process(xaid_);
        if (skip_.empty()) {
            EXPECT_EQ(rc, 0) << "xaid's exit on SIGTERM; log in " << dir_->path;
        }
        stop_process(spam_);
        stop_process(cancer_);
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

    static bool is_text(const char *model) { return std::strcmp(model, "spam") == 0; }

    // Explains kText (model spam, target "spam") or x_ (model cancer, target
    // "malignant", its predicted class) with `method`, seed 5 and one optional integer parameter;
    // nullptr (and a test failure) on error.
    xai_result *explain(const char *model, const char *method, const char *param = nullptr,
                        int64_t value = 0) {
        bool text = is_text(model);
        xai_value *params = xai_value_map();
        xai_value_set_int(params, "seed", 5);
        xai_value_set_str(params, "target", text ? "spam" : "malignant");
        if (param) xai_value_set_int(params, param, value);
        xai_job_request rq = {};
        rq.model = model;
        rq.method = method;
        rq.text = text ? kText : nullptr;
        rq.row = text ? nullptr : x_.data();
        rq.n_cols = text ? 0 : x_.size();
        rq.params = params;
        xai_result *r = nullptr;
        xai_error err;
        xai_status st = xai_client_explain(c_, &rq, 60000, &r, &err);
        xai_value_free(params);
        EXPECT_EQ(st, XAI_OK) << method << ": " << err.message;
        size_t d = text ? kD : kTab;
        if (r == nullptr || r->d != d) {
            ADD_FAILURE() << method << ": expected " << d << " features";
            xai_result_free(r);
            return nullptr;
        }
        return r;
    }

    // The same job through the CLI with --json, summarized by kSummary.
    Summary cli(const char *model, const char *method, const char *param = nullptr,
                int64_t value = 0) {
        bool text = is_text(model);
        std::string json = dir_->path + "/" + model + "-" + method + ".json", out;
        std::string cmd = build_dir() + "/san/xai --endpoint " + ep_ + " explain --model " +
                          model + " --method " + method + " --seed 5 --json --target " +
                          (text ? "spam --text '" + std::string(kText) + "'"
                                : "malignant --row " + row_);
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
pid_t MethodsE2E::xaid_ = -1, MethodsE2E::spam_ = -1, MethodsE2E::cancer_ = -1;
std::string MethodsE2E::skip_, MethodsE2E::ep_, MethodsE2E::pkl_, MethodsE2E::row_;
std::vector<double> MethodsE2E::x_;

// fx is the pickled model's P(spam | text); KernelSHAP at the default budget
// (2d + 2048 capped at 2^d - 2: every coalition) is exact Shapley, for the
// 7 tokens and for the 8 columns.
TEST_F(MethodsE2E, KernelShapEnumeratesToExactShapley) {
    for (const char *model : {"spam", "cancer"}) {
        SCOPED_TRACE(model);
        xai_result *ks = explain(model, "kernelshap"), *ex = explain(model, "exact_shapley");
        ASSERT_TRUE(ks && ex);
        size_t d = ks->d;
        ASSERT_NE(ks->stderrs, nullptr);
        for (size_t i = 0; i < d; i++) {
            EXPECT_NEAR(ks->values[i], ex->values[i], 1e-9) << i;
            EXPECT_EQ(ks->stderrs[i], 0.0) << "enumerated: no sampling error";
        }
        EXPECT_NEAR(ks->base_value, ex->base_value, 1e-12);
        EXPECT_NEAR(sum(ks->values, d), ks->fx - ks->base_value, 1e-9);
        EXPECT_EQ(extra_num(ks, "n_evals"), std::ldexp(1.0, (int)d));
        if (is_text(model)) {
            for (size_t i = 0; i < d; i++) EXPECT_STREQ(ks->feature_names[i], kWords[i]);
        } else {
            EXPECT_STREQ(ks->feature_names[0], "mean_radius");   // the CSV header
        }
        xai_result_free(ks);
        xai_result_free(ex);
    }
    std::string out;
    ASSERT_EQ(run_cmd(python() + " -c 'import pickle, sys; m = pickle.load(open(sys.argv[1], "
                                 "\"rb\")); print(repr(m.predict_proba([sys.argv[2]])[0, 1]))' " +
                          pkl_ + " '" + kText + "'", &out), 0) << out;
    xai_result *r = explain("spam", "occlusion");
    ASSERT_TRUE(r);
    EXPECT_NEAR(r->fx, std::strtod(out.c_str(), nullptr), 1e-12);
    xai_result_free(r);
}

// Small budgets: efficiency still holds exactly (KernelSHAP eliminates a
// variable; every antithetic walk telescopes), and the errors are sampled.
TEST_F(MethodsE2E, SampledShapleyValuesAreEfficient) {
    for (const char *model : {"spam", "cancer"}) {
        SCOPED_TRACE(model);
        xai_result *ks = explain(model, "kernelshap", "nsamples", 20);
        xai_result *ss = explain(model, "shapley_sampling", "max_evals", 100);
        ASSERT_TRUE(ks && ss);
        for (xai_result *r : {ks, ss}) {
            EXPECT_NEAR(sum(r->values, r->d), r->fx - r->base_value, 1e-6) << r->method;
            ASSERT_NE(r->stderrs, nullptr) << r->method;
            double max_se = 0;
            for (size_t i = 0; i < r->d; i++) {
                EXPECT_GE(r->stderrs[i], 0.0);
                max_se = std::fmax(max_se, r->stderrs[i]);
            }
            EXPECT_GT(max_se, 0.0) << r->method << " sampled, so uncertain";
        }
        EXPECT_LE(extra_num(ss, "n_evals"), 100.0);
        EXPECT_LE(extra_num(ks, "n_evals"), 22.0);
        if (is_text(model)) {
            EXPECT_LE(ss->stats.rows_sent, 128u) << "<= the 2^7 distinct masks";
        }
        xai_result_free(ks);
        xai_result_free(ss);
    }
}

// LIME with every feature selected (d <= num_features 10): the surrogate at
// x (all ones: every word kept, every column in x's bin) is the intercept
// plus the sum of the coefficients.
TEST_F(MethodsE2E, LimeReportsItsSurrogate) {
    for (const char *model : {"spam", "cancer"}) {
        SCOPED_TRACE(model);
        xai_result *r = explain(model, "lime", "num_samples", 500);
        ASSERT_TRUE(r);
        ASSERT_NE(r->extra, nullptr);
        double icpt = extra_num(r, "intercept"), local = extra_num(r, "local_pred");
        double score = extra_num(r, "score");
        EXPECT_NEAR(local, icpt + sum(r->values, r->d), 1e-9);
        EXPECT_GE(score, 0.0);
        EXPECT_LE(score, 1.0 + 1e-12);
        EXPECT_EQ(extra_num(r, "num_samples"), 500.0);
        EXPECT_EQ(xai_value_len(xai_value_get(r->extra, "selected")), r->d);
        EXPECT_STREQ(xai_value_get_str(xai_value_get(r->extra, "mode"), nullptr),
                     is_text(model) ? "text" : "tabular");
        EXPECT_TRUE(std::isnan(r->base_value));
        ASSERT_NE(r->stderrs, nullptr);
        xai_result_free(r);
    }
}

// Anchors on a text: tokens of the text at the positions named, precision
// within its bounds and near the threshold, rows after dedup and cache
// counted.
TEST_F(MethodsE2E, AnchorsOnAnEmail) {
    xai_result *r = explain("spam", "anchors");
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
    EXPECT_GE(prec, 0.95 - 0.05);     // fresh samples: the lower bound (>= 0.95) is below it
    EXPECT_LE(r->stats.rows_sent, 128u);
    EXPECT_LE(r->stats.rows_sent + r->stats.cache_hits, r->stats.rows_asked);
    EXPECT_GT(r->stats.cache_hits, 0u);
    EXPECT_GT(extra_num(r, "rows_asked"), (double)r->stats.rows_sent);
    EXPECT_EQ(xai_value_get(r->extra, "rows_sent"), nullptr);   // cache counters: stats only
    xai_result_free(r);
}

// Anchors on a row: x satisfies every predicate of its anchor, and the
// values mark the columns the predicates test.
TEST_F(MethodsE2E, AnchorsOnARow) {
    xai_result *r = explain("cancer", "anchors", "coverage_samples", 2000);
    ASSERT_TRUE(r);
    const xai_value *anchor = xai_value_get(r->extra, "anchor");
    for (size_t i = 0; i < xai_value_len(anchor); i++) {
        const xai_value *item = xai_value_at(anchor, i);
        int64_t col = xai_value_get_int(xai_value_get(item, "column"));
        ASSERT_TRUE(col >= 0 && col < (int64_t)kTab);
        std::string op = xai_value_get_str(xai_value_get(item, "op"), nullptr);
        double v = x_[col], lim = xai_value_get_number(xai_value_get(item, "value"));
        EXPECT_TRUE(op == ">" ? v > lim : op == "<=" ? v <= lim : op == "==" && v == lim)
            << col << " " << op << " " << lim;
        EXPECT_EQ(r->values[col], 1.0);
    }
    EXPECT_TRUE(xai_value_get_bool(xai_value_get(r->extra, "success")))
        << xai_value_get_str(xai_value_get(r->extra, "message"), nullptr) << "; search precision "
        << extra_num(r, "search_precision") << " of " << extra_num(r, "anchor_samples")
        << ", fresh " << extra_num(r, "precision") << " lb " << extra_num(r, "precision_lower");
    double prec = extra_num(r, "precision"), cov = extra_num(r, "coverage");
    EXPECT_LE(extra_num(r, "precision_lower"), prec);
    EXPECT_LE(prec, extra_num(r, "precision_upper"));
    EXPECT_TRUE(cov >= 0.0 && cov <= 1.0) << cov;
    EXPECT_LE(r->stats.rows_sent + r->stats.cache_hits, r->stats.rows_asked);
    xai_result_free(r);
}

// The CLI's --json for each method and model: the same numbers as the C
// client for the same seed, and the same properties.
TEST_F(MethodsE2E, CliJsonMatchesTheClientForEveryMethod) {
    struct Case { const char *method, *param; int64_t value; } cases[] = {
        {"lime", "num_samples", 500}, {"kernelshap", "nsamples", 20},
        {"shapley_sampling", "max_evals", 100}, {"anchors", "coverage_samples", 2000}};
    for (const char *model : {"spam", "cancer"}) {
        for (const Case &k : cases) {
            SCOPED_TRACE(std::string(model) + " " + k.method);
            xai_result *r = explain(model, k.method, k.param, k.value);
            Summary s = cli(model, k.method, k.param, k.value);
            ASSERT_TRUE(r);
            ASSERT_EQ(s["values"].size(), r->d);
            double tot = 0;
            for (size_t i = 0; i < r->d; i++) {
                EXPECT_EQ(s["values"][i], r->values[i]) << i;
                tot += s["values"][i];
            }
            EXPECT_EQ(s["fx"].at(0), r->fx);
            EXPECT_LE(s["stats_rows_sent"].at(0), s["stats_rows_asked"].at(0));
            std::string m = k.method;
            if (m == "kernelshap" || m == "shapley_sampling") {
                EXPECT_NEAR(tot, s["fx"][0] - s["base"].at(0), 1e-6);
                EXPECT_EQ(s["stderrs"].size(), r->d);
            } else if (m == "lime") {
                EXPECT_NEAR(s["local_pred"].at(0), s["intercept"].at(0) + tot, 1e-9);
                EXPECT_TRUE(std::isnan(s["base"].at(0)));
            } else {
                if (is_text(model)) {
                    EXPECT_EQ(s["names_ok"].at(0), 1.0);
                }
                EXPECT_LE(s["precision_lower"].at(0), s["precision"].at(0));
                EXPECT_EQ(s["precision"][0], extra_num(r, "precision"));
            }
            xai_result_free(r);
        }
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
