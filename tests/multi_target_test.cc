// multi_target_test.cc — several targets in one job (xai_explain with a
// "target" list or "all", daemon/methods/registry.c and every method with
// `multi`): per target the numbers of a single-target run with the same seed
// (bit for bit; KernelSHAP's k'-right-side solve to 1e-12), the same model
// rows, the order and name lookup of the targets, the errors, methods that
// refuse several targets, closed forms on an additive model, and the wire
// round trip of the matrix form.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "engine_fixtures.h"
#include "xai/result.h"

namespace {

// Three outputs of ten columns with two- and three-way interactions, so
// KernelSHAP's screening picks different triples for different outputs.
struct ThreeRows {
    static constexpr size_t d = 10;
    xai_space *space = nullptr;
    const char *classes[3] = {"low", "mid", "high"};

    static xai_status predict(void *, const xai_batch *b, double *out, xai_error *) {
        for (size_t i = 0; i < b->n; i++) {
            const double *x = b->rows + i * b->cols;
            out[3 * i] = x[0] * x[1] * x[2] + 0.5 * x[3] - x[4] * x[5];
            out[3 * i + 1] = std::sin(x[0]) + x[6] * x[7] * x[8] + 0.2 * x[9];
            out[3 * i + 2] = x[1] * x[9] - x[2] * x[3] * x[4] + 1.0;
        }
        return XAI_OK;
    }

    ThreeRows() {
        std::vector<double> x(d), bg(6 * d);
        for (size_t j = 0; j < d; j++) x[j] = 1.0 + 0.25 * (double)j;
        for (size_t r = 0; r < 6; r++)
            for (size_t j = 0; j < d; j++) bg[r * d + j] = std::cos((double)(r * d + j)) * 1.5;
        xai_tabular_space_opts o{};
        o.background = bg.data();
        o.n_background = 6;
        EXPECT_EQ(XAI_OK, xai_space_tabular_new(x.data(), d, &o, &space, nullptr));
    }
    ~ThreeRows() { xai_space_free(space); }

    // A fresh evaluator (empty cache), so two runs send comparable rows.
    xai_eval *eval() {
        xai_model m{};
        m.name = "three";
        m.kind = XAI_INPUT_ROWS;
        m.n_outputs = 3;
        m.n_cols = d;
        m.class_names = classes;
        m.predict = predict;
        xai_eval *ev = nullptr;
        EXPECT_EQ(XAI_OK, xai_eval_new(&m, space, nullptr, &ev, nullptr));
        return ev;
    }
};

// Three classes of a text: softmax of per-word weights, plus a pair term
// ("free" and "money" together push class 1).
struct ThreeText {
    TextInput in;
    const char *classes[3] = {"ham", "spam", "promo"};

    static double word(const std::string &w, size_t c) {
        static const char *names[] = {"free", "money", "meeting", "sale", "today", "now"};
        static const double wt[6][3] = {{-0.5, 2.0, 1.0}, {0.0, 1.5, 0.5}, {1.5, -1.0, -0.5},
                                        {-0.2, 0.3, 2.0}, {0.1, 0.4, 0.6}, {0.0, 0.8, 0.2}};
        for (size_t i = 0; i < 6; i++)
            if (w == names[i]) return wt[i][c];
        return 0;
    }

    static xai_status predict(void *, const xai_batch *b, double *out, xai_error *) {
        for (size_t i = 0; i < b->n; i++) {
            std::string t(b->texts[i], b->text_lens[i]), w;
            double s[3] = {0.2, 0, -0.1};
            bool free_ = false, money = false;
            for (size_t p = 0; p <= t.size(); p++) {
                char ch = p < t.size() ? t[p] : ' ';
                if (std::isalpha((unsigned char)ch)) {
                    w += (char)std::tolower((unsigned char)ch);
                    continue;
                }
                if (w.empty()) continue;
                for (size_t c = 0; c < 3; c++) s[c] += word(w, c);
                free_ |= w == "free";
                money |= w == "money";
                w.clear();
            }
            if (free_ && money) s[1] += 1.0;
            double m = std::max(s[0], std::max(s[1], s[2])), z = 0;
            for (size_t c = 0; c < 3; c++) z += std::exp(s[c] - m);
            for (size_t c = 0; c < 3; c++) out[3 * i + c] = std::exp(s[c] - m) / z;
        }
        return XAI_OK;
    }

    ThreeText() : in("Free money now: the sale ends today, see the meeting notes now", {}) {}

