// eval_test.cc — the evaluator: dedup, cache, splitting into model calls,
// validation of model answers, the check callback, background weighting.
//
// The models are in-process C functions that count their calls, so every
// expectation on counters is derived from the request by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine_fixtures.h"
#include "xai/eval.h"
#include "xai/space.h"
#include "xai/text.h"

namespace {

// f(row) = sum_j w_j row_j (output 0) and 1 - f (output 1).
struct Linear {
    std::vector<double> w;
    int calls = 0;
    size_t rows = 0;
    size_t max_batch = 0;
    int poison_call = -1;       // call index that answers NaN
    int fail_call = -1;         // call index that returns XAI_ERR_MODEL
    bool leave_unset = false;   // leaves the last output unwritten
};

xai_status linear_predict(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    Linear *m = static_cast<Linear *>(ctx);
    int call = m->calls++;
    m->rows += b->n;
    m->max_batch = std::max(m->max_batch, b->n);
    if (call == m->fail_call) {
        err->code = XAI_ERR_MODEL;
        snprintf(err->message, sizeof err->message, "boom");
        return XAI_ERR_MODEL;
    }
    for (size_t i = 0; i < b->n; i++) {
        double f = 0;
        for (size_t j = 0; j < b->cols; j++) f += m->w[j] * b->rows[i * b->cols + j];
        out[i * 2] = f;
        if (!(m->leave_unset && i + 1 == b->n)) out[i * 2 + 1] = 1.0 - f;
    }
    if (call == m->poison_call) out[0] = NAN;
    return XAI_OK;
}

struct Fixture {
    Linear lin;
    xai_space *space = nullptr;
    xai_eval *ev = nullptr;
    xai_model model{};

    Fixture(std::vector<double> x, std::vector<double> bg, size_t nb, const double *weights,
            xai_eval_opts opts) {
        size_t d = x.size();
        lin.w.resize(d);
        for (size_t j = 0; j < d; j++) lin.w[j] = double(j + 1);
        xai_tabular_space_opts to{};
        to.background = bg.data();
        to.n_background = nb;
        to.weights = weights;
        EXPECT_EQ(XAI_OK, xai_space_tabular_new(x.data(), d, &to, &space, nullptr));
        model.name = "linear";
        model.cache_id = 7;
        model.kind = XAI_INPUT_ROWS;
        model.n_outputs = 2;
        model.n_cols = d;
        model.predict = linear_predict;
        model.ctx = &lin;
        EXPECT_EQ(XAI_OK, xai_eval_new(&model, space, &opts, &ev, nullptr));
    }
    ~Fixture() {
        xai_eval_free(ev);
        xai_space_free(space);
    }
};

// All 2^d masks of d features, mask b has bit j = feature j.
std::vector<uint8_t> all_masks(size_t d) {
    std::vector<uint8_t> m((size_t(1) << d) * d);
    for (size_t s = 0; s < (size_t(1) << d); s++)
        for (size_t j = 0; j < d; j++) m[s * d + j] = (s >> j) & 1;
    return m;
}

}  // namespace

TEST(Eval, TabularOneBackgroundIsTheModelOnTheMixedRow) {
    // x = (1,2,3), b = (10,20,30), w = (1,2,3). Mask 101 -> row (1,20,3):
    // f = 1 + 40 + 9 = 50.
    Fixture fx({1, 2, 3}, {10, 20, 30}, 1, nullptr, xai_eval_opts{});
    uint8_t mask[3] = {1, 0, 1};
    double out[2];
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, mask, 1, out, nullptr));
    EXPECT_DOUBLE_EQ(50.0, out[0]);
    EXPECT_DOUBLE_EQ(-49.0, out[1]);
}

