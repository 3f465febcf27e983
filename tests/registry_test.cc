// registry_test.cc — the method registry as the one description of every
// method and parameter (xai_method_doc, xai_method_param; for native
// network methods xai_nn_method_param), the "did you mean" helper, and
// docs/METHODS.md checked against both.
//
// "One source" is tested two ways:
//  - every literal default in the registry is the method's real default:
//    a run with the parameter set to that literal gives the same values,
//    standard errors and base value as a run without it (on a text and a
//    tabular fixture; a parameter counts as checked when at least one of
//    them takes it);
//  - docs/METHODS.md has a section per method and a table row per
//    parameter whose default starts with the registry's literal.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>

#include "engine_fixtures.h"
#include "xai/methods.h"
#include "xai/nn.h"

namespace {

std::string first_token(std::string s) {
    std::string out;
    for (char c : s) {
        if (c == '`' || c == '"') continue;
        if (c == ' ' && !out.empty()) break;
        if (c == ',' && !out.empty() && std::isdigit((unsigned char)out.back())) continue;  // 1,000,000
        if (c != ' ') out += c;
    }
    return out;
}

// The literal default of p as a value, or null when it has none.
xai_value *literal(const xai_param_info *p) {
    std::string t = first_token(p->def);
    std::string type = p->type;
    if (type == "bool" && (t == "true" || t == "false")) return xai_value_bool(t == "true");
    char *end = nullptr;
    if (type == "int") {
        long long v = strtoll(t.c_str(), &end, 10);
        return end && *end == '\0' && !t.empty() ? xai_value_int(v) : nullptr;
    }
    if (type == "number") {
        double v = strtod(t.c_str(), &end);
        return end && *end == '\0' && !t.empty() ? xai_value_float(v) : nullptr;
    }
    if (type == "string") return xai_value_str(t.c_str());
    if (type == "array" && t == "[]") return xai_value_array();
    return nullptr;  // "argmax", "required", "quartiles": no literal
}

bool same(const xai_result *a, const xai_result *b) {
    if (a->d != b->d) return false;
    if (memcmp(a->values, b->values, a->d * sizeof(double)) != 0) return false;
    if ((a->stderrs == nullptr) != (b->stderrs == nullptr)) return false;
    if (a->stderrs && memcmp(a->stderrs, b->stderrs, a->d * sizeof(double)) != 0) return false;
    return memcmp(&a->base_value, &b->base_value, sizeof(double)) == 0;
}

// Parameters that keep the fixture runs short; a tested parameter replaces
// its entry here.
xai_value *base_params(const char *method, size_t d) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "seed", 3);
    if (strcmp(method, "lime") == 0) xai_value_set_int(p, "num_samples", 300);
    if (strcmp(method, "kernelshap") == 0) xai_value_set_int(p, "nsamples", 40);
    if (strcmp(method, "shapley_sampling") == 0) xai_value_set_int(p, "max_evals", 200);
    if (strcmp(method, "anchors") == 0) xai_value_set_int(p, "coverage_samples", 100);
    if (strcmp(method, "faithfulness") == 0) {
        xai_value *a = xai_value_array();
        for (size_t i = 0; i < d; i++) xai_value_push(a, xai_value_float((double)(d - i)));
        xai_value_set(p, "attr", a);
    }
    return p;
}

