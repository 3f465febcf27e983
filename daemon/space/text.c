/* text.c — the text space: features are token positions or distinct tokens.
 *
 * A mask renders into one text: the original bytes, where each token whose
 * feature is removed is replaced by the mask token (default "UNK") or deleted;
 * separators always stay. With bag_of_words the features are the distinct
 * token strings in order of first occurrence, and removing one removes every
 * occurrence.
 *
 * Rendering is the evaluator's hot path (random masks, ~100 tokens), where
 * a branch per token on the mask mispredicts half the time and memcpy calls
 * on 3-byte spans cost more than the bytes. So each token is "separator, then
 * the token or the mask token", chosen without a branch, and spans are copied
 * in 16-byte chunks that may run up to PAD bytes past their end: the copies
 * of the text and the mask token carry PAD readable bytes after them, and
 * every destination has PAD bytes of slack. Every render fits in max_len
 * bytes (computed once).
 */
#include <string.h>
#include "../core/core.h"
#include "space_impl.h"

#define PAD 16

typedef struct textsp {
    xai_tokens toks;        /* owned copy; text has PAD zero bytes after len */
    size_t *feat;           /* token -> feature */
    size_t *sep;            /* sep[j] = end of token j-1 (0 for j = 0): start of its separator */
    char *mask_tok;         /* followed by PAD zero bytes */
    size_t mask_len;
    bool del;
    size_t max_len;         /* bound on any rendered length */
} textsp;

/* Copies n bytes in 16-byte chunks: may read and write up to PAD - 1 bytes
 * past n (both sides have that slack). */
static inline void copy_chunks(char *dst, const char *src, size_t n) {
    for (size_t i = 0; i < n; i += PAD) memcpy(dst + i, src + i, PAD);
}

/* Writes the text for `mask` to dst (max_len + PAD bytes available);
 * returns its length. */
static size_t render_into(const textsp *t, const uint8_t *mask, char *dst) {
    const char *src = t->toks.text;
    const size_t *start = t->toks.start, *end = t->toks.end, *sep = t->sep;
    size_t w = 0;
    for (size_t j = 0; j < t->toks.n; j++) {
        copy_chunks(dst + w, src + sep[j], start[j] - sep[j]);
        w += start[j] - sep[j];
        /* keep ? token : mask token, by masking (compilers turn ?: into a
         * branch here, which random masks mispredict). */
        size_t all = (size_t)0 - (size_t)(mask[t->feat[j]] != 0);
        uintptr_t tok = (uintptr_t)(src + start[j]), mt = (uintptr_t)t->mask_tok;
        const char *p = (const char *)(mt ^ ((tok ^ mt) & all));
        size_t len = t->mask_len ^ (((end[j] - start[j]) ^ t->mask_len) & all);
        copy_chunks(dst + w, p, len);
        w += len;
    }
    size_t tail = t->toks.n ? end[t->toks.n - 1] : 0;
    memcpy(dst + w, src + tail, t->toks.len - tail);
    return w + t->toks.len - tail;
}

static xai_status render(const xai_space *s, const uint8_t *mask, xd_inputs *out, xai_error *err) {
    const textsp *t = s->impl;
    char *dst = xd_inputs_begin_text(out, t->max_len + PAD);
    if (dst == NULL) return xd_err(err, XAI_ERR_NOMEM, "text: rendering %zu bytes", t->max_len);
    xd_inputs_end_text(out, render_into(t, mask, dst));
    return XAI_OK;
}

static void destroy(xai_space *s) {
    textsp *t = s->impl;
    if (t == NULL) return;
    xd_free(t->toks.text);
    xd_free(t->toks.start);
    xd_free(t->toks.end);
    xd_free(t->feat);
    xd_free(t->sep);
    xd_free(t->mask_tok);
    xd_free(t);
}

static const xd_space_vtab text_vtab = {"text", render, destroy};

/* Copies and checks the tokens: in order, not overlapping, inside the text. */
static xai_status copy_tokens(const xai_tokens *in, xai_tokens *tk, xai_error *err) {
    size_t prev = 0;
    for (size_t j = 0; j < in->n; j++) {
        if (in->start[j] < prev || in->end[j] < in->start[j] || in->end[j] > in->len)
            return xd_err(err, XAI_ERR_INVALID, "text: token %zu has a bad span", j);
        prev = in->end[j];
    }
    tk->len = in->len;
    tk->n = in->n;
    tk->text = xd_try_calloc(in->len + PAD + 1, 1);
    tk->start = xd_try_malloc(xd_mul(in->n, sizeof(size_t)));
    tk->end = xd_try_malloc(xd_mul(in->n, sizeof(size_t)));
    if (tk->text == NULL || tk->start == NULL || tk->end == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "text: %zu tokens", in->n);
    if (in->len) memcpy(tk->text, in->text, in->len);
    if (in->n) {
        memcpy(tk->start, in->start, in->n * sizeof(size_t));
        memcpy(tk->end, in->end, in->n * sizeof(size_t));
    }
    return XAI_OK;
}

/* Assigns features: one per token, or one per distinct token string (a hash
 * table of first occurrences). *d is the number of features. */