TEST(Eval, DuplicateMasksAreEvaluatedOnce) {
    Fixture fx({1, 2}, {0, 0}, 1, nullptr, xai_eval_opts{});
    // Masks 11, 10, 11, 10, 01: three unique. Outputs: 11 -> 1+4 = 5,
    // 10 -> 1, 01 -> 4.
    uint8_t masks[] = {1, 1, 1, 0, 1, 1, 1, 0, 0, 1};
    double out[10];
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, masks, 5, out, nullptr));
    const xai_eval_stats *st = xai_eval_get_stats(fx.ev);
    EXPECT_EQ(5u, st->masks_asked);
    EXPECT_EQ(3u, st->masks_unique);
    EXPECT_EQ(3u, st->rows_sent);
    EXPECT_EQ(1u, st->model_calls);
    EXPECT_EQ(3u, fx.lin.rows);
    double want[] = {5, 1, 5, 1, 4};
    for (int i = 0; i < 5; i++) EXPECT_DOUBLE_EQ(want[i], out[i * 2]) << i;
}

TEST(Eval, DistinctMasksRenderingTheSameRowAreSentOnce) {
    // x_1 == b_1, so masks 10 and 11 render the same row (1, 5).
    Fixture fx({1, 5}, {0, 5}, 1, nullptr, xai_eval_opts{});
    uint8_t masks[] = {1, 0, 1, 1};
    double out[4];
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, masks, 2, out, nullptr));
    EXPECT_EQ(2u, xai_eval_get_stats(fx.ev)->masks_unique);
    EXPECT_EQ(1u, fx.lin.rows);
    EXPECT_DOUBLE_EQ(11.0, out[0]);   // 1*1 + 2*5
    EXPECT_DOUBLE_EQ(11.0, out[2]);
}

TEST(Eval, CacheAnswersRepeatedRequests) {
    Fixture fx({1, 2, 3}, {0, 0, 0}, 1, nullptr, xai_eval_opts{});
    std::vector<uint8_t> m = all_masks(3);
    std::vector<double> a(16), b(16);
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 8, a.data(), nullptr));
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 8, b.data(), nullptr));
    const xai_eval_stats *st = xai_eval_get_stats(fx.ev);
    EXPECT_EQ(1u, st->model_calls);     // the second request is all hits
    EXPECT_EQ(8u, st->cache_hits);
    EXPECT_EQ(8u, st->rows_sent);
    EXPECT_EQ(a, b);
    // mask 7 = 111 -> 1 + 4 + 9 = 14
    EXPECT_DOUBLE_EQ(14.0, b[7 * 2]);
}

TEST(Eval, SharedCacheServesASecondEvaluatorOfTheSameModel) {
    xai_cache *cache = nullptr;
    ASSERT_EQ(XAI_OK, xai_cache_new(1 << 20, &cache, nullptr));
    xai_eval_opts o{};
    o.cache = cache;
    Fixture f1({1, 2}, {0, 0}, 1, nullptr, o);
    Fixture f2({1, 2}, {0, 0}, 1, nullptr, o);
    std::vector<uint8_t> m = all_masks(2);
    double out[8];
    ASSERT_EQ(XAI_OK, xai_eval_masks(f1.ev, m.data(), 4, out, nullptr));
    ASSERT_EQ(XAI_OK, xai_eval_masks(f2.ev, m.data(), 4, out, nullptr));
    EXPECT_EQ(0, f2.lin.calls);
    EXPECT_EQ(4u, xai_eval_get_stats(f2.ev)->cache_hits);
    xai_cache_stats cs;
    xai_cache_get_stats(cache, &cs);
    EXPECT_EQ(4u, cs.entries);
    EXPECT_EQ(4u, cs.hits);
    xai_eval_free(f1.ev);
    xai_eval_free(f2.ev);
    f1.ev = f2.ev = nullptr;
    xai_cache_free(cache);
}