    xai_eval *eval() {
        xai_model m{};
        m.name = "three_text";
        m.kind = XAI_INPUT_TEXT;
        m.n_outputs = 3;
        m.class_names = classes;
        m.predict = predict;
        xai_eval *ev = nullptr;
        EXPECT_EQ(XAI_OK, xai_eval_new(&m, in.space, nullptr, &ev, nullptr));
        return ev;
    }
};

// Method options for the comparison runs (budgets small enough to sample,
// so the sampling paths are the ones compared).
xai_value *params_for(const std::string &method, uint64_t seed) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "seed", (int64_t)seed);
    if (method == "kernelshap") xai_value_set_int(p, "nsamples", 400);
    if (method == "shapley_sampling") xai_value_set_int(p, "max_evals", 700);
    if (method == "lime") xai_value_set_int(p, "num_samples", 600);
    return p;
}

xai_result *run(xai_eval *ev, const std::string &method, xai_value *p) {
    xai_result *r = nullptr;
    xai_error err{};
    EXPECT_EQ(XAI_OK, xai_explain(ev, method.c_str(), p, &r, &err)) << method << ": " << err.message;
    xai_value_free(p);
    xai_eval_free(ev);
    return r;
}

// Runs `method` once with target "all" and once per output alone, and
// compares every row with its single-target run: values, standard errors,
// base value and f(x) equal (to tol; 0 = bit for bit), rows sent equal.
template <class Model>
void same_as_single_runs(Model &model, const std::string &method, double tol,
                         xai_value *extra_params = nullptr) {
    auto with = [&](xai_value *p) {
        for (size_t i = 0; extra_params && i < xai_value_len(extra_params); i++) {
            xai_value_set(p, xai_value_key_at(extra_params, i),
                          xai_value_clone(xai_value_val_at(extra_params, i)));
        }
        return p;
    };
    xai_value *p = with(params_for(method, 11));
    xai_value_set_str(p, "target", "all");
    xai_result *multi = run(model.eval(), method, p);
    ASSERT_NE(multi, nullptr);
    ASSERT_EQ(multi->n_targets, 3u);
    ASSERT_NE(multi->targets, nullptr);
    size_t d = multi->d;
    for (size_t t = 0; t < 3; t++) {
        xai_value *q = with(params_for(method, 11));
        xai_value_set_int(q, "target", (int64_t)t);
        xai_result *one = run(model.eval(), method, q);
        ASSERT_NE(one, nullptr);
        EXPECT_EQ(one->n_targets, 1u);
        EXPECT_EQ(one->targets, nullptr);
        EXPECT_EQ(multi->targets[t], (int64_t)t);
        EXPECT_STREQ(multi->target_names[t], one->target_name);
        EXPECT_EQ(multi->fxs[t], one->fx) << method << " target " << t;
        if (std::isnan(one->base_value)) {
            EXPECT_TRUE(std::isnan(multi->base_values[t]));
        } else {
            EXPECT_NEAR(multi->base_values[t], one->base_value, tol) << method << " " << t;
        }
        ASSERT_EQ(one->stderrs == nullptr, multi->stderrs == nullptr);
        for (size_t i = 0; i < d; i++) {
            if (tol == 0) {
                EXPECT_EQ(multi->values[t * d + i], one->values[i]) << method << " t" << t << " i" << i;
                if (one->stderrs) {
                    EXPECT_EQ(multi->stderrs[t * d + i], one->stderrs[i]) << method;
                }
            } else {
                EXPECT_NEAR(multi->values[t * d + i], one->values[i], tol) << method << " " << t;
                if (one->stderrs) {
                    EXPECT_NEAR(multi->stderrs[t * d + i], one->stderrs[i], tol);
                }
            }
        }
        EXPECT_EQ(multi->stats.rows_sent, one->stats.rows_sent) << method << " target " << t;
        EXPECT_EQ(multi->stats.masks_asked, one->stats.masks_asked) << method;
        xai_result_free(one);
    }
    EXPECT_EQ(multi->target, 0);
    EXPECT_STREQ(multi->target_name, multi->target_names[0]);
    EXPECT_EQ(multi->fx, multi->fxs[0]);
    xai_result_free(multi);
}

}  // namespace

TEST(MultiTarget, OcclusionRowsEqualSingleRuns) {
    ThreeRows rows;
    ThreeText text;
    same_as_single_runs(rows, "occlusion", 0);
    same_as_single_runs(text, "occlusion", 0);
}

TEST(MultiTarget, ExactShapleyRowsEqualSingleRuns) {
    ThreeRows rows;
    ThreeText text;
    same_as_single_runs(rows, "exact_shapley", 0);
    same_as_single_runs(text, "exact_shapley", 0);
}

