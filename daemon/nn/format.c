/* format.c — reading and writing networks in the xnn file format
 * (docs/NN_FORMAT.md): one msgpack map with a version, the input shape and
 * the layer list, weights as little-endian float32 bytes.
 *
 * Loading never trusts the file: the bytes go through xai_value_unpack
 * (bounds-checked, no allocation beyond a small multiple of the file size),
 * then every field is checked for type and range, every layer is added with
 * the same shape checks as the C API, and every weight blob must have exactly
 * the length its layer needs. Any failure is XAI_ERR_FORMAT with a message
 * naming the layer and the field.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

#define XNN_VERSION 1
#define XNN_MAX_FILE ((size_t)1 << 30)

/* ---- reading ------------------------------------------------------------ */

static xai_status bad(xai_error *err, const char *fmt, size_t layer, const char *what) {
    if (layer == (size_t)-1) return xd_err(err, XAI_ERR_FORMAT, "xnn: %s %s", fmt, what);
    return xd_err(err, XAI_ERR_FORMAT, "xnn: layer %zu: %s %s", layer, fmt, what);
}

/* Shape and value errors of the C API become format errors here. */
static xai_status as_format(xai_status st, xai_error *err) {
    if (st != XAI_ERR_INVALID && st != XAI_ERR_LIMIT) return st;
    if (err) err->code = XAI_ERR_FORMAT;
    return XAI_ERR_FORMAT;
}

/* A non-negative integer field (absent: def, or an error when def < 0). */
static xai_status get_size(const xai_value *m, const char *key, long long def, size_t layer,
                           size_t *out, xai_error *err) {
    const xai_value *v = xai_value_get(m, key);
    if (v == NULL && def >= 0) {
        *out = (size_t)def;
        return XAI_OK;
    }
    if (v == NULL || xai_value_type(v) != XAI_V_INT || xai_value_get_int(v) < 0 ||
        xai_value_get_int(v) > (1 << 24))
        return bad(err, "missing or bad integer", layer, key);
    *out = (size_t)xai_value_get_int(v);
    return XAI_OK;
}