// 1 when `param`'s literal default reproduces the default run on ev, 0 when
// the fixture does not take the parameter, -1 when the results differ.
int check_default(xai_eval *ev, const char *method, const xai_param_info *p, xai_value *lit,
                  std::string *why) {
    size_t d = xai_eval_n_features(ev);
    xai_value *base = base_params(method, d), *with = base_params(method, d);
    xai_value *without = xai_value_map();
    for (size_t i = 0; i < xai_value_len(base); i++)
        if (strcmp(xai_value_key_at(base, i), p->name) != 0)
            xai_value_set(without, xai_value_key_at(base, i), xai_value_clone(xai_value_val_at(base, i)));
    xai_value_free(base);
    xai_value_set(with, p->name, lit);
    xai_result *a = nullptr, *b = nullptr;
    xai_error ea{}, eb{};
    xai_status sa = xai_explain(ev, method, without, &a, &ea);
    xai_status sb = xai_explain(ev, method, with, &b, &eb);
    int r = 0;
    if (sa == XAI_OK && sb == XAI_OK) r = same(a, b) ? 1 : -1;
    if (sa != sb) *why = std::string(ea.message) + " | " + eb.message;
    xai_result_free(a);
    xai_result_free(b);
    xai_value_free(without);
    xai_value_free(with);
    return r;
}

std::string read_doc(const char *rel) {
    const char *root = getenv("XAI_ROOT");
    std::ifstream f(std::string(root ? root : ".") + "/" + rel);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The text of section "## NAME ..." up to the next "## ".
std::string section(const std::string &doc, const std::string &name) {
    size_t at = doc.find("\n## " + name + " ");
    if (at == std::string::npos) return "";
    size_t end = doc.find("\n## ", at + 4);
    return doc.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

// The cells of the table row for `param` ("| `param` | ..."), or empty.
std::vector<std::string> row_of(const std::string &sec, const std::string &param) {
    std::vector<std::string> cells;
    size_t at = sec.find("\n| `" + param + "` |");
    if (at == std::string::npos) return cells;
    size_t end = sec.find('\n', at + 1);
    std::string line = sec.substr(at + 1, end - at - 1);
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '|')) cells.push_back(cell);
    return cells;  // "", " `param` ", " type ", " default ", " meaning "
}

}  // namespace

TEST(Registry, EveryMethodIsDescribedWithSeedAndTargetFirst) {
    size_t n = 0;
    for (const char *const *m = xai_method_names(); *m; m++, n++) {
        ASSERT_NE(xai_method_doc(*m), nullptr) << *m;
        ASSERT_GE(xai_method_n_params(*m), 2u) << *m;
        EXPECT_STREQ(xai_method_param(*m, 0)->name, "seed");
        EXPECT_STREQ(xai_method_param(*m, 1)->name, "target");
        for (size_t i = 0; i < xai_method_n_params(*m); i++) {
            const xai_param_info *p = xai_method_param(*m, i);
            EXPECT_TRUE(p->name && p->type && p->def && p->range && p->doc && p->doc[0]) << *m;
        }
        EXPECT_EQ(xai_method_param(*m, xai_method_n_params(*m)), nullptr);
    }
    EXPECT_GE(n, 7u);
    EXPECT_EQ(xai_method_doc("astrology"), nullptr);
    EXPECT_EQ(xai_method_n_params("astrology"), 0u);
}

TEST(Registry, LiteralDefaultsAreTheMethodsOwnDefaults) {
    WordModel text({{"good", 0.3}, {"very", 0.1}, {"bad", -0.2}}, "a very good day, not bad at all");
    LinearModel tab({1.0, -2.0, 0.5, 3.0}, {1, 2, 3, 4},
                    {0, 1, 2, -1, 2, 0, 0, 1, 1, 2, -2, 3, 0.5, 0.5, 0.5, 0.5});
    int checked = 0;
    for (const char *const *m = xai_method_names(); *m; m++) {
        for (size_t i = 2; i < xai_method_n_params(*m); i++) {  // seed's default is below
            const xai_param_info *p = xai_method_param(*m, i);
            xai_value *lit = literal(p);
            if (lit == nullptr) continue;
            std::string why;
            int a = check_default(text.ev, *m, p, xai_value_clone(lit), &why);
            int b = check_default(tab.ev, *m, p, lit, &why);
            EXPECT_TRUE(a >= 0 && b >= 0) << *m << "." << p->name << " = " << p->def
                                          << " is not the default the method uses";
            EXPECT_TRUE(a == 1 || b == 1) << *m << "." << p->name << " checked on no fixture: " << why;
            checked += a == 1 || b == 1;
        }
    }
    EXPECT_GE(checked, 40);
    // seed: 0 is the default.
    xai_value *zero = xai_value_map();
    xai_value_set_int(zero, "seed", 0);
    xai_result *a = nullptr, *b = nullptr;
    ASSERT_EQ(xai_explain(tab.ev, "kernelshap", zero, &a, nullptr), XAI_OK);
    ASSERT_EQ(xai_explain(tab.ev, "kernelshap", nullptr, &b, nullptr), XAI_OK);
    EXPECT_TRUE(same(a, b));
    xai_result_free(a);
    xai_result_free(b);
    xai_value_free(zero);
}