TEST(MultiTarget, ShapleySamplingRowsEqualSingleRuns) {
    ThreeRows rows;
    ThreeText text;
    same_as_single_runs(rows, "shapley_sampling", 0);
    same_as_single_runs(text, "shapley_sampling", 0);
}

TEST(MultiTarget, LimeRowsEqualSingleRuns) {
    ThreeRows rows;
    ThreeText text;
    same_as_single_runs(rows, "lime", 0);     // tabular sampler, forward selection
    same_as_single_runs(text, "lime", 0);     // text sampler
    xai_value *none = xai_value_map();
    xai_value_set_str(none, "feature_selection", "none");
    same_as_single_runs(text, "lime", 0, none);
    xai_value_free(none);
}

// KernelSHAP: the improved schedule with screened triples (per target), the
// additive fit alone and shap's schedule (one factorisation, k' right sides).
TEST(MultiTarget, KernelShapRowsEqualSingleRuns) {
    ThreeRows rows;
    ThreeText text;
    same_as_single_runs(rows, "kernelshap", 1e-12);
    same_as_single_runs(text, "kernelshap", 1e-12);
    xai_value *additive = xai_value_map();
    xai_value_set_bool(additive, "interactions", false);
    same_as_single_runs(rows, "kernelshap", 1e-12, additive);
    xai_value_free(additive);
    xai_value *shap = xai_value_map();
    xai_value_set_str(shap, "schedule", "shap");
    same_as_single_runs(text, "kernelshap", 1e-12, shap);
    xai_value_free(shap);
    xai_value *kmeans = xai_value_map();     // the background summarized first
    xai_value_set_int(kmeans, "background_kmeans", 3);
    same_as_single_runs(rows, "kernelshap", 1e-12, kmeans);
    xai_value_free(kmeans);
}

// The joint decisions (tol, per_feature allocation) still give every target
// estimates that add up to f_t(x) - base_t, and a stop that every target met.
TEST(MultiTarget, JointStoppingKeepsEfficiencyPerTarget) {
    ThreeRows rows;
    for (const char *method : {"kernelshap", "shapley_sampling"}) {
        xai_value *p = params_for(method, 5);
        xai_value_set_str(p, "target", "all");
        xai_value_set_float(p, "tol", 0.2);
        if (std::string(method) == "shapley_sampling") {
            xai_value_set_str(p, "estimator", "per_feature");
            xai_value_set_int(p, "max_evals", 20000);
        } else {
            xai_value_set_int(p, "nsamples", 1000);
        }
        xai_result *r = run(rows.eval(), method, p);
        ASSERT_NE(r, nullptr);
        size_t d = r->d;
        double worst = 0;
        for (size_t t = 0; t < 3; t++) {
            double s = 0, lo = INFINITY, hi = -INFINITY, se = 0;
            for (size_t i = 0; i < d; i++) {
                double v = r->values[t * d + i];
                s += v, lo = std::min(lo, v), hi = std::max(hi, v);
                se = std::max(se, r->stderrs[t * d + i]);
            }
            EXPECT_NEAR(s, r->fxs[t] - r->base_values[t], 1e-9) << method << " " << t;
            worst = std::max(worst, se / (hi - lo));
        }
        // rel_se reports the worst target; converged means all met tol
        EXPECT_NEAR(xai_value_get_number(xai_value_get(r->extra, "rel_se")), worst, 1e-12) << method;
        if (xai_value_get_bool(xai_value_get(r->extra, "converged"))) {
            EXPECT_LT(worst, 0.2) << method;
        }
        xai_result_free(r);
    }
}

// The screened triples really are chosen per target: the fit with triples
// is the path compared above, and the targets' counts are reported.
TEST(MultiTarget, KernelShapReportsTriplesPerTarget) {
    ThreeRows rows;
    xai_value *p = params_for("kernelshap", 3);
    xai_value_set_str(p, "target", "all");
    xai_result *r = run(rows.eval(), "kernelshap", p);
    ASSERT_NE(r, nullptr);
    const xai_value *by = xai_value_get(r->extra, "by_target");
    ASSERT_EQ(xai_value_len(by), 3u);
    for (size_t t = 0; t < 3; t++) {
        int64_t m = xai_value_get_int(xai_value_get(xai_value_at(by, t), "n_triples"));
        EXPECT_GT(m, 0) << t;
    }
    EXPECT_EQ(xai_value_get_int(xai_value_get(r->extra, "n_triples")),
              xai_value_get_int(xai_value_get(xai_value_at(by, 0), "n_triples")));
    // efficiency per target: the values sum to f_t(x) - base_t
    for (size_t t = 0; t < 3; t++) {
        double s = 0;
        for (size_t i = 0; i < r->d; i++) s += r->values[t * r->d + i];
        EXPECT_NEAR(s, r->fxs[t] - r->base_values[t], 1e-9) << t;
    }
    xai_result_free(r);
}

