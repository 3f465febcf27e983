/* anchors_text.c — the anchors sampler for text spaces.
 *
 * Features are the text space's features (token positions, or distinct
 * words with bag of words). Under an anchor, every feature in it is kept and
 * every other feature is removed independently with probability p_remove;
 * the space decides what removal looks like (the mask token, or deletion).
 * A sample's hold set is its mask, so a sample drawn under B counts for any
 * A ⊇ B whose features it kept. Coverage needs no samples: features are
 * kept independently, so an anchor of s features covers (1 - p_remove)^s of
 * the perturbation distribution exactly.
 *
 * Draws accumulate masks; evaluate() sends them in one xai_eval_masks call
 * (the evaluator removes duplicates and answers repeated masks from its
 * cache: a 6-token text has only 64 distinct masks).
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "anchors_impl.h"

typedef struct text_smp {
    xd_anchor_sampler base;
    const xd_method_ctx *mc;
    size_t d;
    double p_remove;
    xai_rng rng;
    uint8_t *masks;         /* pending masks, n_pending x d */
    size_t n_pending, cap;
    double *out;            /* outputs of the pending masks, cap x k */
} text_smp;

static xai_status reserve(text_smp *t, size_t extra, xai_error *err) {
    if (t->n_pending + extra <= t->cap) return XAI_OK;
    size_t cap = XD_MAX(t->n_pending + extra, 2 * t->cap);
    uint8_t *m = xd_try_realloc(t->masks, xd_mul(cap, t->d ? t->d : 1));
    if (m) t->masks = m;
    double *o = m ? xd_try_realloc(t->out, xd_mul(xd_mul(cap, t->mc->k), sizeof *o)) : NULL;
    if (o == NULL) return xd_err(err, XAI_ERR_NOMEM, "anchors: %zu pending masks", cap);
    t->out = o;
    t->cap = cap;
    return XAI_OK;
}

/* One mask under `anchor`. With p_remove = 1/2 one random word decides 64
 * features; otherwise each feature takes a uniform draw. */
static void draw_mask(text_smp *t, const uint64_t *anchor, uint8_t *mask, uint64_t *holds) {
    size_t d = t->d;
    if (t->p_remove == 0.5) {
        for (size_t w = 0; w < XD_ANCHOR_WORDS(d); w++) {
            uint64_t keep = xai_rng_next(&t->rng) | anchor[w];
            if (w == d / 64) keep &= ((uint64_t)1 << (d % 64)) - 1;
            holds[w] = keep;
        }
    } else {
        memset(holds, 0, XD_ANCHOR_WORDS(d) * sizeof *holds);
        for (size_t i = 0; i < d; i++)
            if (xd_anchor_has(anchor, i) || xai_rng_uniform(&t->rng) >= t->p_remove)
                xd_anchor_add(holds, i);
    }
    for (size_t i = 0; i < d; i++) mask[i] = xd_anchor_has(holds, i);
}

static xai_status draw(xd_anchor_sampler *s, const uint64_t *anchor, size_t n, uint64_t *holds,
                       xai_error *err) {
    text_smp *t = s->impl;
    xai_status st = reserve(t, n, err);
    if (st != XAI_OK) return st;
    size_t W = XD_ANCHOR_WORDS(t->d);
    for (size_t i = 0; i < n; i++, t->n_pending++)
        draw_mask(t, anchor, t->masks + t->n_pending * t->d, holds + i * W);
    return XAI_OK;
}

static xai_status evaluate(xd_anchor_sampler *s, uint8_t *labels, xai_error *err) {
    text_smp *t = s->impl;
    const xd_method_ctx *mc = t->mc;
    size_t n = t->n_pending;
    t->n_pending = 0;
    if (n == 0) return XAI_OK;
    xai_status st = xai_eval_masks(mc->ev, t->masks, n, t->out, err);
    if (st != XAI_OK) return st;
    xd_anchor_labels(t->out, n, mc->k, mc->target, mc->fx_all[0], labels);
    return XAI_OK;
}

static xai_status coverage(xd_anchor_sampler *s, size_t n, uint64_t *holds, xai_error *err) {
    (void)s, (void)n, (void)holds, (void)err;
    return XAI_OK;      /* exact_coverage is used instead */
}

static double exact_coverage(const xd_anchor_sampler *s, size_t size) {
    const text_smp *t = s->impl;
    return pow(1.0 - t->p_remove, (double)size);
}

/* The rendered text of a sample. */
static xai_value *example(xd_anchor_sampler *s, size_t i, const uint64_t *holds) {
    (void)i;
    text_smp *t = s->impl;
    uint8_t *mask = xd_malloc(t->d ? t->d : 1);
    for (size_t f = 0; f < t->d; f++) mask[f] = xd_anchor_has(holds, f);
    char *text = NULL;
    size_t len = 0;
    xai_value *v = NULL;
    if (xai_space_text_render(xai_eval_space(t->mc->ev), mask, &text, &len, NULL) == XAI_OK)
        v = xai_value_strn(text, len);
    xd_free(text);
    xd_free(mask);
    return v;
}

static void destroy(xd_anchor_sampler *s) {
    text_smp *t = s->impl;
    xd_free(t->masks);
    xd_free(t->out);
    xd_free(t);
}

xai_status xd_anchor_text_sampler(const xd_method_ctx *mc, double p_remove,
                                  xd_anchor_sampler **out, xai_error *err) {
    *out = NULL;
    if (xai_space_input_kind(xai_eval_space(mc->ev)) != XAI_INPUT_TEXT)
        return xd_err(err, XAI_ERR_INVALID, "anchors: the text sampler needs a text space");
    text_smp *t = xd_calloc(1, sizeof *t);
    t->mc = mc;
    t->d = mc->d;
    t->p_remove = p_remove;
    xd_method_rng(mc, &t->rng, 1);
    t->base.m = mc->d;
    t->base.shares = true;
    t->base.draw = draw;
    t->base.evaluate = evaluate;
    t->base.coverage = coverage;
    t->base.exact_coverage = exact_coverage;
    t->base.example = example;
    t->base.destroy = destroy;
    t->base.impl = t;
    *out = &t->base;
    return XAI_OK;
}
