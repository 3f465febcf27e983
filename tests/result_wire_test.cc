// result_wire_test.cc — xai_result <-> wire value <-> msgpack, and JSON
// (daemon/methods/result_wire.c, docs/PROTOCOL.md "The result").
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

extern "C" {
#include "xai/result.h"
#include "xai/value.h"
}

namespace {

char *dup(const char *s) {
    char *p = static_cast<char *>(malloc(strlen(s) + 1));
    strcpy(p, s);
    return p;
}

// "free money now": tokens free [0,4) money [5,10) now [11,14), features 0..2.
xai_result *text_result() {
    xai_result *r = xai_result_new("occlusion", 3);
    const char *names[] = {"free", "money", "now"};
    double vals[] = {0.5, -0.25, 0.0};
    for (int i = 0; i < 3; i++) {
        r->feature_names[i] = dup(names[i]);
        r->values[i] = vals[i];
    }
    r->stderrs = static_cast<double *>(malloc(3 * sizeof(double)));
    r->stderrs[0] = 0.1, r->stderrs[1] = 0.2, r->stderrs[2] = 0.3;
    r->model = dup("spam");
    r->seed = 42;
    r->target = 1;
    r->target_name = dup("spam");
    r->fx = 0.875;
    r->base_value = 0.125;
    r->text = dup("free money now");
    r->n_tokens = 3;
    r->token_start = static_cast<size_t *>(malloc(3 * sizeof(size_t)));
    r->token_end = static_cast<size_t *>(malloc(3 * sizeof(size_t)));
    r->token_feature = static_cast<int64_t *>(malloc(3 * sizeof(int64_t)));
    size_t st[] = {0, 5, 11}, en[] = {4, 10, 14};
    for (int j = 0; j < 3; j++) {
        r->token_start[j] = st[j];
        r->token_end[j] = en[j];
        r->token_feature[j] = j == 2 ? -1 : j;
    }
    r->extra = xai_value_map();
    xai_value_set_float(r->extra, "intercept", 0.75);
    r->stats.masks_asked = 4;
    r->stats.masks_unique = 3;
    r->stats.rows_asked = 3;
    r->stats.cache_hits = 1;
    r->stats.rows_sent = 2;
    r->stats.model_calls = 1;
    r->stats.model_seconds = 0.5;
    r->stats.render_seconds = 0.25;
    r->stats.eval_seconds = 0.875;
    r->stats.eval_cpu_seconds = 0.125;
    r->seconds = 1.5;
    return r;
}

// to_value -> msgpack -> unpack -> from_value.
xai_result *through_wire(const xai_result *r) {
    xai_value *v = xai_result_to_value(r);
    EXPECT_NE(v, nullptr);
    char *buf = nullptr;
    size_t len = 0;
    EXPECT_EQ(xai_value_pack(v, &buf, &len, nullptr), XAI_OK);
    xai_value_free(v);
    xai_value *back = nullptr;
    xai_error err{};
    EXPECT_EQ(xai_value_unpack(buf, len, nullptr, &back, &err), XAI_OK) << err.message;
    xai_free(buf);
    xai_result *out = nullptr;
    EXPECT_EQ(xai_result_from_value(back, &out, &err), XAI_OK) << err.message;
    xai_value_free(back);
    return out;
}

}  // namespace

TEST(ResultWire, TextResultRoundTripsEveryField) {
    xai_result *r = text_result();
    xai_result *b = through_wire(r);
    ASSERT_NE(b, nullptr);
    EXPECT_STREQ(b->method, "occlusion");
    EXPECT_STREQ(b->model, "spam");
    EXPECT_EQ(b->seed, 42u);
    EXPECT_EQ(b->target, 1);
    EXPECT_STREQ(b->target_name, "spam");
    EXPECT_EQ(b->fx, 0.875);
    EXPECT_EQ(b->base_value, 0.125);
    ASSERT_EQ(b->d, 3u);
    for (size_t i = 0; i < 3; i++) {
        EXPECT_STREQ(b->feature_names[i], r->feature_names[i]);
        EXPECT_EQ(b->values[i], r->values[i]);
        EXPECT_EQ(b->stderrs[i], r->stderrs[i]);
    }
    EXPECT_STREQ(b->text, "free money now");
    ASSERT_EQ(b->n_tokens, 3u);
    for (size_t j = 0; j < 3; j++) {
        EXPECT_EQ(b->token_start[j], r->token_start[j]);
        EXPECT_EQ(b->token_end[j], r->token_end[j]);
        EXPECT_EQ(b->token_feature[j], r->token_feature[j]);
    }
    EXPECT_EQ(xai_value_get_number(xai_value_get(b->extra, "intercept")), 0.75);
    EXPECT_EQ(b->stats.masks_asked, 4u);
    EXPECT_EQ(b->stats.masks_unique, 3u);
    EXPECT_EQ(b->stats.rows_asked, 3u);
    EXPECT_EQ(b->stats.cache_hits, 1u);
    EXPECT_EQ(b->stats.rows_sent, 2u);
    EXPECT_EQ(b->stats.model_calls, 1u);
    EXPECT_EQ(b->stats.model_seconds, 0.5);
    EXPECT_EQ(b->stats.render_seconds, 0.25);
    EXPECT_EQ(b->stats.eval_seconds, 0.875);
    EXPECT_EQ(b->stats.eval_cpu_seconds, 0.125);
    EXPECT_EQ(b->seconds, 1.5);
    EXPECT_EQ(b->rank, 0u);
    xai_result_free(b);
    xai_result_free(r);
}

