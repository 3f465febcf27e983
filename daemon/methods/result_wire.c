/* result_wire.c — an xai_result to and from its wire form (an xai_value map,
 * docs/PROTOCOL.md "The result"), and to JSON.
 *
 * The mapping is one to one, so from_value(to_value(r)) gives back r:
 * NaN base_value travels as nil, stderrs as nil when absent, the text and
 * token spans only for text inputs, the shape only for tensors, `extra` as
 * is. Parsing trusts nothing: every field is type-checked, arrays must have
 * the lengths the result implies (d values, d names, 3 ints per token), and
 * offsets must lie inside the text. Optional fields may be absent.
 *
 * A multi-target result (r->targets != NULL, result.h) has "targets" and
 * "target_names" arrays, "fx" and "base_value" arrays of k' numbers, and
 * "values" / "stderrs" as k' arrays of d numbers; "target" and
 * "target_name" are the first target's. The presence of "targets" is what
 * selects that form when parsing.
 */
#include <math.h>
#include <string.h>
#include "../core/core.h"
#include "xai/result.h"
#include "result_wire.h"

/* ---- encoding ----------------------------------------------------------- */

static xai_value *num_or_nil(double x) { return isnan(x) ? xai_value_nil() : xai_value_float(x); }
static xai_value *str_or_nil(const char *s) { return s ? xai_value_str(s) : xai_value_nil(); }

