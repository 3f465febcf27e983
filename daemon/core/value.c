/* value.c — the xai_value tree: construction, inspection, option getters and
 * the matrix convention (codecs are in codec.c).
 *
 * Representation: a tagged union. Arrays hold pointers to children; maps hold
 * parallel arrays of keys and child pointers in insertion order. Map lookup
 * is a linear scan: maps here are messages and option sets with tens of keys,
 * where a scan beats hashing.
 */
#include <math.h>
#include <string.h>
#include "core.h"
#include "value_impl.h"

static xai_value *vnew(xai_vtype t) {
    xai_value *v = xd_try_calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

xai_value *xai_value_nil(void) { return vnew(XAI_V_NIL); }

xai_value *xai_value_bool(bool b) {
    xai_value *v = vnew(XAI_V_BOOL);
    if (v) v->u.b = b;
    return v;
}

xai_value *xai_value_int(int64_t i) {
    xai_value *v = vnew(XAI_V_INT);
    if (v) v->u.i = i;
    return v;
}

xai_value *xai_value_float(double d) {
    xai_value *v = vnew(XAI_V_FLOAT);
    if (v) v->u.f = d;
    return v;
}

static xai_value *bytes_value(xai_vtype t, const void *p, size_t len) {
    xai_value *v = vnew(t);
    if (v == NULL) return NULL;
    v->u.s.ptr = xd_try_malloc(len + 1);
    if (v->u.s.ptr == NULL) {
        xd_free(v);
        return NULL;
    }
    if (len) memcpy(v->u.s.ptr, p, len);
    v->u.s.ptr[len] = '\0';
    v->u.s.len = len;
    return v;
}

xai_value *xai_value_str(const char *s) { return bytes_value(XAI_V_STR, s, strlen(s)); }
xai_value *xai_value_strn(const char *s, size_t len) { return bytes_value(XAI_V_STR, s, len); }
xai_value *xai_value_bin(const void *p, size_t len) { return bytes_value(XAI_V_BIN, p, len); }
xai_value *xai_value_array(void) { return vnew(XAI_V_ARRAY); }
xai_value *xai_value_map(void) { return vnew(XAI_V_MAP); }

void xai_value_free(xai_value *v) {
    if (v == NULL) return;
    switch (v->type) {
    case XAI_V_STR:
    case XAI_V_BIN:
        xd_free(v->u.s.ptr);
        break;
    case XAI_V_ARRAY:
        for (size_t i = 0; i < v->u.a.n; i++) xai_value_free(v->u.a.items[i]);
        xd_free(v->u.a.items);
        break;
    case XAI_V_MAP:
        for (size_t i = 0; i < v->u.m.n; i++) {
            xd_free(v->u.m.keys[i]);
            xai_value_free(v->u.m.vals[i]);
        }
        xd_free(v->u.m.keys);
        xd_free(v->u.m.vals);
        break;
    default:
        break;
    }
    xd_free(v);
}

xai_value *xai_value_clone(const xai_value *v) {
    if (v == NULL) return NULL;
    switch (v->type) {
    case XAI_V_NIL: return xai_value_nil();
    case XAI_V_BOOL: return xai_value_bool(v->u.b);
    case XAI_V_INT: return xai_value_int(v->u.i);
    case XAI_V_FLOAT: return xai_value_float(v->u.f);
    case XAI_V_STR:
    case XAI_V_BIN: return bytes_value(v->type, v->u.s.ptr, v->u.s.len);
    case XAI_V_ARRAY: {
        xai_value *c = xai_value_array();
        for (size_t i = 0; c && i < v->u.a.n; i++) {
            xai_value *item = xai_value_clone(v->u.a.items[i]);
            if (item == NULL || xai_value_push(c, item) != XAI_OK) {
                xai_value_free(c);
                return NULL;
            }
        }
        return c;
    }
    case XAI_V_MAP: {
        xai_value *c = xai_value_map();
        for (size_t i = 0; c && i < v->u.m.n; i++) {
            xai_value *item = xai_value_clone(v->u.m.vals[i]);
            if (item == NULL || xai_value_set(c, v->u.m.keys[i], item) != XAI_OK) {
                xai_value_free(c);
                return NULL;
            }
        }
        return c;
    }
    }
    return NULL;
}

xai_vtype xai_value_type(const xai_value *v) { return v ? v->type : XAI_V_NIL; }
bool xai_value_get_bool(const xai_value *v) { return v && v->type == XAI_V_BOOL && v->u.b; }
int64_t xai_value_get_int(const xai_value *v) { return v && v->type == XAI_V_INT ? v->u.i : 0; }

bool xai_value_is_number(const xai_value *v) {
    return v && (v->type == XAI_V_INT || v->type == XAI_V_FLOAT);
}

double xai_value_get_number(const xai_value *v) {
    if (v == NULL) return 0.0;
    if (v->type == XAI_V_INT) return (double)v->u.i;
    if (v->type == XAI_V_FLOAT) return v->u.f;
    return 0.0;
}

const char *xai_value_get_str(const xai_value *v, size_t *len) {
    if (v == NULL || v->type != XAI_V_STR) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->u.s.len;
    return v->u.s.ptr;
}

const void *xai_value_get_bin(const xai_value *v, size_t *len) {
    if (v == NULL || v->type != XAI_V_BIN) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->u.s.len;
    return v->u.s.ptr;
}

size_t xai_value_len(const xai_value *v) {
    if (v == NULL) return 0;
    if (v->type == XAI_V_ARRAY) return v->u.a.n;
    if (v->type == XAI_V_MAP) return v->u.m.n;
    return 0;
}

xai_value *xai_value_at(const xai_value *a, size_t i) {
    if (a == NULL || a->type != XAI_V_ARRAY || i >= a->u.a.n) return NULL;
    return a->u.a.items[i];
}

static ptrdiff_t map_find(const xai_value *m, const char *key) {
    for (size_t i = 0; i < m->u.m.n; i++)
        if (strcmp(m->u.m.keys[i], key) == 0) return (ptrdiff_t)i;
    return -1;
}

xai_value *xai_value_get(const xai_value *m, const char *key) {
    if (m == NULL || m->type != XAI_V_MAP || key == NULL) return NULL;
    ptrdiff_t i = map_find(m, key);
    return i < 0 ? NULL : m->u.m.vals[i];
}

const char *xai_value_key_at(const xai_value *m, size_t i) {
    if (m == NULL || m->type != XAI_V_MAP || i >= m->u.m.n) return NULL;
    return m->u.m.keys[i];
}

xai_value *xai_value_val_at(const xai_value *m, size_t i) {
    if (m == NULL || m->type != XAI_V_MAP || i >= m->u.m.n) return NULL;
    return m->u.m.vals[i];
}

/* Grows an array of pointers to hold at least n+1 items. */
static bool grow(void ***items, size_t n, size_t *cap) {
    if (n < *cap) return true;
    size_t ncap = *cap ? *cap * 2 : 4;
    void **p = xd_try_realloc(*items, xd_mul(ncap, sizeof *p));
    if (p == NULL) return false;
    *items = p;
    *cap = ncap;
    return true;
}

xai_status xai_value_push(xai_value *a, xai_value *item) {
    if (item == NULL) return XAI_ERR_NOMEM;
    if (a == NULL || a->type != XAI_V_ARRAY) {
        xai_value_free(item);
        return XAI_ERR_INVALID;
    }
    if (!grow((void ***)&a->u.a.items, a->u.a.n, &a->u.a.cap)) {
        xai_value_free(item);
        return XAI_ERR_NOMEM;
    }
    a->u.a.items[a->u.a.n++] = item;
    return XAI_OK;
}

xai_status xai_value_set(xai_value *m, const char *key, xai_value *item) {
    if (item == NULL) return XAI_ERR_NOMEM;
    if (m == NULL || m->type != XAI_V_MAP || key == NULL) {
        xai_value_free(item);
        return XAI_ERR_INVALID;
    }
    ptrdiff_t i = map_find(m, key);
    if (i >= 0) {
        xai_value_free(m->u.m.vals[i]);
        m->u.m.vals[i] = item;
        return XAI_OK;
    }
    size_t kcap = m->u.m.cap;
    char *k = xd_try_malloc(strlen(key) + 1);
    if (k == NULL || !grow((void ***)&m->u.m.keys, m->u.m.n, &kcap) ||
        !grow((void ***)&m->u.m.vals, m->u.m.n, &m->u.m.cap)) {
        xd_free(k);
        xai_value_free(item);
        return XAI_ERR_NOMEM;
    }
    strcpy(k, key);
    m->u.m.keys[m->u.m.n] = k;
    m->u.m.vals[m->u.m.n] = item;
    m->u.m.n++;
    return XAI_OK;
}

xai_status xai_value_set_int(xai_value *m, const char *k, int64_t i) {
    return xai_value_set(m, k, xai_value_int(i));
}
xai_status xai_value_set_float(xai_value *m, const char *k, double d) {
    return xai_value_set(m, k, xai_value_float(d));
}
xai_status xai_value_set_bool(xai_value *m, const char *k, bool b) {
    return xai_value_set(m, k, xai_value_bool(b));
}
xai_status xai_value_set_str(xai_value *m, const char *k, const char *s) {
    return xai_value_set(m, k, xai_value_str(s));
}

xai_value *xai_value_float_array(const double *x, size_t n) {
    xai_value *a = xai_value_array();
    for (size_t i = 0; a && i < n; i++)
        if (xai_value_push(a, xai_value_float(x[i])) != XAI_OK) {
            xai_value_free(a);
            return NULL;
        }
    return a;
}

/* ---- option getters ---------------------------------------------------- */

static const xai_value *opt_lookup(const xai_value *m, const char *key) {
    const xai_value *v = xai_value_get(m, key);
    return (v == NULL || v->type == XAI_V_NIL) ? NULL : v;
}

xai_status xai_opt_int(const xai_value *m, const char *key, int64_t def, int64_t lo,
                       int64_t hi, int64_t *out, xai_error *err) {
    *out = def;
    const xai_value *v = opt_lookup(m, key);
    if (v == NULL) return XAI_OK;
    int64_t i;
    if (v->type == XAI_V_INT) {
        i = v->u.i;
    } else if (v->type == XAI_V_FLOAT && v->u.f == floor(v->u.f) && fabs(v->u.f) < 9e15) {
        i = (int64_t)v->u.f;
    } else {
        return xd_err(err, XAI_ERR_INVALID, "option '%s' must be an integer", key);
    }
    if (i < lo || i > hi)
        return xd_err(err, XAI_ERR_INVALID, "option '%s' = %lld is outside [%lld, %lld]", key,
                      (long long)i, (long long)lo, (long long)hi);
    *out = i;
    return XAI_OK;
}

xai_status xai_opt_float(const xai_value *m, const char *key, double def, double lo, double hi,
                         double *out, xai_error *err) {
    *out = def;
    const xai_value *v = opt_lookup(m, key);
    if (v == NULL) return XAI_OK;
    if (!xai_value_is_number(v))
        return xd_err(err, XAI_ERR_INVALID, "option '%s' must be a number", key);
    double d = xai_value_get_number(v);
    if (!(d >= lo && d <= hi))
        return xd_err(err, XAI_ERR_INVALID, "option '%s' = %g is outside [%g, %g]", key, d, lo, hi);
    *out = d;
    return XAI_OK;
}

xai_status xai_opt_bool(const xai_value *m, const char *key, bool def, bool *out,
                        xai_error *err) {
    *out = def;
    const xai_value *v = opt_lookup(m, key);
    if (v == NULL) return XAI_OK;
    if (v->type != XAI_V_BOOL)
        return xd_err(err, XAI_ERR_INVALID, "option '%s' must be true or false", key);
    *out = v->u.b;
    return XAI_OK;
}

xai_status xai_opt_str(const xai_value *m, const char *key, const char *def, const char **out,
                       xai_error *err) {
    *out = def;
    const xai_value *v = opt_lookup(m, key);
    if (v == NULL) return XAI_OK;
    if (v->type != XAI_V_STR)
        return xd_err(err, XAI_ERR_INVALID, "option '%s' must be a string", key);
    *out = v->u.s.ptr;
    return XAI_OK;
}

xai_status xai_opt_check_keys(const xai_value *m, const char *const *allowed, const char *what,
                              xai_error *err) {
    if (m == NULL || m->type == XAI_V_NIL) return XAI_OK;
    if (m->type != XAI_V_MAP)
        return xd_err(err, XAI_ERR_INVALID, "%s: options must be a map", what);
    for (size_t i = 0; i < m->u.m.n; i++) {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++) ok = strcmp(*a, m->u.m.keys[i]) == 0;
        if (!ok)
            return xd_err(err, XAI_ERR_INVALID, "%s: unknown option '%s'", what, m->u.m.keys[i]);
    }
    return XAI_OK;
}