TEST(Eval, CacheEvictsLeastRecentlyUsedWithinItsBytes) {
    // A cache far smaller than 64 entries: after 64 distinct rows it holds
    // fewer entries, its bytes stay under the bound, and evictions happened.
    xai_cache *cache = nullptr;
    ASSERT_EQ(XAI_OK, xai_cache_new(2000, &cache, nullptr));
    xai_eval_opts o{};
    o.cache = cache;
    Fixture fx({1, 2, 3, 4, 5, 6}, {0, 0, 0, 0, 0, 0}, 1, nullptr, o);
    std::vector<uint8_t> m = all_masks(6);
    std::vector<double> out(128);
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 64, out.data(), nullptr));
    xai_cache_stats cs;
    xai_cache_get_stats(cache, &cs);
    EXPECT_LE(cs.bytes, 2000u);
    EXPECT_GT(cs.entries, 0u);
    EXPECT_LT(cs.entries, 64u);
    EXPECT_EQ(64u - cs.entries, cs.evictions);
    // The most recent entry (the last mask) is still there.
    int calls = fx.lin.calls;
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, &m[63 * 6], 1, out.data(), nullptr));
    EXPECT_EQ(calls, fx.lin.calls);
    xai_eval_free(fx.ev);
    fx.ev = nullptr;
    xai_cache_free(cache);
}

TEST(Eval, SplitsCallsByRows) {
    xai_eval_opts o{};
    o.max_rows_per_call = 3;
    Fixture fx({1, 2, 3}, {0, 0, 0}, 1, nullptr, o);
    std::vector<uint8_t> m = all_masks(3);
    std::vector<double> out(16);
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 8, out.data(), nullptr));
    // 8 rows in calls of at most 3: ceil(8/3) = 3 calls.
    EXPECT_EQ(3, fx.lin.calls);
    EXPECT_EQ(3u, fx.lin.max_batch);
    EXPECT_EQ(3u, xai_eval_get_stats(fx.ev)->model_calls);
}

TEST(Eval, SplitsCallsByBytes) {
    // Rows of 3 doubles are 24 bytes; 50 bytes per call fits 2 rows.
    xai_eval_opts o{};
    o.max_bytes_per_call = 50;
    Fixture fx({1, 2, 3}, {0, 0, 0}, 1, nullptr, o);
    std::vector<uint8_t> m = all_masks(3);
    std::vector<double> out(16);
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 8, out.data(), nullptr));
    EXPECT_EQ(4, fx.lin.calls);
    EXPECT_EQ(2u, fx.lin.max_batch);
}

TEST(Eval, OneRowBiggerThanTheByteBoundStillGoesAlone) {
    xai_eval_opts o{};
    o.max_bytes_per_call = 1;
    Fixture fx({1, 2}, {0, 0}, 1, nullptr, o);
    std::vector<uint8_t> m = all_masks(2);
    double out[8];
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 4, out, nullptr));
    EXPECT_EQ(4, fx.lin.calls);
    EXPECT_EQ(1u, fx.lin.max_batch);
}

TEST(Eval, NaNAnswerIsAnErrorAndIsNotCached) {
    xai_eval_opts o{};
    o.max_rows_per_call = 2;
    Fixture fx({1, 2}, {0, 0}, 1, nullptr, o);
    fx.lin.poison_call = 1;     // the second call of two answers NaN
    std::vector<uint8_t> m = all_masks(2);
    double out[8];
    xai_error err{};
    EXPECT_EQ(XAI_ERR_MODEL_OUTPUT, xai_eval_masks(fx.ev, m.data(), 4, out, &err));
    EXPECT_EQ(XAI_ERR_MODEL_OUTPUT, err.code);
    EXPECT_NE(nullptr, strstr(err.message, "NaN"));
    // Again, with a healthy model: the first call's 2 rows come from the
    // cache, the poisoned call's 2 rows are asked again.
    fx.lin.poison_call = -1;
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, m.data(), 4, out, nullptr));
    EXPECT_EQ(2u, xai_eval_get_stats(fx.ev)->cache_hits);
    EXPECT_EQ(6u, fx.lin.rows);
    EXPECT_DOUBLE_EQ(5.0, out[3 * 2]);
}

TEST(Eval, UnwrittenOutputIsAnError) {
    Fixture fx({1, 2}, {0, 0}, 1, nullptr, xai_eval_opts{});
    fx.lin.leave_unset = true;
    uint8_t mask[2] = {1, 1};
    double out[2];
    EXPECT_EQ(XAI_ERR_MODEL_OUTPUT, xai_eval_masks(fx.ev, mask, 1, out, nullptr));
    fx.lin.leave_unset = false;
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, mask, 1, out, nullptr));
    EXPECT_EQ(0u, xai_eval_get_stats(fx.ev)->cache_hits);
}

