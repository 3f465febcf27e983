// audit_test.cc — the parts of `xai audit` that need no daemon
// (client/audit/): the input reader, results.jsonl, the aggregates and the
// report, on hand-built inputs and hand-built result lines whose statistics
// are worked out here by hand (means, sample standard errors, counts,
// SP-LIME's greedy coverage), in both result forms: single-target and
// multi-target (targets + k' x d values).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <unistd.h>

extern "C" {
#include "audit/audit.h"
#include "cli/cli.h"
}
#include "e2e_util.h"

namespace {

std::string write_file(const e2e::TempDir &d, const std::string &name, const std::string &body) {
    std::string p = d.path + "/" + name;
    std::ofstream(p, std::ios::binary) << body;
    return p;
}

std::string read_all(const std::string &p) {
    std::ifstream f(p, std::ios::binary);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

json_t *parse(const std::string &s) {
    json_error_t e;
    json_t *j = json_loads(s.c_str(), 0, &e);
    EXPECT_NE(j, nullptr) << e.text << " in " << s;
    return j;
}

// A single-target text result line.
std::string single(int n, int target, const char *name, const char *features, const char *values,
                   const char *extra = "") {
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  "{\"id\":%d,\"n\":%d,\"predicted\":%d%s,\"result\":{\"target\":%d,\"target_name\":\"%s\","
                  "\"fx\":1,\"features\":%s,\"values\":%s,\"stderrs\":null,\"text\":\"t\",\"tokens\":[]}}",
                  n, n, target, extra, target, name, features, values);
    return buf;
}

// A multi-target line: targets [0, 1], rows v0 and v1, predicted p.
std::string multi(int n, int p, const char *features, const char *v0, const char *v1) {
    char buf[2048];
    std::snprintf(buf, sizeof buf,
                  "{\"id\":%d,\"n\":%d,\"predicted\":%d,\"result\":{\"targets\":[0,1],"
                  "\"target_names\":[\"ham\",\"spam\"],\"target\":0,\"target_name\":\"ham\","
                  "\"fx\":[0.3,0.7],\"base_value\":[0.5,0.5],\"features\":%s,\"values\":[%s,%s],"
                  "\"stderrs\":null,\"text\":\"t\",\"tokens\":[]}}",
                  n, n, p, features, v0, v1);
    return buf;
}

json_t *lines_of(const std::vector<std::string> &ls) {
    json_t *a = json_array();
    for (auto &l : ls) json_array_append_new(a, parse(l));
    return a;
}

// The entry `name` in a `top` array, or nullptr.
const json_t *entry(const json_t *top, const char *name) {
    size_t i;
    json_t *e;
    json_array_foreach(top, i, e) if (std::strcmp(json_string_value(json_object_get(e, "name")), name) == 0) return e;
    return nullptr;
}

const json_t *class_top(const json_t *s, int idx) {
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(s, "classes"), i, c) if (json_integer_value(json_object_get(c, "index")) == idx) return json_object_get(c, "top");
    return nullptr;
}

double num(const json_t *o, const char *k) { return json_number_value(json_object_get(o, k)); }

xa_agg_opts opts() {
    xa_agg_opts o{};
    o.top = 50;
    o.min_count = 1;
    o.bins = 5;
    return o;
}

// ---- aggregates --------------------------------------------------------------

