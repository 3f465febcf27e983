/* api_c_test.c — compiles the whole public API as C11 and checks the parts of
 * its contract that need no daemon: version macros against xai_version(),
 * the status table against docs/PROTOCOL.md, NULL-safe destructors and
 * accessors, and argument checks at the client and model-server entry points.
 *
 * Like LevelDB's c_test.c it is a plain C program (no C++ harness), so any
 * C++-only construct in a public header breaks its build. It prints its own
 * closing line "N passed, M failed", which tests/run_all.sh counts.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "xai/xai.h"
#include "xai/value.h"
#include "xai/rng.h"
#include "xai/text.h"
#include "xai/space.h"
#include "xai/eval.h"
#include "xai/result.h"
#include "xai/methods.h"
#include "xai/nn.h"
#include "xai/client.h"
#include "xai/model_server.h"

static int passed, failed;

#define CHECK(cond, ...)                                               \
    do {                                                               \
        if (cond) {                                                    \
            passed++;                                                  \
        } else {                                                       \
            failed++;                                                  \
            printf("FAIL: %s:%d: %s: ", __FILE__, __LINE__, #cond);    \
            printf(__VA_ARGS__);                                       \
            printf("\n");                                              \
        }                                                              \
    } while (0)

/* The table of docs/PROTOCOL.md, section 4, typed in from the document (not
 * from the library): code string for each number 0..25. */
static const char *const documented[] = {
    "ok", "out_of_memory", "invalid_argument", "bad_request", "limit_exceeded",
    "invalid_utf8", "bad_pattern", "pattern_limit", "model_error", "bad_model_output",
    "model_unavailable", "deadline_exceeded", "cancelled", "unknown_model",
    "unknown_method", "unknown_op", "not_found", "busy", "io_error", "bad_format",
    "numeric_error", "unsupported", "shutting_down", "unsupported_version", "timeout",
    "internal_error",
};

static void test_version(void) {
    char built[32];
    snprintf(built, sizeof built, "%d.%d.%d", XAI_VERSION_MAJOR, XAI_VERSION_MINOR,
             XAI_VERSION_PATCH);
    CHECK(strcmp(built, XAI_VERSION_STRING) == 0, "macros %s vs string %s", built,
          XAI_VERSION_STRING);
    CHECK(strcmp(xai_version(), XAI_VERSION_STRING) == 0, "library %s, headers %s",
          xai_version(), XAI_VERSION_STRING);
    CHECK(XAI_PROTOCOL_VERSION == 1, "protocol version %d", XAI_PROTOCOL_VERSION);
}

static void test_status_table(void) {
    CHECK(sizeof documented / sizeof documented[0] == XAI_STATUS_COUNT_,
          "%zu documented codes, enum has %d", sizeof documented / sizeof documented[0],
          (int)XAI_STATUS_COUNT_);
    for (int c = 0; c < XAI_STATUS_COUNT_; c++) {
        const char *code = xai_errcode((xai_status)c);
        const char *text = xai_errstr((xai_status)c);
        CHECK(strcmp(code, documented[c]) == 0, "code %d is \"%s\", documented \"%s\"", c,
              code, documented[c]);
        CHECK(text != NULL && text[0] != '\0', "code %d has no text", c);
        CHECK(xai_status_from_errcode(code) == (xai_status)c, "\"%s\" does not map back to %d",
              code, c);
        for (int o = 0; o < c; o++)
            if (strcmp(xai_errstr((xai_status)o), text) == 0)
                CHECK(0, "codes %d and %d share the text \"%s\"", o, c, text);
    }
    /* Spot checks on numbers the protocol fixes. */
    CHECK(XAI_ERR_MODEL_UNAVAILABLE == 10 && XAI_ERR_TIMEOUT == 24 && XAI_ERR_INTERNAL == 25,
          "renumbered codes");
    CHECK(strcmp(xai_errcode((xai_status)999), "internal_error") == 0, "out of range code");
    CHECK(xai_errstr((xai_status)-1) != NULL, "errstr(-1) is NULL");
    CHECK(xai_status_from_errcode("no_such_code") == XAI_ERR_INTERNAL, "unknown string");
    CHECK(xai_status_from_errcode(NULL) == XAI_ERR_INTERNAL, "NULL string");
}

static void test_null_safety(void) {
    xai_value_free(NULL);
    xai_free(NULL);
    xai_result_free(NULL);
    xai_client_close(NULL);
    xai_model_server_free(NULL);
    xai_model_server_stop(NULL);
    CHECK(xai_result_n_features(NULL) == 0, "n_features(NULL)");
    CHECK(xai_result_feature_name(NULL, 0) == NULL, "feature_name(NULL)");
    CHECK(isnan(xai_result_value(NULL, 0)) && isnan(xai_result_fx(NULL)), "value(NULL)");
    CHECK(xai_result_stats(NULL) == NULL, "stats(NULL)");
    CHECK(strcmp(xai_client_errmsg(NULL), "") == 0, "errmsg(NULL)");
    xai_model_server_stats st = {1, 1, 1};
    xai_model_server_get_stats(NULL, &st);
    CHECK(st.requests == 0 && st.rows == 0 && st.errors == 0, "stats of NULL server");
}

/* The registry's description from C: every method has a doc line and
 * seed/target first; unknown names read as nothing; the suggestion helper
 * finds one edit away and nothing far away. */