TEST(Registry, UnknownParametersNameTheChoicesAndTheClosest) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "nsample", 10);
    xai_error e{};
    EXPECT_EQ(xai_method_check_params("kernelshap", p, &e), XAI_ERR_INVALID);
    std::string msg = e.message;
    EXPECT_NE(msg.find("did you mean 'nsamples'"), std::string::npos) << msg;
    EXPECT_NE(msg.find("seed, target, nsamples"), std::string::npos) << msg;
    EXPECT_EQ(xai_method_check_params("kernelshapp", nullptr, &e), XAI_ERR_UNKNOWN_METHOD);
    EXPECT_NE(std::string(e.message).find("did you mean 'kernelshap'"), std::string::npos) << e.message;
    EXPECT_EQ(xai_method_check_params("kernelshap", nullptr, &e), XAI_OK);
    xai_value_free(p);
    // A class name that is not one: the classes and the closest.
    WordModel text({{"good", 0.3}}, "good day");
    xai_result *r = nullptr;
    EXPECT_EQ(explain_with(text.ev, "occlusion", {}, &r, &e, "spma"), XAI_ERR_INVALID);
    EXPECT_NE(std::string(e.message).find("did you mean 'spam'? (classes: 0 'ham', 1 'spam')"),
              std::string::npos) << e.message;
}

TEST(Suggest, ClosestByEditDistanceOrContainment) {
    const char *models[] = {"spam", "spam_nb", "cancer", "digits"};
    EXPECT_STREQ(xai_suggest("spma", models, 4), "spam");        // a transposition: 2 edits
    EXPECT_STREQ(xai_suggest("CANCER", models, 4), "cancer");    // case folded
    EXPECT_STREQ(xai_suggest("digit", models, 4), "digits");
    EXPECT_EQ(xai_suggest("wine", models, 4), nullptr);          // nothing close
    EXPECT_EQ(xai_suggest("", models, 4), nullptr);
    const char *methods[] = {"occlusion", "exact_shapley", "lime", "kernelshap", "shapley_sampling"};
    EXPECT_STREQ(xai_suggest("shap", methods, 5), "kernelshap");  // contained, nearest of those
    EXPECT_STREQ(xai_suggest("occlusoin", methods, 5), "occlusion");
    EXPECT_EQ(xai_suggest("astrology", methods, 5), nullptr);
}

TEST(Registry, MethodsMdDocumentsEveryMethodAndParameterWithTheSameDefault) {
    std::string doc = read_doc("docs/METHODS.md");
    ASSERT_GT(doc.size(), 1000u) << "docs/METHODS.md not found (XAI_ROOT?)";
    EXPECT_NE(doc.find("Every method takes `seed` (int, default 0) and `target`"), std::string::npos);
    for (const char *const *m = xai_method_names(); *m; m++) {
        std::string sec = section(doc, *m);
        ASSERT_FALSE(sec.empty()) << "docs/METHODS.md has no section \"## " << *m << " ...\"";
        for (size_t i = 2; i < xai_method_n_params(*m); i++) {
            const xai_param_info *p = xai_method_param(*m, i);
            std::vector<std::string> cells = row_of(sec, p->name);
            ASSERT_GE(cells.size(), 4u) << *m << ": no table row for `" << p->name << "`";
            // The faithfulness table is (parameter, meaning, default).
            std::string def = strcmp(*m, "faithfulness") == 0 ? cells.back() : cells[3];
            EXPECT_EQ(first_token(def), first_token(p->def))
                << *m << "." << p->name << ": METHODS.md says \"" << def << "\", the registry \""
                << p->def << "\"";
        }
    }
}

