/* eval_overhead.c — the evaluator's cost per evaluated mask, model excluded.
 *
 * An in-process model that costs nothing (it writes zeros) answers every
 * batch, so the time measured is the evaluator's own: dedup of masks,
 * rendering, hashing, cache lookups and stores, batching, validation and
 * combination. Masks are random and distinct (no dedup or cache hits), sent
 * in requests of 1000 masks, as methods do. Cases: texts of 30, 100 and 300
 * tokens, and tabular rows of 30 features with one background row; each with
 * the cache off and with a cache big enough to store every answer (so every
 * mask pays a lookup miss and a store).
 *
 * Each case runs 5 rounds. ns_per_mask is the thread's CPU time per mask in
 * the fastest round: on a shared machine, wall time counts the time other
 * processes hold the core, and the fastest round is the one least disturbed.
 * wall_ns_per_mask is the wall time averaged over all rounds, and
 * render_ns_per_mask the evaluator's own render_seconds (wall) per mask.
 * Prints one JSON object per case:
 *   {"bench":"eval_overhead","kind":"text","tokens":100,"cache":false,
 *    "masks":N,"ns_per_mask":...,"wall_ns_per_mask":...,"render_ns_per_mask":...}
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "xai/eval.h"
#include "xai/rng.h"
#include "xai/space.h"
#include "xai/text.h"

#define REQUEST 1000

static xai_status zero_model(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)ctx;
    (void)err;
    memset(out, 0, b->n * 2 * sizeof *out);
    return XAI_OK;
}

static double clock_s(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A text of n words of 3 to 9 letters separated by spaces and punctuation. */
static char *make_text(size_t n, xai_rng *r) {
    char *t = malloc(n * 12 + 1);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = 3 + (size_t)xai_rng_below(r, 7);
        for (size_t j = 0; j < len; j++) t[w++] = (char)('a' + xai_rng_below(r, 26));
        if (xai_rng_below(r, 8) == 0) t[w++] = ',';
        t[w++] = ' ';
    }
    t[w] = '\0';
    return t;
}

/* Runs one round of n masks (in requests of REQUEST); returns the thread's
 * CPU seconds in the evaluator, and adds its wall seconds to *wall. */
static double run_round(xai_eval *ev, size_t d, size_t n, xai_rng *r, uint8_t *masks, double *out,
                        double *wall) {
    double elapsed = 0;
    xai_error err;
    for (size_t done = 0; done < n; done += REQUEST) {
        for (size_t i = 0; i < REQUEST * d; i++) masks[i] = (uint8_t)(xai_rng_next(r) >> 63);
        double c0 = clock_s(CLOCK_THREAD_CPUTIME_ID), w0 = clock_s(CLOCK_MONOTONIC);
        if (xai_eval_masks(ev, masks, REQUEST, out, &err) != XAI_OK) {
            fprintf(stderr, "eval: %s\n", err.message);
            exit(1);
        }
        elapsed += clock_s(CLOCK_THREAD_CPUTIME_ID) - c0;
        *wall += clock_s(CLOCK_MONOTONIC) - w0;
    }
    return elapsed;
}

/* Runs ROUNDS rounds of random masks through a fresh evaluator on `space`
 * and reports the fastest round (the machine is shared: the minimum is the
 * evaluator's cost, the rest is other processes) and the mean. */
#define ROUNDS 5
static void run_case(const xai_space *space, xai_input_kind kind, const char *what, size_t size,
                     size_t n_masks, int use_cache) {
    xai_model m = {.name = "zero", .cache_id = 1, .kind = kind, .n_outputs = 2, .predict = zero_model};
    xai_eval_opts o = {0};
    o.no_cache = !use_cache;
    o.cache_bytes = (size_t)1 << 30;
    xai_eval *ev = NULL;
    xai_error err;
    if (xai_eval_new(&m, space, &o, &ev, &err) != XAI_OK) {
        fprintf(stderr, "eval_new: %s\n", err.message);
        exit(1);
    }
    size_t d = xai_space_n_features(space), per_round = n_masks / ROUNDS;
    uint8_t *masks = malloc(REQUEST * d);
    double *out = malloc(REQUEST * 2 * sizeof *out);
    xai_rng r;
    xai_rng_seed(&r, 1, size);
    double best = 1e30, wall = 0;
    for (int k = 0; k < ROUNDS; k++) {
        double t = run_round(ev, d, per_round, &r, masks, out, &wall);
        best = t < best ? t : best;
    }
    const xai_eval_stats *st = xai_eval_get_stats(ev);
    printf("{\"bench\":\"eval_overhead\",\"kind\":\"%s\",\"%s\":%zu,\"cache\":%s,\"masks\":%zu,"
           "\"unique\":%llu,\"model_calls\":%llu,\"ns_per_mask\":%.1f,\"wall_ns_per_mask\":%.1f,"
           "\"render_ns_per_mask\":%.1f}\n",
           xai_space_input_kind(space) == XAI_INPUT_TEXT ? "text" : "tabular",
           what, size, use_cache ? "true" : "false", per_round * ROUNDS,
           (unsigned long long)st->masks_unique, (unsigned long long)st->model_calls,
           1e9 * best / (double)per_round, 1e9 * wall / (double)(per_round * ROUNDS),
           1e9 * st->render_seconds / (double)(per_round * ROUNDS));
    fflush(stdout);
    free(out);
    free(masks);
    xai_eval_free(ev);
}

static void text_cases(size_t tokens, size_t n_masks) {
    xai_rng r;
    xai_rng_seed(&r, 7, tokens);
    char *text = make_text(tokens, &r);
    xai_tokenizer *tz = NULL;
    xai_tokens *toks = NULL;
    xai_space *s = NULL;
    if (xai_tokenizer_new(NULL, NULL, &tz, NULL) != XAI_OK ||
        xai_tokenize(tz, text, strlen(text), &toks, NULL) != XAI_OK ||
        xai_space_text_new(toks, NULL, &s, NULL) != XAI_OK || toks->n != tokens) {
        fprintf(stderr, "text setup failed\n");
        exit(1);
    }
    run_case(s, XAI_INPUT_TEXT, "tokens", tokens, n_masks, 0);
    run_case(s, XAI_INPUT_TEXT, "tokens", tokens, n_masks, 1);
    xai_space_free(s);
    xai_tokens_free(toks);
    xai_tokenizer_free(tz);
    free(text);
}

static void tabular_cases(size_t d, size_t n_masks) {
    double *x = malloc(d * sizeof *x), *b = malloc(d * sizeof *b);
    for (size_t j = 0; j < d; j++) {
        x[j] = (double)j + 0.5;
        b[j] = -(double)j;
    }
    xai_tabular_space_opts o = {b, 1, NULL, NULL};
    xai_space *s = NULL;
    if (xai_space_tabular_new(x, d, &o, &s, NULL) != XAI_OK) {
        fprintf(stderr, "tabular setup failed\n");
        exit(1);
    }
    run_case(s, XAI_INPUT_ROWS, "features", d, n_masks, 0);
    run_case(s, XAI_INPUT_ROWS, "features", d, n_masks, 1);
    xai_space_free(s);
    free(x);
    free(b);
}

int main(void) {
    text_cases(30, 200000);
    text_cases(100, 200000);
    text_cases(300, 100000);
    tabular_cases(30, 500000);
    return 0;
}
