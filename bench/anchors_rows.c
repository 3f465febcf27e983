/* anchors_rows.c — what an anchor costs in model rows, and the method's own
 * time per sampled row.
 *
 * Cases (in-process boolean text models over space-separated words):
 *   word      f = "good"                      anchor {good}
 *   not_bad   f = "not" and "bad"             anchor {not, bad}
 *   awesome   f = "awesome" or ("not" and "bad")   anchor {awesome}
 * at 6, 10, 20, 50, 100 tokens (the others are distinct filler words), with
 * the presets default (alibi's statistics, adaptive batches), alibi and
 * reference (marcotcr's text defaults). Per line: mean over seeds of the
 * masks the method asked (rows_asked), the rows the model actually received
 * after dedup and cache (rows_sent), model calls, and how often the expected
 * anchor came back. The alibi figures (rows the model saw): ~220 for
 * one decisive word in 20 tokens, ~4100 for not-and-bad in 19.
 *
 * Then the tabular rule f = 1 if x0 > 0.5 and x3 <= 0.25 on 401 synthetic
 * rows of 4 columns (each column a shuffled grid on [0, 1]), presets
 * default and alibi; the expected anchor is {x0 > 0.5, x3 <= 0.25}.
 *
 * The last lines time one explanation at 100 tokens with a model that costs
 * nothing beyond a word lookup: wall and CPU time of the explaining thread,
 * and the method's own time per sampled row (minus the time inside the
 * evaluator, which renders, hashes, looks up the cache and calls the model;
 * the CPU figure is steadier on a loaded machine). Thread, not process, CPU
 * time: OpenBLAS's worker threads spin for a while after the library
 * starts, and process CPU time would count them.
 *
 * Argument: none for everything, or "rows", "tabular", "overhead".
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "xai/eval.h"
#include "xai/methods.h"
#include "xai/result.h"
#include "xai/rng.h"
#include "xai/space.h"
#include "xai/text.h"

enum { CASE_WORD, CASE_NOT_BAD, CASE_AWESOME };
static const char *const case_names[] = {"word", "not_bad", "awesome"};

static bool has_word(const char *s, size_t len, const char *w) {
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= len; i++)
        if ((i == 0 || s[i - 1] == ' ') && memcmp(s + i, w, wl) == 0 &&
            (i + wl == len || s[i + wl] == ' '))
            return true;
    return false;
}

static xai_status predict(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)err;
    int c = *(const int *)ctx;
    for (size_t i = 0; i < b->n; i++) {
        const char *s = b->texts[i];
        size_t n = b->text_lens[i];
        bool nb = has_word(s, n, "not") && has_word(s, n, "bad");
        bool f = c == CASE_WORD ? has_word(s, n, "good") : c == CASE_NOT_BAD ? nb
                 : has_word(s, n, "awesome") || nb;
        out[2 * i] = f ? 0.1 : 0.9;
        out[2 * i + 1] = f ? 0.9 : 0.1;
    }
    return XAI_OK;
}

/* A text of n tokens: the case's words spread out, distinct fillers around. */
static char *make_text(int c, size_t n) {
    const char *key[3] = {NULL, NULL, NULL};
    if (c == CASE_WORD) key[0] = "good";
    if (c != CASE_WORD) key[0] = "not", key[1] = "bad";
    if (c == CASE_AWESOME) key[2] = "awesome";
    char *s = malloc(n * 12 + 1);
    size_t w = 0, k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *word = NULL;
        if (k < 3 && key[k] && i == (k + 1) * n / 4) word = key[k++];
        w += word ? (size_t)sprintf(s + w, "%s%s", i ? " " : "", word)
                  : (size_t)sprintf(s + w, "%sw%zu", i ? " " : "", i);
    }
    s[w] = 0;
    return s;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}