TEST(Eval, ModelErrorStatusPassesThroughWithItsMessage) {
    Fixture fx({1, 2}, {0, 0}, 1, nullptr, xai_eval_opts{});
    fx.lin.fail_call = 0;
    uint8_t mask[2] = {0, 1};
    double out[2];
    xai_error err{};
    EXPECT_EQ(XAI_ERR_MODEL, xai_eval_masks(fx.ev, mask, 1, out, &err));
    EXPECT_NE(nullptr, strstr(err.message, "boom"));
    EXPECT_NE(nullptr, strstr(err.message, "linear"));
    fx.lin.fail_call = -1;
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, mask, 1, out, nullptr));
    EXPECT_EQ(0u, xai_eval_get_stats(fx.ev)->cache_hits);
    EXPECT_DOUBLE_EQ(4.0, out[0]);
}

namespace {
struct Stopper {
    int calls = 0;
    int allow = 0;
    double last_progress = -1;
};
xai_status stop_after(void *ctx, const xai_eval_stats *, double progress, xai_error *err) {
    Stopper *s = static_cast<Stopper *>(ctx);
    s->last_progress = progress;
    if (s->calls++ < s->allow) return XAI_OK;
    err->code = XAI_ERR_CANCELLED;
    snprintf(err->message, sizeof err->message, "job cancelled");
    return XAI_ERR_CANCELLED;
}
}  // namespace

TEST(Eval, CheckCallbackRunsBeforeEveryModelCallAndCanStop) {
    xai_eval_opts o{};
    o.max_rows_per_call = 2;
    Fixture fx({1, 2, 3}, {0, 0, 0}, 1, nullptr, o);
    Stopper s;
    s.allow = 2;
    xai_eval_set_check(fx.ev, stop_after, &s);
    xai_eval_set_progress(fx.ev, 0.25);
    std::vector<uint8_t> m = all_masks(3);
    std::vector<double> out(16);
    xai_error err{};
    EXPECT_EQ(XAI_ERR_CANCELLED, xai_eval_masks(fx.ev, m.data(), 8, out.data(), &err));
    EXPECT_STREQ("job cancelled", err.message);
    EXPECT_EQ(2, fx.lin.calls);     // two calls allowed, the third stopped
    EXPECT_EQ(3, s.calls);
    EXPECT_DOUBLE_EQ(0.25, s.last_progress);
}

TEST(Eval, BackgroundWeightedMean) {
    // x = (1, 1), background rows (0, 0) and (2, 4) with weights 1 and 3
    // (normalized 0.25, 0.75); w = (1, 2).
    // Mask 10: rows (1,0) -> 1 and (1,4) -> 9: 0.25*1 + 0.75*9 = 7.
    // Mask 00: rows (0,0) -> 0 and (2,4) -> 10: 7.5.
    // Mask 11: both rows are x -> 3.
    double w[2] = {1, 3};
    Fixture fx({1, 1}, {0, 0, 2, 4}, 2, w, xai_eval_opts{});
    uint8_t masks[] = {1, 0, 0, 0, 1, 1};
    double out[6];
    ASSERT_EQ(XAI_OK, xai_eval_masks(fx.ev, masks, 3, out, nullptr));
    EXPECT_DOUBLE_EQ(7.0, out[0]);
    EXPECT_DOUBLE_EQ(7.5, out[2]);
    EXPECT_DOUBLE_EQ(3.0, out[4]);
    EXPECT_DOUBLE_EQ(1.0 - 7.0, out[1]);
    // Mask 11 renders the same row twice: sent once.
    EXPECT_EQ(5u, fx.lin.rows);
    EXPECT_EQ(6u, xai_eval_get_stats(fx.ev)->rows_asked);
}