TEST(Audit, SingleTargetMeansAndStandardErrors) {
    // "free" in three spam docs with 1, 2, 4: mean 7/3; sample sd
    // sqrt(((1-7/3)^2+(2-7/3)^2+(4-7/3)^2)/2) = sqrt(7/3); se = sd/sqrt(3).
    // "meeting": -1 and +3 -> mean 1, mean |v| 2, se of the mean = 2, se_abs = 1.
    json_t *lines = lines_of({
        single(1, 1, "spam", "[\"free\",\"meeting\"]", "[1,-1]"),
        single(2, 1, "spam", "[\"free\",\"free\"]", "[2,4]"),
        single(3, 1, "spam", "[\"meeting\"]", "[3]"),
        single(4, 0, "ham", "[\"hello\"]", "[0.5]"),
    });
    xa_agg_opts o = opts();
    json_t *s = xa_aggregate(lines, 5, &o);
    EXPECT_EQ(json_integer_value(json_object_get(s, "n_inputs")), 5);
    EXPECT_EQ(json_integer_value(json_object_get(s, "n_done")), 4);
    const json_t *spam = class_top(s, 1);
    const json_t *f = entry(spam, "free");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(json_integer_value(json_object_get(f, "count")), 3);
    EXPECT_EQ(json_integer_value(json_object_get(f, "docs")), 2);
    EXPECT_NEAR(num(f, "mean"), 7.0 / 3, 1e-15);
    EXPECT_NEAR(num(f, "se"), std::sqrt(7.0 / 3) / std::sqrt(3.0), 1e-15);
    const json_t *m = entry(spam, "meeting");
    EXPECT_NEAR(num(m, "mean"), 1.0, 1e-15);
    EXPECT_NEAR(num(m, "mean_abs"), 2.0, 1e-15);
    EXPECT_NEAR(num(m, "se"), 2.0, 1e-15);
    EXPECT_NEAR(num(m, "se_abs"), 1.0, 1e-15);
    // ranked by mean |value|: free (7/3) before meeting (2)
    EXPECT_STREQ(json_string_value(json_object_get(json_array_get(spam, 0), "name")), "free");
    // ham only has its own document; one occurrence has no standard error
    const json_t *h = entry(class_top(s, 0), "hello");
    EXPECT_TRUE(json_is_null(json_object_get(h, "se")));
    EXPECT_EQ(entry(class_top(s, 0), "free"), nullptr);
    // overall: every document's row
    EXPECT_EQ(json_integer_value(json_object_get(json_object_get(s, "overall"), "n_rows")), 4);
    json_decref(s);
    json_decref(lines);
}

TEST(Audit, MultiTargetRowsGoToTheirClassesAndThePredictedRowOverall) {
    json_t *lines = lines_of({
        multi(1, 1, "[\"free\",\"hi\"]", "[-2,0.5]", "[2,-0.5]"),
        multi(2, 0, "[\"hi\"]", "[1]", "[-1]"),
    });
    xa_agg_opts o = opts();
    json_t *s = xa_aggregate(lines, 2, &o);
    EXPECT_EQ(json_array_size(json_object_get(s, "classes")), 2u);
    const json_t *ham = class_top(s, 0), *spam = class_top(s, 1);
    EXPECT_NEAR(num(entry(ham, "free"), "mean"), -2, 0);
    EXPECT_NEAR(num(entry(spam, "free"), "mean"), 2, 0);
    EXPECT_NEAR(num(entry(ham, "hi"), "mean"), 0.75, 1e-15);     // (0.5 + 1) / 2
    EXPECT_NEAR(num(entry(spam, "hi"), "mean"), -0.75, 1e-15);
    // overall: doc 1's spam row (hi -0.5), doc 2's ham row (hi 1)
    const json_t *ov = json_object_get(json_object_get(s, "overall"), "top");
    EXPECT_NEAR(num(entry(ov, "hi"), "mean"), 0.25, 1e-15);
    EXPECT_NEAR(num(entry(ov, "free"), "mean"), 2, 0);
    json_decref(s);
    json_decref(lines);
}

TEST(Audit, BothResultFormsGiveTheSameClassTables) {
    // A multi-target result of one target equals the single-target one.
    json_t *a = lines_of({single(1, 1, "spam", "[\"x\",\"y\"]", "[0.25,-3]")});
    json_t *b = lines_of({"{\"id\":1,\"n\":1,\"predicted\":1,\"result\":{\"targets\":[1],"
                          "\"target_names\":[\"spam\"],\"target\":1,\"target_name\":\"spam\",\"fx\":[1],"
                          "\"values\":[[0.25,-3]],\"features\":[\"x\",\"y\"],\"stderrs\":null,"
                          "\"tokens\":[]}}"});
    xa_agg_opts o = opts();
    json_t *sa = xa_aggregate(a, 1, &o), *sb = xa_aggregate(b, 1, &o);
    EXPECT_TRUE(json_equal(json_object_get(sa, "classes"), json_object_get(sb, "classes")));
    EXPECT_TRUE(json_equal(json_object_get(sa, "overall"), json_object_get(sb, "overall")));
    json_decref(sa);
    json_decref(sb);
    json_decref(a);
    json_decref(b);
}