/* ---- matrices ----------------------------------------------------------- */

static xai_status matrix_from_bin(const xai_value *v, bool finite, double **out, size_t *rows,
                                  size_t *cols, xai_error *err) {
    const xai_value *shape = xai_value_get(v, "shape"), *data = xai_value_get(v, "data");
    const xai_value *dtype = xai_value_get(v, "dtype");
    if (xai_value_type(shape) != XAI_V_ARRAY || xai_value_len(shape) < 1 ||
        xai_value_len(shape) > 2 || xai_value_type(data) != XAI_V_BIN)
        return xd_err(err, XAI_ERR_BAD_REQUEST, "matrix needs shape [n, k] and bin data");
    size_t dims[2] = {1, 1};
    for (size_t i = 0; i < xai_value_len(shape); i++) {
        const xai_value *s = xai_value_at(shape, i);
        if (s->type != XAI_V_INT || s->u.i < 0 || s->u.i > (int64_t)1 << 40)
            return xd_err(err, XAI_ERR_BAD_REQUEST, "matrix shape must be non-negative integers");
        dims[i] = (size_t)s->u.i;
    }
    if (xai_value_len(shape) == 1) { /* a vector: one row */
        dims[1] = dims[0];
        dims[0] = 1;
    }
    const char *dt = dtype ? xai_value_get_str(dtype, NULL) : "f64";
    size_t width;
    if (dt && strcmp(dt, "f64") == 0) width = 8;
    else if (dt && strcmp(dt, "f32") == 0) width = 4;
    else return xd_err(err, XAI_ERR_BAD_REQUEST, "matrix dtype must be \"f64\" or \"f32\"");
    size_t count = xd_mul(dims[0], dims[1]);
    if (count == SIZE_MAX || xd_mul(count, width) != data->u.s.len)
        return xd_err(err, XAI_ERR_BAD_REQUEST,
                      "matrix data has %zu bytes, shape [%zu, %zu] of %s needs %zu",
                      data->u.s.len, dims[0], dims[1], dt, xd_mul(count, width));
    double *m = xd_try_malloc(xd_mul(count, sizeof *m));
    if (m == NULL) return xd_err(err, XAI_ERR_NOMEM, "matrix of %zu values", count);
    const unsigned char *p = (const unsigned char *)data->u.s.ptr;
    for (size_t i = 0; i < count; i++) {
        /* Little-endian on the wire; this build assumes a little-endian host
         * (checked at compile time in value_impl.h). */
        if (width == 8) {
            memcpy(&m[i], p + 8 * i, 8);
        } else {
            float f;
            memcpy(&f, p + 4 * i, 4);
            m[i] = f;
        }
        if (finite && !isfinite(m[i])) {
            xd_free(m);
            return xd_err(err, XAI_ERR_BAD_REQUEST, "matrix entry %zu is not finite", i);
        }
    }
    *out = m;
    *rows = dims[0];
    *cols = dims[1];
    return XAI_OK;
}