TEST(Eval, RawRowsAreDedupedAndCached) {
    Fixture fx({0, 0}, {0, 0}, 1, nullptr, xai_eval_opts{});
    double rows[] = {1, 1, 2, 0, 1, 1};
    xai_batch b{};
    b.kind = XAI_INPUT_ROWS;
    b.n = 3;
    b.cols = 2;
    b.rows = rows;
    double out[6];
    ASSERT_EQ(XAI_OK, xai_eval_inputs(fx.ev, &b, out, nullptr));
    EXPECT_DOUBLE_EQ(3.0, out[0]);
    EXPECT_DOUBLE_EQ(2.0, out[2]);
    EXPECT_DOUBLE_EQ(3.0, out[4]);
    EXPECT_EQ(2u, fx.lin.rows);
    ASSERT_EQ(XAI_OK, xai_eval_inputs(fx.ev, &b, out, nullptr));
    EXPECT_EQ(2u, fx.lin.rows);
    b.cols = 3;
    EXPECT_EQ(XAI_ERR_INVALID, xai_eval_inputs(fx.ev, &b, out, nullptr));
}

TEST(Eval, RejectsAModelOfTheWrongKindOrWidth) {
    double x[2] = {0, 0}, bg[2] = {0, 0};
    xai_tabular_space_opts to{};
    to.background = bg;
    to.n_background = 1;
    xai_space *s = nullptr;
    ASSERT_EQ(XAI_OK, xai_space_tabular_new(x, 2, &to, &s, nullptr));
    Linear lin;
    xai_model m{};
    m.kind = XAI_INPUT_TEXT;
    m.n_outputs = 1;
    m.predict = linear_predict;
    m.ctx = &lin;
    xai_eval *ev = nullptr;
    EXPECT_EQ(XAI_ERR_INVALID, xai_eval_new(&m, s, nullptr, &ev, nullptr));
    m.kind = XAI_INPUT_ROWS;
    m.n_cols = 3;
    EXPECT_EQ(XAI_ERR_INVALID, xai_eval_new(&m, s, nullptr, &ev, nullptr));
    EXPECT_EQ(nullptr, ev);
    xai_space_free(s);
}

namespace {

// Counts calls and records the byte size of the biggest batch; f = length.
struct TextCounter {
    int calls = 0;
    size_t rows = 0, max_bytes = 0;
    std::vector<std::string> seen;
};

xai_status text_len_predict(void *ctx, const xai_batch *b, double *out, xai_error *) {
    TextCounter *c = static_cast<TextCounter *>(ctx);
    c->calls++;
    c->rows += b->n;
    size_t bytes = 0;
    for (size_t i = 0; i < b->n; i++) {
        bytes += b->text_lens[i];
        c->seen.emplace_back(b->texts[i], b->text_lens[i]);
        out[i] = double(b->text_lens[i]);
    }
    c->max_bytes = std::max(c->max_bytes, bytes);
    return XAI_OK;
}

struct TextEval {
    TextCounter counter;
    TextInput in;
    xai_eval *ev = nullptr;
    TextEval(const std::string &text, xai_text_space_opts so, xai_eval_opts eo) : in(text, so) {
        xai_model m{};
        m.name = "len";
        m.kind = XAI_INPUT_TEXT;
        m.n_outputs = 1;
        m.predict = text_len_predict;
        m.ctx = &counter;
        EXPECT_EQ(XAI_OK, xai_eval_new(&m, in.space, &eo, &ev, nullptr));
    }
    ~TextEval() { xai_eval_free(ev); }
};

}  // namespace

TEST(Eval, TextMasksRenderAndReachTheModel) {
    // "ab cd ef": mask 101 renders "ab UNK ef" (9 bytes), 111 the text (8).
    TextEval t("ab cd ef", xai_text_space_opts{}, xai_eval_opts{});
    uint8_t masks[] = {1, 0, 1, 1, 1, 1, 1, 0, 1};
    double out[3];
    ASSERT_EQ(XAI_OK, xai_eval_masks(t.ev, masks, 3, out, nullptr));
    EXPECT_DOUBLE_EQ(9.0, out[0]);
    EXPECT_DOUBLE_EQ(8.0, out[1]);
    EXPECT_DOUBLE_EQ(9.0, out[2]);
    ASSERT_EQ(2u, t.counter.seen.size());
    EXPECT_EQ("ab UNK ef", t.counter.seen[0]);
    EXPECT_EQ("ab cd ef", t.counter.seen[1]);
}

