/* codec.c — msgpack and JSON codecs for xai_value, safe on untrusted bytes.
 *
 * Decoding (xai_value_unpack) is a recursive descent over the msgpack bytes.
 * It never trusts a declared size: before anything is allocated for a str,
 * bin, array or map, the declared length is checked against the bytes that
 * remain (every array element needs at least one byte, every map entry two),
 * so a 5-byte header that declares 2^28 elements fails at once. Arrays and
 * maps then grow their item vectors as elements actually decode (doubling,
 * capped at the declared count), so the memory a message can make us
 * allocate is a small multiple of the bytes it really holds, whatever it
 * declares: one xai_value (about 40 bytes plus malloc's overhead) per
 * value, and every value takes at least one byte of input, so at most some
 * 60 bytes per input byte; max_items caps the total further. Nesting of
 * arrays and maps is bounded by max_depth (which also bounds recursion). Extension types, non-string or
 * NUL-containing map keys, duplicate keys, integers beyond int64 and trailing
 * bytes are refused. Every failure is XAI_ERR_BAD_REQUEST (XAI_ERR_LIMIT for
 * the size and item limits) with a message that gives the byte offset.
 *
 * Encoding (xai_value_pack) is hand-written: the smallest msgpack form for
 * every int, str, bin, array and map header; floats are always float64 so a
 * double survives exactly. JSON (xai_value_to_json) escapes control
 * characters and quotes, replaces invalid UTF-8 by U+FFFD, writes non-finite
 * floats as null, BIN as standard base64, and floats in the shortest "%.*g"
 * form that reads back to the same double.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "core.h"
#include "value_impl.h"

/* ---- a growable byte buffer ------------------------------------------- */

typedef struct buf {
    char *p;
    size_t len, cap;
    bool oom;   /* sticky: once an append failed, every later one is a no-op */
} buf;

static void buf_put(buf *b, const void *src, size_t n) {
    if (b->oom) return;
    if (n > SIZE_MAX - b->len - 1) {
        b->oom = true;
        return;
    }
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->len + n + 1) ncap = ncap > SIZE_MAX / 2 ? b->len + n + 1 : ncap * 2;
        char *q = xd_try_realloc(b->p, ncap);
        if (q == NULL) {
            b->oom = true;
            return;
        }
        b->p = q;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_byte(buf *b, uint8_t c) { buf_put(b, &c, 1); }