TEST(Audit, CasefoldJoinsTokens) {
    json_t *lines = lines_of({single(1, 1, "spam", "[\"Free\",\"FREE\",\"free\"]", "[1,2,3]")});
    xa_agg_opts o = opts();
    json_t *exact = xa_aggregate(lines, 1, &o);
    EXPECT_EQ(json_array_size(class_top(exact, 1)), 3u);
    o.casefold = true;
    json_t *fold = xa_aggregate(lines, 1, &o);
    const json_t *f = entry(class_top(fold, 1), "free");
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(json_integer_value(json_object_get(f, "count")), 3);
    EXPECT_EQ(json_integer_value(json_object_get(f, "docs")), 1);
    EXPECT_NEAR(num(f, "mean"), 2, 1e-15);
    json_decref(exact);
    json_decref(fold);
    json_decref(lines);
}

TEST(Audit, LabelsAccuracyConfusionAndMisclassifiedTokens) {
    // labels: doc1 spam (pred spam), doc2 ham (pred spam: wrong), doc3 "0"
    // = class 0 = ham (pred ham), doc4 spam (pred ham: wrong).
    json_t *lines = lines_of({
        single(1, 1, "spam", "[\"a\"]", "[1]", ",\"label\":\"spam\""),
        single(2, 1, "spam", "[\"b\"]", "[2]", ",\"label\":\"ham\""),
        single(3, 0, "ham", "[\"c\"]", "[3]", ",\"label\":\"0\""),
        single(4, 0, "ham", "[\"b\"]", "[-4]", ",\"label\":\"spam\""),
    });
    xa_agg_opts o = opts();
    json_t *s = xa_aggregate(lines, 4, &o);
    const json_t *lab = json_object_get(s, "labels");
    EXPECT_EQ(json_integer_value(json_object_get(lab, "n_labelled")), 4);
    EXPECT_EQ(json_integer_value(json_object_get(lab, "n_correct")), 2);
    EXPECT_NEAR(num(lab, "accuracy"), 0.5, 0);
    json_t *want_classes = parse("[\"ham\",\"spam\"]");
    EXPECT_TRUE(json_equal(json_object_get(lab, "classes"), want_classes));
    json_t *want = parse("[[1,1],[1,1]]");   // rows: true ham, spam; columns: predicted
    EXPECT_TRUE(json_equal(json_object_get(lab, "confusion"), want));
    json_t *missed = parse("[2,4]");
    EXPECT_TRUE(json_equal(json_object_get(lab, "misclassified"), missed));
    const json_t *b = entry(json_object_get(lab, "top_misclassified"), "b");
    EXPECT_NEAR(num(b, "mean"), -1, 1e-15);
    EXPECT_EQ(entry(json_object_get(lab, "top_misclassified"), "a"), nullptr);
    json_decref(want_classes);
    json_decref(want);
    json_decref(missed);
    json_decref(s);
    json_decref(lines);
}

TEST(Audit, SubmodularPickFollowsTheCoverageGreedy) {
    // W: d1 {a:4}, d2 {a:1, b:1}, d3 {c:1}, d4 {b:3}. I = sqrt(column sums):
    // a sqrt5, b 2, c 1. Round 1 gains: d1 sqrt5=2.236, d2 sqrt5+2=4.236,
    // d3 1, d4 2 -> d2. Round 2 (a, b covered): d3 gains 1, others 0 -> d3.
    json_t *lines = lines_of({
        single(1, 1, "s", "[\"a\"]", "[4]"), single(2, 1, "s", "[\"a\",\"b\"]", "[1,-1]"),
        single(3, 1, "s", "[\"c\"]", "[1]"), single(4, 1, "s", "[\"b\"]", "[3]"),
    });
    xa_agg_opts o = opts();
    o.pick = 2;
    json_t *s = xa_aggregate(lines, 4, &o);
    const json_t *pick = json_object_get(s, "pick");
    ASSERT_EQ(json_array_size(pick), 2u);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(pick, 0), "id")), 2);
    EXPECT_NEAR(num(json_array_get(pick, 0), "gain"), std::sqrt(5.0) + 2, 1e-12);
    EXPECT_EQ(json_integer_value(json_object_get(json_array_get(pick, 1), "id")), 3);
    EXPECT_NEAR(num(json_array_get(pick, 1), "gain"), 1, 1e-12);
    json_decref(s);
    json_decref(lines);
}