static xai_status matrix_from_nested(const xai_value *v, bool flat_is_row, bool finite,
                                     double **out, size_t *rows, size_t *cols, xai_error *err) {
    size_t n = xai_value_len(v);
    bool nested = n > 0 && xai_value_type(xai_value_at(v, 0)) == XAI_V_ARRAY;
    size_t r = nested ? n : (flat_is_row ? 1 : n);
    size_t c = nested ? xai_value_len(xai_value_at(v, 0)) : (flat_is_row ? n : 1);
    double *m = xd_try_malloc(xd_mul(xd_mul(r, c), sizeof *m));
    if (m == NULL) return xd_err(err, XAI_ERR_NOMEM, "matrix of %zu x %zu", r, c);
    for (size_t i = 0; i < r; i++) {
        const xai_value *row = nested ? xai_value_at(v, i) : v;
        if (nested && (xai_value_type(row) != XAI_V_ARRAY || xai_value_len(row) != c)) {
            xd_free(m);
            return xd_err(err, XAI_ERR_BAD_REQUEST, "matrix row %zu is not an array of %zu", i, c);
        }
        for (size_t j = 0; j < c; j++) {
            const xai_value *e = nested ? xai_value_at(row, j) : xai_value_at(v, flat_is_row ? j : i);
            double x = xai_value_get_number(e);
            if (!xai_value_is_number(e) || (finite && !isfinite(x))) {
                xd_free(m);
                return xd_err(err, XAI_ERR_BAD_REQUEST, "matrix entry [%zu, %zu] is not a %snumber",
                              i, j, finite ? "finite " : "");
            }
            m[i * c + j] = x;
        }
    }
    *out = m;
    *rows = r;
    *cols = c;
    return XAI_OK;
}