/* float32 little-endian blob of exactly n floats into a new array. */
static xai_status get_floats(const xai_value *m, const char *key, size_t n, size_t layer,
                             float **out, xai_error *err) {
    *out = NULL;
    size_t len = 0;
    const xai_value *v = xai_value_get(m, key);
    const uint8_t *p = v ? xai_value_get_bin(v, &len) : NULL;
    if (p == NULL || len != xd_mul(n, 4))
        return bad(err, "missing or wrong-sized float32 bin", layer, key);
    float *f = xd_try_malloc(xd_mul(n ? n : 1, sizeof *f));
    if (f == NULL) return xd_err(err, XAI_ERR_NOMEM, "xnn: layer %zu: %zu floats", layer, n);
    for (size_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                     (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
        memcpy(&f[i], &u, 4);
    }
    *out = f;
    return XAI_OK;
}

/* Weights and biases of the layer just added. */
static xai_status load_weights(xai_nn *net, const xai_value *m, size_t l, xai_error *err) {
    const xd_nn_layer *L = &net->layers[net->n - 1];
    float *w = NULL, *b = NULL;
    xai_status st = get_floats(m, "weight", L->nw, l, &w, err);
    if (st == XAI_OK && xai_value_get(m, "bias") != NULL)
        st = get_floats(m, "bias", L->nb, l, &b, err);
    if (st == XAI_OK) st = xai_nn_set_weights(net, net->n - 1, w, L->nw, b, L->nb, err);
    xd_free(w);
    xd_free(b);
    return st;
}

static xai_status load_batchnorm(xai_nn *net, const xai_value *m, size_t l, xai_error *err) {
    size_t c = net->n ? net->layers[net->n - 1].nb : 0;
    float *p[4] = {NULL, NULL, NULL, NULL};
    static const char *const keys[4] = {"gamma", "beta", "mean", "var"};
    xai_status st = XAI_OK;
    for (int i = 0; i < 4 && st == XAI_OK; i++) st = get_floats(m, keys[i], c, l, &p[i], err);
    const xai_value *e = xai_value_get(m, "eps");
    if (st == XAI_OK && e != NULL && !xai_value_is_number(e)) st = bad(err, "bad number", l, "eps");
    if (st == XAI_OK)
        st = xai_nn_add_batchnorm(net, p[0], p[1], p[2], p[3],
                                  e ? (float)xai_value_get_number(e) : 1e-5f, err);
    for (int i = 0; i < 4; i++) xd_free(p[i]);
    return st;
}

/* "kernel": [kh, kw] with both in [1, 4096]. */
static xai_status get_kernel(const xai_value *m, size_t layer, size_t *kh, size_t *kw,
                             xai_error *err) {
    const xai_value *kv = xai_value_get(m, "kernel");
    if (xai_value_type(kv) != XAI_V_ARRAY || xai_value_len(kv) != 2)
        return bad(err, "missing or bad [kh, kw]", layer, "kernel");
    size_t k[2];
    for (size_t i = 0; i < 2; i++) {
        const xai_value *v = xai_value_at(kv, i);
        if (xai_value_type(v) != XAI_V_INT || xai_value_get_int(v) < 1 ||
            xai_value_get_int(v) > 4096)
            return bad(err, "missing or bad [kh, kw]", layer, "kernel");
        k[i] = (size_t)xai_value_get_int(v);
    }
    *kh = k[0], *kw = k[1];
    return XAI_OK;
}

static xai_status load_conv(xai_nn *net, const xai_value *m, size_t l, xai_error *err) {
    size_t out = 0, kh = 0, kw = 0, stride = 0, pad = 0;
    xai_status st = get_kernel(m, l, &kh, &kw, err);
    if (st == XAI_OK) st = get_size(m, "out", -1, l, &out, err);
    if (st == XAI_OK) st = get_size(m, "stride", 1, l, &stride, err);
    if (st == XAI_OK) st = get_size(m, "padding", 0, l, &pad, err);
    if (st == XAI_OK) st = xai_nn_add_conv2d(net, out, kh, kw, stride, pad, err);
    if (st == XAI_OK) st = load_weights(net, m, l, err);
    return st;
}

/* "inputs": [a] or [a, b], indices of earlier entries of `layers` (-1: the
 * network input), as engine layers (eng maps entry -> engine layer: a
 * batchnorm entry is the layer it folds into). n_in gets the count (0 when
 * absent). */
static xai_status get_inputs(const xai_value *m, size_t l, const size_t *eng, size_t in[2],
                             size_t *n_in, xai_error *err) {
    const xai_value *v = xai_value_get(m, "inputs");
    *n_in = 0;
    if (v == NULL) return XAI_OK;
    if (xai_value_type(v) != XAI_V_ARRAY || xai_value_len(v) < 1 || xai_value_len(v) > 2)
        return bad(err, "not an array of 1 or 2 layer indices:", l, "inputs");
    for (size_t i = 0; i < xai_value_len(v); i++) {
        const xai_value *e = xai_value_at(v, i);
        int64_t k = xai_value_get_int(e);
        if (xai_value_type(e) != XAI_V_INT || k < -1 || k >= (int64_t)l)
            return bad(err, "an entry is not -1 or an earlier layer:", l, "inputs");
        in[i] = k < 0 ? (size_t)-1 : eng[k];
    }
    *n_in = xai_value_len(v);
    return XAI_OK;
}

static xai_status load_merge(xai_nn *net, const char *type, const size_t in[2], size_t n_in,
                             size_t l, xai_error *err) {
    if (n_in != 2) return bad(err, "needs two", l, "inputs");
    xai_status st = xai_nn_branch_from(net, in[0], err);
    if (st != XAI_OK) return st;
    return type[0] == 'a' ? xai_nn_add_add(net, in[1], err) : xai_nn_add_concat(net, in[1], err);
}

static xai_status load_layer(xai_nn *net, const xai_value *m, size_t l, const size_t *eng,
                             xai_error *err) {
    const char *type = xai_value_get_str(xai_value_get(m, "type"), NULL);
    if (xai_value_type(m) != XAI_V_MAP || type == NULL)
        return bad(err, "not a map with a", l, "type");
    size_t out = 0, k = 0, stride = 0, in[2], n_in;
    xai_status st = get_inputs(m, l, eng, in, &n_in, err);
    if (st != XAI_OK) return st;
    bool merge = strcmp(type, "add") == 0 || strcmp(type, "concat") == 0;
    if (!merge && n_in == 2) return bad(err, "two inputs for a layer that takes one:", l, "inputs");
    if (!merge && n_in == 1 && strcmp(type, "batchnorm") != 0)
        st = xai_nn_branch_from(net, in[0], err);
    if (st != XAI_OK) {
    } else if (merge) {
        st = load_merge(net, type, in, n_in, l, err);
    } else if (strcmp(type, "dense") == 0) {
        if ((st = get_size(m, "out", -1, l, &out, err)) == XAI_OK &&
            (st = xai_nn_add_dense(net, out, err)) == XAI_OK)
            st = load_weights(net, m, l, err);
    } else if (strcmp(type, "conv2d") == 0) {
        st = load_conv(net, m, l, err);
    } else if (strcmp(type, "maxpool2d") == 0 || strcmp(type, "avgpool2d") == 0) {
        if ((st = get_size(m, "kernel", -1, l, &k, err)) == XAI_OK &&
            (st = get_size(m, "stride", 0, l, &stride, err)) == XAI_OK)
            st = type[0] == 'm' ? xai_nn_add_maxpool2d(net, k, stride, err)
                                : xai_nn_add_avgpool2d(net, k, stride, err);
    } else if (strcmp(type, "batchnorm") == 0) {
        st = load_batchnorm(net, m, l, err);
    } else if (strcmp(type, "conv1d") == 0) {
        size_t pad = 0;
        if ((st = get_size(m, "out", -1, l, &out, err)) == XAI_OK &&
            (st = get_size(m, "kernel", -1, l, &k, err)) == XAI_OK &&
            (st = get_size(m, "stride", 1, l, &stride, err)) == XAI_OK &&
            (st = get_size(m, "padding", 0, l, &pad, err)) == XAI_OK &&
            (st = xai_nn_add_conv1d(net, out, k, stride, pad, err)) == XAI_OK)
            st = load_weights(net, m, l, err);
    } else if (strcmp(type, "layernorm") == 0) {
        const xai_value *e = xai_value_get(m, "eps");
        if (e != NULL && !xai_value_is_number(e)) return bad(err, "bad number", l, "eps");
        st = xai_nn_add_layernorm(net, e ? (float)xai_value_get_number(e) : 1e-5f, err);
        if (st == XAI_OK) st = load_weights(net, m, l, err);
    } else if (strcmp(type, "attention") == 0) {
        if ((st = get_size(m, "heads", -1, l, &k, err)) == XAI_OK &&
            (st = xai_nn_add_attention(net, k, err)) == XAI_OK)
            st = load_weights(net, m, l, err);
    } else if (strcmp(type, "token_pool") == 0) {
        static const char *const modes[] = {"mean", "max", "sum"};
        const xai_value *mv = xai_value_get(m, "mode");
        const char *mode = mv ? xai_value_get_str(mv, NULL) : "mean";
        size_t i = 0;
        while (mode && i < 3 && strcmp(mode, modes[i]) != 0) i++;
        if (mode == NULL || i == 3) return bad(err, "mode is not mean, max or sum:", l, "mode");
        st = xai_nn_add_token_pool(net, (xai_nn_pool_mode)i, err);
    } else {
        static const struct {
            const char *name;
            xai_status (*add)(xai_nn *, xai_error *);
        } simple[] = {
            {"global_avgpool", xai_nn_add_global_avgpool},
            {"flatten", xai_nn_add_flatten},
            {"relu", xai_nn_add_relu},
            {"tanh", xai_nn_add_tanh},
            {"sigmoid", xai_nn_add_sigmoid},
            {"softmax", xai_nn_add_softmax},
        };
        size_t i = 0;
        while (i < XD_ARRAY_LEN(simple) && strcmp(type, simple[i].name) != 0) i++;
        if (i == XD_ARRAY_LEN(simple)) return bad(err, "unknown layer type", l, type);
        st = simple[i].add(net, err);
    }
    return as_format(st, err);
}

/* The vocabulary array into vocab[] (pointers into the value). */
static xai_status get_vocab(const xai_value *e, const char ***vocab, size_t *n, xai_error *err) {
    const xai_value *v = xai_value_get(e, "vocab");
    *vocab = NULL;
    *n = xai_value_len(v);
    if (xai_value_type(v) != XAI_V_ARRAY || *n == 0)
        return bad(err, "missing or empty", (size_t)-1, "embedding.vocab");
    *vocab = xd_try_malloc(xd_mul(*n, sizeof **vocab));
    if (*vocab == NULL) return xd_err(err, XAI_ERR_NOMEM, "xnn: vocabulary of %zu words", *n);
    for (size_t i = 0; i < *n; i++) {
        size_t len = 0;
        const char *w = xai_value_get_str(xai_value_at(v, i), &len);
        if (w == NULL || strlen(w) != len)
            return xd_err(err, XAI_ERR_FORMAT, "xnn: embedding.vocab entry %zu is not a string", i);
        (*vocab)[i] = w;
    }
    return XAI_OK;
}

/* A text network from the top-level "embedding" map (docs/NN_FORMAT.md). */
static xai_status text_from_value(const xai_value *e, xai_nn **out, xai_error *err) {
    xai_nn_text_opts o = {0};
    const char **vocab = NULL;
    float *w = NULL;
    const xai_value *lc = xai_value_get(e, "lowercase"), *pat = xai_value_get(e, "pattern");
    xai_status st = xai_value_type(e) == XAI_V_MAP ? XAI_OK
                                                   : bad(err, "not a map:", (size_t)-1, "embedding");
    if (st == XAI_OK) st = get_vocab(e, &vocab, &o.n_vocab, err);
    if (st == XAI_OK) st = get_size(e, "dim", -1, (size_t)-1, &o.dim, err);
    if (st == XAI_OK) st = get_size(e, "oov", -1, (size_t)-1, &o.oov, err);
    if (st == XAI_OK) st = get_size(e, "max_len", 512, (size_t)-1, &o.max_len, err);
    if (st == XAI_OK && lc != NULL && xai_value_type(lc) != XAI_V_BOOL)
        st = bad(err, "not a bool:", (size_t)-1, "embedding.lowercase");
    if (st == XAI_OK && pat != NULL && xai_value_type(pat) != XAI_V_STR)
        st = bad(err, "not a string:", (size_t)-1, "embedding.pattern");
    if (st == XAI_OK) {
        o.vocab = vocab;
        o.lowercase = lc && xai_value_get_bool(lc);
        o.pattern = pat ? xai_value_get_str(pat, NULL) : NULL;
        st = xai_nn_new_text(&o, out, err);
    }
    if (st == XAI_OK) st = get_floats(e, "weight", xd_mul(o.n_vocab, o.dim), (size_t)-1, &w, err);
    if (st == XAI_OK) st = xai_nn_set_embedding(*out, w, o.n_vocab * o.dim, err);
    xd_free(w);
    xd_free(vocab);
    if (st != XAI_OK) { /* e.g. a bad weight after the network was made */
        xai_nn_free(*out);
        *out = NULL;
    }
    if (st == XAI_ERR_PATTERN) st = err ? (err->code = XAI_ERR_FORMAT) : XAI_ERR_FORMAT;
    return as_format(st, err);
}

/* The decoded top-level map into a network. */
static xai_status from_value(const xai_value *root, xai_nn **out, xai_error *err) {
    const xai_value *ver = xai_value_get(root, "version");
    if (xai_value_type(root) != XAI_V_MAP || xai_value_type(ver) != XAI_V_INT)
        return bad(err, "not an xnn map with an integer", (size_t)-1, "version");
    if (xai_value_get_int(ver) != XNN_VERSION)
        return xd_err(err, XAI_ERR_FORMAT, "xnn: unsupported version %lld (this build reads %d)",
                      (long long)xai_value_get_int(ver), XNN_VERSION);
    const xai_value *in = xai_value_get(root, "input"), *layers = xai_value_get(root, "layers");
    const xai_value *emb = xai_value_get(root, "embedding");
    size_t s[3];
    xai_status st;
    if (xai_value_type(layers) != XAI_V_ARRAY) return bad(err, "missing", (size_t)-1, "layers");
    if (emb != NULL) {
        st = text_from_value(emb, out, err);
        goto layers;
    }
    if (xai_value_type(in) != XAI_V_ARRAY || xai_value_len(in) != 3)
        return bad(err, "missing", (size_t)-1, "input [c, h, w] or embedding");
    for (size_t i = 0; i < 3; i++) {
        const xai_value *v = xai_value_at(in, i);
        if (xai_value_type(v) != XAI_V_INT || xai_value_get_int(v) < 1 ||
            xai_value_get_int(v) > (1 << 24))
            return bad(err, "bad", (size_t)-1, "input shape");
        s[i] = (size_t)xai_value_get_int(v);
    }
    st = as_format(xai_nn_new(s[0], s[1], s[2], out, err), err);
layers:
    if (st != XAI_OK) return st;
    size_t nl = xai_value_len(layers);
    size_t *eng = xd_try_malloc(xd_mul(nl ? nl : 1, sizeof *eng));
    if (eng == NULL) st = xd_err(err, XAI_ERR_NOMEM, "xnn: %zu layers", nl);
    for (size_t l = 0; l < nl && st == XAI_OK; l++) {
        st = load_layer(*out, xai_value_at(layers, l), l, eng, err);
        eng[l] = (*out)->n ? (*out)->n - 1 : (size_t)-1;
    }
    xd_free(eng);
    if (st == XAI_OK && (*out)->n == 0) st = bad(err, "no", (size_t)-1, "layers");
    if (st != XAI_OK) {
        xai_nn_free(*out);
        *out = NULL;
    }
    return st;
}

xai_status xai_nn_load_mem(const void *buf, size_t len, xai_nn **out, xai_error *err) {
    *out = NULL;
    xai_unpack_limits lim = {32, 1 << 20, XNN_MAX_FILE};
    xai_value *root = NULL;
    xai_status st = xai_value_unpack(buf, len, &lim, &root, err);
    if (st != XAI_OK) {
        if (st != XAI_ERR_NOMEM && err) {
            err->code = XAI_ERR_FORMAT;
            xd_err_prefix(err, "xnn: ");
        }
        return st == XAI_ERR_NOMEM ? st : XAI_ERR_FORMAT;
    }
    st = from_value(root, out, err);
    xai_value_free(root);
    return st;
}

xai_status xai_nn_load(const char *path, xai_nn **out, xai_error *err) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return xd_err(err, XAI_ERR_IO, "xnn: cannot open %s: %s", path, strerror(errno));
    char *buf = NULL;
    size_t len = 0, cap = 0;
    xai_status st = XAI_OK;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 1 << 16;
            char *nb = cap <= XNN_MAX_FILE ? xd_try_realloc(buf, cap) : NULL;
            if (nb == NULL) {
                st = xd_err(err, XAI_ERR_FORMAT, "xnn: %s is too large", path);
                goto cleanup;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        st = xd_err(err, XAI_ERR_IO, "xnn: reading %s failed", path);
        goto cleanup;
    }
    st = xai_nn_load_mem(buf, len, out, err);
cleanup:
    xd_free(buf);
    fclose(f);
    return st;
}