TEST(Audit, TabularBinsPairInputValuesWithAttributions) {
    // feature x: rows with x = 1..4 and attribution 2x; two bins of two.
    std::vector<std::string> ls;
    for (int i = 1; i <= 4; i++) {
        char b[512];
        std::snprintf(b, sizeof b,
                      "{\"id\":%d,\"n\":%d,\"row\":[%d],\"predicted\":0,\"result\":{\"target\":0,"
                      "\"features\":[\"x\"],\"values\":[%d],\"stderrs\":null,\"fx\":0}}",
                      i, i, i, 2 * i);
        ls.push_back(b);
    }
    json_t *lines = lines_of(ls);
    xa_agg_opts o = opts();
    o.bins = 2;
    json_t *s = xa_aggregate(lines, 4, &o);
    EXPECT_STREQ(json_string_value(json_object_get(s, "kind")), "tabular");
    const json_t *x = entry(json_object_get(json_object_get(s, "overall"), "top"), "x");
    const json_t *bins = json_object_get(x, "bins");
    ASSERT_EQ(json_array_size(bins), 2u);
    EXPECT_EQ(num(json_array_get(bins, 0), "x_lo"), 1);
    EXPECT_EQ(num(json_array_get(bins, 0), "x_hi"), 2);
    EXPECT_NEAR(num(json_array_get(bins, 0), "mean"), 3, 1e-15);
    EXPECT_NEAR(num(json_array_get(bins, 1), "mean"), 7, 1e-15);
    json_decref(s);
    json_decref(lines);
}

TEST(Audit, ErrorsAreCountedByCode) {
    json_t *lines = lines_of({single(1, 1, "s", "[\"a\"]", "[1]"),
                              "{\"id\":2,\"n\":2,\"error\":{\"code\":\"bad_format\",\"message\":\"x\"}}",
                              "{\"id\":3,\"n\":3,\"error\":{\"code\":\"model_unavailable\",\"message\":\"x\"}}",
                              "{\"id\":4,\"n\":4,\"error\":{\"code\":\"bad_format\",\"message\":\"y\"}}"});
    xa_agg_opts o = opts();
    json_t *s = xa_aggregate(lines, 4, &o);
    EXPECT_EQ(json_integer_value(json_object_get(s, "n_errors")), 3);
    json_t *want = parse("{\"bad_format\":2,\"model_unavailable\":1}");
    EXPECT_TRUE(json_equal(json_object_get(s, "errors"), want));
    json_decref(want);
    json_decref(s);
    json_decref(lines);
}

// ---- reader -------------------------------------------------------------------

TEST(AuditReader, CsvQuotedFieldsAndBadRecords) {
    e2e::TempDir d;
    std::string p = write_file(d, "in.csv",
                               "id,text,label\n"
                               "a,\"hello, world\",ham\n"
                               "b,\"two\nlines \"\"quoted\"\"\",spam\n"
                               "c,too,many,fields\n"
                               ",no id,ham\n");
    xa_reader_opts o{};
    xa_docs docs;
    char msg[256];
    ASSERT_TRUE(xa_read_input(p.c_str(), &o, &docs, msg, sizeof msg)) << msg;
    ASSERT_EQ(docs.n, 4u);
    EXPECT_STREQ(docs.v[0].key, "a");
    EXPECT_STREQ(docs.v[0].text, "hello, world");
    EXPECT_STREQ(docs.v[0].label, "ham");
    EXPECT_STREQ(docs.v[1].text, "two\nlines \"quoted\"");
    EXPECT_NE(docs.v[2].error, nullptr);          // 4 fields
    EXPECT_STREQ(docs.v[2].key, "3");             // its record number
    EXPECT_EQ(docs.v[3].error, nullptr);
    EXPECT_STREQ(docs.v[3].key, "4");             // empty id: record number
    xa_docs_free(&docs);
}