static void buf_str(buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* Appends the low `width` bytes of x, big-endian (msgpack's byte order). */
static void buf_be(buf *b, uint64_t x, int width) {
    uint8_t t[8];
    for (int i = 0; i < width; i++) t[i] = (uint8_t)(x >> (8 * (width - 1 - i)));
    buf_put(b, t, (size_t)width);
}

/* ---- msgpack decoding ------------------------------------------------- */

typedef struct reader {
    const uint8_t *start, *p, *end;
    size_t max_depth, max_items, items;
    xai_error *err;
} reader;

static size_t left(const reader *r) { return (size_t)(r->end - r->p); }
static size_t offset(const reader *r) { return (size_t)(r->p - r->start); }

static xai_status truncated(reader *r, const char *what, uint64_t need) {
    return xd_err(r->err, XAI_ERR_BAD_REQUEST,
                  "msgpack: truncated at byte %zu: %s needs %llu bytes, %zu left", offset(r), what,
                  (unsigned long long)need, left(r));
}

/* Reads a big-endian unsigned integer of `width` bytes. */
static xai_status read_be(reader *r, int width, uint64_t *out, const char *what) {
    if (left(r) < (size_t)width) return truncated(r, what, (uint64_t)width);
    uint64_t x = 0;
    for (int i = 0; i < width; i++) x = (x << 8) | r->p[i];
    r->p += width;
    *out = x;
    return XAI_OK;
}

static xai_status read_value(reader *r, size_t depth, xai_value **out);

static xai_value *new_value(xai_vtype t) {
    xai_value *v = xd_try_calloc(1, sizeof *v);
    if (v) v->type = t;
    return v;
}

static xai_status nomem(reader *r, const char *what) {
    return xd_err(r->err, XAI_ERR_NOMEM, "msgpack: out of memory for %s at byte %zu", what,
                  offset(r));
}

/* A str or bin of n bytes: checked against the bytes left, then copied. */
static xai_status read_bytes(reader *r, xai_vtype t, uint64_t n, xai_value **out) {
    const char *what = t == XAI_V_STR ? "a str" : "a bin";
    if (n > left(r)) return truncated(r, what, n);
    xai_value *v = new_value(t);
    char *p = v ? xd_try_malloc((size_t)n + 1) : NULL;
    if (p == NULL) {
        xd_free(v);
        return nomem(r, what);
    }
    memcpy(p, r->p, (size_t)n);
    p[n] = '\0';
    r->p += n;
    v->u.s.ptr = p;
    v->u.s.len = (size_t)n;
    *out = v;
    return XAI_OK;
}

/* Makes room for one more item in a vector that will hold at most `total`
 * items: capacity doubles with what has actually been decoded. */
static bool reserve(void ***items, size_t n, size_t *cap, size_t total) {
    if (n < *cap) return true;
    size_t ncap = *cap ? *cap * 2 : 8;
    if (ncap > total) ncap = total;
    void **q = xd_try_realloc(*items, xd_mul(ncap, sizeof *q));
    if (q == NULL) return false;
    *items = q;
    *cap = ncap;
    return true;
}

/* An array or map at `depth` (the root is 0) may hold another level only
 * while depth < max_depth: at most max_depth nested containers. */
static xai_status too_deep(reader *r) {
    return xd_err(r->err, XAI_ERR_BAD_REQUEST,
                  "msgpack: arrays and maps nested deeper than %zu at byte %zu", r->max_depth,
                  offset(r));
}

static xai_status read_array(reader *r, uint64_t n, size_t depth, xai_value **out) {
    if (depth >= r->max_depth) return too_deep(r);
    if (n > left(r)) return truncated(r, "an array", n);
    xai_value *a = new_value(XAI_V_ARRAY);
    if (a == NULL) return nomem(r, "an array");
    xai_status st = XAI_OK;
    for (uint64_t i = 0; i < n; i++) {
        if (!reserve((void ***)&a->u.a.items, a->u.a.n, &a->u.a.cap, (size_t)n)) {
            st = nomem(r, "an array");
            break;
        }
        st = read_value(r, depth + 1, &a->u.a.items[a->u.a.n]);
        if (st != XAI_OK) break;
        a->u.a.n++;
    }
    if (st != XAI_OK) {
        xai_value_free(a);
        return st;
    }
    *out = a;
    return XAI_OK;
}

/* Duplicate-key detection: a linear scan for small maps, an open-addressing
 * table of key indices (built as keys arrive) for large ones. */
#define DUP_TABLE_FROM 16

typedef struct keyset {
    size_t *slots;  /* index+1 into the map's keys, 0 = empty */
    size_t mask;
} keyset;

static bool key_seen(const xai_value *m, keyset *ks, const char *key, size_t klen) {
    if (ks->slots == NULL) {
        for (size_t i = 0; i < m->u.m.n; i++)
            if (strcmp(m->u.m.keys[i], key) == 0) return true;
        return false;
    }
    size_t h = (size_t)xd_hash64(key, klen, 0x6b6579) & ks->mask;
    while (ks->slots[h] != 0) {
        if (strcmp(m->u.m.keys[ks->slots[h] - 1], key) == 0) return true;
        h = (h + 1) & ks->mask;
    }
    ks->slots[h] = m->u.m.n + 1;
    return false;
}

/* Reads one map key (a str without NUL bytes, not seen before) into *key. */
static xai_status read_key(reader *r, const xai_value *m, keyset *ks, char **key) {
    size_t at = offset(r);
    uint8_t c = r->p < r->end ? r->p[0] : 0;
    if (!((c >= 0xa0 && c <= 0xbf) || (c >= 0xd9 && c <= 0xdb)))
        return r->p < r->end
                   ? xd_err(r->err, XAI_ERR_BAD_REQUEST, "msgpack: map key at byte %zu is not a string", at)
                   : truncated(r, "a map key", 1);
    xai_value *k = NULL;
    xai_status st = read_value(r, 0, &k);
    if (st != XAI_OK) return st;
    if (memchr(k->u.s.ptr, '\0', k->u.s.len) != NULL) {
        xai_value_free(k);
        return xd_err(r->err, XAI_ERR_BAD_REQUEST, "msgpack: map key at byte %zu contains a NUL byte", at);
    }
    if (key_seen(m, ks, k->u.s.ptr, k->u.s.len)) {
        st = xd_err(r->err, XAI_ERR_BAD_REQUEST, "msgpack: duplicate map key \"%.64s\" at byte %zu",
                    k->u.s.ptr, at);
        xai_value_free(k);
        return st;
    }
    *key = k->u.s.ptr;  /* steal the string, drop its shell */
    xd_free(k);
    return XAI_OK;
}

static xai_status read_map(reader *r, uint64_t n, size_t depth, xai_value **out) {
    if (depth >= r->max_depth) return too_deep(r);
    if (n > left(r) / 2) return truncated(r, "a map", 2 * n);
    xai_value *m = new_value(XAI_V_MAP);
    if (m == NULL) return nomem(r, "a map");
    keyset ks = {NULL, 0};
    xai_status st = XAI_OK;
    if (n > DUP_TABLE_FROM) {
        size_t slots = 32;
        while (slots < 2 * n) slots *= 2;
        ks.slots = xd_try_calloc(slots, sizeof *ks.slots);
        ks.mask = slots - 1;
        if (ks.slots == NULL) st = nomem(r, "a map");
    }
    for (uint64_t i = 0; st == XAI_OK && i < n; i++) {
        size_t kcap = m->u.m.cap;
        if (!reserve((void ***)&m->u.m.keys, m->u.m.n, &kcap, (size_t)n) ||
            !reserve((void ***)&m->u.m.vals, m->u.m.n, &m->u.m.cap, (size_t)n)) {
            st = nomem(r, "a map");
            break;
        }
        st = read_key(r, m, &ks, &m->u.m.keys[m->u.m.n]);
        if (st != XAI_OK) break;
        st = read_value(r, depth + 1, &m->u.m.vals[m->u.m.n]);
        if (st != XAI_OK) {
            xd_free(m->u.m.keys[m->u.m.n]);
            break;
        }
        m->u.m.n++;
    }
    xd_free(ks.slots);
    if (st != XAI_OK) {
        xai_value_free(m);
        return st;
    }
    *out = m;
    return XAI_OK;
}

static xai_status scalar(reader *r, xai_value *v, xai_value **out) {
    if (v == NULL) return nomem(r, "a value");
    *out = v;
    return XAI_OK;
}

static xai_status read_int(reader *r, int width, bool is_signed, xai_value **out) {
    uint64_t x = 0;
    xai_status st = read_be(r, width, &x, is_signed ? "an int" : "a uint");
    if (st != XAI_OK) return st;
    int64_t i;
    if (is_signed) {
        int shift = 64 - 8 * width; /* sign-extend */
        i = shift ? (int64_t)(x << shift) >> shift : (int64_t)x;
    } else {
        if (x > (uint64_t)INT64_MAX)
            return xd_err(r->err, XAI_ERR_BAD_REQUEST,
                          "msgpack: integer at byte %zu does not fit in int64", offset(r) - 9);
        i = (int64_t)x;
    }
    return scalar(r, xai_value_int(i), out);
}

static xai_status read_float(reader *r, int width, xai_value **out) {
    uint64_t x = 0;
    xai_status st = read_be(r, width, &x, "a float");
    if (st != XAI_OK) return st;
    double d;
    if (width == 4) {
        uint32_t x32 = (uint32_t)x;
        float f;
        memcpy(&f, &x32, 4);
        d = f;
    } else {
        memcpy(&d, &x, 8);
    }
    return scalar(r, xai_value_float(d), out);
}

/* A str/bin/array/map whose length sits in the next `width` bytes. */
static xai_status read_sized(reader *r, uint8_t tag, int width, size_t depth, xai_value **out) {
    uint64_t n = 0;
    xai_status st = read_be(r, width, &n, "a length");
    if (st != XAI_OK) return st;
    if (tag >= 0xc4 && tag <= 0xc6) return read_bytes(r, XAI_V_BIN, n, out);
    if (tag >= 0xd9 && tag <= 0xdb) return read_bytes(r, XAI_V_STR, n, out);
    if (tag == 0xdc || tag == 0xdd) return read_array(r, n, depth, out);
    return read_map(r, n, depth, out);
}

static xai_status read_value(reader *r, size_t depth, xai_value **out) {
    *out = NULL;
    if (r->p >= r->end) return truncated(r, "a value", 1);
    if (++r->items > r->max_items)
        return xd_err(r->err, XAI_ERR_LIMIT, "msgpack: more than %zu values", r->max_items);
    uint8_t c = *r->p++;
    if (c <= 0x7f) return scalar(r, xai_value_int(c), out);
    if (c >= 0xe0) return scalar(r, xai_value_int((int8_t)c), out);
    if (c <= 0x8f) return read_map(r, c & 0x0f, depth, out);
    if (c <= 0x9f) return read_array(r, c & 0x0f, depth, out);
    if (c <= 0xbf) return read_bytes(r, XAI_V_STR, c & 0x1f, out);
    switch (c) {
    case 0xc0: return scalar(r, xai_value_nil(), out);
    case 0xc2: return scalar(r, xai_value_bool(false), out);
    case 0xc3: return scalar(r, xai_value_bool(true), out);
    case 0xc4: case 0xd9: return read_sized(r, c, 1, depth, out);
    case 0xc5: case 0xda: case 0xdc: case 0xde: return read_sized(r, c, 2, depth, out);
    case 0xc6: case 0xdb: case 0xdd: case 0xdf: return read_sized(r, c, 4, depth, out);
    case 0xca: return read_float(r, 4, out);
    case 0xcb: return read_float(r, 8, out);
    case 0xcc: return read_int(r, 1, false, out);
    case 0xcd: return read_int(r, 2, false, out);
    case 0xce: return read_int(r, 4, false, out);
    case 0xcf: return read_int(r, 8, false, out);
    case 0xd0: return read_int(r, 1, true, out);
    case 0xd1: return read_int(r, 2, true, out);
    case 0xd2: return read_int(r, 4, true, out);
    case 0xd3: return read_int(r, 8, true, out);
    case 0xc1:
        return xd_err(r->err, XAI_ERR_BAD_REQUEST, "msgpack: invalid byte 0xc1 at byte %zu",
                      offset(r) - 1);
    default: /* 0xc7-0xc9 ext, 0xd4-0xd8 fixext */
        return xd_err(r->err, XAI_ERR_BAD_REQUEST,
                      "msgpack: extension type (0x%02x) at byte %zu is not accepted", c, offset(r) - 1);
    }
}

xai_status xai_value_unpack(const void *data, size_t len, const xai_unpack_limits *limits,
                            xai_value **out, xai_error *err) {
    *out = NULL;
    reader r = {data, data, (const uint8_t *)data + len, 64, (size_t)1 << 24, 0, err};
    size_t max_bytes = (size_t)1 << 30;
    if (limits) {
        if (limits->max_depth) r.max_depth = limits->max_depth;
        if (limits->max_items) r.max_items = limits->max_items;
        if (limits->max_bytes) max_bytes = limits->max_bytes;
    }
    if (len > max_bytes)
        return xd_err(err, XAI_ERR_LIMIT, "msgpack: message of %zu bytes exceeds the limit of %zu",
                      len, max_bytes);
    if (len == 0) return xd_err(err, XAI_ERR_BAD_REQUEST, "msgpack: empty message");
    xai_value *v = NULL;
    xai_status st = read_value(&r, 0, &v);
    if (st != XAI_OK) return st;
    if (r.p != r.end) {
        xai_value_free(v);
        return xd_err(err, XAI_ERR_BAD_REQUEST,
                      "msgpack: %zu trailing bytes after the value (it ends at byte %zu)",
                      left(&r), offset(&r));
    }
    *out = v;
    return XAI_OK;
}

/* ---- msgpack encoding ------------------------------------------------- */

/* A header for a str/bin/array/map of n: fix form when `fix_max` allows,
 * else the 8/16/32-bit form whose tags are tag8 (0 = none), tag16, tag32. */
static void pack_header(buf *b, uint64_t n, uint8_t fix, uint64_t fix_max, uint8_t tag8,
                        uint8_t tag16, uint8_t tag32) {
    if (fix && n <= fix_max) { /* fix == 0: the type has no fix form (bin) */
        buf_byte(b, (uint8_t)(fix | n));
    } else if (tag8 && n <= 0xff) {
        buf_byte(b, tag8);
        buf_be(b, n, 1);
    } else if (n <= 0xffff) {
        buf_byte(b, tag16);
        buf_be(b, n, 2);
    } else {
        buf_byte(b, tag32);
        buf_be(b, n, 4);
    }
}

static void pack_int(buf *b, int64_t i) {
    if (i >= 0) {
        uint64_t u = (uint64_t)i;
        if (u <= 0x7f) buf_byte(b, (uint8_t)u);
        else if (u <= 0xff) { buf_byte(b, 0xcc); buf_be(b, u, 1); }
        else if (u <= 0xffff) { buf_byte(b, 0xcd); buf_be(b, u, 2); }
        else if (u <= 0xffffffffu) { buf_byte(b, 0xce); buf_be(b, u, 4); }
        else { buf_byte(b, 0xcf); buf_be(b, u, 8); }
    } else if (i >= -32) {
        buf_byte(b, (uint8_t)(int8_t)i);
    } else if (i >= INT8_MIN) {
        buf_byte(b, 0xd0); buf_be(b, (uint64_t)i, 1);
    } else if (i >= INT16_MIN) {
        buf_byte(b, 0xd1); buf_be(b, (uint64_t)i, 2);
    } else if (i >= INT32_MIN) {
        buf_byte(b, 0xd2); buf_be(b, (uint64_t)i, 4);
    } else {
        buf_byte(b, 0xd3); buf_be(b, (uint64_t)i, 8);
    }
}

static void pack_value(buf *b, const xai_value *v) {
    switch (v->type) {
    case XAI_V_NIL: buf_byte(b, 0xc0); break;
    case XAI_V_BOOL: buf_byte(b, v->u.b ? 0xc3 : 0xc2); break;
    case XAI_V_INT: pack_int(b, v->u.i); break;
    case XAI_V_FLOAT: {
        uint64_t x;
        memcpy(&x, &v->u.f, 8);
        buf_byte(b, 0xcb);
        buf_be(b, x, 8);
        break;
    }
    case XAI_V_STR:
        pack_header(b, v->u.s.len, 0xa0, 31, 0xd9, 0xda, 0xdb);
        buf_put(b, v->u.s.ptr, v->u.s.len);
        break;
    case XAI_V_BIN:
        pack_header(b, v->u.s.len, 0, 0, 0xc4, 0xc5, 0xc6);
        buf_put(b, v->u.s.ptr, v->u.s.len);
        break;
    case XAI_V_ARRAY:
        pack_header(b, v->u.a.n, 0x90, 15, 0, 0xdc, 0xdd);
        for (size_t i = 0; i < v->u.a.n; i++) pack_value(b, v->u.a.items[i]);
        break;
    case XAI_V_MAP:
        pack_header(b, v->u.m.n, 0x80, 15, 0, 0xde, 0xdf);
        for (size_t i = 0; i < v->u.m.n; i++) {
            size_t kl = strlen(v->u.m.keys[i]);
            pack_header(b, kl, 0xa0, 31, 0xd9, 0xda, 0xdb);
            buf_put(b, v->u.m.keys[i], kl);
            pack_value(b, v->u.m.vals[i]);
        }
        break;
    }
}

/* Lengths above 2^32-1 cannot be expressed in msgpack. */
static bool too_long(const xai_value *v) {
    switch (v->type) {
    case XAI_V_STR:
    case XAI_V_BIN: return v->u.s.len > 0xffffffffu;
    case XAI_V_ARRAY:
        if (v->u.a.n > 0xffffffffu) return true;
        for (size_t i = 0; i < v->u.a.n; i++)
            if (too_long(v->u.a.items[i])) return true;
        return false;
    case XAI_V_MAP:
        if (v->u.m.n > 0xffffffffu) return true;
        for (size_t i = 0; i < v->u.m.n; i++)
            if (too_long(v->u.m.vals[i])) return true;
        return false;
    default: return false;
    }
}

xai_status xai_value_pack(const xai_value *v, char **out, size_t *len, xai_error *err) {
    *out = NULL;
    *len = 0;
    if (v == NULL) return xd_err(err, XAI_ERR_INVALID, "msgpack: no value to encode");
    if (too_long(v)) return xd_err(err, XAI_ERR_LIMIT, "msgpack: a length exceeds 2^32-1");
    buf b = {0};
    pack_value(&b, v);
    if (b.oom) {
        xd_free(b.p);
        return xd_err(err, XAI_ERR_NOMEM, "msgpack: out of memory encoding a message");
    }
    *out = b.p;
    *len = b.len;
    return XAI_OK;
}

/* ---- JSON ------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 if it is invalid
 * (overlong forms, surrogates and code points past U+10FFFF included). */
static size_t utf8_seq(const uint8_t *s, size_t n) {
    uint8_t c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

static void json_string(buf *b, const char *s, size_t n) {
    const uint8_t *p = (const uint8_t *)s;
    buf_byte(b, '"');
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        const char *esc = NULL;
        char u[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        if (esc) {
            buf_str(b, esc);
            i++;
            continue;
        }
        size_t len = utf8_seq(p + i, n - i);
        if (len == 0) {
            buf_str(b, "\xef\xbf\xbd"); /* U+FFFD for a byte that is not UTF-8 */
            i++;
        } else {
            buf_put(b, p + i, len);
            i += len;
        }
    }
    buf_byte(b, '"');
}

static void json_base64(buf *b, const uint8_t *p, size_t n) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    buf_byte(b, '"');
    for (size_t i = 0; i < n; i += 3) {
        uint32_t x = (uint32_t)p[i] << 16;
        if (i + 1 < n) x |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n) x |= p[i + 2];
        char q[4] = {tab[(x >> 18) & 63], tab[(x >> 12) & 63],
                     i + 1 < n ? tab[(x >> 6) & 63] : '=', i + 2 < n ? tab[x & 63] : '='};
        buf_put(b, q, 4);
    }
    buf_byte(b, '"');
}

static void json_double(buf *b, double d) {
    if (!isfinite(d)) {
        buf_str(b, "null");
        return;
    }
    char t[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, d);
        if (strtod(t, NULL) == d) break;
    }
    buf_str(b, t);
}

