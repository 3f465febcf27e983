/* eval.c — the evaluator: masks in, model outputs out (see include/xai/eval.h).
 *
 * One request (xai_eval_masks) runs as a pipeline over scratch buffers that
 * live in the evaluator and only grow, so a steady stream of requests does
 * no allocation per mask:
 *
 *   masks --dedup--> unique masks --render, in chunks of ~4 x max_bytes-->
 *   rows (+ keyed 128-bit key per row), then per chunk:
 *   rows --dedup by key--> distinct rows --cache--> hits | misses
 *   misses --split by max rows / max bytes--> model calls --validate--> cache
 *   rows --weighted sum per unique mask--> outputs per mask --> out
 *
 * Invariants: row r of a request belongs to unique mask r / rows_per_mask;
 * rep[r] is the first row with the same key (rep[r] == r for distinct rows);
 * row_out holds k outputs per row once the model calls are done. A model call
 * whose status or output is bad ends the request and stores nothing of that
 * call in the cache. Dedup tables are open-addressing arrays of index + 1
 * (0 = empty), sized to at least twice the entries and cleared per request.
 */
#include <math.h>
#include <string.h>
#include "space/space_impl.h"
#include "eval_impl.h"

/* A growable scratch array. */
typedef struct buf {
    void *p;
    size_t cap;     /* bytes */
} buf;

struct xai_eval {
    xai_model model;        /* copy; name and class_names point to our copies */
    char *name;
    char **class_names;
    const xai_space *space;
    size_t d, k, rpm;
    xai_cache *cache;
    bool own_cache, use_cache;
    size_t max_rows, max_bytes;
    xai_eval_check_fn check;
    void *check_ctx;
    double progress;
    xai_eval_stats stats;
    /* scratch */
    xd_inputs rendered;     /* rows rendered from masks */
    xd_inputs raw;          /* inputs given to xai_eval_inputs */
    buf tab, first, uniq, keys, rep, todo, hit, row_out, mask_out;
    buf texts, lens, call_rows, call_out;
};

/* Ensures b holds n elements of `size` bytes; NULL on out of memory. */
static void *need(buf *b, size_t n, size_t size) {
    size_t bytes = xd_mul(n ? n : 1, size);
    if (bytes > b->cap) {
        size_t c = b->cap ? b->cap : 256;
        while (c < bytes) c = c > SIZE_MAX / 2 ? bytes : c * 2;
        void *p = xd_try_realloc(b->p, c);
        if (p == NULL) return NULL;
        b->p = p;
        b->cap = c;
    }
    return b->p;
}

static size_t table_size(size_t n) {
    size_t c = 16;
    while (c < 2 * n) c *= 2;
    return c;
}

/* ---- creation ------------------------------------------------------- */

static xai_status check_model(const xai_model *m, const xai_space *s, xai_error *err) {
    if (m == NULL || s == NULL) return xd_err(err, XAI_ERR_INVALID, "eval: model and space are required");
    if (m->predict == NULL) return xd_err(err, XAI_ERR_INVALID, "eval: model has no predict function");
    if (m->n_outputs == 0) return xd_err(err, XAI_ERR_INVALID, "eval: model has no outputs");
    if (m->kind != s->input_kind)
        return xd_err(err, XAI_ERR_INVALID, "eval: model '%s' takes %s, the space renders %s",
                      m->name ? m->name : "", m->kind == XAI_INPUT_TEXT ? "texts" : "rows",
                      s->input_kind == XAI_INPUT_TEXT ? "texts" : "rows");
    if (m->kind == XAI_INPUT_ROWS && m->n_cols && m->n_cols != s->n_cols)
        return xd_err(err, XAI_ERR_INVALID, "eval: model '%s' takes %zu columns, the space has %zu",
                      m->name ? m->name : "", m->n_cols, s->n_cols);
    return XAI_OK;
}

/* Deep-copies the model's name and class names, so the caller may free its own. */
static void copy_names(xai_eval *ev, const xai_model *m) {
    if (m->name) ev->name = xd_strdup(m->name);
    ev->model.name = ev->name;
    if (m->class_names == NULL) return;
    ev->class_names = xd_calloc(m->n_outputs, sizeof *ev->class_names);
    for (size_t j = 0; j < m->n_outputs; j++)
        if (m->class_names[j]) ev->class_names[j] = xd_strdup(m->class_names[j]);
    ev->model.class_names = (const char *const *)ev->class_names;
}

