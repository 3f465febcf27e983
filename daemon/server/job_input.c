/* job_input.c — turns an `explain` request's `input` and `space` maps into
 * the perturbation space a job runs on, under the daemon's limits.
 *
 * Two steps. xd_srv_input_precheck() runs on the front thread before a job
 * is accepted and checks only shapes and types (cheap, so a malformed
 * request is refused at once with bad_request or limit_exceeded, never
 * queued). xd_srv_input_build() runs on the worker: it tokenizes the text
 * (with the shared default tokenizer, or a per-job one compiled from the
 * request's `pattern` under match/depth/heap limits, so a catastrophic
 * pattern fails that job only) or reads the row and picks the background
 * (the request's `space.background`, else the model's configured CSV, else
 * the rows the model sent in its `info` answer), and
 * builds the space. Feature counts are checked against max_features, token
 * counts against max_tokens, background rows against max_background.
 *
 * Memory is budgeted in the precheck, before `accepted`: the mask token is
 * at most max_mask_token_bytes; text and mask token hold no NUL byte
 * (refused: a model server in C would see a shorter string than was
 * explained); the longest text any mask can render — the text plus one
 * mask token per possible token, at most min(bytes, max_tokens) — must fit
 * in one model call (the model's max_bytes); and the job's budget
 * (max_job_bytes) must hold what the evaluator keeps at once — up to four
 * calls' worth of rendered rows (eval.c renders in such chunks) and one
 * more row — plus, for a sample count given in params, a mask byte and a
 * double per sample and possible token (a method's design matrix). A
 * model's answers are bounded by the link (link.c), not here.
 */
#include <string.h>
#include "server.h"
#include "xai/space.h"

static const char *const text_keys[] = {"pattern", "mask_token", "delete", "bag_of_words", NULL};
static const char *const tab_keys[] = {"background", "background_weights", "feature_names", NULL};

static xai_status bad(xai_error *err, const char *fmt, const char *a) {
    return xd_err(err, XAI_ERR_BAD_REQUEST, fmt, a);
}

/* Integer params that count samples or evaluations ("num_samples",
 * "nsamples", "max_evals", ...) must not exceed max_samples: methods size
 * buffers by them (shapley_sampling allocates max_evals masks at once). */
xai_status xd_srv_check_samples(const xd_srv_config *cfg, const xai_value *params,
                                xai_error *err) {
    for (size_t i = 0; i < xai_value_len(params); i++) {
        const char *k = xai_value_key_at(params, i);
        const xai_value *v = xai_value_val_at(params, i);
        bool counts = strstr(k, "samples") != NULL || strcmp(k, "max_evals") == 0;
        if (!counts || !xai_value_is_number(v)) continue;
        double x = xai_value_get_number(v);
        if (x > (double)cfg->max_samples)
            return xd_err(err, XAI_ERR_LIMIT, "params.%s = %.0f exceeds max_samples = %zu", k, x,
                          cfg->max_samples);
    }
    return XAI_OK;
}

/* The largest sample count in params (0 if none is given). */
static double samples_of(const xai_value *params) {
    double n = 0;
    for (size_t i = 0; i < xai_value_len(params); i++) {
        const char *k = xai_value_key_at(params, i);
        const xai_value *v = xai_value_val_at(params, i);
        bool counts = strstr(k, "samples") != NULL || strcmp(k, "max_evals") == 0;
        if (counts && xai_value_is_number(v) && xai_value_get_number(v) > n)
            n = xai_value_get_number(v);
    }
    return n;
}

/* Text and mask token: no NUL, the token short, the longest rendering
 * within one call, the job within its budget. */
/* How many tokens the text may have: counted with the shared tokenizer
 * when the request keeps the default pattern (cheap, and what the worker
 * will do), else at most one per byte; never more than max_tokens + 1. */
static double max_tokens_of(const xd_srv_config *cfg, const xai_tokenizer *tok,
                            const char *text, size_t len, const xai_value *space) {
    const char *pattern = xai_value_get_str(xai_value_get(space, "pattern"), NULL);
    double bound = (double)XD_MIN(len, cfg->max_tokens + 1);
    if (tok == NULL || (pattern && pattern[0] && strcmp(pattern, XAI_DEFAULT_TOKEN_PATTERN) != 0))
        return bound;
    xai_tokens *toks = NULL;
    if (xai_tokenize(tok, text, len, &toks, NULL) != XAI_OK) return bound;
    double n = (double)toks->n;
    xai_tokens_free(toks);
    return n;
}