static double now(void) { return clock_s(CLOCK_MONOTONIC); }
static double cpu_now(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

typedef struct run_out {
    double rows_asked, rows_sent, calls, samples, hits, wall, cpu;
    double model_s, eval_s, eval_cpu, lucb_rounds;
} run_out;

/* Adds one explanation's counts to o; a hit is the case's expected anchor. */
static void add_result(run_out *o, const xai_result *r, int c) {
    const xai_value *names = xai_value_get(r->extra, "names");
    size_t nn = xai_value_len(names);
    bool hit = xai_value_get_bool(xai_value_get(r->extra, "success"));
    for (size_t i = 0; i < nn; i++) {
        const char *w = xai_value_get_str(xai_value_at(names, i), NULL);
        hit = hit && (c == CASE_WORD ? strcmp(w, "good") == 0
                      : c == CASE_AWESOME ? nn == 1 && strcmp(w, "awesome") == 0
                      : nn == 2 && (strcmp(w, "not") == 0 || strcmp(w, "bad") == 0));
    }
    o->hits += hit && nn > 0;
    o->rows_asked += (double)r->stats.masks_asked;
    o->rows_sent += (double)r->stats.rows_sent;
    o->calls += (double)r->stats.model_calls;
    o->samples += xai_value_get_number(xai_value_get(r->extra, "samples"));
    o->model_s += r->stats.model_seconds;
    o->eval_s += r->stats.eval_seconds;
    o->eval_cpu += r->stats.eval_cpu_seconds;
    o->lucb_rounds += xai_value_get_number(xai_value_get(r->extra, "lucb_rounds"));
}

/* One anchors explanation with the seed and preset, timed into o (wall and
 * thread CPU); NULL after printing the error. */
static xai_result *explain_once(xai_eval *ev, int seed, const char *preset, run_out *o) {
    xai_value *p = xai_value_map();
    xai_value_set_int(p, "seed", seed);
    xai_value_set_str(p, "preset", preset);
    xai_result *r = NULL;
    xai_error err;
    double t0 = now(), c0 = cpu_now();
    if (xai_explain(ev, "anchors", p, &r, &err) != XAI_OK) {
        fprintf(stderr, "anchors_rows: %s\n", err.message);
        r = NULL;
    }
    o->cpu += cpu_now() - c0;
    o->wall += now() - t0;
    xai_value_free(p);
    return r;
}

/* Explains the case's text once per seed on a fresh evaluator each time. */
static int run(int c, size_t tokens, const char *preset, int seeds, run_out *o) {
    memset(o, 0, sizeof *o);
    char *text = make_text(c, tokens);
    xai_tokenizer *tz = NULL;
    xai_tokens *toks = NULL;
    if (xai_tokenizer_new(NULL, NULL, &tz, NULL) != XAI_OK ||
        xai_tokenize(tz, text, strlen(text), &toks, NULL) != XAI_OK)
        return 1;
    for (int seed = 0; seed < seeds; seed++) {
        xai_space *sp = NULL;
        xai_eval *ev = NULL;
        xai_model m = {.name = "bench", .kind = XAI_INPUT_TEXT, .n_outputs = 2,
                       .predict = predict, .ctx = &c};
        if (xai_space_text_new(toks, NULL, &sp, NULL) != XAI_OK ||
            xai_eval_new(&m, sp, NULL, &ev, NULL) != XAI_OK)
            return 1;
        xai_result *r = explain_once(ev, seed, preset, o);
        if (r == NULL) return 1;
        add_result(o, r, c);
        xai_result_free(r);
        xai_eval_free(ev);
        xai_space_free(sp);
    }
    xai_tokens_free(toks);
    xai_tokenizer_free(tz);
    free(text);
    return 0;
}

/* ---- tabular: f = 1 if x0 > 0.5 and x3 <= 0.25 ---------------------- */

static xai_status predict_rows(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)ctx, (void)err;
    for (size_t i = 0; i < b->n; i++) {
        const double *r = b->rows + i * b->cols;
        bool f = r[0] > 0.5 && r[3] <= 0.25;
        out[2 * i] = f ? 0.2 : 0.8;
        out[2 * i + 1] = f ? 0.8 : 0.2;
    }
    return XAI_OK;
}

/* 401 background rows of 4 columns, each column the grid 0, 1/400, ..., 1
 * in its own random order (quartiles 0.25, 0.5, 0.75). */
static double *grid_background(size_t d) {
    const size_t n = 401;
    double *bg = malloc(n * d * sizeof *bg);
    size_t *idx = malloc(n * sizeof *idx);
    xai_rng r;
    xai_rng_seed(&r, 5, 0);
    for (size_t j = 0; j < d; j++) {
        for (size_t i = 0; i < n; i++) idx[i] = i;
        xai_rng_shuffle(&r, idx, n);
        for (size_t i = 0; i < n; i++) bg[i * d + j] = (double)idx[i] / 400.0;
    }
    free(idx);
    return bg;
}

static bool tabular_hit(const xai_result *r) {
    const xai_value *names = xai_value_get(r->extra, "names");
    if (!xai_value_get_bool(xai_value_get(r->extra, "success")) || xai_value_len(names) != 2)
        return false;
    for (size_t i = 0; i < 2; i++) {
        const char *w = xai_value_get_str(xai_value_at(names, i), NULL);
        if (strcmp(w, "x0 > 0.5") != 0 && strcmp(w, "x3 <= 0.25") != 0) return false;
    }
    return true;
}

