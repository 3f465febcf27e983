/* fuzz_render.c — libFuzzer target for tokenizing and rendering masked
 * texts (daemon/text, daemon/space/text.c) through the evaluator.
 *
 * Input layout: byte 0 picks the options (delete, bag of words, a custom
 * pattern or the default one), byte 1 the mask token's length m, byte 2
 * the pattern's length p; then m bytes of mask token, p bytes of pattern,
 * and the rest is the text. The masks are drawn from a seeded generator
 * over the features. The model checks every rendered text it receives:
 * its length stays within text + tokens x mask token bytes (the bound the
 * daemon's precheck relies on), and a full mask renders the text itself.
 */
#include <stdlib.h>
#include <string.h>
#include "xai/eval.h"
#include "xai/rng.h"
#include "xai/space.h"
#include "xai/text.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

typedef struct bound { size_t max_len; } bound;

static xai_status check_model(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    (void)err;
    const bound *bd = ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (b->text_lens[i] > bd->max_len) abort();
        out[i] = (double)b->text_lens[i];
    }
    return XAI_OK;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size) {
    if (size < 3) return 0;
    unsigned flags = data[0];
    size_t m = data[1] % 17, p = (flags & 4) ? data[2] % 33 : 0;
    if (size < 3 + m + p) return 0;
    char mask[17], pattern[34];
    memcpy(mask, data + 3, m);
    mask[m] = '\0';
    memcpy(pattern, data + 3 + m, p);
    pattern[p] = '\0';
    const char *text = (const char *)data + 3 + m + p;
    size_t len = size - 3 - m - p;
    xai_tokenizer *tok = NULL;
    xai_tokens *toks = NULL;
    xai_space *space = NULL;
    xai_eval *ev = NULL;
    xai_regex_limits lim = {10000, 1000, 1024, 2000};
    if (xai_tokenizer_new(p ? pattern : NULL, &lim, &tok, NULL) != XAI_OK) goto cleanup;
    if (xai_tokenize(tok, text, len, &toks, NULL) != XAI_OK) goto cleanup;
    xai_text_space_opts o = {strlen(mask) ? mask : NULL, flags & 1, (flags & 2) != 0};
    if (xai_space_text_new(toks, &o, &space, NULL) != XAI_OK) goto cleanup;
    size_t d = xai_space_n_features(space);
    bound bd = {len + toks->n * (strlen(mask) ? strlen(mask) : 3) + 1};
    xai_model model = {.name = "len", .kind = XAI_INPUT_TEXT, .n_outputs = 1,
                       .predict = check_model, .ctx = &bd};
    xai_eval_opts eo = {.max_rows_per_call = 7, .max_bytes_per_call = 256, .no_cache = true};
    if (xai_eval_new(&model, space, &eo, &ev, NULL) != XAI_OK) goto cleanup;
    enum { N = 16 };
    uint8_t *masks = calloc(N * (d ? d : 1), 1);
    double out[N];
    xai_rng rng;
    xai_rng_seed(&rng, flags, 0);
    if (masks) {
        for (size_t i = 0; i < N * d; i++) masks[i] = i < d ? 1 : xai_rng_uniform(&rng) < 0.5;
        if (xai_eval_masks(ev, masks, N, out, NULL) == XAI_OK && !(flags & 1) && d > 0 &&
            out[0] != (double)len)
            abort();   /* the full mask renders the text unchanged */
    }
    free(masks);
cleanup:
    xai_eval_free(ev);
    xai_space_free(space);
    xai_tokens_free(toks);
    xai_tokenizer_free(tok);
    return 0;
}