static xai_status precheck_text(const xd_srv_config *cfg, const xd_srv_model_cfg *mc,
                                const xai_tokenizer *tok, const xai_value *input,
                                const xai_value *params, const xai_value *space,
                                xai_error *err) {
    size_t len = 0, mlen = 3;       /* the default mask token, "UNK" */
    const char *text = xai_value_get_str(xai_value_get(input, "text"), &len);
    const xai_value *mv = xai_value_get(space, "mask_token");
    const char *mask = xai_value_get_str(mv, &mlen);
    if (mv && xai_value_type(mv) != XAI_V_NIL && mask == NULL)
        return bad(err, "explain: space.mask_token must be a string%s", "");
    if (mask == NULL) mlen = 3;
    if (memchr(text, '\0', len))
        return xd_err(err, XAI_ERR_BAD_REQUEST, "input.text has a NUL byte at offset %zu",
                      (size_t)((const char *)memchr(text, '\0', len) - text));
    if (mask && memchr(mask, '\0', mlen))
        return bad(err, "space.mask_token has a NUL byte%s", "");
    if (mlen > cfg->max_mask_token_bytes)
        return xd_err(err, XAI_ERR_LIMIT, "space.mask_token has %zu bytes, more than "
                      "max_mask_token_bytes = %zu", mlen, cfg->max_mask_token_bytes);
    double tokens = max_tokens_of(cfg, tok, text, len, space);
    double row = (double)len + tokens * (double)mlen + 1;
    if (row > (double)mc->max_bytes)
        return xd_err(err, XAI_ERR_LIMIT, "a masked text may render to %.0f bytes, more than "
                      "model %s's max_bytes = %zu per call", row, mc->name, mc->max_bytes);
    double need = 4.0 * (double)mc->max_bytes + row + samples_of(params) * (9 * tokens + 16);
    if (need > (double)cfg->max_job_bytes)
        return xd_err(err, XAI_ERR_LIMIT, "the job may need %.0f MiB, more than max_job_bytes = "
                      "%zu MiB", need / 1048576.0, cfg->max_job_bytes >> 20);
    return XAI_OK;
}

/* A tabular job's budget: chunks of rendered rows plus, for a sample count
 * given in params, a mask byte and a double per sample and column. */
static xai_status precheck_rows(const xd_srv_config *cfg, const xd_srv_model_cfg *mc,
                                const xai_value *input, const xai_value *params,
                                xai_error *err) {
    const xai_value *row = xai_value_get(input, "row");
    double d = xai_value_type(row) == XAI_V_ARRAY ? (double)xai_value_len(row) : 0;
    double need = 4.0 * (double)mc->max_bytes + samples_of(params) * (9 * d + 16);
    if (need > (double)cfg->max_job_bytes)
        return xd_err(err, XAI_ERR_LIMIT, "the job may need %.0f MiB, more than max_job_bytes = "
                      "%zu MiB", need / 1048576.0, cfg->max_job_bytes >> 20);
    return XAI_OK;
}

xai_status xd_srv_input_precheck(const xd_srv_config *cfg, const xd_srv_model_cfg *mc,
                                 const xai_tokenizer *shared_tok,
                                 const xai_value *input, const xai_value *params,
                                 const xai_value *space, xd_srv_choices *ch, xai_error *err) {
    if (xai_value_type(input) != XAI_V_MAP) return bad(err, "explain: `input` must be a map%s", "");
    if (params && xai_value_type(params) != XAI_V_NIL && xai_value_type(params) != XAI_V_MAP)
        return bad(err, "explain: `params` must be a map%s", "");
    if (space && xai_value_type(space) != XAI_V_NIL && xai_value_type(space) != XAI_V_MAP)
        return bad(err, "explain: `space` must be a map%s", "");
    bool text = mc->kind == XAI_INPUT_TEXT;
    if (text && xai_value_type(xai_value_get(input, "text")) != XAI_V_STR)
        return bad(err, "explain: model %s takes text: `input` needs \"text\" (a string)", mc->name);
    if (!text) {
        xai_vtype t = xai_value_type(xai_value_get(input, "row"));
        if (t != XAI_V_ARRAY && t != XAI_V_MAP)
            return bad(err, "explain: model %s is tabular: `input` needs \"row\" (numbers)", mc->name);
    }
    xai_status st = xd_srv_check_keys(space, text ? text_keys : tab_keys, "space", ch, err);
    if (st == XAI_OK) st = xd_srv_check_samples(cfg, params, err);
    if (st == XAI_OK && text) st = precheck_text(cfg, mc, shared_tok, input, params, space, err);
    if (st == XAI_OK && !text) st = precheck_rows(cfg, mc, input, params, err);
    return st;
}

/* ---- text ---------------------------------------------------------------- */

/* Features are token positions by default; for LIME they are distinct words
 * (bag of words), the default of the reference LimeTextExplainer, and a
 * removed word is deleted at every occurrence with the separators kept, as
 * lime 0.2's IndexedString.inverse_removing renders it in bag-of-words mode
 * (its \W+ split and xaid's \w+ tokens cut the text at the same places).
 * A mask_token, or delete: false, asks for replacement instead. */
