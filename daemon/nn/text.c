/* text.c — text networks: the tokenizer, vocabulary and embedding that turn
 * a text into the sequence a network's layers read, and the network run on
 * texts (forward passes and the model for sampling methods).
 *
 * A text of n tokens becomes dim x 1 x n floats, channel-major (embedding
 * value d of token t at d * n + t, the layout torch.nn.Conv1d reads after
 * Embedding(...).transpose(1, 2)). The layers were built for max_len
 * tokens; each length gets an instance of the network (xd_nn_instance:
 * same weights, shapes recomputed), so a layer that cannot take n tokens (a
 * conv1d kernel longer than the text, a dense layer after flatten) fails
 * with the layer named. Lookups binary-search the words in strcmp order
 * (sorted once when the network is made); case folding is ASCII only
 * (A-Z to a-z), which the PyTorch exporter applies to the vocabulary too.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

#define TEXT_MAX_LEN 512
#define TEXT_MAX_VOCAB ((size_t)1 << 22)

void xd_nn_text_free(xd_nn_text *t) {
    if (t == NULL) return;
    for (size_t i = 0; t->words && i < t->n_vocab; i++) xd_free(t->words[i]);
    xd_free(t->words);
    xd_free(t->sorted);
    xd_free(t->emb);
    xd_free(t->pattern);
    xai_tokenizer_free(t->tok);
    xd_free(t);
}

/* Byte order of (a, alen) against the NUL-terminated word b. */
static int word_cmp(const char *a, size_t alen, const char *b) {
    size_t blen = strlen(b), m = alen < blen ? alen : blen;
    int c = memcmp(a, b, m);
    return c ? c : alen < blen ? -1 : alen > blen ? 1 : 0;
}

typedef struct {
    const char *w;
    size_t i;
} entry;

static int by_word(const void *x, const void *y) {
    return strcmp(((const entry *)x)->w, ((const entry *)y)->w);
}

/* Index of (s, len) among the sorted words, or (size_t)-1. */
static size_t find_word(const xd_nn_text *t, const char *s, size_t len) {
    size_t lo = 0, hi = t->n_vocab;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = word_cmp(s, len, t->words[t->sorted[mid]]);
        if (c == 0) return t->sorted[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (size_t)-1;
}

static xai_status check_opts(const xai_nn_text_opts *o, xai_error *err) {
    if (o == NULL || o->vocab == NULL || o->n_vocab == 0 || o->n_vocab > TEXT_MAX_VOCAB)
        return xd_err(err, XAI_ERR_INVALID, "text network: a vocabulary of 1 to %zu words",
                      TEXT_MAX_VOCAB);
    if (o->dim == 0 || o->dim > 65536)
        return xd_err(err, XAI_ERR_INVALID, "text network: embedding dimension %zu", o->dim);
    if (o->oov >= o->n_vocab)
        return xd_err(err, XAI_ERR_INVALID, "text network: oov index %zu is not in [0, %zu)",
                      o->oov, o->n_vocab);
    if (o->max_len > ((size_t)1 << 20))
        return xd_err(err, XAI_ERR_INVALID, "text network: max_len %zu", o->max_len);
    for (size_t i = 0; i < o->n_vocab; i++)
        if (o->vocab[i] == NULL || o->vocab[i][0] == '\0')
            return xd_err(err, XAI_ERR_INVALID, "text network: vocabulary entry %zu is empty", i);
    return XAI_OK;
}

/* The text part of a network from opts: words copied and sorted, the
 * tokenizer compiled. */
static xai_status text_new(const xai_nn_text_opts *o, xd_nn_text **out, xai_error *err) {
    xai_status st = check_opts(o, err);
    if (st != XAI_OK) return st;
    xd_nn_text *t = xd_calloc(1, sizeof *t);
    *t = (xd_nn_text){.n_vocab = o->n_vocab, .dim = o->dim, .oov = o->oov,
                      .max_len = o->max_len ? o->max_len : TEXT_MAX_LEN,
                      .lowercase = o->lowercase};
    t->words = xd_calloc(o->n_vocab, sizeof *t->words);
    t->sorted = xd_try_malloc(xd_mul(o->n_vocab, sizeof *t->sorted));
    t->emb = xd_try_calloc(xd_mul(o->n_vocab, o->dim), sizeof *t->emb);
    if (t->sorted == NULL || t->emb == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "text network: %zu x %zu embedding", o->n_vocab, o->dim);
        goto cleanup;
    }
    entry *e = xd_try_malloc(xd_mul(o->n_vocab, sizeof *e));
    if (e == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "text network: %zu words", o->n_vocab);
        goto cleanup;
    }
    for (size_t i = 0; i < o->n_vocab; i++) t->words[i] = xd_strdup(o->vocab[i]);
    for (size_t i = 0; i < o->n_vocab; i++) e[i] = (entry){t->words[i], i};
    qsort(e, t->n_vocab, sizeof *e, by_word);
    for (size_t i = 0; i < o->n_vocab; i++) t->sorted[i] = e[i].i;
    xd_free(e);
    for (size_t i = 1; i < t->n_vocab; i++)
        if (strcmp(t->words[t->sorted[i - 1]], t->words[t->sorted[i]]) == 0) {
            st = xd_err(err, XAI_ERR_INVALID, "text network: word '%s' is in the vocabulary twice",
                        t->words[t->sorted[i]]);
            goto cleanup;
        }
    if (o->pattern && o->pattern[0]) t->pattern = xd_strdup(o->pattern);
    st = xai_tokenizer_new(t->pattern, NULL, &t->tok, err);