xai_value *xd_eval_stats_value(const xai_eval_stats *s) {
    xai_value *m = xai_value_map();
    if (m == NULL) return NULL;
    if (xai_value_set_int(m, "masks_asked", (int64_t)s->masks_asked) ||
        xai_value_set_int(m, "masks_unique", (int64_t)s->masks_unique) ||
        xai_value_set_int(m, "rows_asked", (int64_t)s->rows_asked) ||
        xai_value_set_int(m, "cache_hits", (int64_t)s->cache_hits) ||
        xai_value_set_int(m, "rows_sent", (int64_t)s->rows_sent) ||
        xai_value_set_int(m, "model_calls", (int64_t)s->model_calls) ||
        xai_value_set_float(m, "model_seconds", s->model_seconds) ||
        xai_value_set_float(m, "render_seconds", s->render_seconds) ||
        xai_value_set_float(m, "eval_seconds", s->eval_seconds) ||
        xai_value_set_float(m, "eval_cpu_seconds", s->eval_cpu_seconds)) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

static xai_value *span_value(size_t start, size_t end, int64_t feature) {
    xai_value *t = xai_value_array();
    if (t == NULL || xai_value_push(t, xai_value_int((int64_t)start)) ||
        xai_value_push(t, xai_value_int((int64_t)end)) || xai_value_push(t, xai_value_int(feature))) {
        xai_value_free(t);
        return NULL;
    }
    return t;
}

static xai_value *tokens_value(const xai_result *r) {
    xai_value *a = xai_value_array();
    for (size_t j = 0; a && j < r->n_tokens; j++)
        if (xai_value_push(a, span_value(r->token_start[j], r->token_end[j],
                                         r->token_feature[j])) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

static xai_value *names_value(char *const *names, size_t n) {
    xai_value *a = xai_value_array();
    for (size_t i = 0; a && i < n; i++)
        if (xai_value_push(a, xai_value_str(names[i] ? names[i] : "")) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

static xai_value *shape_value(const xai_result *r) {
    xai_value *a = xai_value_array();
    for (size_t i = 0; a && i < r->rank; i++)
        if (xai_value_push(a, xai_value_int((int64_t)r->shape[i])) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* n numbers, NaN as nil. */
static xai_value *nums_value(const double *x, size_t n) {
    xai_value *a = xai_value_array();
    for (size_t i = 0; a && i < n; i++)
        if (xai_value_push(a, num_or_nil(x[i])) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* rows arrays of d numbers each, from the rows x d matrix x. */
static xai_value *matrix_value(const double *x, size_t rows, size_t d) {
    xai_value *a = xai_value_array();
    for (size_t t = 0; a && t < rows; t++)
        if (xai_value_push(a, xai_value_float_array(x + t * d, d)) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* The per-target fields of the multi-target form. */
static xai_status set_targets(xai_value *m, const xai_result *r) {
    size_t kt = r->n_targets;
    xai_value *t = xai_value_array(), *names = xai_value_array();
    for (size_t i = 0; t && names && i < kt; i++)
        if (xai_value_push(t, xai_value_int(r->targets[i])) ||
            xai_value_push(names, str_or_nil(r->target_names[i])))
            break;
    if (t == NULL || names == NULL || xai_value_len(t) != kt || xai_value_len(names) != kt) {
        xai_value_free(t);
        xai_value_free(names);
        return XAI_ERR_NOMEM;
    }
    if (xai_value_set(m, "targets", t) || xai_value_set(m, "target_names", names) ||
        xai_value_set_int(m, "target", r->targets[0]) ||
        xai_value_set(m, "target_name", str_or_nil(r->target_names[0])) ||
        xai_value_set(m, "fx", nums_value(r->fxs, kt)) ||
        xai_value_set(m, "base_value", nums_value(r->base_values, kt)) ||
        xai_value_set(m, "values", matrix_value(r->values, kt, r->d)) ||
        xai_value_set(m, "stderrs", r->stderrs ? matrix_value(r->stderrs, kt, r->d)
                                               : xai_value_nil()))
        return XAI_ERR_NOMEM;
    return XAI_OK;
}

static xai_status set_single(xai_value *m, const xai_result *r) {
    if (xai_value_set_int(m, "target", r->target) ||
        xai_value_set(m, "target_name", str_or_nil(r->target_name)) ||
        xai_value_set(m, "fx", num_or_nil(r->fx)) ||
        xai_value_set(m, "base_value", num_or_nil(r->base_value)) ||
        xai_value_set(m, "values", xai_value_float_array(r->values, r->d)) ||
        xai_value_set(m, "stderrs", r->stderrs ? xai_value_float_array(r->stderrs, r->d)
                                               : xai_value_nil()))
        return XAI_ERR_NOMEM;
    return XAI_OK;
}

xai_value *xai_result_to_value(const xai_result *r) {
    xai_value *m = xai_value_map();
    if (m == NULL || r == NULL) goto fail;
    if (xai_value_set(m, "method", str_or_nil(r->method)) ||
        xai_value_set(m, "model", str_or_nil(r->model)) ||
        xai_value_set_int(m, "seed", (int64_t)r->seed) ||
        (r->targets ? set_targets(m, r) : set_single(m, r)) ||
        xai_value_set(m, "features", names_value(r->feature_names, r->d)))
        goto fail;
    if (r->text != NULL &&
        (xai_value_set_str(m, "text", r->text) || xai_value_set(m, "tokens", tokens_value(r))))
        goto fail;
    if (r->rank > 0 && xai_value_set(m, "shape", shape_value(r))) goto fail;
    if (r->extra != NULL && xai_value_set(m, "extra", xai_value_clone(r->extra))) goto fail;
    if (xai_value_set(m, "stats", xd_eval_stats_value(&r->stats)) ||
        xai_value_set_float(m, "seconds", r->seconds))
        goto fail;
    return m;
fail:
    xai_value_free(m);
    return NULL;
}

char *xai_result_to_json(const xai_result *r, bool pretty) {
    xai_value *v = xai_result_to_value(r);
    if (v == NULL) return NULL;
    char *s = xai_value_to_json(v, pretty);
    xai_value_free(v);
    return s;
}

/* ---- decoding ----------------------------------------------------------- */

static xai_status bad(xai_error *err, const char *field, const char *what) {
    return xd_err(err, XAI_ERR_BAD_REQUEST, "result: '%s' %s", field, what);
}

/* An integer field in [lo, hi] (absent: def); a wrong one is bad_request. */
static xai_status get_int(const xai_value *m, const char *key, int64_t def, int64_t lo,
                          int64_t hi, int64_t *out, xai_error *err) {
    xai_error e;
    if (xai_opt_int(m, key, def, lo, hi, out, &e) != XAI_OK)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "result: %s", e.message);
    return XAI_OK;
}

/* An optional string field: absent or nil gives NULL. */
static xai_status get_str(const xai_value *m, const char *key, char **out, xai_error *err) {
    const xai_value *v = xai_value_get(m, key);
    if (v == NULL || xai_value_type(v) == XAI_V_NIL) return XAI_OK;
    size_t len;
    const char *s = xai_value_get_str(v, &len);
    if (s == NULL) return bad(err, key, "must be a string");
    *out = xd_try_malloc(len + 1);
    if (*out == NULL) return xd_err(err, XAI_ERR_NOMEM, "result: '%s' of %zu bytes", key, len);
    memcpy(*out, s, len + 1);
    return XAI_OK;
}

/* An optional number field: absent or nil gives NaN. */
static xai_status get_num(const xai_value *m, const char *key, double *out, xai_error *err) {
    const xai_value *v = xai_value_get(m, key);
    *out = NAN;
    if (v == NULL || xai_value_type(v) == XAI_V_NIL) return XAI_OK;
    if (!xai_value_is_number(v)) return bad(err, key, "must be a number");
    *out = xai_value_get_number(v);
    return XAI_OK;
}

/* v must be an array of exactly d numbers (nil entries read as NaN), read
 * into x[0..d). */
static xai_status read_nums(const xai_value *v, const char *key, size_t d, double *x,
                            xai_error *err) {
    if (xai_value_type(v) != XAI_V_ARRAY || xai_value_len(v) != d)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "result: '%s' must be an array of %zu numbers",
                      key, d);
    for (size_t i = 0; i < d; i++) {
        const xai_value *e = xai_value_at(v, i);
        if (xai_value_type(e) == XAI_V_NIL) x[i] = NAN;
        else if (xai_value_is_number(e)) x[i] = xai_value_get_number(e);
        else return xd_err(err, XAI_ERR_BAD_REQUEST, "result: '%s'[%zu] is not a number", key, i);
    }
    return XAI_OK;
}

/* Field `key`: rows arrays of d numbers when rows_form, else one array of d
 * (rows = 1); into a new rows x d matrix replacing *out. */
static xai_status get_mat(const xai_value *m, const char *key, bool rows_form, size_t rows,
                          size_t d, double **out, xai_error *err) {
    const xai_value *v = xai_value_get(m, key);
    if (rows_form && (xai_value_type(v) != XAI_V_ARRAY || xai_value_len(v) != rows))
        return xd_err(err, XAI_ERR_BAD_REQUEST, "result: '%s' must be %zu arrays of %zu numbers",
                      key, rows, d);
    double *x = xd_try_calloc(XD_MAX(xd_mul(rows, d), 1), sizeof *x);
    if (x == NULL) return xd_err(err, XAI_ERR_NOMEM, "result: '%s' of %zu numbers", key, d);
    xai_status st = XAI_OK;
    for (size_t t = 0; st == XAI_OK && t < rows; t++)
        st = read_nums(rows_form ? xai_value_at(v, t) : v, key, d, x + t * d, err);
    if (st != XAI_OK) {
        xd_free(x);
        return st;
    }
    xd_free(*out);
    *out = x;
    return XAI_OK;
}

static xai_status get_tokens(const xai_value *m, xai_result *r, xai_error *err) {
    const xai_value *t = xai_value_get(m, "tokens");
    if (t == NULL || xai_value_type(t) == XAI_V_NIL) return XAI_OK;
    if (xai_value_type(t) != XAI_V_ARRAY) return bad(err, "tokens", "must be an array");
    size_t n = xai_value_len(t), len = strlen(r->text ? r->text : "");
    r->token_start = xd_try_calloc(n ? n : 1, sizeof *r->token_start);
    r->token_end = xd_try_calloc(n ? n : 1, sizeof *r->token_end);
    r->token_feature = xd_try_calloc(n ? n : 1, sizeof *r->token_feature);
    if (!r->token_start || !r->token_end || !r->token_feature)
        return xd_err(err, XAI_ERR_NOMEM, "result: %zu tokens", n);
    for (size_t j = 0; j < n; j++) {
        const xai_value *e = xai_value_at(t, j);
        const xai_value *a = xai_value_at(e, 0), *b = xai_value_at(e, 1), *f = xai_value_at(e, 2);
        if (xai_value_type(e) != XAI_V_ARRAY || xai_value_len(e) != 3 ||
            xai_value_type(a) != XAI_V_INT || xai_value_type(b) != XAI_V_INT ||
            xai_value_type(f) != XAI_V_INT)
            return xd_err(err, XAI_ERR_BAD_REQUEST, "result: token %zu must be [start, end, feature]", j);
        int64_t s = xai_value_get_int(a), en = xai_value_get_int(b), fi = xai_value_get_int(f);
        if (s < 0 || en < s || (uint64_t)en > len || fi < -1 || (fi >= 0 && (uint64_t)fi >= r->d))
            return xd_err(err, XAI_ERR_BAD_REQUEST, "result: token %zu [%lld, %lld, %lld] out of range",
                          j, (long long)s, (long long)en, (long long)fi);
        r->token_start[j] = (size_t)s;
        r->token_end[j] = (size_t)en;
        r->token_feature[j] = fi;
    }
    r->n_tokens = n;
    return XAI_OK;
}

static xai_status get_names(const xai_value *m, xai_result *r, xai_error *err) {
    const xai_value *f = xai_value_get(m, "features");
    for (size_t i = 0; i < r->d; i++) {
        size_t len;
        const char *s = xai_value_get_str(xai_value_at(f, i), &len);
        if (s == NULL)
            return xd_err(err, XAI_ERR_BAD_REQUEST, "result: features[%zu] is not a string", i);
        r->feature_names[i] = xd_try_malloc(len + 1);
        if (r->feature_names[i] == NULL) return xd_err(err, XAI_ERR_NOMEM, "result: feature name");
        memcpy(r->feature_names[i], s, len + 1);
    }
    return XAI_OK;
}

static xai_status get_shape(const xai_value *m, xai_result *r, xai_error *err) {
    const xai_value *s = xai_value_get(m, "shape");
    if (s == NULL || xai_value_type(s) == XAI_V_NIL) return XAI_OK;
    if (xai_value_type(s) != XAI_V_ARRAY || xai_value_len(s) > 4)
        return bad(err, "shape", "must be an array of at most 4 ints");
    for (size_t i = 0; i < xai_value_len(s); i++) {
        const xai_value *e = xai_value_at(s, i);
        if (xai_value_type(e) != XAI_V_INT || xai_value_get_int(e) < 0)
            return bad(err, "shape", "must hold non-negative ints");
        r->shape[i] = (size_t)xai_value_get_int(e);
    }
    r->rank = xai_value_len(s);
    return XAI_OK;
}

xai_status xd_eval_stats_from_value(const xai_value *v, xai_eval_stats *s, xai_error *err) {
    memset(s, 0, sizeof *s);
    const char *ints[] = {"masks_asked", "masks_unique", "rows_asked", "cache_hits",
                          "rows_sent", "model_calls"};
    uint64_t *dst[] = {&s->masks_asked, &s->masks_unique, &s->rows_asked, &s->cache_hits,
                       &s->rows_sent, &s->model_calls};
    for (size_t i = 0; i < XD_ARRAY_LEN(ints); i++) {
        int64_t x;
        if (get_int(v, ints[i], 0, 0, INT64_MAX, &x, err) != XAI_OK) return XAI_ERR_BAD_REQUEST;
        *dst[i] = (uint64_t)x;
    }
    xai_error e;
    if (xai_opt_float(v, "model_seconds", 0, 0, INFINITY, &s->model_seconds, &e) ||
        xai_opt_float(v, "render_seconds", 0, 0, INFINITY, &s->render_seconds, &e) ||
        xai_opt_float(v, "eval_seconds", 0, 0, INFINITY, &s->eval_seconds, &e) ||
        xai_opt_float(v, "eval_cpu_seconds", 0, 0, INFINITY, &s->eval_cpu_seconds, &e))
        return xd_err(err, XAI_ERR_BAD_REQUEST, "result: stats seconds must be numbers >= 0");
    return XAI_OK;
}

static xai_status get_stats(const xai_value *m, xai_eval_stats *s, xai_error *err) {
    const xai_value *v = xai_value_get(m, "stats");
    if (v == NULL || xai_value_type(v) == XAI_V_NIL) return XAI_OK;
    if (xai_value_type(v) != XAI_V_MAP) return bad(err, "stats", "must be a map");
    return xd_eval_stats_from_value(v, s, err);
}

/* The scalar fields: method, model, seed, target, target_name, fx,
 * base_value, seconds (fx and base_value only in the single-target form). */
static xai_status get_scalars(const xai_value *m, xai_result *r, xai_error *err) {
    xai_status st;
    int64_t seed, target;
    if ((st = get_str(m, "model", &r->model, err)) || (st = get_str(m, "text", &r->text, err)) ||
        (st = get_str(m, "target_name", &r->target_name, err)))
        return st;
    if ((st = get_int(m, "seed", 0, 0, INT64_MAX, &seed, err)) ||
        (st = get_int(m, "target", -1, -1, INT64_MAX, &target, err)))
        return st;
    r->seed = (uint64_t)seed;
    r->target = target;
    if (r->targets == NULL &&
        ((st = get_num(m, "fx", &r->fx, err)) || (st = get_num(m, "base_value", &r->base_value, err))))
        return st;
    if ((st = get_num(m, "seconds", &r->seconds, err))) return st;
    if (isnan(r->seconds)) r->seconds = 0;
    return XAI_OK;
}

/* The per-target arrays of the multi-target form (r from
 * xai_result_new_multi with as many rows as "targets" has entries). */
static xai_status get_targets(const xai_value *m, xai_result *r, xai_error *err) {
    const xai_value *t = xai_value_get(m, "targets"), *names = xai_value_get(m, "target_names");
    size_t kt = r->n_targets;
    if (names != NULL && xai_value_type(names) != XAI_V_NIL &&
        (xai_value_type(names) != XAI_V_ARRAY || xai_value_len(names) != kt))
        return bad(err, "target_names", "must be an array as long as 'targets'");
    for (size_t i = 0; i < kt; i++) {
        const xai_value *e = xai_value_at(t, i);
        const xai_value *n = names ? xai_value_at(names, i) : NULL;
        if (xai_value_type(e) != XAI_V_INT || xai_value_get_int(e) < 0)
            return bad(err, "targets", "must hold non-negative ints");
        r->targets[i] = xai_value_get_int(e);
        if (n == NULL || xai_value_type(n) == XAI_V_NIL) continue;
        const char *s = xai_value_get_str(n, NULL);
        if (s == NULL) return bad(err, "target_names", "must hold strings or nil");
        if ((r->target_names[i] = xd_strdup(s)) == NULL)
            return xd_err(err, XAI_ERR_NOMEM, "result: target names");
    }
    xai_status st = read_nums(xai_value_get(m, "fx"), "fx", kt, r->fxs, err);
    if (st == XAI_OK) st = read_nums(xai_value_get(m, "base_value"), "base_value", kt,
                                     r->base_values, err);
    r->fx = r->fxs[0];
    r->base_value = r->base_values[0];
    return st;
}

xai_status xai_result_from_value(const xai_value *v, xai_result **out, xai_error *err) {
    *out = NULL;
    if (xai_value_type(v) != XAI_V_MAP) return xd_err(err, XAI_ERR_BAD_REQUEST, "result: not a map");
    const char *method = xai_value_get_str(xai_value_get(v, "method"), NULL);
    const xai_value *f = xai_value_get(v, "features");
    if (method == NULL) return bad(err, "method", "must be a string");
    if (xai_value_type(f) != XAI_V_ARRAY) return bad(err, "features", "must be an array");
    size_t d = xai_value_len(f), kt = 1;
    const xai_value *tv = xai_value_get(v, "targets");
    bool multi = tv != NULL && xai_value_type(tv) != XAI_V_NIL;
    if (multi && (xai_value_type(tv) != XAI_V_ARRAY || (kt = xai_value_len(tv)) == 0))
        return bad(err, "targets", "must be a non-empty array");
    xai_result *r = multi ? xai_result_new_multi(method, d, kt) : xai_result_new(method, d);
    if (r == NULL) return xd_err(err, XAI_ERR_NOMEM, "result of %zu features", d);
    xai_status st;
    const xai_value *se = xai_value_get(v, "stderrs"), *extra = xai_value_get(v, "extra");
    if ((multi && (st = get_targets(v, r, err))) || (st = get_scalars(v, r, err)) ||
        (st = get_names(v, r, err)) || (st = get_mat(v, "values", multi, kt, d, &r->values, err)))
        goto fail;
    if (se != NULL && xai_value_type(se) != XAI_V_NIL &&
        (st = get_mat(v, "stderrs", multi, kt, d, &r->stderrs, err)))
        goto fail;
    if ((st = get_tokens(v, r, err)) || (st = get_shape(v, r, err)) ||
        (st = get_stats(v, &r->stats, err)))
        goto fail;
    if (extra != NULL && xai_value_type(extra) != XAI_V_NIL) {
        if (xai_value_type(extra) != XAI_V_MAP) {
            st = bad(err, "extra", "must be a map");
            goto fail;
        }
        if ((r->extra = xai_value_clone(extra)) == NULL) {
            st = xd_err(err, XAI_ERR_NOMEM, "result: extra");
            goto fail;
        }
    }
    *out = r;
    return XAI_OK;
fail:
    xai_result_free(r);
    return st;
}