static xai_status build_text(xd_srv_input *in, const xd_srv_config *cfg,
                             const xai_tokenizer *shared, const xai_value *input,
                             const xai_value *space, const char *method, xai_error *err) {
    bool lime = method != NULL && strcmp(method, "lime") == 0;
    const char *pattern, *mask;
    bool del, bow;
    xai_status st;
    if ((st = xai_opt_str(space, "pattern", NULL, &pattern, err)) ||
        (st = xai_opt_str(space, "mask_token", NULL, &mask, err)) ||
        (st = xai_opt_bool(space, "bag_of_words", lime, &bow, err)) ||
        (st = xai_opt_bool(space, "delete", lime && bow && mask == NULL, &del, err)))
        return st;
    const xai_tokenizer *tok = shared;
    if (pattern && pattern[0] && strcmp(pattern, XAI_DEFAULT_TOKEN_PATTERN) != 0) {
        xai_regex_limits lim = {0, 0, 0, cfg->max_tokens};
        if ((st = xai_tokenizer_new(pattern, &lim, &in->own_tok, err)) != XAI_OK) return st;
        tok = in->own_tok;
    }
    size_t len;
    const char *text = xai_value_get_str(xai_value_get(input, "text"), &len);
    if ((st = xai_tokenize(tok, text, len, &in->toks, err)) != XAI_OK) return st;
    if (in->toks->n > cfg->max_tokens)
        return xd_err(err, XAI_ERR_LIMIT, "the text has %zu tokens, more than max_tokens = %zu",
                      in->toks->n, cfg->max_tokens);
    xai_text_space_opts o = {mask, del, bow};
    return xai_space_text_new(in->toks, &o, &in->space, err);
}

/* ---- tabular ------------------------------------------------------------- */

typedef struct tab_parts {
    double *x, *bg, *w;
    size_t d, n_bg;
    char **names;       /* d names owned here, or NULL */
} tab_parts;

static void tab_parts_free(tab_parts *t) {
    xd_free(t->x);
    xd_free(t->bg);
    xd_free(t->w);
    for (size_t i = 0; t->names && i < t->d; i++) xd_free(t->names[i]);
    xd_free(t->names);
}

static xai_status read_row(tab_parts *t, const xai_value *input, xai_error *err) {
    size_t rows, cols;
    xai_status st = xai_value_to_matrix(xai_value_get(input, "row"), true, true, &t->x, &rows,
                                        &cols, err);
    if (st != XAI_OK) return st;
    if (rows != 1 || cols == 0)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "input.row must be one row of numbers, not %zu x %zu",
                      rows, cols);
    t->d = cols;
    return XAI_OK;
}

/* Rows from space.background, else the configured CSV, else the model's
 * info answer. */
static xai_status read_background(tab_parts *t, const xd_srv_config *cfg,
                                  const xd_srv_model_cfg *mc, const xd_srv_model_info *info,
                                  const xai_value *space, xai_error *err) {
    const xai_value *bv = xai_value_get(space, "background");
    size_t rows, cols;
    if (bv != NULL && xai_value_type(bv) != XAI_V_NIL) {
        xai_status st = xai_value_to_matrix(bv, true, true, &t->bg, &rows, &cols, err);
        if (st != XAI_OK) return st;
    } else if (mc->background != NULL || info->background != NULL) {
        const double *src = mc->background ? mc->background : info->background;
        rows = mc->background ? mc->n_background : info->n_background;
        cols = mc->background ? mc->bg_cols : info->n_features;
        t->bg = xd_try_malloc(xd_mul(rows * cols, sizeof *t->bg));
        if (t->bg == NULL) return xd_err(err, XAI_ERR_NOMEM, "background copy");
        memcpy(t->bg, src, rows * cols * sizeof *t->bg);
    } else {
        return xd_err(err, XAI_ERR_INVALID,
                      "model %s has no background: configure one (model %s.background = FILE), "
                      "send it in the model's info answer (xai.serve(..., background=...)), or "
                      "give space.background", mc->name, mc->name);
    }
    if (rows == 0 || rows > cfg->max_background)
        return xd_err(err, XAI_ERR_LIMIT, "background has %zu rows; 1..max_background = %zu allowed",
                      rows, cfg->max_background);
    if (cols != t->d)
        return xd_err(err, XAI_ERR_INVALID, "background rows have %zu columns, the row has %zu",
                      cols, t->d);
    t->n_bg = rows;
    return XAI_OK;
}

static xai_status read_weights(tab_parts *t, const xai_value *space, xai_error *err) {
    const xai_value *w = xai_value_get(space, "background_weights");
    if (w == NULL || xai_value_type(w) == XAI_V_NIL) return XAI_OK;
    size_t rows, cols;
    xai_status st = xai_value_to_matrix(w, false, true, &t->w, &rows, &cols, err);
    if (st != XAI_OK) return st;
    if (rows * cols != t->n_bg)
        return xd_err(err, XAI_ERR_INVALID, "space.background_weights has %zu values for %zu rows",
                      rows * cols, t->n_bg);
    return XAI_OK;
}