// On the additive word model (ham = 1 - f, spam = f) occlusion has a closed
// form per target: spam's R_i is the word's value, ham's its negative.
TEST(MultiTarget, OcclusionClosedFormPerClass) {
    WordModel m({{"cheap", 0.3}, {"viagra", 0.9}}, "cheap viagra here");
    xai_value *p = xai_value_map();
    xai_value *list = xai_value_array();
    xai_value_push(list, xai_value_str("spam"));
    xai_value_push(list, xai_value_int(0));
    xai_value_set(p, "target", list);
    xai_result *r = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "occlusion", p, &r, &err)) << err.message;
    xai_value_free(p);
    ASSERT_EQ(r->n_targets, 2u);
    EXPECT_EQ(r->targets[0], 1);
    EXPECT_EQ(r->targets[1], 0);
    EXPECT_STREQ(r->target_names[0], "spam");
    EXPECT_STREQ(r->target_names[1], "ham");
    EXPECT_EQ(r->target, 1);
    EXPECT_STREQ(r->target_name, "spam");
    const double v[3] = {0.3, 0.9, 0};
    for (size_t i = 0; i < 3; i++) {
        EXPECT_NEAR(r->values[i], v[i], 1e-12) << i;
        EXPECT_NEAR(r->values[3 + i], -v[i], 1e-12) << i;
    }
    EXPECT_NEAR(r->fxs[0], 1.2, 1e-12);
    EXPECT_NEAR(r->fxs[1], -0.2, 1e-12);
    EXPECT_NEAR(r->base_values[0], 0.0, 1e-12);
    EXPECT_NEAR(r->base_values[1], 1.0, 1e-12);
    EXPECT_EQ(r->base_value, r->base_values[0]);
    xai_result_free(r);
}

TEST(MultiTarget, AllIsEveryOutputInOrderAndAListOfOneIsTheMatrixForm) {
    WordModel m({{"cheap", 0.3}}, "cheap stuff");
    xai_result *r = nullptr;
    ASSERT_EQ(XAI_OK, explain_with(m.ev, "occlusion", {}, &r, nullptr, "all"));
    ASSERT_EQ(r->n_targets, 2u);
    EXPECT_EQ(r->targets[0], 0);
    EXPECT_EQ(r->targets[1], 1);
    EXPECT_STREQ(r->target_names[0], "ham");
    xai_result_free(r);
    xai_value *p = xai_value_map();
    xai_value *list = xai_value_array();
    xai_value_push(list, xai_value_str("spam"));
    xai_value_set(p, "target", list);
    ASSERT_EQ(XAI_OK, xai_explain(m.ev, "occlusion", p, &r, nullptr));
    xai_value_free(p);
    ASSERT_NE(r->targets, nullptr);
    EXPECT_EQ(r->n_targets, 1u);
    EXPECT_EQ(r->targets[0], 1);
    EXPECT_NEAR(r->values[0], 0.3, 1e-12);
    xai_value *v = xai_result_to_value(r);
    EXPECT_EQ(xai_value_type(xai_value_get(v, "targets")), XAI_V_ARRAY);
    EXPECT_EQ(xai_value_type(xai_value_at(xai_value_get(v, "values"), 0)), XAI_V_ARRAY);
    xai_value_free(v);
    xai_result_free(r);
}

// Bad targets: the message names the classes; empty and repeated lists.
TEST(MultiTarget, BadTargetsAreRejectedNamingTheClasses) {
    WordModel m({{"cheap", 0.3}}, "cheap stuff");
    auto try_target = [&](xai_value *t, xai_error *err) {
        xai_value *p = xai_value_map();
        xai_value_set(p, "target", t);
        xai_result *r = nullptr;
        xai_status st = xai_explain(m.ev, "occlusion", p, &r, err);
        xai_value_free(p);
        xai_result_free(r);
        return st;
    };
    xai_error err{};
    xai_value *l = xai_value_array();
    xai_value_push(l, xai_value_str("ham"));
    xai_value_push(l, xai_value_str("eggs"));
    EXPECT_EQ(XAI_ERR_INVALID, try_target(l, &err));
    EXPECT_NE(std::strstr(err.message, "'eggs'"), nullptr) << err.message;
    EXPECT_NE(std::strstr(err.message, "0 'ham', 1 'spam'"), nullptr) << err.message;
    EXPECT_EQ(XAI_ERR_INVALID, try_target(xai_value_int(2), &err));
    EXPECT_NE(std::strstr(err.message, "1 'spam'"), nullptr) << err.message;
    EXPECT_EQ(XAI_ERR_INVALID, try_target(xai_value_array(), &err));
    l = xai_value_array();
    xai_value_push(l, xai_value_int(1));
    xai_value_push(l, xai_value_str("spam"));
    EXPECT_EQ(XAI_ERR_INVALID, try_target(l, &err));
    EXPECT_NE(std::strstr(err.message, "twice"), nullptr) << err.message;
    EXPECT_EQ(XAI_ERR_INVALID, try_target(xai_value_float(1.0), &err));
    EXPECT_NE(std::strstr(err.message, "\"all\""), nullptr) << err.message;
}