xai_status xai_eval_new(const xai_model *model, const xai_space *space, const xai_eval_opts *opts,
                        xai_eval **out, xai_error *err) {
    *out = NULL;
    xai_status st = check_model(model, space, err);
    if (st != XAI_OK) return st;
    xai_eval_opts o;
    memset(&o, 0, sizeof o);
    if (opts) o = *opts;
    xai_eval *ev = xd_try_calloc(1, sizeof *ev);
    if (ev == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: out of memory");
    ev->model = *model;
    copy_names(ev, model);
    ev->space = space;
    ev->d = space->d;
    ev->k = model->n_outputs;
    ev->rpm = space->rows_per_mask;
    ev->max_rows = o.max_rows_per_call ? o.max_rows_per_call : 1000;
    ev->max_bytes = o.max_bytes_per_call ? o.max_bytes_per_call : (size_t)16 << 20;
    ev->use_cache = !o.no_cache;
    if (ev->use_cache && o.cache) {
        ev->cache = o.cache;
    } else if (ev->use_cache) {
        st = xai_cache_new(o.cache_bytes ? o.cache_bytes : (size_t)64 << 20, &ev->cache, err);
        if (st != XAI_OK) {
            xai_eval_free(ev);
            return st;
        }
        ev->own_cache = true;
    }
    xd_inputs_init(&ev->rendered, space->input_kind, space->n_cols);
    xd_inputs_init(&ev->raw, model->kind, 0);
    *out = ev;
    return XAI_OK;
}

void xai_eval_free(xai_eval *ev) {
    if (ev == NULL) return;
    if (ev->own_cache) xai_cache_free(ev->cache);
    for (size_t j = 0; ev->class_names && j < ev->k; j++) xd_free(ev->class_names[j]);
    xd_free(ev->class_names);
    xd_free(ev->name);
    xd_inputs_release(&ev->rendered);
    xd_inputs_release(&ev->raw);
    buf *bufs[] = {&ev->tab, &ev->first, &ev->uniq, &ev->keys, &ev->rep, &ev->todo, &ev->hit,
                   &ev->row_out, &ev->mask_out, &ev->texts, &ev->lens, &ev->call_rows,
                   &ev->call_out};
    for (size_t i = 0; i < XD_ARRAY_LEN(bufs); i++) xd_free(bufs[i]->p);
    xd_free(ev);
}

void xai_eval_set_check(xai_eval *ev, xai_eval_check_fn fn, void *ctx) {
    ev->check = fn;
    ev->check_ctx = ctx;
}

void xai_eval_set_progress(xai_eval *ev, double fraction) {
    if (!(fraction >= 0.0)) fraction = 0.0;
    ev->progress = fraction > 1.0 ? 1.0 : fraction;
}

size_t xai_eval_n_features(const xai_eval *ev) { return ev->d; }
size_t xai_eval_n_outputs(const xai_eval *ev) { return ev->k; }
const xai_space *xai_eval_space(const xai_eval *ev) { return ev->space; }
const xai_model *xai_eval_model(const xai_eval *ev) { return &ev->model; }
const xai_eval_stats *xai_eval_get_stats(const xai_eval *ev) { return &ev->stats; }

/* ---- model calls ---------------------------------------------------- */

static const char *model_name(const xai_eval *ev) {
    return ev->model.name ? ev->model.name : "model";
}

/* Asks the check callback whether to go on. */
static xai_status run_check(xai_eval *ev, xai_error *err) {
    if (ev->check == NULL) return XAI_OK;
    xai_error e;
    memset(&e, 0, sizeof e);
    xai_status st = ev->check(ev->check_ctx, &ev->stats, ev->progress, &e);
    if (st == XAI_OK) return XAI_OK;
    if (e.message[0] == '\0') return xd_err(err, st, "stopped: %s", xai_errstr(st));
    return xd_err(err, st, "%s", e.message);
}

/* Points the batch at rows idx[0..c) of `in`; rows are copied only when not consecutive. */
static xai_status make_batch(xai_eval *ev, const xd_inputs *in, const size_t *idx, size_t c,
                             xai_batch *b, xai_error *err) {
    memset(b, 0, sizeof *b);
    b->kind = in->kind;
    b->n = c;
    if (in->kind == XAI_INPUT_TEXT) {
        const char **texts = need(&ev->texts, c, sizeof *texts);
        size_t *lens = need(&ev->lens, c, sizeof *lens);
        if (texts == NULL || lens == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: batch of %zu", c);
        for (size_t i = 0; i < c; i++) texts[i] = xd_inputs_bytes(in, idx[i], &lens[i]);
        b->texts = texts;
        b->text_lens = lens;
        return XAI_OK;
    }
    b->cols = in->cols;
    if (idx[c - 1] - idx[0] == c - 1) {     /* rows are consecutive: no copy */
        b->rows = in->rows + idx[0] * in->cols;
        return XAI_OK;
    }
    double *rows = need(&ev->call_rows, xd_mul(c, in->cols), sizeof *rows);
    if (rows == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: batch of %zu rows", c);
    for (size_t i = 0; i < c; i++)
        memcpy(rows + i * in->cols, in->rows + idx[i] * in->cols, in->cols * sizeof(double));
    b->rows = rows;
    return XAI_OK;
}

/* Checks that all c x k outputs are finite. */
static xai_status validate(const xai_eval *ev, const double *y, size_t c, xai_error *err) {
    size_t k = ev->k;
    for (size_t i = 0; i < c * k; i++)
        if (!isfinite(y[i]))
            return xd_err(err, XAI_ERR_MODEL_OUTPUT,
                          "%s returned %s at row %zu, output %zu of a %zu x %zu batch",
                          model_name(ev), isnan(y[i]) ? "NaN (or left it unset)" : "infinity",
                          i / k, i % k, c, k);
    return XAI_OK;
}

/* One model call on rows idx[0..c) of `in`; outputs go to row_out. */
static xai_status call_model(xai_eval *ev, const xd_inputs *in, const size_t *idx, size_t c,
                             double *row_out, const xd_hash128 *keys, xai_error *err) {
    xai_status st = run_check(ev, err);
    if (st != XAI_OK) return st;
    xai_batch b;
    st = make_batch(ev, in, idx, c, &b, err);
    if (st != XAI_OK) return st;
    size_t k = ev->k;
    double *y = need(&ev->call_out, xd_mul(c, k), sizeof *y);
    if (y == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: outputs of %zu rows", c);
    for (size_t i = 0; i < c * k; i++) y[i] = NAN;
    xai_error e;
    memset(&e, 0, sizeof e);
    double t0 = xd_now();
    st = ev->model.predict(ev->model.ctx, &b, y, &e);
    ev->stats.model_seconds += xd_now() - t0;
    ev->stats.model_calls++;
    ev->stats.rows_sent += c;
    if (st != XAI_OK)
        return xd_err(err, st, "%s: %s", model_name(ev), e.message[0] ? e.message : xai_errstr(st));
    st = validate(ev, y, c, err);
    if (st != XAI_OK) return st;
    for (size_t i = 0; i < c; i++) memcpy(row_out + idx[i] * k, y + i * k, k * sizeof(double));
    if (ev->use_cache) xd_cache_store(ev->cache, ev->model.cache_id, keys, idx, c, k, row_out);
    return XAI_OK;
}

/* Sends rows miss[0..m) to the model in calls bounded by rows and bytes. */
static xai_status call_all(xai_eval *ev, const xd_inputs *in, const size_t *miss, size_t m,
                           double *row_out, const xd_hash128 *keys, xai_error *err) {
    size_t i = 0;
    while (i < m) {
        size_t c = 0, bytes = 0;
        while (i + c < m && c < ev->max_rows) {
            size_t len;
            xd_inputs_bytes(in, miss[i + c], &len);
            if (c > 0 && bytes + len > ev->max_bytes) break;
            bytes += len;
            c++;
        }
        xai_status st = call_model(ev, in, miss + i, c, row_out, keys, err);
        if (st != XAI_OK) return st;
        i += c;
    }
    return XAI_OK;
}

/* ---- the row pipeline ----------------------------------------------- */

/* Hashes rows [from, in->n) of `in` into keys[] (sized for in->n by the caller). */
static void hash_rows(xai_eval *ev, const xd_inputs *in, size_t from) {
    xd_hash128 *keys = ev->keys.p;
    for (size_t r = from; r < in->n; r++) {
        size_t len;
        const void *p = xd_inputs_bytes(in, r, &len);
        keys[r] = xd_key_hash(p, len, ev->model.identity);
    }
}

/* Groups rows with equal keys: rep[r] = first such row; the distinct rows
 * are listed in todo[0..*nd). */
static xai_status dedup_rows(xai_eval *ev, size_t n, size_t *nd, xai_error *err) {
    size_t cap = table_size(n);
    size_t *tab = need(&ev->tab, cap, sizeof *tab);
    size_t *rep = need(&ev->rep, n, sizeof *rep);
    size_t *todo = need(&ev->todo, n, sizeof *todo);
    if (tab == NULL || rep == NULL || todo == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "eval: dedup of %zu inputs", n);
    const xd_hash128 *keys = ev->keys.p;
    memset(tab, 0, cap * sizeof *tab);
    size_t m = 0;
    for (size_t r = 0; r < n; r++) {
        size_t j = (size_t)(keys[r].lo ^ (keys[r].lo >> 31)) & (cap - 1);
        for (; tab[j]; j = (j + 1) & (cap - 1)) {
            size_t q = tab[j] - 1;
            if (keys[q].lo == keys[r].lo && keys[q].hi == keys[r].hi) break;
        }
        if (tab[j]) {
            rep[r] = tab[j] - 1;
        } else {
            tab[j] = r + 1;
            rep[r] = r;
            todo[m++] = r;
        }
    }
    *nd = m;
    return XAI_OK;
}

/* Fills row_out (n x k) for the n rows of `in`: dedup, cache, model calls.
 * On return *nd is the number of distinct rows. */
static xai_status eval_rows(xai_eval *ev, const xd_inputs *in, size_t *nd, xai_error *err) {
    size_t n = in->n, k = ev->k;
    xai_status st = dedup_rows(ev, n, nd, err);
    if (st != XAI_OK) return st;
    uint8_t *hit = need(&ev->hit, n, 1);
    double *row_out = need(&ev->row_out, xd_mul(n, k), sizeof(double));
    if (hit == NULL || row_out == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: %zu inputs", n);
    size_t *todo = ev->todo.p, m = *nd;
    const xd_hash128 *keys = ev->keys.p;
    if (ev->use_cache) {
        memset(hit, 0, n);
        size_t hits = xd_cache_lookup(ev->cache, ev->model.cache_id, keys, todo, m, k, row_out, hit);
        ev->stats.cache_hits += hits;
        if (hits) {
            size_t w = 0;
            for (size_t i = 0; i < m; i++)
                if (!hit[todo[i]]) todo[w++] = todo[i];
            m = w;
        }
    }
    st = call_all(ev, in, todo, m, row_out, keys, err);
    if (st != XAI_OK) return st;
    const size_t *rep = ev->rep.p;
    for (size_t r = 0; r < n; r++)
        if (rep[r] != r) memcpy(row_out + r * k, row_out + rep[r] * k, k * sizeof(double));
    return XAI_OK;
}

/* ---- masks ---------------------------------------------------------- */

/* Finds the unique masks: uniq[i] = unique index of mask i, first[u] = the
 * first mask with unique index u. Returns the number of unique masks. */
static xai_status dedup_masks(xai_eval *ev, const uint8_t *masks, size_t n, size_t *nu,
                              xai_error *err) {
    size_t cap = table_size(n), d = ev->d;
    size_t *tab = need(&ev->tab, cap, sizeof *tab);
    size_t *first = need(&ev->first, n, sizeof *first);
    size_t *uniq = need(&ev->uniq, n, sizeof *uniq);
    if (tab == NULL || first == NULL || uniq == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "eval: dedup of %zu masks", n);
    memset(tab, 0, cap * sizeof *tab);
    size_t u = 0;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *m = masks + i * d;
        size_t j = (size_t)xd_hash64(m, d, 0) & (cap - 1);
        for (; tab[j]; j = (j + 1) & (cap - 1))
            if (memcmp(masks + first[tab[j] - 1] * d, m, d) == 0) break;
        if (tab[j]) {
            uniq[i] = tab[j] - 1;
        } else {
            tab[j] = u + 1;
            first[u] = i;
            uniq[i] = u++;
        }
    }
    *nu = u;
    return XAI_OK;
}

/* Bytes held by `in`: its texts, or its rows of doubles. */
static size_t inputs_size(const xd_inputs *in) {
    return in->kind == XAI_INPUT_TEXT ? in->nbytes : xd_mul(in->n, xd_mul(in->cols, sizeof(double)));
}

/* Rendered bytes held at once: a few calls' worth, so that chunk ends
 * rarely split what would have been one full call. */
#define CHUNK_CALLS 4

/* Renders unique masks u0, u0 + 1, ... into ev->rendered until they hold
 * CHUNK_CALLS * max_bytes (at least one mask, at most all up to nu) and hashes each
 * mask's rows right after rendering them, while they are still in cache.
 * *u1 is the end of the chunk. */
static xai_status render_chunk(xai_eval *ev, const uint8_t *masks, size_t u0, size_t nu,
                               size_t *u1, xai_error *err) {
    double t0 = xd_now();
    xd_inputs *in = &ev->rendered;
    xd_inputs_clear(in);
    const size_t *first = ev->first.p;
    xai_status st = XAI_OK;
    size_t u = u0;
    for (; u < nu && st == XAI_OK; u++) {
        if (u > u0 && inputs_size(in) >= xd_mul(CHUNK_CALLS, ev->max_bytes)) break;
        size_t n0 = in->n;
        st = ev->space->vt->render(ev->space, masks + first[u] * ev->d, in, err);
        if (st == XAI_OK && in->n != n0 + ev->rpm)
            st = xd_err(err, XAI_ERR_INTERNAL, "eval: space rendered %zu inputs for one mask, not %zu",
                        in->n - n0, ev->rpm);
        if (st == XAI_OK && need(&ev->keys, in->n, sizeof(xd_hash128)) == NULL)
            st = xd_err(err, XAI_ERR_NOMEM, "eval: keys of %zu inputs", in->n);
        if (st == XAI_OK) hash_rows(ev, in, n0);
    }
    *u1 = u;
    ev->stats.render_seconds += xd_now() - t0;
    return st;
}

/* acc[u] = sum_b w_b * row_out[(u - u0) * rpm + b] for the unique masks
 * [u0, u1) of the chunk just evaluated. */
static void combine_chunk(xai_eval *ev, size_t u0, size_t u1, double *acc) {
    size_t k = ev->k, rpm = ev->rpm;
    const double *row_out = ev->row_out.p, *w = ev->space->row_weights;
    for (size_t u = u0; u < u1; u++) {
        double *a = acc + u * k;
        const double *y = row_out + (u - u0) * rpm * k;
        if (rpm == 1) {
            memcpy(a, y, k * sizeof(double));
            continue;
        }
        for (size_t j = 0; j < k; j++) a[j] = 0.0;
        for (size_t b = 0; b < rpm; b++)
            for (size_t j = 0; j < k; j++) a[j] += w[b] * y[b * k + j];
    }
}

/* The unique masks go through render -> dedup -> cache -> model in chunks
 * of about CHUNK_CALLS * max_bytes of rendered input, so a request's memory
 * is bounded by that (plus one mask's rows) however many masks or however
 * long the mask token. */
static xai_status eval_masks(xai_eval *ev, const uint8_t *masks, size_t n, double *out,
                             xai_error *err) {
    if (masks == NULL || out == NULL) return xd_err(err, XAI_ERR_INVALID, "eval: masks and out are required");
    ev->stats.masks_asked += n;
    size_t nu = 0, nd = 0;
    xai_status st = dedup_masks(ev, masks, n, &nu, err);
    if (st != XAI_OK) return st;
    ev->stats.masks_unique += nu;
    ev->stats.rows_asked += nu * ev->rpm;
    size_t k = ev->k;
    double *acc = need(&ev->mask_out, xd_mul(nu, k), sizeof *acc);
    if (acc == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: outputs of %zu masks", nu);
    for (size_t u0 = 0, u1 = 0; u0 < nu; u0 = u1) {
        st = render_chunk(ev, masks, u0, nu, &u1, err);
        if (st == XAI_OK) st = eval_rows(ev, &ev->rendered, &nd, err);
        if (st != XAI_OK) return st;
        combine_chunk(ev, u0, u1, acc);
    }
    const size_t *uniq = ev->uniq.p;
    for (size_t i = 0; i < n; i++) memcpy(out + i * k, acc + uniq[i] * k, k * sizeof(double));
    return XAI_OK;
}

xai_status xai_eval_masks(xai_eval *ev, const uint8_t *masks, size_t n, double *out,
                          xai_error *err) {
    if (n == 0) return XAI_OK;
    double t0 = xd_now(), c0 = xd_thread_cpu_now();
    xai_status st = eval_masks(ev, masks, n, out, err);
    ev->stats.eval_seconds += xd_now() - t0;
    ev->stats.eval_cpu_seconds += xd_thread_cpu_now() - c0;
    return st;
}

/* ---- raw inputs ----------------------------------------------------- */

static xai_status copy_inputs(xai_eval *ev, const xai_batch *b, xai_error *err) {
    xd_inputs *in = &ev->raw;
    size_t cols = b->kind == XAI_INPUT_ROWS ? b->cols : 0;
    if (in->kind != b->kind || in->cols != cols) {     /* rows_cap counts rows of cols */
        xd_inputs_release(in);
        xd_inputs_init(in, b->kind, cols);
    }
    xd_inputs_clear(in);
    for (size_t i = 0; i < b->n; i++) {
        if (b->kind == XAI_INPUT_TEXT) {
            if (xd_inputs_push_text(in, b->texts[i], b->text_lens[i]) != XAI_OK)
                return xd_err(err, XAI_ERR_NOMEM, "eval: copying %zu texts", b->n);
        } else {
            double *row = xd_inputs_push_row(in);
            if (row == NULL) return xd_err(err, XAI_ERR_NOMEM, "eval: copying %zu rows", b->n);
            memcpy(row, b->rows + i * b->cols, b->cols * sizeof(double));
        }
    }
    return XAI_OK;
}

static xai_status check_batch(const xai_eval *ev, const xai_batch *b, xai_error *err) {
    if (b == NULL) return xd_err(err, XAI_ERR_INVALID, "eval: no inputs");
    if (b->kind != ev->model.kind)
        return xd_err(err, XAI_ERR_INVALID, "eval: inputs are not of the kind %s takes", model_name(ev));
    if (b->n == 0) return XAI_OK;
    if (b->kind == XAI_INPUT_TEXT && (b->texts == NULL || b->text_lens == NULL))
        return xd_err(err, XAI_ERR_INVALID, "eval: texts and text_lens are required");
    if (b->kind == XAI_INPUT_ROWS) {
        if (b->rows == NULL || b->cols == 0)
            return xd_err(err, XAI_ERR_INVALID, "eval: rows and cols are required");
        if (ev->model.n_cols && b->cols != ev->model.n_cols)
            return xd_err(err, XAI_ERR_INVALID, "eval: rows have %zu columns, %s takes %zu",
                          b->cols, model_name(ev), ev->model.n_cols);
    }
    return XAI_OK;
}

static xai_status eval_inputs(xai_eval *ev, const xai_batch *in, double *out, xai_error *err) {
    ev->stats.masks_asked += in->n;
    double t0 = xd_now();
    xai_status st = copy_inputs(ev, in, err);
    if (st == XAI_OK && need(&ev->keys, in->n, sizeof(xd_hash128)) == NULL)
        st = xd_err(err, XAI_ERR_NOMEM, "eval: keys of %zu inputs", in->n);
    if (st == XAI_OK) hash_rows(ev, &ev->raw, 0);
    ev->stats.render_seconds += xd_now() - t0;
    if (st != XAI_OK) return st;
    size_t nd = 0;
    st = eval_rows(ev, &ev->raw, &nd, err);
    if (st != XAI_OK) return st;
    ev->stats.masks_unique += nd;
    ev->stats.rows_asked += nd;
    memcpy(out, ev->row_out.p, in->n * ev->k * sizeof(double));
    return XAI_OK;
}

xai_status xai_eval_inputs(xai_eval *ev, const xai_batch *in, double *out, xai_error *err) {
    xai_status st = check_batch(ev, in, err);
    if (st != XAI_OK || in->n == 0) return st;
    double t0 = xd_now(), c0 = xd_thread_cpu_now();
    st = eval_inputs(ev, in, out, err);
    ev->stats.eval_seconds += xd_now() - t0;
    ev->stats.eval_cpu_seconds += xd_thread_cpu_now() - c0;
    return st;
}