TEST(AuditReader, TsvTabularColumns) {
    e2e::TempDir d;
    std::string p = write_file(d, "in.tsv", "id\tx\ty\tlabel\n1\t0.5\t-2\tpos\n2\tnan?\t1\tneg\n");
    xa_reader_opts o{};
    o.tabular = true;
    xa_docs docs;
    char msg[256];
    ASSERT_TRUE(xa_read_input(p.c_str(), &o, &docs, msg, sizeof msg)) << msg;
    ASSERT_EQ(docs.n_columns, 2u);
    EXPECT_STREQ(docs.columns[1], "y");
    EXPECT_EQ(docs.v[0].n_cols, 2u);
    EXPECT_EQ(docs.v[0].row[1], -2);
    EXPECT_NE(docs.v[1].error, nullptr);
    xa_docs_free(&docs);
}

TEST(AuditReader, JsonLinesBadLinesAndDuplicates) {
    e2e::TempDir d;
    std::string p = write_file(d, "in.jsonl",
                               "{\"id\":\"x\",\"text\":\"hi\",\"label\":1}\n"
                               "{not json\n"
                               "\n"
                               "{\"text\":\"no id\"}\n"
                               "{\"id\":\"x\",\"text\":\"again\"}\n"
                               "{\"id\":7}\n");
    xa_reader_opts o{};
    xa_docs docs;
    char msg[256];
    ASSERT_TRUE(xa_read_input(p.c_str(), &o, &docs, msg, sizeof msg)) << msg;
    ASSERT_EQ(docs.n, 5u);
    EXPECT_STREQ(docs.v[0].label, "1");
    EXPECT_NE(docs.v[1].error, nullptr);
    EXPECT_STREQ(docs.v[1].key, "2");
    EXPECT_EQ(docs.v[2].n, 4u);                   // the blank line still counts
    EXPECT_STREQ(docs.v[2].key, "4");
    EXPECT_NE(docs.v[3].error, nullptr);          // repeated id
    EXPECT_STRNE(docs.v[3].key, "x");
    EXPECT_NE(docs.v[4].error, nullptr);          // no text
    EXPECT_STREQ(docs.v[4].key, "7");
    xa_docs_free(&docs);
}

TEST(AuditReader, TextLinesAreNumbered) {
    e2e::TempDir d;
    std::string p = write_file(d, "in.txt", "one\r\n\nthree\n");
    xa_reader_opts o{};
    xa_docs docs;
    char msg[256];
    ASSERT_TRUE(xa_read_input(p.c_str(), &o, &docs, msg, sizeof msg));
    ASSERT_EQ(docs.n, 2u);
    EXPECT_STREQ(docs.v[0].text, "one");
    EXPECT_STREQ(docs.v[1].key, "3");
    xa_docs_free(&docs);
}

// ---- results.jsonl --------------------------------------------------------------

TEST(AuditResults, TornLastLineIsCutAndLoadSortsAndDedupes) {
    e2e::TempDir d;
    write_file(d, "results.jsonl", "{\"id\":\"b\",\"n\":2}\n{\"id\":\"a\",\"n\":1}\n{\"id\":\"c\",\"n\":3,\"res");
    xa_results r;
    char msg[256];
    ASSERT_TRUE(xa_results_open(d.path.c_str(), "results.jsonl", &r, msg, sizeof msg)) << msg;
    EXPECT_NE(json_object_get(r.seen, "a"), nullptr);
    EXPECT_EQ(json_object_get(r.seen, "c"), nullptr);
    json_t *l = parse("{\"id\":\"c\",\"n\":3}");
    ASSERT_TRUE(xa_results_append(&r, l, msg, sizeof msg));
    json_t *dup = parse("{\"id\":\"a\",\"n\":1,\"late\":true}");
    ASSERT_TRUE(xa_results_append(&r, dup, msg, sizeof msg));
    xa_results_close(&r);
    EXPECT_EQ(read_all(d.path + "/results.jsonl"),
              "{\"id\":\"b\",\"n\":2}\n{\"id\":\"a\",\"n\":1}\n{\"id\":\"c\",\"n\":3}\n"
              "{\"id\":\"a\",\"n\":1,\"late\":true}\n");
    json_t *all = xa_results_load((d.path + "/results.jsonl").c_str(), msg, sizeof msg);
    json_t *want = parse("[{\"id\":\"a\",\"n\":1},{\"id\":\"b\",\"n\":2},{\"id\":\"c\",\"n\":3}]");
    EXPECT_TRUE(json_equal(all, want));
    json_decref(want);
    json_decref(all);
    json_decref(l);
    json_decref(dup);
}