TEST(ResultWire, TensorResultWithoutOptionalParts) {
    xai_result *r = xai_result_new("lrp", 4);
    for (int i = 0; i < 4; i++) {
        r->feature_names[i] = dup(("p" + std::to_string(i)).c_str());
        r->values[i] = i - 1.5;
    }
    r->rank = 3;
    r->shape[0] = 1, r->shape[1] = 2, r->shape[2] = 2;
    // base_value stays NaN: it travels as nil and comes back NaN.
    xai_value *v = xai_result_to_value(r);
    EXPECT_EQ(xai_value_type(xai_value_get(v, "base_value")), XAI_V_NIL);
    EXPECT_EQ(xai_value_type(xai_value_get(v, "stderrs")), XAI_V_NIL);
    EXPECT_EQ(xai_value_get(v, "text"), nullptr);
    EXPECT_EQ(xai_value_get(v, "tokens"), nullptr);
    xai_value_free(v);
    xai_result *b = through_wire(r);
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(std::isnan(b->base_value));
    EXPECT_EQ(b->stderrs, nullptr);
    EXPECT_EQ(b->text, nullptr);
    EXPECT_EQ(b->n_tokens, 0u);
    ASSERT_EQ(b->rank, 3u);
    EXPECT_EQ(b->shape[1], 2u);
    EXPECT_EQ(b->values[3], 1.5);
    EXPECT_EQ(b->extra, nullptr);
    xai_result_free(b);
    xai_result_free(r);
}

TEST(ResultWire, JsonCarriesTheWireFields) {
    xai_result *r = text_result();
    r->base_value = NAN;
    char *j = xai_result_to_json(r, false);
    std::string s(j);
    xai_free(j);
    EXPECT_NE(s.find("\"method\":\"occlusion\""), std::string::npos) << s;
    EXPECT_NE(s.find("\"base_value\":null"), std::string::npos) << s;
    EXPECT_NE(s.find("\"values\":[0.5,-0.25,0]"), std::string::npos) << s;
    EXPECT_NE(s.find("\"tokens\":[[0,4,0],[5,10,1],[11,14,-1]]"), std::string::npos) << s;
    EXPECT_NE(s.find("\"stats\":{\"masks_asked\":4,"), std::string::npos) << s;
    xai_result_free(r);
}

TEST(ResultWire, MalformedResultsAreRefused) {
    struct Case { const char *what; void (*edit)(xai_value *); } cases[] = {
        {"values too short", [](xai_value *v) {
             xai_value_set(v, "values", xai_value_float_array((const double[]){1}, 1)); }},
        {"value not a number", [](xai_value *v) {
             xai_value *a = xai_value_array();
             for (int i = 0; i < 3; i++) xai_value_push(a, xai_value_str("x"));
             xai_value_set(v, "values", a); }},
        {"method missing", [](xai_value *v) { xai_value_set(v, "method", xai_value_nil()); }},
        {"feature not a string", [](xai_value *v) {
             xai_value *a = xai_value_array();
             for (int i = 0; i < 3; i++) xai_value_push(a, xai_value_int(i));
             xai_value_set(v, "features", a); }},
        {"token past the text", [](xai_value *v) {
             xai_value *t = xai_value_array(), *span = xai_value_array();
             xai_value_push(span, xai_value_int(0));
             xai_value_push(span, xai_value_int(15));  // text has 14 bytes
             xai_value_push(span, xai_value_int(0));
             xai_value_push(t, span);
             xai_value_set(v, "tokens", t); }},
        {"token feature out of range", [](xai_value *v) {
             xai_value *t = xai_value_array(), *span = xai_value_array();
             xai_value_push(span, xai_value_int(0));
             xai_value_push(span, xai_value_int(4));
             xai_value_push(span, xai_value_int(3));  // d = 3
             xai_value_push(t, span);
             xai_value_set(v, "tokens", t); }},
        {"negative seed", [](xai_value *v) { xai_value_set_int(v, "seed", -1); }},
        {"extra not a map", [](xai_value *v) { xai_value_set_int(v, "extra", 3); }},
        {"stats count negative", [](xai_value *v) {
             xai_value_set_int(xai_value_get(v, "stats"), "rows_sent", -2); }},
    };
    xai_result *r = text_result();
    for (const Case &c : cases) {
        xai_value *v = xai_result_to_value(r);
        c.edit(v);
        xai_result *out = reinterpret_cast<xai_result *>(1);
        xai_error err{};
        EXPECT_EQ(xai_result_from_value(v, &out, &err), XAI_ERR_BAD_REQUEST) << c.what;
        EXPECT_EQ(out, nullptr) << c.what;
        EXPECT_NE(std::strstr(err.message, "result:"), nullptr) << c.what << ": " << err.message;
        xai_value_free(v);
    }
    xai_result_free(r);
}