static void json_newline(buf *b, bool pretty, size_t depth) {
    if (!pretty) return;
    buf_byte(b, '\n');
    for (size_t i = 0; i < depth; i++) buf_put(b, "  ", 2);
}

static void json_value(buf *b, const xai_value *v, bool pretty, size_t depth) {
    char t[32];
    switch (v->type) {
    case XAI_V_NIL: buf_str(b, "null"); break;
    case XAI_V_BOOL: buf_str(b, v->u.b ? "true" : "false"); break;
    case XAI_V_INT:
        snprintf(t, sizeof t, "%lld", (long long)v->u.i);
        buf_str(b, t);
        break;
    case XAI_V_FLOAT: json_double(b, v->u.f); break;
    case XAI_V_STR: json_string(b, v->u.s.ptr, v->u.s.len); break;
    case XAI_V_BIN: json_base64(b, (const uint8_t *)v->u.s.ptr, v->u.s.len); break;
    case XAI_V_ARRAY:
        buf_byte(b, '[');
        for (size_t i = 0; i < v->u.a.n; i++) {
            if (i) buf_byte(b, ',');
            json_newline(b, pretty, depth + 1);
            json_value(b, v->u.a.items[i], pretty, depth + 1);
        }
        if (v->u.a.n) json_newline(b, pretty, depth);
        buf_byte(b, ']');
        break;
    case XAI_V_MAP:
        buf_byte(b, '{');
        for (size_t i = 0; i < v->u.m.n; i++) {
            if (i) buf_byte(b, ',');
            json_newline(b, pretty, depth + 1);
            json_string(b, v->u.m.keys[i], strlen(v->u.m.keys[i]));
            buf_str(b, pretty ? ": " : ":");
            json_value(b, v->u.m.vals[i], pretty, depth + 1);
        }
        if (v->u.m.n) json_newline(b, pretty, depth);
        buf_byte(b, '}');
        break;
    }
}