static int run_tabular(const char *preset, int seeds, run_out *o) {
    memset(o, 0, sizeof *o);
    const double x[4] = {0.6, 0.3, 0.6, 0.1};
    double *bg = grid_background(4);
    xai_tabular_space_opts so = {.background = bg, .n_background = 401};
    for (int seed = 0; seed < seeds; seed++) {
        xai_space *sp = NULL;
        xai_eval *ev = NULL;
        xai_model m = {.name = "rule", .kind = XAI_INPUT_ROWS, .n_outputs = 2, .n_cols = 4,
                       .predict = predict_rows};
        if (xai_space_tabular_new(x, 4, &so, &sp, NULL) != XAI_OK ||
            xai_eval_new(&m, sp, NULL, &ev, NULL) != XAI_OK)
            return 1;
        xai_result *r = explain_once(ev, seed, preset, o);
        if (r == NULL) return 1;
        o->hits += tabular_hit(r);
        o->rows_asked += (double)r->stats.masks_asked;
        o->rows_sent += (double)r->stats.rows_sent;
        o->calls += (double)r->stats.model_calls;
        xai_result_free(r);
        xai_eval_free(ev);
        xai_space_free(sp);
    }
    free(bg);
    return 0;
}

static void print_rows(const char *cname, size_t n, const char *preset, int seeds,
                       const run_out *o) {
    printf("{\"bench\":\"anchors_rows\",\"case\":\"%s\",\"tokens\":%zu,"
           "\"preset\":\"%s\",\"seeds\":%d,\"rows_asked\":%.0f,\"rows_sent\":%.0f,"
           "\"model_calls\":%.1f,\"expected_anchor_rate\":%.2f,\"ms\":%.2f}\n",
           cname, n, preset, seeds, o->rows_asked / seeds, o->rows_sent / seeds,
           o->calls / seeds, o->hits / seeds, 1e3 * o->wall / seeds);
    fflush(stdout);
}

static int rows_lines(void) {
    const size_t sizes[] = {6, 10, 20, 50, 100};
    const char *const presets[] = {"default", "alibi", "reference"};
    for (int c = 0; c < 3; c++)
        for (size_t si = 0; si < 5; si++)
            for (int pi = 0; pi < 3; pi++) {
                size_t n = sizes[si];
                /* reference at 50+ tokens runs tens of thousands of rows:
                 * fewer seeds there keep the bench short. */
                int seeds = pi == 2 ? (n >= 50 ? 1 : 3) : 10;
                run_out o;
                if (run(c, n, presets[pi], seeds, &o)) return 1;
                print_rows(case_names[c], n, presets[pi], seeds, &o);
            }
    return 0;
}

/* The tabular rule ("tokens" is the column count). */
static int tabular_lines(void) {
    const char *const presets[] = {"default", "alibi"};
    for (int pi = 0; pi < 2; pi++) {
        run_out o;
        if (run_tabular(presets[pi], 10, &o)) return 1;
        print_rows("tabular_rule", 4, presets[pi], 10, &o);
    }
    return 0;
}

/* The method's own time per sampled row at 100 tokens: wall minus the
 * evaluator's wall time, and thread CPU time minus the evaluator's (the
 * machine may be loaded; CPU time is steadier). */
static int overhead_lines(void) {
    for (int c = 0; c < 3; c++) {
        run_out o;
        const int seeds = 20;
        if (run(c, 100, "default", seeds, &o)) return 1;
        double own = o.wall - o.eval_s, own_cpu = o.cpu - o.eval_cpu;
        printf("{\"bench\":\"anchors_overhead\",\"case\":\"%s\",\"tokens\":100,\"seeds\":%d,"
               "\"ms_per_explanation\":%.3f,\"cpu_ms_per_explanation\":%.3f,\"samples\":%.0f,"
               "\"lucb_rounds\":%.1f,\"model_ms\":%.3f,\"evaluator_ms\":%.3f,"
               "\"evaluator_cpu_ms\":%.3f,\"method_us_per_row\":%.3f,"
               "\"method_cpu_us_per_row\":%.3f}\n",
               case_names[c], seeds, 1e3 * o.wall / seeds, 1e3 * o.cpu / seeds, o.samples / seeds,
               o.lucb_rounds / seeds,
               1e3 * o.model_s / seeds, 1e3 * o.eval_s / seeds, 1e3 * o.eval_cpu / seeds,
               1e6 * own / o.samples,
               1e6 * own_cpu / o.samples);
        fflush(stdout);
    }
    return 0;
}

/* No argument: everything; "rows", "tabular" or "overhead": that part. */
int main(int argc, char **argv) {
    const char *only = argc > 1 ? argv[1] : "";
    bool all = *only == 0;
    if ((all || strcmp(only, "rows") == 0) && rows_lines()) return 1;
    if ((all || strcmp(only, "tabular") == 0) && tabular_lines()) return 1;
    if ((all || strcmp(only, "overhead") == 0) && overhead_lines()) return 1;
    return 0;
}