// ---- native network methods (daemon/nn/params.c) --------------------------

namespace {

// A tiny conv net, 1 x 4 x 4 -> conv 2 3x3 pad 1 -> relu -> global pool ->
// dense 3, random weights; the input a ramp.
struct TinyNet {
    xai_nn *net = nullptr;
    float x[16];
    TinyNet() {
        xai_nn_new(1, 4, 4, &net, nullptr);
        xai_nn_add_conv2d(net, 2, 3, 3, 1, 1, nullptr);
        xai_nn_add_relu(net, nullptr);
        xai_nn_add_global_avgpool(net, nullptr);
        xai_nn_add_dense(net, 3, nullptr);
        xai_nn_init_random(net, 7);
        for (int i = 0; i < 16; i++) x[i] = (float)((i * 7) % 5) / 4.0f - 0.3f;
    }
    ~TinyNet() { xai_nn_free(net); }
};

bool same_bytes(const xai_result *a, const xai_result *b) {
    return same(a, b) && memcmp(&a->fx, &b->fx, sizeof a->fx) == 0 && a->target == b->target;
}

bool text_only(const xai_param_info *p) {
    return strcmp(p->name, "attention") == 0 || strcmp(p->name, "length") == 0;
}

}  // namespace

TEST(NativeParams, EveryNativeMethodIsDescribedWithSeedAndTargetFirst) {
    for (const char *const *m = xai_nn_method_names(); *m; m++) {
        ASSERT_NE(xai_nn_method_doc(*m), nullptr) << *m;
        ASSERT_GE(xai_nn_method_n_params(*m), 3u) << *m;  // seed, target, one more
        EXPECT_STREQ(xai_nn_method_param(*m, 0)->name, "seed");
        EXPECT_STREQ(xai_nn_method_param(*m, 1)->name, "target");
        size_t n = xai_nn_method_n_params(*m);
        // Text networks: "attention" where xai_nn_explain_text takes it.
        bool no_attn = strcmp(*m, "gradcam") == 0 || strcmp(*m, "activation_max") == 0;
        EXPECT_EQ(strcmp(xai_nn_method_param(*m, n - 1)->name, "attention") == 0, !no_attn) << *m;
        xai_value *attn = xai_value_map();
        xai_value_set_bool(attn, "attention", true);
        EXPECT_EQ(xai_nn_check_params(*m, attn, nullptr), no_attn ? XAI_ERR_INVALID : XAI_OK) << *m;
        xai_value_free(attn);
        for (size_t i = 0; i < n; i++) {
            const xai_param_info *p = xai_nn_method_param(*m, i);
            EXPECT_TRUE(p->name && p->type && p->def && p->range && p->doc && p->doc[0]) << *m;
            // The table is the check's key list: each key passes it.
            xai_value *one = xai_value_map();
            xai_value_set(one, p->name, xai_value_nil());
            xai_error e{};
            EXPECT_EQ(xai_nn_check_params(*m, one, &e), XAI_OK) << *m << "." << p->name << ": "
                                                                << e.message;
            xai_value_free(one);
        }
        EXPECT_EQ(xai_nn_method_param(*m, n), nullptr);
        // And a key outside the table does not.
        xai_value *bad = xai_value_map();
        xai_value_set_int(bad, "nsamples", 1);
        EXPECT_EQ(xai_nn_check_params(*m, bad, nullptr), XAI_ERR_INVALID) << *m;
        xai_value_free(bad);
    }
    EXPECT_EQ(xai_nn_method_n_params("kernelshap"), 0u);
    EXPECT_EQ(xai_nn_method_param("astrology", 0), nullptr);
    EXPECT_EQ(xai_nn_method_doc("astrology"), nullptr);
}

