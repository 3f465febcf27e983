/* text_explain.c — native methods on text networks, one value per token:
 * gradients and LRP on the embedded sequence summed over the embedding
 * dimension, and occlusion on token indices.
 *
 * A method runs exactly as on a tensor network (xai_nn_explain on the
 * network instantiated for the text's length, input = the embedded
 * sequence dim x 1 x n), and token t's value is the sum of the dim values
 * of its embedding column. For gradient x input, integrated gradients and
 * LRP the sum is the token's share of the logit (LRP's conservation and
 * IG's completeness carry over to the tokens unchanged). The result is
 * shaped like a sampling method's on a text space (features = tokens, the
 * text and the spans), so clients render both the same way.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* A result over the tokens of tk with values v (tk->n of them). */
static xai_result *token_result(const char *method, const xai_tokens *tk, const double *v) {
    size_t n = tk->n;
    xai_result *r = xai_result_new(method, n);
    if (r == NULL) return NULL;
    r->text = xd_strndup(tk->text, tk->len);
    r->n_tokens = n;
    r->token_start = xd_calloc(n ? n : 1, sizeof *r->token_start);
    r->token_end = xd_calloc(n ? n : 1, sizeof *r->token_end);
    r->token_feature = xd_calloc(n ? n : 1, sizeof *r->token_feature);
    for (size_t t = 0; t < n; t++) {
        r->feature_names[t] = xd_strndup(tk->text + tk->start[t], tk->end[t] - tk->start[t]);
        r->values[t] = v[t];
        r->token_start[t] = tk->start[t];
        r->token_end[t] = tk->end[t];
        r->token_feature[t] = (int64_t)t;
    }
    return r;
}

/* Tokens and ids of a text with at least one token. */
static xai_status text_tokens(const xai_nn *net, const char *text, size_t len, xai_tokens **tk,
                              int64_t **ids, xai_error *err) {
    xai_status st = xai_nn_text_ids(net, text, len, tk, ids, err);
    if (st == XAI_OK && (*tk)->n == 0) {
        st = xd_err(err, XAI_ERR_INVALID, "the text has no tokens to explain");
        xai_tokens_free(*tk);
        xd_free(*ids);
        *tk = NULL;
        *ids = NULL;
    }
    return st;
}

#define TOP_TOKENS 5

/* The TOP_TOKENS words whose embeddings have the largest dot product with
 * column p of E (dim x n), into idx/score, best first (ties: lower index). */
static void top_words(const xd_nn_text *t, const float *E, size_t n, size_t p, size_t *idx,
                      double *score) {
    size_t k = t->n_vocab < TOP_TOKENS ? t->n_vocab : TOP_TOKENS;
    for (size_t i = 0; i < k; i++) score[i] = -HUGE_VAL, idx[i] = 0;
    for (size_t v = 0; v < t->n_vocab; v++) {
        double s = 0;
        for (size_t d = 0; d < t->dim; d++) s += (double)t->emb[v * t->dim + d] * E[d * n + p];
        size_t j = k;
        while (j > 0 && s > score[j - 1]) j--;
        if (j == k) continue;
        memmove(idx + j + 1, idx + j, (k - 1 - j) * sizeof *idx);
        memmove(score + j + 1, score + j, (k - 1 - j) * sizeof *score);
        idx[j] = v, score[j] = s;
    }
}

/* params without `key` (a new map; NULL on out of memory). */
static xai_value *without(const xai_value *params, const char *key) {
    xai_value *own = xai_value_map();
    for (size_t i = 0; own && i < xai_value_len(params); i++)
        if (strcmp(xai_value_key_at(params, i), key) != 0)
            xai_value_set(own, xai_value_key_at(params, i),
                          xai_value_clone(xai_value_val_at(params, i)));
    return own;
}

/* extra.attention: for every attention layer of inst, {"layer", "heads",
 * "weights": heads x n x n values, row i of head h = query i's weights}. */
