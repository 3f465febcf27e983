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
 * The last lines time one explanation at 100 tokens with a model that costs
 * nothing beyond a word lookup: wall time, and the method's own time per
 * sampled row (wall minus the time inside the evaluator, which renders,
 * hashes, looks up the cache and calls the model).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "xai/eval.h"
#include "xai/methods.h"
#include "xai/result.h"
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

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct run_out {
    double rows_asked, rows_sent, calls, samples, hits, wall, model_s, eval_s;
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
    o->eval_s += xai_value_get_number(xai_value_get(r->extra, "eval_seconds"));
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
        xai_value *p = xai_value_map();
        xai_value_set_int(p, "seed", seed);
        xai_value_set_str(p, "preset", preset);
        xai_result *r = NULL;
        xai_error err;
        double t0 = now();
        if (xai_explain(ev, "anchors", p, &r, &err) != XAI_OK) {
            fprintf(stderr, "anchors_rows: %s\n", err.message);
            return 1;
        }
        o->wall += now() - t0;
        add_result(o, r, c);
        xai_result_free(r);
        xai_value_free(p);
        xai_eval_free(ev);
        xai_space_free(sp);
    }
    xai_tokens_free(toks);
    xai_tokenizer_free(tz);
    free(text);
    return 0;
}

int main(void) {
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
                printf("{\"bench\":\"anchors_rows\",\"case\":\"%s\",\"tokens\":%zu,"
                       "\"preset\":\"%s\",\"seeds\":%d,\"rows_asked\":%.0f,\"rows_sent\":%.0f,"
                       "\"model_calls\":%.1f,\"expected_anchor_rate\":%.2f,\"ms\":%.2f}\n",
                       case_names[c], n, presets[pi], seeds, o.rows_asked / seeds,
                       o.rows_sent / seeds, o.calls / seeds, o.hits / seeds, 1e3 * o.wall / seeds);
                fflush(stdout);
            }
    for (int c = 0; c < 3; c++) {
        run_out o;
        const int seeds = 20;
        if (run(c, 100, "default", seeds, &o)) return 1;
        double own = o.wall - o.eval_s;
        printf("{\"bench\":\"anchors_overhead\",\"case\":\"%s\",\"tokens\":100,\"seeds\":%d,"
               "\"ms_per_explanation\":%.3f,\"samples\":%.0f,\"model_ms\":%.3f,\"evaluator_ms\":%.3f,"
               "\"method_us_per_row\":%.3f}\n",
               case_names[c], seeds, 1e3 * o.wall / seeds, o.samples / seeds,
               1e3 * o.model_s / seeds, 1e3 * o.eval_s / seeds, 1e6 * own / o.samples);
    }
    return 0;
}