// Every literal default (lrp's epsilon, integrated_gradients' steps,
// smoothgrad's n_samples among them) set explicitly gives the same bytes as
// the run without it, on a network built with the C API.
TEST(NativeParams, LiteralDefaultsAreTheMethodsOwnDefaults) {
    TinyNet t;
    ASSERT_NE(t.net, nullptr);
    int checked = 0;
    std::vector<std::string> names;
    for (const char *const *m = xai_nn_method_names(); *m; m++) {
        for (size_t i = 0; i < xai_nn_method_n_params(*m); i++) {
            const xai_param_info *p = xai_nn_method_param(*m, i);
            xai_value *lit = literal(p);
            if (lit == nullptr || text_only(p)) {
                xai_value_free(lit);
                continue;
            }
            // activations has no default layer: both runs give one.
            bool act = strcmp(*m, "activations") == 0;
            xai_value *without = act ? xai_value_map() : nullptr, *with = xai_value_map();
            if (act) xai_value_set_int(without, "layer", 0), xai_value_set_int(with, "layer", 0);
            xai_value_set(with, p->name, lit);
            xai_result *a = nullptr, *b = nullptr;
            xai_error ea{}, eb{};
            ASSERT_EQ(xai_nn_explain(t.net, *m, t.x, without, &a, &ea), XAI_OK) << *m << ea.message;
            ASSERT_EQ(xai_nn_explain(t.net, *m, t.x, with, &b, &eb), XAI_OK)
                << *m << "." << p->name << ": " << eb.message;
            EXPECT_TRUE(same_bytes(a, b)) << *m << "." << p->name << " = " << p->def
                                          << " is not the default the method uses";
            names.push_back(std::string(*m) + "." + p->name);
            checked++;
            xai_result_free(a);
            xai_result_free(b);
            xai_value_free(with);
            xai_value_free(without);
        }
    }
    for (const char *want : {"lrp.epsilon", "integrated_gradients.steps", "smoothgrad.n_samples",
                             "activation_max.steps", "gradcam.relu"})
        EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
    EXPECT_GE(checked, 40);
    // A value other than the default changes the bytes (so the check can fail).
    xai_value *other = xai_value_map();
    xai_value_set_float(other, "epsilon", 0.5);
    xai_result *a = nullptr, *b = nullptr;
    ASSERT_EQ(xai_nn_explain(t.net, "lrp", t.x, nullptr, &a, nullptr), XAI_OK);
    ASSERT_EQ(xai_nn_explain(t.net, "lrp", t.x, other, &b, nullptr), XAI_OK);
    EXPECT_FALSE(same_bytes(a, b));
    xai_result_free(a);
    xai_result_free(b);
    xai_value_free(other);
}

TEST(NativeParams, MethodsMdDocumentsEveryNativeParameterWithTheSameDefault) {
    std::string sec = section(read_doc("docs/METHODS.md"), "native");
    ASSERT_FALSE(sec.empty()) << "docs/METHODS.md has no section \"## native ...\"";
    for (const char *const *m = xai_nn_method_names(); *m; m++) {
        for (size_t i = 2; i < xai_nn_method_n_params(*m); i++) {
            const xai_param_info *p = xai_nn_method_param(*m, i);
            std::vector<std::string> cells = row_of(sec, std::string(*m) + "` | `" + p->name);
            // "", " `method` ", " `param` ", " type ", " default ", ...
            ASSERT_GE(cells.size(), 5u) << "native: no table row | `" << *m << "` | `" << p->name
                                        << "` |";
            EXPECT_EQ(first_token(cells[4]), first_token(p->def))
                << *m << "." << p->name << ": METHODS.md says \"" << cells[4] << "\", the table \""
                << p->def << "\"";
            EXPECT_EQ(first_token(cells[3]), p->type) << *m << "." << p->name;
        }
    }
}