xai_status xai_value_to_matrix(const xai_value *v, bool flat_is_row, bool finite, double **out,
                               size_t *rows, size_t *cols, xai_error *err) {
    *out = NULL;
    *rows = *cols = 0;
    if (xai_value_type(v) == XAI_V_MAP) return matrix_from_bin(v, finite, out, rows, cols, err);
    if (xai_value_type(v) == XAI_V_ARRAY)
        return matrix_from_nested(v, flat_is_row, finite, out, rows, cols, err);
    return xd_err(err, XAI_ERR_BAD_REQUEST, "expected a matrix (map or array)");
}

xai_value *xai_value_from_matrix(const double *x, size_t rows, size_t cols) {
    xai_value *m = xai_value_map(), *shape = xai_value_array();
    if (m == NULL || shape == NULL) goto fail;
    if (xai_value_push(shape, xai_value_int((int64_t)rows)) != XAI_OK ||
        xai_value_push(shape, xai_value_int((int64_t)cols)) != XAI_OK)
        goto fail;
    if (xai_value_set(m, "shape", shape) != XAI_OK) goto fail_m;
    if (xai_value_set_str(m, "dtype", "f64") != XAI_OK) goto fail_m;
    if (xai_value_set(m, "data", xai_value_bin(x, rows * cols * sizeof(double))) != XAI_OK)
        goto fail_m;
    return m;
fail:
    xai_value_free(shape);
fail_m:
    xai_value_free(m);
    return NULL;
}