TEST(Eval, TextBatchesAreSplitByBytes) {
    // Each of the 8 masks of "aa bb cc" renders to 8..11 bytes (UNK is one
    // byte longer than a token); 24 bytes per call fits at most 2 texts.
    xai_eval_opts o{};
    o.max_bytes_per_call = 24;
    TextEval t("aa bb cc", xai_text_space_opts{}, o);
    std::vector<uint8_t> m = all_masks(3);
    double out[8];
    ASSERT_EQ(XAI_OK, xai_eval_masks(t.ev, m.data(), 8, out, nullptr));
    EXPECT_LE(t.counter.max_bytes, 24u);
    EXPECT_EQ(8u, t.counter.rows);
    EXPECT_EQ(4, t.counter.calls);   // 8 texts, 2 per call
    // mask 0 = all removed: "UNK UNK UNK" = 11 bytes.
    EXPECT_DOUBLE_EQ(11.0, out[0]);
}

TEST(Eval, ManyMasksAreRenderedInChunksWithTheSameOutputs) {
    // "aa bb cc dd ee" with a 40-byte mask token: mask m renders to
    // 14 + 38 * (tokens removed) bytes. With 64 bytes per call the
    // evaluator renders ~256 bytes at a time, so the 32 masks (asked twice,
    // the second time in reverse) go through many chunks; every output must
    // still be the closed form, every call within max_bytes, and each
    // distinct text sent once.
    std::string mask(40, 'M');
    xai_text_space_opts so{};
    so.mask_token = mask.c_str();
    xai_eval_opts o{};
    o.max_bytes_per_call = 64;
    o.no_cache = true;
    TextEval t("aa bb cc dd ee", so, o);
    std::vector<uint8_t> m = all_masks(5), twice(m);
    for (size_t i = 32; i-- > 0;) twice.insert(twice.end(), m.begin() + i * 5, m.begin() + i * 5 + 5);
    double out[64];
    ASSERT_EQ(XAI_OK, xai_eval_masks(t.ev, twice.data(), 64, out, nullptr));
    for (size_t i = 0; i < 64; i++) {
        size_t removed = 0;
        for (size_t j = 0; j < 5; j++) removed += twice[i * 5 + j] == 0;
        EXPECT_DOUBLE_EQ(14.0 + 38.0 * (double)removed, out[i]) << "mask " << i;
    }
    EXPECT_EQ(32u, t.counter.rows);
    EXPECT_LE(t.counter.max_bytes, 204u);   // the longest text (all removed) goes alone
    EXPECT_GE(t.counter.calls, 10);
}

TEST(Eval, TextMasksRenderingEqualTextsAreSentOnce) {
    // In "UNK x", removing the token "UNK" replaces it by "UNK": masks 01 and
    // 11 are two unique masks but one model input.
    TextEval t("UNK x", xai_text_space_opts{}, xai_eval_opts{});
    uint8_t masks[] = {0, 1, 1, 1};
    double out[2];
    ASSERT_EQ(XAI_OK, xai_eval_masks(t.ev, masks, 2, out, nullptr));
    EXPECT_EQ(1u, t.counter.rows);
    EXPECT_EQ(2u, xai_eval_get_stats(t.ev)->masks_unique);
    EXPECT_DOUBLE_EQ(5.0, out[0]);
    EXPECT_DOUBLE_EQ(5.0, out[1]);
}

TEST(Eval, RawTextsUseTheSameCache) {
    // The raw text "x y" is what the all-ones mask renders: after the mask
    // request, the raw request is a cache hit.
    TextEval t("x y", xai_text_space_opts{}, xai_eval_opts{});
    uint8_t ones[] = {1, 1};
    double out[2];
    ASSERT_EQ(XAI_OK, xai_eval_masks(t.ev, ones, 1, out, nullptr));
    const char *texts[] = {"x y", "zzz"};
    size_t lens[] = {3, 3};
    xai_batch b{};
    b.kind = XAI_INPUT_TEXT;
    b.n = 2;
    b.texts = texts;
    b.text_lens = lens;
    ASSERT_EQ(XAI_OK, xai_eval_inputs(t.ev, &b, out, nullptr));
    EXPECT_EQ(2u, t.counter.rows);   // "x y" once, "zzz" once
    EXPECT_EQ(1u, xai_eval_get_stats(t.ev)->cache_hits);
    EXPECT_DOUBLE_EQ(3.0, out[1]);
}