// anchors and faithfulness explain one target and say so.
TEST(MultiTarget, SingleTargetMethodsRefuseSeveral) {
    WordModel m({{"cheap", 0.9}}, "cheap stuff");
    for (const char *method : {"anchors", "faithfulness"}) {
        xai_result *r = nullptr;
        xai_error err{};
        EXPECT_EQ(XAI_ERR_UNSUPPORTED, explain_with(m.ev, method, {}, &r, &err, "all")) << method;
        EXPECT_NE(std::strstr(err.message, "one target"), nullptr) << err.message;
        EXPECT_EQ(r, nullptr);
    }
}

// The wire form of a multi-target result goes back to the same result, and
// a malformed one is bad_request.
TEST(MultiTarget, WireRoundTrip) {
    xai_result *r = xai_result_new_multi("kernelshap", 3, 2);
    ASSERT_NE(r, nullptr);
    ASSERT_EQ(XAI_OK, xai_result_alloc_stderrs(r));
    const char *names[3] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) r->feature_names[i] = strdup(names[i]);
    r->targets[0] = 2, r->targets[1] = 0;
    r->target_names[0] = strdup("high");      // target_names[1] stays NULL -> nil
    r->fxs[0] = 0.75, r->fxs[1] = -1.5;
    r->base_values[0] = 0.25, r->base_values[1] = NAN;
    r->target = 2, r->target_name = strdup("high"), r->fx = 0.75, r->base_value = 0.25;
    for (size_t i = 0; i < 6; i++) r->values[i] = 0.5 * (double)i - 1, r->stderrs[i] = 0.01 * (double)i;
    r->seed = 9;
    r->stats.rows_sent = 123;
    xai_value *v = xai_result_to_value(r);
    ASSERT_NE(v, nullptr);
    xai_result *b = nullptr;
    xai_error err{};
    ASSERT_EQ(XAI_OK, xai_result_from_value(v, &b, &err)) << err.message;
    ASSERT_EQ(b->n_targets, 2u);
    EXPECT_EQ(b->targets[0], 2);
    EXPECT_EQ(b->targets[1], 0);
    EXPECT_STREQ(b->target_names[0], "high");
    EXPECT_EQ(b->target_names[1], nullptr);
    EXPECT_EQ(b->target, 2);
    EXPECT_STREQ(b->target_name, "high");
    EXPECT_EQ(b->fxs[1], -1.5);
    EXPECT_EQ(b->fx, 0.75);
    EXPECT_EQ(b->base_values[0], 0.25);
    EXPECT_TRUE(std::isnan(b->base_values[1]));
    for (size_t i = 0; i < 6; i++) {
        EXPECT_EQ(b->values[i], r->values[i]);
        EXPECT_EQ(b->stderrs[i], r->stderrs[i]);
    }
    EXPECT_EQ(b->stats.rows_sent, 123u);
    // Same bytes again.
    char *j1 = xai_result_to_json(r, false), *j2 = xai_result_to_json(b, false);
    EXPECT_STREQ(j1, j2);
    xai_free(j1);
    xai_free(j2);
    xai_result_free(b);
    // A row of the wrong length, and a targets list that is not one.
    xai_value *bad = xai_value_clone(v);
    xai_value *vals = xai_value_array();
    xai_value_push(vals, xai_value_array());
    xai_value_push(vals, xai_value_array());
    xai_value_set(bad, "values", vals);
    EXPECT_EQ(XAI_ERR_BAD_REQUEST, xai_result_from_value(bad, &b, &err));
    EXPECT_EQ(b, nullptr);
    xai_value_set(bad, "targets", xai_value_int(3));
    EXPECT_EQ(XAI_ERR_BAD_REQUEST, xai_result_from_value(bad, &b, &err));
    xai_value_free(bad);
    xai_value_free(v);
    xai_result_free(r);
}