char *xai_value_to_json(const xai_value *v, bool pretty) {
    buf b = {0};
    if (v == NULL) buf_str(&b, "null");
    else json_value(&b, v, pretty, 0);
    if (b.oom) {
        xd_free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- peeking at one field without decoding ------------------------------ */

/* A cursor for mp_skip: the bytes left. */
typedef struct peek { const uint8_t *p, *end; } peek;

static bool peek_be(peek *c, int width, uint64_t *out) {
    if ((size_t)(c->end - c->p) < (size_t)width) return false;
    uint64_t x = 0;
    for (int i = 0; i < width; i++) x = (x << 8) | c->p[i];
    c->p += width;
    *out = x;
    return true;
}

static bool peek_jump(peek *c, uint64_t n) {
    if ((uint64_t)(c->end - c->p) < n) return false;
    c->p += n;
    return true;
}

static bool mp_skip(peek *c, int depth);

/* Skips n values inside a container at depth; each takes at least a byte. */
static bool skip_items(peek *c, uint64_t n, int depth) {
    if (n > (uint64_t)(c->end - c->p)) return false;
    for (uint64_t i = 0; i < n; i++)
        if (!mp_skip(c, depth + 1)) return false;
    return true;
}

/* Skips one value; false on truncation, ext types, 0xc1 or depth > 64. */
static bool mp_skip(peek *c, int depth) {
    if (depth > 64 || c->p >= c->end) return false;
    uint8_t t = *c->p++;
    uint64_t n = 0;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return true;
    if ((t & 0xe0) == 0xa0) return peek_jump(c, t & 0x1f);
    if ((t & 0xf0) == 0x90) return skip_items(c, t & 0x0f, depth);
    if ((t & 0xf0) == 0x80) return skip_items(c, 2 * (uint64_t)(t & 0x0f), depth);
    switch (t) {
    case 0xcc: case 0xd0: return peek_jump(c, 1);
    case 0xcd: case 0xd1: return peek_jump(c, 2);
    case 0xca: case 0xce: case 0xd2: return peek_jump(c, 4);
    case 0xcb: case 0xcf: case 0xd3: return peek_jump(c, 8);
    case 0xc4: case 0xd9: return peek_be(c, 1, &n) && peek_jump(c, n);
    case 0xc5: case 0xda: return peek_be(c, 2, &n) && peek_jump(c, n);
    case 0xc6: case 0xdb: return peek_be(c, 4, &n) && peek_jump(c, n);
    case 0xdc: return peek_be(c, 2, &n) && skip_items(c, n, depth);
    case 0xdd: return peek_be(c, 4, &n) && skip_items(c, n, depth);
    case 0xde: return peek_be(c, 2, &n) && skip_items(c, 2 * n, depth);
    case 0xdf: return peek_be(c, 4, &n) && skip_items(c, 2 * n, depth);
    default: return false;              /* ext, fixext, 0xc1 */
    }
}

/* Reads an int value at the cursor. */
static bool peek_int(peek *c, int64_t *out) {
    if (c->p >= c->end) return false;
    uint8_t t = *c->p++;
    uint64_t x;
    if (t <= 0x7f) *out = t;
    else if (t >= 0xe0) *out = (int8_t)t;
    else if (t >= 0xcc && t <= 0xcf) {
        if (!peek_be(c, 1 << (t - 0xcc), &x) || x > INT64_MAX) return false;
        *out = (int64_t)x;
    } else if (t >= 0xd0 && t <= 0xd3) {
        int w = 1 << (t - 0xd0);
        if (!peek_be(c, w, &x)) return false;
        if (w < 8 && (x >> (8 * w - 1))) x |= ~(uint64_t)0 << (8 * w);   /* sign-extend */
        *out = (int64_t)x;
    } else {
        return false;
    }
    return true;
}

bool xd_msgpack_peek_int(const void *buf, size_t len, const char *key, int64_t *out) {
    peek c = {buf, (const uint8_t *)buf + len};
    uint64_t n;
    if (len == 0) return false;
    uint8_t t = *c.p++;
    if ((t & 0xf0) == 0x80) n = t & 0x0f;
    else if (t == 0xde) { if (!peek_be(&c, 2, &n)) return false; }
    else if (t == 0xdf) { if (!peek_be(&c, 4, &n)) return false; }
    else return false;
    size_t klen = strlen(key);
    for (uint64_t i = 0; i < n; i++) {
        uint64_t sl = 0;
        if (c.p >= c.end) return false;
        uint8_t kt = *c.p++;
        if ((kt & 0xe0) == 0xa0) sl = kt & 0x1f;
        else if (kt == 0xd9) { if (!peek_be(&c, 1, &sl)) return false; }
        else if (kt == 0xda) { if (!peek_be(&c, 2, &sl)) return false; }
        else if (kt == 0xdb) { if (!peek_be(&c, 4, &sl)) return false; }
        else return false;
        if ((uint64_t)(c.end - c.p) < sl) return false;
        bool match = sl == klen && memcmp(c.p, key, klen) == 0;
        c.p += sl;
        if (match) return peek_int(&c, out);
        if (!mp_skip(&c, 1)) return false;
    }
    return false;
}