cleanup:
    if (st != XAI_OK) {
        xd_nn_text_free(t);
        t = NULL;
    }
    *out = t;
    return st;
}

xai_status xai_nn_new_text(const xai_nn_text_opts *o, xai_nn **out, xai_error *err) {
    *out = NULL;
    xd_nn_text *t = NULL;
    xai_status st = text_new(o, &t, err);
    if (st == XAI_OK) st = xai_nn_new(t->dim, 1, t->max_len, out, err);
    if (st != XAI_OK) {
        xd_nn_text_free(t);
        return st;
    }
    (*out)->text = t;
    return XAI_OK;
}

xai_status xai_nn_set_embedding(xai_nn *net, const float *w, size_t nw, xai_error *err) {
    xd_nn_text *t = net->text;
    if (t == NULL) return xd_err(err, XAI_ERR_INVALID, "not a text network: no embedding");
    if (w == NULL || nw != t->n_vocab * t->dim)
        return xd_err(err, XAI_ERR_INVALID, "embedding: expects %zu x %zu = %zu floats, got %zu",
                      t->n_vocab, t->dim, t->n_vocab * t->dim, nw);
    for (size_t i = 0; i < nw; i++)
        if (!isfinite(w[i]))
            return xd_err(err, XAI_ERR_INVALID, "embedding: value %zu is not finite", i);
    memcpy(t->emb, w, nw * sizeof *w);
    return XAI_OK;
}

bool xai_nn_is_text(const xai_nn *net) {
    return net != NULL && net->text != NULL;
}

void xai_nn_get_embedding(const xai_nn *net, const float **w, size_t *n_vocab, size_t *dim) {
    const xd_nn_text *t = net ? net->text : NULL;
    if (w) *w = t ? t->emb : NULL;
    if (n_vocab) *n_vocab = t ? t->n_vocab : 0;
    if (dim) *dim = t ? t->dim : 0;
}

size_t xai_nn_token_index(const xai_nn *net, const char *s, size_t len) {
    const xd_nn_text *t = net ? net->text : NULL;
    if (t == NULL) return (size_t)-1;
    if (!t->lowercase) {
        size_t i = find_word(t, s, len);
        return i == (size_t)-1 ? t->oov : i;
    }
    char small[256] = {0}, *buf = len <= sizeof small ? small : xd_malloc(len);
    for (size_t i = 0; i < len; i++) buf[i] = s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i];
    size_t i = find_word(t, buf, len);
    if (buf != small) xd_free(buf);
    return i == (size_t)-1 ? t->oov : i;
}

xai_status xai_nn_text_ids(const xai_nn *net, const char *text, size_t len, xai_tokens **toks,
                           int64_t **ids, xai_error *err) {
    *toks = NULL;
    *ids = NULL;
    if (!xai_nn_is_text(net)) return xd_err(err, XAI_ERR_INVALID, "not a text network");
    const xd_nn_text *t = net->text;
    xai_status st = xai_tokenize(t->tok, text ? text : "", text ? len : 0, toks, err);
    if (st != XAI_OK) return st;
    if ((*toks)->n > t->max_len) {
        st = xd_err(err, XAI_ERR_LIMIT, "the text has %zu tokens; the network takes at most %zu",
                    (*toks)->n, t->max_len);
    } else if ((*ids = xd_try_malloc(xd_mul((*toks)->n + 1, sizeof **ids))) == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "token ids");
    } else {
        for (size_t i = 0; i < (*toks)->n; i++)
            (*ids)[i] = (int64_t)xai_nn_token_index(net, (*toks)->text + (*toks)->start[i],
                                                    (*toks)->end[i] - (*toks)->start[i]);
        return XAI_OK;
    }
    xai_tokens_free(*toks);
    *toks = NULL;
    return st;
}

void xd_nn_embed(const xai_nn *net, const int64_t *ids, size_t n, float *out) {
    const xd_nn_text *t = net->text;
    for (size_t p = 0; p < n; p++) {
        const float *e = t->emb + (size_t)ids[p] * t->dim;
        for (size_t d = 0; d < t->dim; d++) out[d * n + p] = e[d];
    }
}

/* ---- running on texts ------------------------------------------------------ */

xai_status xd_nn_text_run(const xai_nn *net, const int64_t *ids, size_t m, size_t n,
                            bool logits, float *out, xai_error *err) {
    xai_nn *inst = NULL;
    size_t dn = net->text->dim * n;
    xai_status st = xd_nn_instance(net, n, &inst, err);
    float *x = st == XAI_OK ? xd_try_malloc(xd_mul(xd_mul(m, dn), sizeof *x)) : NULL;
    if (st == XAI_OK && x == NULL) st = xd_err(err, XAI_ERR_NOMEM, "%zu embedded texts", m);
    if (st == XAI_OK) {
        for (size_t s = 0; s < m; s++) xd_nn_embed(net, ids + s * n, n, x + s * dn);
        st = logits ? xai_nn_logits(inst, x, m, out, err) : xai_nn_forward(inst, x, m, out, err);
    }
    xd_free(x);
    xai_nn_free(inst);
    return st;
}