// --retry-errors: an id whose line is an error (but bad_format) needs a
// job again; its later result replaces the error when loading, while a
// second error, or a second result, is dropped as any later line is.
TEST(AuditResults, RetriedErrorsAreRedoneAndTheirResultWins) {
    e2e::TempDir d;
    write_file(d, "results.jsonl",
               "{\"id\":1,\"n\":1,\"error\":{\"code\":\"model_unavailable\",\"message\":\"m\"}}\n"
               "{\"id\":2,\"n\":2,\"error\":{\"code\":\"bad_format\",\"message\":\"b\"}}\n"
               "{\"id\":3,\"n\":3,\"result\":{}}\n"
               "{\"id\":4,\"n\":4,\"error\":{\"code\":\"timeout\",\"message\":\"t\"}}\n");
    xa_results r;
    char msg[256];
    ASSERT_TRUE(xa_results_open(d.path.c_str(), "results.jsonl", &r, msg, sizeof msg)) << msg;
    for (const char *k : {"1", "2", "3", "4"}) EXPECT_TRUE(xa_results_done(&r, k, false)) << k;
    EXPECT_FALSE(xa_results_done(&r, "1", true));
    EXPECT_TRUE(xa_results_done(&r, "2", true));     // the input line itself is malformed
    EXPECT_TRUE(xa_results_done(&r, "3", true));
    EXPECT_FALSE(xa_results_done(&r, "4", true));
    EXPECT_FALSE(xa_results_done(&r, "5", false));
    json_t *ok = parse("{\"id\":1,\"n\":1,\"result\":{\"retried\":true}}");
    json_t *again = parse("{\"id\":4,\"n\":4,\"error\":{\"code\":\"timeout\",\"message\":\"again\"}}");
    json_t *late = parse("{\"id\":3,\"n\":3,\"result\":{\"late\":true}}");
    for (json_t *l : {ok, again, late}) ASSERT_TRUE(xa_results_append(&r, l, msg, sizeof msg)) << msg;
    EXPECT_TRUE(xa_results_done(&r, "1", true));     // its result is in the file now
    xa_results_close(&r);
    json_t *all = xa_results_load((d.path + "/results.jsonl").c_str(), msg, sizeof msg);
    ASSERT_EQ(json_array_size(all), 4u);
    EXPECT_TRUE(json_equal(json_array_get(all, 0), ok));
    EXPECT_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(all, 1), "error"), "code")),
                 "bad_format");
    EXPECT_EQ(json_object_size(json_object_get(json_array_get(all, 2), "result")), 0u);   // the first result
    EXPECT_STREQ(json_string_value(json_object_get(json_object_get(json_array_get(all, 3), "error"), "message")),
                 "t");
    for (json_t *l : {ok, again, late}) json_decref(l);
    json_decref(all);
}

// ---- --target, as `xai explain` and `xai audit` both read it ------------------------

// The JSON of params["target"] after cli_add_target(s), or "error".
std::string target_json(const char *s) {
    xai_value *m = nullptr;
    char msg[128];
    if (!cli_add_target(&m, s, msg, sizeof msg)) return "error";
    char *js = xai_value_to_json(xai_value_get(m, "target"), false);
    std::string out = js ? js : "";
    xai_free(js);
    xai_value_free(m);
    return out;
}

TEST(AuditCli, TargetListsAllAndSingleClasses) {
    EXPECT_EQ(target_json("all"), "\"all\"");
    EXPECT_EQ(target_json("spam"), "\"spam\"");
    EXPECT_EQ(target_json("2"), "2");
    EXPECT_EQ(target_json("ham,spam"), "[\"ham\",\"spam\"]");
    EXPECT_EQ(target_json("0,2"), "[0,2]");
    EXPECT_EQ(target_json("[1]"), "[1]");
    EXPECT_EQ(target_json(""), "error");
    EXPECT_EQ(target_json("[0,1"), "error");
}