static void test_registry(void) {
    size_t n = 0;
    for (const char *const *m = xai_method_names(); *m; m++, n++) {
        CHECK(xai_method_doc(*m) != NULL, "%s has no doc", *m);
        const xai_param_info *p0 = xai_method_param(*m, 0), *p1 = xai_method_param(*m, 1);
        CHECK(p0 && p1 && strcmp(p0->name, "seed") == 0 && strcmp(p1->name, "target") == 0,
              "%s: seed and target first", *m);
        CHECK(xai_method_param(*m, xai_method_n_params(*m)) == NULL, "%s: past the end", *m);
    }
    CHECK(n >= 7, "%zu methods", n);
    CHECK(xai_method_doc("nope") == NULL && xai_method_n_params("nope") == 0 &&
          xai_method_param("nope", 0) == NULL, "unknown method");
    const char *names[] = {"occlusion", "lime", "kernelshap"};
    CHECK(xai_suggest("lmie", names, 3) != NULL && strcmp(xai_suggest("lmie", names, 3), "lime") == 0,
          "lmie -> lime");
    CHECK(xai_suggest("zzzzzzzz", names, 3) == NULL, "nothing close");
    CHECK(xai_client_error_detail(NULL) == NULL, "error_detail(NULL)");
}

/* Accessors on a hand-built result: in range they read the fields, out of
 * range they give NaN / NULL. */
static void test_accessors(void) {
    xai_result *r = xai_result_new("occlusion", 2);
    CHECK(r != NULL, "xai_result_new");
    if (r == NULL) return;
    r->values[0] = 0.25;
    r->values[1] = -1.5;
    r->fx = 0.75;
    r->stats.model_calls = 3;
    CHECK(xai_result_n_features(r) == 2, "d");
    CHECK(xai_result_value(r, 1) == -1.5 && isnan(xai_result_value(r, 2)), "values");
    CHECK(isnan(xai_result_stderr(r, 0)), "stderr without stderrs");
    CHECK(isnan(xai_result_base_value(r)), "base value defaults to NaN");
    CHECK(xai_result_fx(r) == 0.75 && xai_result_stats(r)->model_calls == 3, "fx, stats");
    CHECK(xai_result_feature_name(r, 5) == NULL, "name out of range");
    xai_result_free(r);
}

/* The per-target accessors on both result forms: a single-target result is
 * its one row, a multi-target one is read row by row, the old accessors
 * read row 0, and indices past the rows give NaN / NULL / -1. */
static void test_target_accessors(void) {
    xai_result *one = xai_result_new("occlusion", 2), *two = xai_result_new_multi("lime", 2, 2);
    CHECK(one != NULL && two != NULL, "xai_result_new_multi");
    CHECK(xai_result_new_multi("lime", 2, 0) == NULL, "zero targets");
    if (one == NULL || two == NULL) goto done;
    one->target = 3;
    one->values[1] = 0.5;
    one->fx = 0.25;
    CHECK(xai_result_n_targets(one) == 1 && xai_result_target_at(one, 0) == 3, "one row");
    CHECK(xai_result_value_at(one, 0, 1) == 0.5 && xai_result_fx_at(one, 0) == 0.25, "row 0");
    CHECK(xai_result_target_at(one, 1) == -1 && isnan(xai_result_value_at(one, 1, 0)), "row 1");
    CHECK(two->targets != NULL && two->n_targets == 2, "multi form");
    two->targets[0] = 1, two->targets[1] = 0;
    two->fxs[1] = 0.125;
    two->base_values[1] = -2;
    for (size_t i = 0; i < 4; i++) two->values[i] = (double)i;
    CHECK(xai_result_alloc_stderrs(two) == XAI_OK && two->stderrs[3] == 0, "stderrs k' x d");
    CHECK(xai_result_n_targets(two) == 2 && xai_result_target_at(two, 1) == 0, "targets");
    CHECK(xai_result_value_at(two, 1, 0) == 2 && xai_result_value(two, 1) == 1, "rows");
    CHECK(xai_result_fx_at(two, 1) == 0.125 && xai_result_base_value_at(two, 1) == -2, "fx, base");
    CHECK(xai_result_stderr_at(two, 1, 1) == 0 && isnan(xai_result_stderr_at(two, 2, 0)), "se");
    CHECK(xai_result_target_name_at(two, 0) == NULL && xai_result_n_targets(NULL) == 0, "names");
done:
    xai_result_free(one);
    xai_result_free(two);
}

static xai_status never(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)ctx, (void)b, (void)out, (void)err;
    return XAI_OK;
}

static void test_argument_checks(void) {
    xai_error err = {XAI_OK, ""};
    xai_client *c = (xai_client *)&err;
    CHECK(xai_client_connect("", &c, &err) == XAI_ERR_INVALID && c == NULL, "empty endpoint");
    CHECK(err.message[0] != '\0', "no message for the empty endpoint");

    xai_model_server *s = (xai_model_server *)&err;
    xai_model_server_opts o = {.endpoint = "ipc:///tmp/api-c-test-unused.sock",
                               .kind = XAI_INPUT_ROWS, .n_outputs = 1};
    CHECK(xai_model_server_new(&o, &s, &err) == XAI_ERR_INVALID && s == NULL, "no predict");
    o.predict = never;
    o.n_outputs = 0;
    CHECK(xai_model_server_new(&o, &s, &err) == XAI_ERR_INVALID, "zero outputs");
    o.n_outputs = 2;
    o.endpoint = "nonsense://x";
    CHECK(xai_model_server_new(&o, &s, &err) == XAI_ERR_IO && s == NULL, "bad endpoint: %s",
          err.message);
}

int main(void) {
    test_version();
    test_status_table();
    test_null_safety();
    test_accessors();
    test_target_accessors();
    test_argument_checks();
    test_registry();
    printf("%d passed, %d failed\n", passed, failed);
    return failed != 0;
}