TEST(Eval, SharedCacheAcrossThreads) {
    // Four threads, each with its own evaluator of the same model (same
    // cache_id) on the same space, evaluate all 2^8 masks three times. Every
    // answer must be the closed form, and the cache must end with exactly
    // the 256 distinct rows, however the threads interleave.
    xai_cache *cache = nullptr;
    ASSERT_EQ(XAI_OK, xai_cache_new(1 << 20, &cache, nullptr));
    xai_eval_opts o{};
    o.cache = cache;
    o.max_rows_per_call = 16;
    std::vector<Fixture *> fx;
    std::vector<double> ones(8, 1.0), zeros(8, 0.0);
    for (int t = 0; t < 4; t++) fx.push_back(new Fixture(ones, zeros, 1, nullptr, o));
    std::vector<uint8_t> m = all_masks(8);
    std::vector<int> bad(4, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; t++)
        threads.emplace_back([&, t] {
            std::vector<double> out(512);
            for (int rep = 0; rep < 3; rep++) {
                if (xai_eval_masks(fx[t]->ev, m.data(), 256, out.data(), nullptr) != XAI_OK) bad[t]++;
                for (size_t s = 0; s < 256; s++) {
                    double want = 0;   // w_j = j + 1, x_j = 1 where kept
                    for (int j = 0; j < 8; j++) want += ((s >> j) & 1) ? j + 1 : 0;
                    if (out[s * 2] != want) bad[t]++;
                }
            }
        });
    for (auto &th : threads) th.join();
    for (int t = 0; t < 4; t++) EXPECT_EQ(0, bad[t]) << t;
    xai_cache_stats cs;
    xai_cache_get_stats(cache, &cs);
    EXPECT_EQ(256u, cs.entries);
    EXPECT_EQ(0u, cs.evictions);
    for (Fixture *f : fx) {
        xai_eval_free(f->ev);
        f->ev = nullptr;
        delete f;
    }
    xai_cache_free(cache);
}

TEST(Eval, KeepsItsOwnCopyOfTheModelNames) {
    double x[1] = {1}, bg[1] = {0};
    xai_tabular_space_opts to{};
    to.background = bg;
    to.n_background = 1;
    xai_space *s = nullptr;
    ASSERT_EQ(XAI_OK, xai_space_tabular_new(x, 1, &to, &s, nullptr));
    Linear lin;
    lin.w = {1};
    std::string name = "temp-name", c0 = "no", c1 = "yes";
    const char *classes[2] = {c0.c_str(), c1.c_str()};
    xai_model m{};
    m.name = name.c_str();
    m.kind = XAI_INPUT_ROWS;
    m.n_outputs = 2;
    m.class_names = classes;
    m.predict = linear_predict;
    m.ctx = &lin;
    xai_eval *ev = nullptr;
    ASSERT_EQ(XAI_OK, xai_eval_new(&m, s, nullptr, &ev, nullptr));
    name.assign("overwritten");
    c1.assign("changed");
    EXPECT_STREQ("temp-name", xai_eval_model(ev)->name);
    EXPECT_STREQ("yes", xai_eval_model(ev)->class_names[1]);
    xai_eval_free(ev);
    xai_space_free(s);
}