// ---- report ----------------------------------------------------------------------

TEST(AuditReport, SelfContainedEscapedAndShowsTopTokens) {
    e2e::TempDir d;
    json_t *lines = lines_of({
        "{\"id\":1,\"n\":1,\"predicted\":1,\"result\":{\"target\":1,\"target_name\":\"spam\",\"fx\":1,"
        "\"features\":[\"<b>\",\"free\"],\"values\":[0.5,2],\"stderrs\":[0.1,0.2],"
        "\"text\":\"<b> free\",\"tokens\":[[0,3,0],[4,8,1]]}}",
    });
    xa_agg_opts o = opts();
    json_t *s = xa_aggregate(lines, 1, &o);
    json_t *meta = parse("{\"model\":\"m\",\"method\":\"occlusion\",\"seed\":3}");
    char msg[256];
    std::string path = d.path + "/report.html";
    ASSERT_TRUE(xa_report_write(path.c_str(), meta, s, lines, msg, sizeof msg)) << msg;
    std::string html = read_all(path);
    EXPECT_EQ(html.find("http"), std::string::npos);
    EXPECT_EQ(html.find("<script"), std::string::npos);
    EXPECT_EQ(html.find("<b>"), std::string::npos);
    EXPECT_NE(html.find("&lt;b&gt;"), std::string::npos);
    EXPECT_NE(html.find("title=\"free: 2 &#177; 0.2\""), std::string::npos);
    EXPECT_NE(html.find("<svg"), std::string::npos);
    json_decref(meta);
    json_decref(s);
    json_decref(lines);
}

}  // namespace

namespace {

// A 2 x 2 tensor map over its input: every cell titled with its value, the
// strongest cell at full colour opacity 0.75, the colour bar labelled
// +-max|v|, the input's grey levels from its min (black) to its max (white).
TEST(AuditReport, TensorMapOverTheInputWithAColourBar) {
    e2e::TempDir d;
    json_t *r = parse("{\"method\":\"grad\",\"target\":2,\"fx\":1,\"shape\":[1,2,2],"
                      "\"features\":[\"a\",\"b\",\"c\",\"d\"],\"values\":[0.5,-2,0,1],"
                      "\"stderrs\":null,\"input_row\":[0,1,0.5,1]}");
    char msg[256];
    std::string html = d.path + "/one.html", svg = d.path + "/map.svg";
    ASSERT_TRUE(xa_report_write_one(html.c_str(), r, msg, sizeof msg)) << msg;
    ASSERT_TRUE(xa_heatmap_write_svg(svg.c_str(), r, msg, sizeof msg)) << msg;
    std::string h = read_all(html), s = read_all(svg);
    EXPECT_NE(h.find("<title>(0, 1): -2</title>"), std::string::npos);
    EXPECT_NE(h.find("<title>(1, 1): 1</title>"), std::string::npos);
    EXPECT_NE(h.find(">+2</text>"), std::string::npos);
    EXPECT_NE(h.find(">-2</text>"), std::string::npos);
    EXPECT_NE(h.find("fill=\"rgb(0,0,0)\""), std::string::npos);        // input 0: black
    EXPECT_NE(h.find("fill=\"rgb(255,255,255)\""), std::string::npos);  // input 1: white
    EXPECT_NE(h.find("fill=\"rgb(0,0,255)\" fill-opacity=\"0.750\""), std::string::npos);
    EXPECT_EQ(h.find("http"), std::string::npos);
    EXPECT_EQ(s.rfind("<?xml", 0), 0u);
    EXPECT_NE(s.find("<svg xmlns=\"http://www.w3.org/2000/svg\" width"), std::string::npos);
    json_t *tab = parse("{\"method\":\"occlusion\",\"target\":0,\"fx\":1,\"features\":[\"x\"],"
                        "\"values\":[1],\"stderrs\":null}");
    EXPECT_FALSE(xa_heatmap_write_svg(svg.c_str(), tab, msg, sizeof msg));
    json_decref(tab);
    json_decref(r);
}

}  // namespace