static xai_status assign_features(textsp *t, bool bow, size_t *d, xai_error *err) {
    const xai_tokens *tk = &t->toks;
    t->feat = xd_try_malloc(xd_mul(tk->n, sizeof *t->feat));
    if (t->feat == NULL) return xd_err(err, XAI_ERR_NOMEM, "text: %zu tokens", tk->n);
    if (!bow) {
        for (size_t j = 0; j < tk->n; j++) t->feat[j] = j;
        *d = tk->n;
        return XAI_OK;
    }
    size_t cap = 16;
    while (cap < 2 * tk->n) cap *= 2;
    size_t *tab = xd_try_calloc(cap, sizeof *tab);   /* first token + 1, 0 = empty */
    if (tab == NULL) return xd_err(err, XAI_ERR_NOMEM, "text: %zu tokens", tk->n);
    size_t nf = 0;
    for (size_t j = 0; j < tk->n; j++) {
        const char *p = tk->text + tk->start[j];
        size_t len = tk->end[j] - tk->start[j];
        size_t h = (size_t)xd_hash64(p, len, 0) & (cap - 1);
        for (; tab[h]; h = (h + 1) & (cap - 1)) {
            size_t q = tab[h] - 1;
            if (tk->end[q] - tk->start[q] == len && memcmp(tk->text + tk->start[q], p, len) == 0) break;
        }
        if (tab[h] == 0) {
            tab[h] = j + 1;
            t->feat[j] = nf++;
        } else {
            t->feat[j] = t->feat[tab[h] - 1];
        }
    }
    xd_free(tab);
    *d = nf;
    return XAI_OK;
}

static void set_names(xai_space *s, const textsp *t) {
    for (size_t j = 0; j < t->toks.n; j++) {
        size_t f = t->feat[j];
        if (s->feature_names[f] == NULL)
            s->feature_names[f] = xd_strndup(t->toks.text + t->toks.start[j],
                                             t->toks.end[j] - t->toks.start[j]);
    }
}

/* Builds the impl part; on failure frees what it made. */
static xai_status make_impl(const xai_tokens *toks, const xai_text_space_opts *o, textsp **out,
                            size_t *d, xai_error *err) {
    textsp *t = xd_try_calloc(1, sizeof *t);
    if (t == NULL) return xd_err(err, XAI_ERR_NOMEM, "text: out of memory");
    xai_status st = copy_tokens(toks, &t->toks, err);
    if (st == XAI_OK) st = assign_features(t, o->bag_of_words, d, err);
    if (st != XAI_OK) {
        xai_space s = {.impl = t};
        destroy(&s);
        return st;
    }
    t->del = o->delete_removed;
    const char *mt = t->del ? "" : (o->mask_token ? o->mask_token : "UNK");
    t->mask_len = strlen(mt);
    t->mask_tok = xd_calloc(t->mask_len + PAD, 1);
    memcpy(t->mask_tok, mt, t->mask_len);
    t->sep = xd_try_malloc(xd_mul(t->toks.n, sizeof *t->sep));
    if (t->sep == NULL) {
        xai_space s = {.impl = t};
        destroy(&s);
        return xd_err(err, XAI_ERR_NOMEM, "text: %zu tokens", t->toks.n);
    }
    t->max_len = t->toks.len;
    for (size_t j = 0; j < t->toks.n; j++) {
        size_t tl = t->toks.end[j] - t->toks.start[j];
        if (t->mask_len > tl) t->max_len += t->mask_len - tl;
        t->sep[j] = j ? t->toks.end[j - 1] : 0;
    }
    *out = t;
    return XAI_OK;
}

xai_status xai_space_text_new(const xai_tokens *toks, const xai_text_space_opts *opts,
                              xai_space **out, xai_error *err) {
    *out = NULL;
    if (toks == NULL || (toks->n > 0 && (toks->start == NULL || toks->end == NULL)) ||
        (toks->text == NULL && toks->len > 0))
        return xd_err(err, XAI_ERR_INVALID, "text: no tokens given");
    xai_text_space_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    textsp *t = NULL;
    size_t d = 0;
    xai_status st = make_impl(toks, &o, &t, &d, err);
    if (st != XAI_OK) return st;
    xai_space *s = xd_space_alloc(&text_vtab, XAI_INPUT_TEXT, d, 1, 0);
    if (s == NULL) {
        xai_space tmp = {.impl = t};
        destroy(&tmp);
        return xd_err(err, XAI_ERR_NOMEM, "text: %zu features", d);
    }
    s->impl = t;
    set_names(s, t);
    *out = s;
    return XAI_OK;
}

const xai_tokens *xai_space_text_tokens(const xai_space *s) {
    if (s == NULL || s->vt != &text_vtab) return NULL;
    return &((const textsp *)s->impl)->toks;
}

size_t xai_space_text_token_feature(const xai_space *s, size_t token) {
    if (s == NULL || s->vt != &text_vtab) return (size_t)-1;
    const textsp *t = s->impl;
    return token < t->toks.n ? t->feat[token] : (size_t)-1;
}

xai_status xai_space_text_render(const xai_space *s, const uint8_t *mask, char **out, size_t *len,
                                 xai_error *err) {
    *out = NULL;
    if (len) *len = 0;
    if (s == NULL || s->vt != &text_vtab)
        return xd_err(err, XAI_ERR_INVALID, "text render: not a text space");
    const textsp *t = s->impl;
    char *p = xd_try_malloc(t->max_len + PAD);
    if (p == NULL) return xd_err(err, XAI_ERR_NOMEM, "text render: %zu bytes", t->max_len);
    size_t n = render_into(t, mask, p);
    p[n] = '\0';
    *out = p;
    if (len) *len = n;
    return XAI_OK;
}