/* Token ids of every text, an empty text taken as one out-of-vocabulary
 * token (a sampling method that deletes every token still gets a number).
 * ids[i] gets n[i] entries. */
static xai_status all_ids(const xai_nn *net, const char *const *texts, const size_t *lens,
                          size_t cnt, int64_t **ids, size_t *n, xai_error *err) {
    for (size_t i = 0; i < cnt; i++) {
        xai_tokens *tk = NULL;
        xai_status st = xai_nn_text_ids(net, texts[i], lens ? lens[i] : strlen(texts[i]), &tk,
                                        &ids[i], err);
        if (st != XAI_OK) return st;
        n[i] = tk->n;
        if (n[i] == 0) ids[i][0] = (int64_t)net->text->oov, n[i] = 1;
        xai_tokens_free(tk);
    }
    return XAI_OK;
}

xai_status xai_nn_text_forward(const xai_nn *net, const char *const *texts, const size_t *lens,
                               size_t cnt, bool logits, float *out, xai_error *err) {
    if (!xai_nn_is_text(net)) return xd_err(err, XAI_ERR_INVALID, "not a text network");
    if (cnt == 0) return XAI_OK;
    size_t k = logits ? xai_nn_n_logits(net) : xai_nn_output_size(net);
    int64_t **ids = xd_calloc(cnt, sizeof *ids), *group = NULL;
    size_t *n = xd_calloc(cnt, sizeof *n);
    xai_status st = all_ids(net, texts, lens, cnt, ids, n, err);
    /* consecutive texts of one length run as one batch */
    for (size_t i0 = 0, i1; st == XAI_OK && i0 < cnt; i0 = i1) {
        for (i1 = i0 + 1; i1 < cnt && n[i1] == n[i0];) i1++;
        group = xd_try_malloc(xd_mul(xd_mul(i1 - i0, n[i0]), sizeof *group));
        if (group == NULL) {
            st = xd_err(err, XAI_ERR_NOMEM, "token ids of %zu texts", i1 - i0);
            break;
        }
        for (size_t i = i0; i < i1; i++)
            memcpy(group + (i - i0) * n[i0], ids[i], n[i0] * sizeof *group);
        st = xd_nn_text_run(net, group, i1 - i0, n[i0], logits, out + i0 * k, err);
        xd_free(group);
        group = NULL;
    }
    for (size_t i = 0; i < cnt; i++) xd_free(ids[i]);
    xd_free(ids);
    xd_free(n);
    return st;
}

/* ---- the text network as a model ------------------------------------------ */

static xai_status predict(const xai_nn *net, bool logits, const xai_batch *b, double *out,
                          xai_error *err) {
    if (b->kind != XAI_INPUT_TEXT)
        return xd_err(err, XAI_ERR_MODEL, "text network: the batch is not texts");
    size_t k = logits ? xai_nn_n_logits(net) : xai_nn_output_size(net);
    float *y = xd_try_malloc(xd_mul(xd_mul(b->n ? b->n : 1, k), sizeof *y));
    if (y == NULL) return xd_err(err, XAI_ERR_NOMEM, "text network: %zu outputs", b->n);
    xai_status st = xai_nn_text_forward(net, b->texts, b->text_lens, b->n, logits, y, err);
    for (size_t i = 0; st == XAI_OK && i < b->n * k; i++) out[i] = y[i];
    xd_free(y);
    if (st != XAI_OK && st != XAI_ERR_NOMEM && err) err->code = XAI_ERR_MODEL;
    return st != XAI_OK && st != XAI_ERR_NOMEM ? XAI_ERR_MODEL : st;
}

static xai_status predict_out(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    return predict(ctx, false, b, out, err);
}

static xai_status predict_logits(void *ctx, const xai_batch *b, double *out, xai_error *err) {
    return predict(ctx, true, b, out, err);
}

void xai_nn_text_model(const xai_nn *net, bool logits, const char *name, xai_model *model) {
    xai_nn_model(net, logits, name, model);
    const xd_nn_text *t = net->text;
    if (t == NULL) return;
    uint64_t h = xd_hash64(t->emb, t->n_vocab * t->dim * sizeof *t->emb, model->cache_id);
    for (size_t i = 0; i < t->n_vocab; i++) h = xd_hash64(t->words[i], strlen(t->words[i]), h);
    size_t flags[2] = {t->oov, t->lowercase};
    h = xd_hash64(flags, sizeof flags, h);
    if (t->pattern) h = xd_hash64(t->pattern, strlen(t->pattern), h);
    model->cache_id = h;
    model->kind = XAI_INPUT_TEXT;
    model->n_cols = 0;
    model->predict = logits ? predict_logits : predict_out;
}