/* ---- writing ------------------------------------------------------------ */

static xai_value *float_bin(const float *f, size_t n) {
    uint8_t *p = xd_try_malloc(xd_mul(n ? n : 1, 4));
    if (p == NULL) return NULL;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &f[i], 4);
        p[4 * i] = (uint8_t)u, p[4 * i + 1] = (uint8_t)(u >> 8);
        p[4 * i + 2] = (uint8_t)(u >> 16), p[4 * i + 3] = (uint8_t)(u >> 24);
    }
    xai_value *v = xai_value_bin(p, 4 * n);
    xd_free(p);
    return v;
}

static xai_value *layer_value(const xd_nn_layer *L, size_t l) {
    xai_value *m = xai_value_map();
    if (m == NULL) return NULL;
    xai_status st = xai_value_set_str(m, "type", xai_nn_layer_kind_name(L->kind));
    if (L->src != l || xd_nn_is_merge(L)) { /* not simply the layer before */
        xai_value *in = xai_value_array();
        if (st == XAI_OK) st = xai_value_set(m, "inputs", in); /* m owns in from here */
        if (st == XAI_OK) st = xai_value_push(in, xai_value_int((int64_t)L->src - 1));
        if (st == XAI_OK && xd_nn_is_merge(L))
            st = xai_value_push(in, xai_value_int((int64_t)L->src2 - 1));
    }
    if (xd_nn_is_linear(L)) {
        if (st == XAI_OK) st = xai_value_set_int(m, "out", (int64_t)L->out_c);
        if (st == XAI_OK) st = xai_value_set(m, "weight", float_bin(L->w, L->nw));
        if (st == XAI_OK) st = xai_value_set(m, "bias", float_bin(L->b, L->nb));
    }
    if (L->kind == XAI_NN_CONV2D) {
        xai_value *k = xai_value_array();
        if (st == XAI_OK) st = xai_value_set(m, "kernel", k); /* m owns k from here */
        if (st == XAI_OK) st = xai_value_push(k, xai_value_int((int64_t)L->kh));
        if (st == XAI_OK) st = xai_value_push(k, xai_value_int((int64_t)L->kw));
        if (st == XAI_OK) st = xai_value_set_int(m, "stride", (int64_t)L->stride);
        if (st == XAI_OK) st = xai_value_set_int(m, "padding", (int64_t)L->pad);
    } else if (L->kind == XAI_NN_CONV1D) {
        if (st == XAI_OK) st = xai_value_set_int(m, "kernel", (int64_t)L->kw);
        if (st == XAI_OK) st = xai_value_set_int(m, "stride", (int64_t)L->stride);
        if (st == XAI_OK) st = xai_value_set_int(m, "padding", (int64_t)L->pad);
    } else if (xd_nn_is_seq(L)) {
        if (st == XAI_OK) st = xai_value_set(m, "weight", float_bin(L->w, L->nw));
        if (st == XAI_OK) st = xai_value_set(m, "bias", float_bin(L->b, L->nb));
        if (st == XAI_OK && L->kind == XAI_NN_LAYERNORM) st = xai_value_set_float(m, "eps", L->eps);
        if (st == XAI_OK && L->kind == XAI_NN_ATTENTION)
            st = xai_value_set_int(m, "heads", (int64_t)L->heads);
    } else if (L->kind == XAI_NN_TOKEN_POOL) {
        static const char *const modes[] = {"mean", "max", "sum"};
        if (st == XAI_OK) st = xai_value_set_str(m, "mode", modes[L->mode]);
    } else if (L->kind == XAI_NN_MAXPOOL2D || L->kind == XAI_NN_AVGPOOL2D) {
        if (st == XAI_OK) st = xai_value_set_int(m, "kernel", (int64_t)L->kh);
        if (st == XAI_OK) st = xai_value_set_int(m, "stride", (int64_t)L->stride);
    }
    if (st != XAI_OK) {
        xai_value_free(m);
        return NULL;
    }
    return m;
}