static xai_status attention_extra(const xai_nn *inst, const float *x, size_t n, xai_result *r,
                                  xai_error *err) {
    xai_value *all = xai_value_array();
    xai_status st = all ? XAI_OK : XAI_ERR_NOMEM;
    for (size_t l = 0; st == XAI_OK && l < inst->n; l++) {
        const xd_nn_layer *L = &inst->layers[l];
        if (L->kind != XAI_NN_ATTENTION) continue;
        size_t m = L->heads * n * n;
        float *w = xd_try_malloc(xd_mul(m, sizeof *w));
        double *wd = xd_try_malloc(xd_mul(m, sizeof *wd));
        st = w && wd ? xai_nn_attention_weights(inst, l, x, 1, w, err)
                     : xd_err(err, XAI_ERR_NOMEM, "attention weights");
        xai_value *e = st == XAI_OK ? xai_value_map() : NULL;
        for (size_t i = 0; e && i < m; i++) wd[i] = w[i];
        if (e) {
            xai_value_set_int(e, "layer", (int64_t)l);
            xai_value_set_int(e, "heads", (int64_t)L->heads);
            xai_value_set(e, "weights", xai_value_float_array(wd, m));
            xai_value_push(all, e);
        }
        xd_free(w);
        xd_free(wd);
    }
    if (st == XAI_OK) {
        if (r->extra == NULL) r->extra = xai_value_map();
        st = xai_value_set(r->extra, "attention", all);
        all = NULL;
    }
    xai_value_free(all);
    return st == XAI_ERR_NOMEM ? xd_err(err, st, "attention weights") : st;
}

/* Activation maximization in embedding space over `length` positions, read
 * back as words: feature p is the vocabulary word closest (by dot product)
 * to position p's optimised vector, its value that dot product; the text is
 * those words joined by spaces; extra.top_tokens has the TOP_TOKENS best
 * words and scores per position. */
static xai_status text_actmax(const xai_nn *net, const xai_value *params, xai_result **out,
                              xai_error *err) {
    int64_t len;
    xai_status st = xai_opt_int(params, "length", 8, 1, (int64_t)net->text->max_len, &len, err);
    if (st != XAI_OK) return st;
    xai_value *own = without(params, "length");
    xai_nn *inst = NULL;
    xai_result *map = NULL;
    if (own == NULL) return xd_err(err, XAI_ERR_NOMEM, "activation_max: parameters");
    size_t n = (size_t)len, k = net->text->n_vocab < TOP_TOKENS ? net->text->n_vocab : TOP_TOKENS;
    if ((st = xd_nn_instance(net, n, &inst, err)) == XAI_OK)
        st = xai_nn_explain(inst, "activation_max", NULL, own, &map, err);
    xai_tokens tk = {0};
    size_t cap = 0, *idx = xd_calloc(n * k, sizeof *idx);
    double *score = xd_calloc(n * k, sizeof *score), *best = xd_calloc(n, sizeof *best);
    for (size_t p = 0; st == XAI_OK && p < n; p++) {
        float *E = xd_malloc(map->d * sizeof *E);
        for (size_t i = 0; i < map->d; i++) E[i] = (float)map->values[i];
        top_words(net->text, E, n, p, idx + p * k, score + p * k);
        xd_free(E);
        best[p] = score[p * k];
        cap += strlen(net->text->words[idx[p * k]]) + 1;
    }
    if (st == XAI_OK) {
        tk.text = xd_calloc(cap + 1, 1);
        tk.n = n;
        tk.start = xd_calloc(n, sizeof *tk.start);
        tk.end = xd_calloc(n, sizeof *tk.end);
        for (size_t p = 0; p < n; p++) {
            const char *w = net->text->words[idx[p * k]];
            tk.start[p] = tk.len;
            memcpy(tk.text + tk.len, w, strlen(w));
            tk.len += strlen(w);
            tk.end[p] = tk.len;
            if (p + 1 < n) tk.text[tk.len++] = ' ';
        }
        if ((*out = token_result("activation_max", &tk, best)) == NULL)
            st = xd_err(err, XAI_ERR_NOMEM, "activation_max: result");
    }
    if (st == XAI_OK) {
        xai_value *top = xai_value_array();
        for (size_t p = 0; p < n; p++) {
            xai_value *row = xai_value_array();
            for (size_t j = 0; j < k; j++) {
                xai_value *e = xai_value_map();
                xai_value_set_str(e, "token", net->text->words[idx[p * k + j]]);
                xai_value_set_float(e, "score", score[p * k + j]);
                xai_value_push(row, e);
            }
            xai_value_push(top, row);
        }
        (*out)->extra = map->extra ? map->extra : xai_value_map();
        map->extra = NULL;
        xai_value_set((*out)->extra, "top_tokens", top);
        (*out)->fx = map->fx;
        (*out)->target = map->target;
        (*out)->seed = map->seed;
    }
    xd_free(tk.text), xd_free(tk.start), xd_free(tk.end);
    xd_free(idx), xd_free(score), xd_free(best);
    xai_result_free(map);
    xai_nn_free(inst);
    xai_value_free(own);
    return st;
}