/* Names from space.feature_names, the CSV header, or the model's info. */
static xai_status read_names(tab_parts *t, const xd_srv_model_cfg *mc,
                             const xd_srv_model_info *info, const xai_value *space,
                             xai_error *err) {
    const xai_value *fn = xai_value_get(space, "feature_names");
    char *const *src = NULL;
    if (fn != NULL && xai_value_type(fn) != XAI_V_NIL) {
        if (xai_value_type(fn) != XAI_V_ARRAY || xai_value_len(fn) != t->d)
            return xd_err(err, XAI_ERR_INVALID, "space.feature_names must be %zu strings", t->d);
        t->names = xd_calloc(t->d, sizeof *t->names);
        for (size_t i = 0; i < t->d; i++) {
            const char *s = xai_value_get_str(xai_value_at(fn, i), NULL);
            if (s == NULL) return xd_err(err, XAI_ERR_INVALID, "space.feature_names[%zu] is not a string", i);
            t->names[i] = xd_strdup(s);
        }
        return XAI_OK;
    }
    if (mc->bg_names && mc->bg_cols == t->d) src = mc->bg_names;
    else if (info->feature_names && info->n_features == t->d) src = info->feature_names;
    if (src) {
        t->names = xd_calloc(t->d, sizeof *t->names);
        for (size_t i = 0; i < t->d; i++) t->names[i] = xd_strdup(src[i]);
    }
    return XAI_OK;
}

static xai_status build_tabular(xd_srv_input *in, const xd_srv_config *cfg,
                                const xd_srv_model_cfg *mc, const xd_srv_model_info *info,
                                const xai_value *input, const xai_value *space, xai_error *err) {
    tab_parts t = {0};
    xai_status st;
    if ((st = read_row(&t, input, err)) || (st = read_background(&t, cfg, mc, info, space, err)) ||
        (st = read_weights(&t, space, err)) || (st = read_names(&t, mc, info, space, err)))
        goto cleanup;
    if (t.d > cfg->max_features) {
        st = xd_err(err, XAI_ERR_LIMIT, "the row has %zu features, more than max_features = %zu",
                    t.d, cfg->max_features);
        goto cleanup;
    }
    xai_tabular_space_opts o = {t.bg, t.n_bg, t.w, (const char *const *)t.names};
    st = xai_space_tabular_new(t.x, t.d, &o, &in->space, err);
cleanup:
    tab_parts_free(&t);
    return st;
}

/* The checks that need no model: a text is tokenized and its space built
 * (so max_tokens and max_features are known), a row's width is checked. */
xai_status xd_srv_input_early(xd_srv_input *in, const xd_srv_config *cfg,
                              const xd_srv_model_cfg *mc, const xai_tokenizer *shared_tok,
                              const xai_value *input, const xai_value *space, const char *method,
                              xai_error *err) {
    memset(in, 0, sizeof *in);
    if (mc->kind == XAI_INPUT_TEXT) {
        xd_srv_model_info none = {0};
        return xd_srv_input_build(in, cfg, mc, &none, shared_tok, input, space, method, err);
    }
    tab_parts t = {0};
    xai_status st = read_row(&t, input, err);
    if (st == XAI_OK && t.d > cfg->max_features)
        st = xd_err(err, XAI_ERR_LIMIT, "the row has %zu features, more than max_features = %zu",
                    t.d, cfg->max_features);
    tab_parts_free(&t);
    return st;
}

xai_status xd_srv_input_build(xd_srv_input *in, const xd_srv_config *cfg,
                              const xd_srv_model_cfg *mc, const xd_srv_model_info *info,
                              const xai_tokenizer *shared_tok, const xai_value *input,
                              const xai_value *space, const char *method, xai_error *err) {
    memset(in, 0, sizeof *in);
    xai_status st = mc->kind == XAI_INPUT_TEXT
                        ? build_text(in, cfg, shared_tok, input, space, method, err)
                        : build_tabular(in, cfg, mc, info, input, space, err);
    if (st == XAI_OK && xai_space_n_features(in->space) > cfg->max_features)
        st = xd_err(err, XAI_ERR_LIMIT, "%zu features, more than max_features = %zu",
                    xai_space_n_features(in->space), cfg->max_features);
    if (st != XAI_OK) xd_srv_input_free(in);
    return st;
}

void xd_srv_input_free(xd_srv_input *in) {
    xai_space_free(in->space);
    xai_tokens_free(in->toks);
    xai_tokenizer_free(in->own_tok);
    memset(in, 0, sizeof *in);
}