/* The "embedding" map of a text network. */
static xai_value *text_value(const xd_nn_text *t) {
    xai_value *e = xai_value_map(), *v = xai_value_array();
    xai_status st = e && v ? XAI_OK : XAI_ERR_NOMEM;
    for (size_t i = 0; i < t->n_vocab && st == XAI_OK; i++)
        st = xai_value_push(v, xai_value_str(t->words[i]));
    if (st == XAI_OK) {
        st = xai_value_set(e, "vocab", v);
        v = NULL;
    }
    if (st == XAI_OK) st = xai_value_set_int(e, "dim", (int64_t)t->dim);
    if (st == XAI_OK) st = xai_value_set_int(e, "oov", (int64_t)t->oov);
    if (st == XAI_OK) st = xai_value_set_bool(e, "lowercase", t->lowercase);
    if (st == XAI_OK) st = xai_value_set_int(e, "max_len", (int64_t)t->max_len);
    if (st == XAI_OK && t->pattern) st = xai_value_set_str(e, "pattern", t->pattern);
    if (st == XAI_OK) st = xai_value_set(e, "weight", float_bin(t->emb, t->n_vocab * t->dim));
    xai_value_free(v);
    if (st != XAI_OK) {
        xai_value_free(e);
        return NULL;
    }
    return e;
}