TEST(Eval, CacheKeepsModelsApartByCacheId) {
    // Two models (different cache_id, different weights) share a cache and
    // see the same rendered rows: neither may answer from the other's entries.
    xai_cache *cache = nullptr;
    ASSERT_EQ(XAI_OK, xai_cache_new(1 << 20, &cache, nullptr));
    xai_eval_opts o{};
    o.cache = cache;
    Fixture a({1, 2}, {0, 0}, 1, nullptr, o);
    Linear other;
    other.w = {10, 20};
    xai_model m = a.model;
    m.cache_id = 8;
    m.ctx = &other;
    xai_eval *ev = nullptr;
    ASSERT_EQ(XAI_OK, xai_eval_new(&m, a.space, &o, &ev, nullptr));
    uint8_t mask[2] = {1, 1};
    double out[2];
    ASSERT_EQ(XAI_OK, xai_eval_masks(a.ev, mask, 1, out, nullptr));
    EXPECT_DOUBLE_EQ(5.0, out[0]);     // 1*1 + 2*2
    ASSERT_EQ(XAI_OK, xai_eval_masks(ev, mask, 1, out, nullptr));
    EXPECT_DOUBLE_EQ(50.0, out[0]);    // 10*1 + 20*2
    EXPECT_EQ(1, other.calls);
    EXPECT_EQ(0u, xai_eval_get_stats(ev)->cache_hits);
    xai_eval_free(ev);
    xai_eval_free(a.ev);
    a.ev = nullptr;
    xai_cache_free(cache);
}

TEST(Eval, CacheKeepsIdentitiesApartAndClearsByModel) {
    // The same cache_id (one model name) with another identity (a restarted
    // model with other weights): no hit on the old entries; the old identity
    // still hits its own. Clearing the model removes both identities'
    // entries and leaves another model's.
    xai_cache *cache = nullptr;
    ASSERT_EQ(XAI_OK, xai_cache_new(1 << 20, &cache, nullptr));
    xai_eval_opts o{};
    o.cache = cache;
    Fixture a({1, 2}, {0, 0}, 1, nullptr, o);   // cache_id 7, identity 0, w = (1, 2)
    Linear other;
    other.w = {10, 20};
    auto eval_with = [&](uint64_t cache_id, uint64_t identity, Linear *lin, double *out) {
        xai_model m = a.model;
        m.cache_id = cache_id;
        m.identity = identity;
        m.ctx = lin;
        xai_eval *ev = nullptr;
        EXPECT_EQ(XAI_OK, xai_eval_new(&m, a.space, &o, &ev, nullptr));
        uint8_t mask[2] = {1, 1};
        EXPECT_EQ(XAI_OK, xai_eval_masks(ev, mask, 1, out, nullptr));
        uint64_t hits = xai_eval_get_stats(ev)->cache_hits;
        xai_eval_free(ev);
        return hits;
    };
    double out[2];
    EXPECT_EQ(0u, eval_with(7, 0, &a.lin, out));
    EXPECT_DOUBLE_EQ(5.0, out[0]);           // 1*1 + 2*2
    EXPECT_EQ(0u, eval_with(7, 99, &other, out));
    EXPECT_DOUBLE_EQ(50.0, out[0]);          // 10*1 + 20*2: not the cached 5
    EXPECT_EQ(1u, eval_with(7, 0, &a.lin, out));
    EXPECT_DOUBLE_EQ(5.0, out[0]);
    EXPECT_EQ(0u, eval_with(8, 0, &other, out));
    xai_cache_stats st;
    xai_cache_get_model_stats(cache, 7, &st);
    EXPECT_EQ(2u, st.entries);
    xai_cache_get_stats(cache, &st);
    EXPECT_EQ(3u, st.entries);
    uint64_t seven = 7;
    EXPECT_EQ(2u, xai_cache_clear(cache, &seven));
    xai_cache_get_model_stats(cache, 7, &st);
    EXPECT_EQ(0u, st.entries);
    EXPECT_EQ(0u, st.bytes);
    xai_cache_get_model_stats(cache, 8, &st);
    EXPECT_EQ(1u, st.entries);
    EXPECT_EQ(1u, eval_with(8, 0, &other, out));   // the other model's entry survived
    EXPECT_EQ(1u, xai_cache_clear(cache, nullptr));
    xai_cache_get_stats(cache, &st);
    EXPECT_EQ(0u, st.entries);
    EXPECT_EQ(0u, st.bytes);
    EXPECT_EQ(0u, xai_cache_clear(nullptr, nullptr));
    xai_cache_free(cache);
}