xai_status xai_nn_explain_text(const xai_nn *net, const char *method, const char *text,
                               size_t len, const xai_value *params, xai_result **out,
                               xai_error *err) {
    *out = NULL;
    if (!xai_nn_is_text(net)) return xd_err(err, XAI_ERR_INVALID, "not a text network");
    if (method && strcmp(method, "activation_max") == 0) return text_actmax(net, params, out, err);
    if (method && strcmp(method, "gradcam") == 0)
        return xd_err(err, XAI_ERR_INVALID, "gradcam: not for text networks");
    double t0 = xd_now();
    xai_tokens *tk = NULL;
    int64_t *ids = NULL;
    xai_nn *inst = NULL;
    float *x = NULL;
    double *v = NULL;
    xai_result *map = NULL;
    bool attn = false;
    xai_value *own = without(params, "attention");
    xai_status st = xai_opt_bool(params, "attention", false, &attn, err);
    if (st == XAI_OK && own == NULL) st = xd_err(err, XAI_ERR_NOMEM, "parameters");
    if (st == XAI_OK) st = text_tokens(net, text, len, &tk, &ids, err);
    if (st == XAI_OK) st = xd_nn_instance(net, tk->n, &inst, err);
    if (st != XAI_OK) goto cleanup;
    size_t n = tk->n, dim = net->text->dim;
    x = xd_try_malloc(xd_mul(dim * n, sizeof *x));
    v = xd_try_calloc(n, sizeof *v);
    if (x == NULL || v == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "embedded text of %zu tokens", n);
        goto cleanup;
    }
    xd_nn_embed(net, ids, n, x);
    if ((st = xai_nn_explain(inst, method, x, own, &map, err)) != XAI_OK) goto cleanup;
    for (size_t d = 0; d < dim; d++)
        for (size_t t = 0; t < n; t++) v[t] += map->values[d * n + t];
    if ((*out = token_result(map->method, tk, v)) == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "%s: result", method);
        goto cleanup;
    }
    (*out)->target = map->target;
    (*out)->fx = map->fx;
    (*out)->seed = map->seed;
    (*out)->extra = map->extra;
    map->extra = NULL;
    if (attn && (st = attention_extra(inst, x, n, *out, err)) != XAI_OK) {
        xai_result_free(*out);
        *out = NULL;
        goto cleanup;
    }
    (*out)->seconds = xd_now() - t0;
cleanup:
    xai_value_free(own);
    xai_result_free(map);
    xd_free(v);
    xd_free(x);
    xai_nn_free(inst);
    xd_free(ids);
    xai_tokens_free(tk);
    return st;
}

xai_status xai_nn_text_occlusion(const xai_nn *net, const char *text, size_t len,
                                 const char *mask_token, int64_t target, xai_result **out,
                                 xai_error *err) {
    *out = NULL;
    if (!xai_nn_is_text(net)) return xd_err(err, XAI_ERR_INVALID, "not a text network");
    double t0 = xd_now();
    const char *mask = mask_token ? mask_token : "UNK";
    xai_tokens *tk = NULL;
    int64_t *ids = NULL, *rows = NULL;
    float *z = NULL;
    double *v = NULL;
    size_t k = xai_nn_n_logits(net);
    xai_status st = text_tokens(net, text, len, &tk, &ids, err);
    if (st != XAI_OK) return st;
    size_t n = tk->n, m = n + 2; /* the text, each token masked, all masked */
    int64_t mid = (int64_t)xai_nn_token_index(net, mask, strlen(mask));
    rows = xd_try_malloc(xd_mul(m * n, sizeof *rows));
    z = xd_try_malloc(xd_mul(m * k, sizeof *z));
    v = xd_try_malloc(xd_mul(n, sizeof *v));
    if (rows == NULL || z == NULL || v == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "occlusion of %zu tokens", n);
        goto cleanup;
    }
    for (size_t r = 0; r < m; r++)
        for (size_t t = 0; t < n; t++)
            rows[r * n + t] = (r == m - 1 || r == t + 1) ? mid : ids[t];
    if ((st = xd_nn_text_run(net, rows, m, n, true, z, err)) != XAI_OK) goto cleanup;
    size_t tg;
    if ((st = xd_nn_targets(target < 0 ? NULL : &target, z, 1, k, &tg, err)) != XAI_OK)
        goto cleanup;
    for (size_t t = 0; t < n; t++) v[t] = (double)z[tg] - (double)z[(t + 1) * k + tg];
    if ((*out = token_result("occlusion", tk, v)) == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "occlusion: result");
        goto cleanup;
    }
    (*out)->target = (int64_t)tg;
    (*out)->fx = z[tg];
    (*out)->base_value = z[(m - 1) * k + tg];
    (*out)->seconds = xd_now() - t0;
cleanup:
    xd_free(v);
    xd_free(z);
    xd_free(rows);
    xd_free(ids);
    xai_tokens_free(tk);
    return st;
}