static xai_value *net_value(const xai_nn *net) {
    xai_value *root = xai_value_map(), *in = xai_value_array(), *layers = xai_value_array();
    xai_status st = root && in && layers ? XAI_OK : XAI_ERR_NOMEM;
    if (st == XAI_OK) st = xai_value_set_str(root, "format", "xnn");
    if (st == XAI_OK) st = xai_value_set_int(root, "version", XNN_VERSION);
    const size_t s[3] = {net->in_c, net->in_h, net->in_w};
    for (int i = 0; i < 3 && st == XAI_OK; i++)
        st = xai_value_push(in, xai_value_int((int64_t)s[i]));
    for (size_t l = 0; l < net->n && st == XAI_OK; l++)
        st = xai_value_push(layers, layer_value(&net->layers[l], l));
    if (st == XAI_OK && net->text) st = xai_value_set(root, "embedding", text_value(net->text));
    if (st == XAI_OK) {
        st = xai_value_set(root, "input", in);
        in = NULL;
    }
    if (st == XAI_OK) {
        st = xai_value_set(root, "layers", layers);
        layers = NULL;
    }
    xai_value_free(in);
    xai_value_free(layers);
    if (st != XAI_OK) {
        xai_value_free(root);
        return NULL;
    }
    return root;
}

xai_status xai_nn_save_mem(const xai_nn *net, char **buf, size_t *len, xai_error *err) {
    *buf = NULL;
    *len = 0;
    xai_value *v = net_value(net);
    if (v == NULL) return xd_err(err, XAI_ERR_NOMEM, "xnn: building the file");
    xai_status st = xai_value_pack(v, buf, len, err);
    xai_value_free(v);
    return st;
}

xai_status xai_nn_save(const xai_nn *net, const char *path, xai_error *err) {
    char *buf = NULL;
    size_t len = 0;
    xai_status st = xai_nn_save_mem(net, &buf, &len, err);
    if (st != XAI_OK) return st;
    FILE *f = fopen(path, "wb");
    if (f == NULL) {
        st = xd_err(err, XAI_ERR_IO, "xnn: cannot create %s: %s", path, strerror(errno));
    } else {
        if (fwrite(buf, 1, len, f) != len)
            st = xd_err(err, XAI_ERR_IO, "xnn: writing %s failed", path);
        if (fclose(f) != 0 && st == XAI_OK)
            st = xd_err(err, XAI_ERR_IO, "xnn: closing %s failed", path);
    }
    xd_free(buf);
    return st;
}
