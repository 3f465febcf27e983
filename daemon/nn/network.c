/* network.c — building a native network: layers, shape checking, weights,
 * batch-norm folding, inspection.
 *
 * Every add_* computes the new layer's output shape from the current one and
 * refuses, with a message naming the layer, any layer that does not fit.
 * Weights live in the layer (zeroed at creation) and are replaced by
 * set_weights; batch norm rescales the last layer's weights in place.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "xai/rng.h"
#include "nn_impl.h"

static const char *const kind_names[] = {
    "?",       "dense", "conv2d", "maxpool2d", "avgpool2d", "global_avgpool",
    "flatten", "relu",  "tanh",   "sigmoid",   "softmax",   "conv1d",
    "token_pool", "add", "concat", "layernorm", "attention",
};

const char *xai_nn_layer_kind_name(xai_nn_layer_kind kind) {
    if ((size_t)kind >= XD_ARRAY_LEN(kind_names)) return "?";
    return kind_names[kind];
}

xai_status xai_nn_new(size_t c, size_t h, size_t w, xai_nn **out, xai_error *err) {
    *out = NULL;
    if (c == 0 || h == 0 || w == 0 || xd_mul(xd_mul(c, h), w) > ((size_t)1 << 28))
        return xd_err(err, XAI_ERR_INVALID, "network input shape %zux%zux%zu is empty or too large",
                      c, h, w);
    xai_nn *net = xd_calloc(1, sizeof *net);
    net->in_c = c;
    net->in_h = h;
    net->in_w = w;
    *out = net;
    return XAI_OK;
}

void xai_nn_free(xai_nn *net) {
    if (net == NULL) return;
    for (size_t i = 0; !net->borrowed && i < net->n; i++) {
        xd_free(net->layers[i].w);
        xd_free(net->layers[i].b);
    }
    if (!net->borrowed) xd_nn_text_free(net->text);
    xd_free(net->layers);
    xd_nn_scratch_clear(net);
    xd_free(net);
}

/* The shape of trace tensor k: the input (k = 0) or layer k-1's output. */
static void trace_shape(const xai_nn *net, size_t k, size_t *c, size_t *h, size_t *w) {
    if (k == 0) {
        *c = net->in_c, *h = net->in_h, *w = net->in_w;
    } else {
        const xd_nn_layer *L = &net->layers[k - 1];
        *c = L->out_c, *h = L->out_h, *w = L->out_w;
    }
}

/* Sets L's input shapes from its sources. */
static void source_shapes(const xai_nn *net, xd_nn_layer *L) {
    trace_shape(net, L->src, &L->in_c, &L->in_h, &L->in_w);
    if (xd_nn_is_merge(L)) trace_shape(net, L->src2, &L->in2_c, &L->in2_h, &L->in2_w);
}

/* Output extent of a window sliding over `in` (with padding), or 0. */
static size_t out_extent(size_t in, size_t k, size_t stride, size_t pad) {
    if (k == 0 || stride == 0 || in + 2 * pad < k) return 0;
    return (in + 2 * pad - k) / stride + 1;
}

static xai_status misfit(size_t l, const xd_nn_layer *L, const char *why, xai_error *err) {
    return xd_err(err, XAI_ERR_INVALID, "layer %zu (%s): %s input %zux%zux%zu", l,
                  xai_nn_layer_kind_name(L->kind), why, L->in_c, L->in_h, L->in_w);
}

/* L's output shape from its input shape and geometry (kind; out_c of
 * dense and conv; kernel, stride, padding; weights when already set), or
 * an error naming layer l. The one place shapes are worked out: adding a
 * layer and instantiating a network for another input width both come
 * here. */
static xai_status fit_layer(xd_nn_layer *L, size_t l, xai_error *err) {
    size_t oc = L->out_c;
    L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
    switch (L->kind) {
    case XAI_NN_DENSE:
        L->out_c = oc, L->out_h = L->out_w = 1;
        if (L->in_h != 1 || L->in_w != 1)
            return misfit(l, L, "not a vector (add flatten or a pooling first):", err);
        if (oc == 0) return misfit(l, L, "zero outputs for", err);
        if (L->nw && L->nw != xd_mul(oc, L->in_c))
            return misfit(l, L, "weights do not fit the", err);
        return XAI_OK;
    case XAI_NN_CONV1D:
    case XAI_NN_CONV2D:
        L->out_c = oc;
        L->out_h = out_extent(L->in_h, L->kh, L->stride, L->pad_h);
        L->out_w = out_extent(L->in_w, L->kw, L->stride, L->pad);
        if (L->kind == XAI_NN_CONV1D && L->in_h != 1)
            return misfit(l, L, "not a sequence (c x 1 x length):", err);
        if (oc == 0 || L->out_h == 0 || L->out_w == 0 || L->pad_h >= L->kh || L->pad >= L->kw)
            return xd_err(err, XAI_ERR_INVALID,
                          "layer %zu (%s): kernel %zux%zu, stride %zu, padding %zu, %zu channels "
                          "do not fit input %zux%zux%zu",
                          l, xai_nn_layer_kind_name(L->kind), L->kh, L->kw, L->stride, L->pad, oc,
                          L->in_c, L->in_h, L->in_w);
        if (L->nw && L->nw != xd_mul(xd_mul(oc, L->in_c), L->kh * L->kw))
            return misfit(l, L, "weights do not fit the", err);
        return XAI_OK;
    case XAI_NN_MAXPOOL2D:
    case XAI_NN_AVGPOOL2D:
        L->out_h = out_extent(L->in_h, L->kh, L->stride, 0);
        L->out_w = out_extent(L->in_w, L->kw, L->stride, 0);
        if (L->out_h == 0 || L->out_w == 0)
            return xd_err(err, XAI_ERR_INVALID,
                          "layer %zu (%s): window %zu, stride %zu do not fit %zux%zu", l,
                          xai_nn_layer_kind_name(L->kind), L->kh, L->stride, L->in_h, L->in_w);
        return XAI_OK;
    case XAI_NN_GLOBAL_AVGPOOL:
    case XAI_NN_TOKEN_POOL:
        L->out_h = L->out_w = 1;
        L->kh = L->in_h, L->kw = L->in_w, L->stride = 1;
        return XAI_OK;
    case XAI_NN_FLATTEN:
        L->out_c = L->in_c * L->in_h * L->in_w;
        L->out_h = L->out_w = 1;
        return XAI_OK;
    case XAI_NN_SOFTMAX:
        if (L->in_h != 1 || L->in_w != 1) return misfit(l, L, "not a vector:", err);
        return XAI_OK;
    case XAI_NN_LAYERNORM:
    case XAI_NN_ATTENTION:
        if (L->in_h != 1) return misfit(l, L, "not a sequence (c x 1 x length):", err);
        if (L->kind == XAI_NN_ATTENTION && (L->heads == 0 || L->in_c % L->heads != 0))
            return xd_err(err, XAI_ERR_INVALID, "layer %zu (attention): %zu heads do not divide %zu features",
                          l, L->heads, L->in_c);
        return XAI_OK;
    case XAI_NN_ADD:
    case XAI_NN_CONCAT:
        if (L->in_h != L->in2_h || L->in_w != L->in2_w ||
            (L->kind == XAI_NN_ADD && L->in_c != L->in2_c))
            return xd_err(err, XAI_ERR_INVALID,
                          "layer %zu (%s): inputs %zux%zux%zu and %zux%zux%zu do not match", l,
                          xai_nn_layer_kind_name(L->kind), L->in_c, L->in_h, L->in_w, L->in2_c,
                          L->in2_h, L->in2_w);
        if (L->kind == XAI_NN_CONCAT) L->out_c = L->in_c + L->in2_c;
        return XAI_OK;
    default:
        return XAI_OK;
    }
}

/* Appends a layer of `kind` with the geometry in g (out_c, kernel, stride,
 * padding, mode) after fitting it to the current output, allocating zeroed
 * weights for dense and conv. */
static xai_status push_layer(xai_nn *net, xai_nn_layer_kind kind, const xd_nn_layer *g,
                             xai_error *err) {
    xd_nn_layer L = *g;
    L.kind = kind;
    L.w = L.b = NULL;
    L.nw = L.nb = 0;
    if (net->n >= 4096) return xd_err(err, XAI_ERR_LIMIT, "layer %zu: too many layers", net->n);
    L.src = net->branch ? net->branch - 1 : net->n;
    if (net->n > 0 && net->layers[net->n - 1].kind == XAI_NN_SOFTMAX)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (%s): nothing may follow softmax", net->n,
                      xai_nn_layer_kind_name(kind));
    source_shapes(net, &L);
    xai_status st = fit_layer(&L, net->n, err);
    if (st != XAI_OK) return st;
    size_t nw = xd_nn_is_linear(&L) ? xd_mul(xd_mul(L.out_c, L.in_c), L.kh * L.kw) : 0;
    size_t nb = L.out_c;
    if (L.kind == XAI_NN_LAYERNORM) nw = nb = L.in_c;
    if (L.kind == XAI_NN_ATTENTION) nw = xd_mul(4 * L.in_c, L.in_c), nb = 4 * L.in_c;
    if (xd_mul(xd_mul(L.out_c, L.out_h), L.out_w) > ((size_t)1 << 28) || nw > ((size_t)1 << 28))
        return xd_err(err, XAI_ERR_LIMIT, "layer %zu (%s): too large", net->n,
                      xai_nn_layer_kind_name(L.kind));
    if (nw) {
        L.w = xd_try_calloc(nw, sizeof *L.w);
        L.b = xd_try_calloc(nb, sizeof *L.b);
        if (L.w == NULL || L.b == NULL) {
            xd_free(L.w);
            xd_free(L.b);
            return xd_err(err, XAI_ERR_NOMEM, "layer %zu: %zu weights", net->n, nw);
        }
        L.nw = nw;
        L.nb = nb;
        for (size_t i = 0; L.kind == XAI_NN_LAYERNORM && i < nw; i++) L.w[i] = 1; /* gamma */
    }
    if (net->n == net->cap) {
        net->cap = net->cap ? 2 * net->cap : 8;
        net->layers = xd_realloc(net->layers, net->cap * sizeof *net->layers);
    }
    net->layers[net->n++] = L;
    net->branch = 0;
    return XAI_OK;
}

/* Trace index of the output of layer `layer` ((size_t)-1: the input), or
 * an error when there is no such layer yet. */
static xai_status trace_index(const xai_nn *net, size_t layer, const char *what, size_t *k,
                              xai_error *err) {
    if (layer != (size_t)-1 && layer >= net->n)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (%s): layer %zu does not exist yet", net->n,
                      what, layer);
    if (layer != (size_t)-1 && net->layers[layer].kind == XAI_NN_SOFTMAX)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (%s): softmax outputs feed nothing", net->n,
                      what);
    *k = layer == (size_t)-1 ? 0 : layer + 1;
    return XAI_OK;
}

xai_status xai_nn_branch_from(xai_nn *net, size_t from, xai_error *err) {
    size_t k;
    xai_status st = trace_index(net, from, "branch", &k, err);
    if (st == XAI_OK) net->branch = k + 1;
    return st;
}

static xai_status add_merge(xai_nn *net, xai_nn_layer_kind kind, size_t other, xai_error *err) {
    xd_nn_layer g = {0};
    xai_status st = trace_index(net, other, xai_nn_layer_kind_name(kind), &g.src2, err);
    return st == XAI_OK ? push_layer(net, kind, &g, err) : st;
}

xai_status xai_nn_add_add(xai_nn *net, size_t other, xai_error *err) {
    return add_merge(net, XAI_NN_ADD, other, err);
}

xai_status xai_nn_add_concat(xai_nn *net, size_t other, xai_error *err) {
    return add_merge(net, XAI_NN_CONCAT, other, err);
}

size_t xai_nn_layer_inputs(const xai_nn *net, size_t layer, size_t in[2]) {
    if (layer >= net->n) return 0;
    const xd_nn_layer *L = &net->layers[layer];
    in[0] = L->src - 1; /* trace index 0 (the input) becomes (size_t)-1 */
    if (!xd_nn_is_merge(L)) return 1;
    in[1] = L->src2 - 1;
    return 2;
}

xai_status xai_nn_add_dense(xai_nn *net, size_t out_features, xai_error *err) {
    xd_nn_layer g = {.out_c = out_features, .kh = 1, .kw = 1};
    return push_layer(net, XAI_NN_DENSE, &g, err);
}

xai_status xai_nn_add_conv2d(xai_nn *net, size_t out_channels, size_t kernel_h, size_t kernel_w,
                             size_t stride, size_t padding, xai_error *err) {
    xd_nn_layer g = {.out_c = out_channels, .kh = kernel_h, .kw = kernel_w,
                     .stride = stride ? stride : 1, .pad = padding, .pad_h = padding};
    return push_layer(net, XAI_NN_CONV2D, &g, err);
}

xai_status xai_nn_add_conv1d(xai_nn *net, size_t out_channels, size_t kernel, size_t stride,
                             size_t padding, xai_error *err) {
    xd_nn_layer g = {.out_c = out_channels, .kh = 1, .kw = kernel,
                     .stride = stride ? stride : 1, .pad = padding};
    return push_layer(net, XAI_NN_CONV1D, &g, err);
}

static xai_status add_pool(xai_nn *net, xai_nn_layer_kind kind, size_t k, size_t stride,
                           xai_error *err) {
    xd_nn_layer g = {.kh = k, .kw = k, .stride = stride ? stride : k};
    return push_layer(net, kind, &g, err);
}

xai_status xai_nn_add_maxpool2d(xai_nn *net, size_t k, size_t stride, xai_error *err) {
    return add_pool(net, XAI_NN_MAXPOOL2D, k, stride, err);
}

xai_status xai_nn_add_avgpool2d(xai_nn *net, size_t k, size_t stride, xai_error *err) {
    return add_pool(net, XAI_NN_AVGPOOL2D, k, stride, err);
}

xai_status xai_nn_add_token_pool(xai_nn *net, xai_nn_pool_mode mode, xai_error *err) {
    if ((unsigned)mode > XAI_NN_POOL_SUM)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (token_pool): unknown mode %d", net->n,
                      (int)mode);
    xd_nn_layer g = {.mode = mode};
    return push_layer(net, XAI_NN_TOKEN_POOL, &g, err);
}

xai_status xai_nn_add_layernorm(xai_nn *net, float eps, xai_error *err) {
    if (!(eps > 0)) return xd_err(err, XAI_ERR_INVALID, "layer %zu (layernorm): eps must be > 0", net->n);
    xd_nn_layer g = {.eps = eps};
    return push_layer(net, XAI_NN_LAYERNORM, &g, err);
}

xai_status xai_nn_add_attention(xai_nn *net, size_t heads, xai_error *err) {
    xd_nn_layer g = {.heads = heads};
    return push_layer(net, XAI_NN_ATTENTION, &g, err);
}

/* Layers whose output shape follows from the input alone. */
static xai_status add_simple(xai_nn *net, xai_nn_layer_kind kind, xai_error *err) {
    xd_nn_layer g = {0};
    return push_layer(net, kind, &g, err);
}

xai_status xai_nn_add_global_avgpool(xai_nn *net, xai_error *err) {
    return add_simple(net, XAI_NN_GLOBAL_AVGPOOL, err);
}
xai_status xai_nn_add_flatten(xai_nn *net, xai_error *err) {
    return add_simple(net, XAI_NN_FLATTEN, err);
}
xai_status xai_nn_add_relu(xai_nn *net, xai_error *err) {
    return add_simple(net, XAI_NN_RELU, err);
}
xai_status xai_nn_add_tanh(xai_nn *net, xai_error *err) {
    return add_simple(net, XAI_NN_TANH, err);
}
xai_status xai_nn_add_sigmoid(xai_nn *net, xai_error *err) {
    return add_simple(net, XAI_NN_SIGMOID, err);
}
xai_status xai_nn_add_softmax(xai_nn *net, xai_error *err) {
    return add_simple(net, XAI_NN_SOFTMAX, err);
}

xai_status xd_nn_instance(const xai_nn *tmpl, size_t width, xai_nn **out, xai_error *err) {
    *out = NULL;
    if (width == 0) return xd_err(err, XAI_ERR_INVALID, "network input of width 0");
    xai_nn *net = xd_calloc(1, sizeof *net);
    *net = (xai_nn){.in_c = tmpl->in_c, .in_h = tmpl->in_h, .in_w = width, .n = tmpl->n,
                    .cap = tmpl->n, .text = tmpl->text, .borrowed = true};
    net->layers = xd_malloc(xd_mul(tmpl->n ? tmpl->n : 1, sizeof *net->layers));
    if (tmpl->n) memcpy(net->layers, tmpl->layers, tmpl->n * sizeof *net->layers);
    for (size_t l = 0; l < net->n; l++) {
        xd_nn_layer *L = &net->layers[l];
        source_shapes(net, L);
        xai_status st = fit_layer(L, l, err);
        if (st != XAI_OK) {
            xai_nn_free(net);
            return st;
        }
    }
    *out = net;
    return XAI_OK;
}

xai_status xai_nn_add_batchnorm(xai_nn *net, const float *gamma, const float *beta,
                                const float *mean, const float *var, float eps, xai_error *err) {
    xd_nn_layer *L = net->n ? &net->layers[net->n - 1] : NULL;
    if (L == NULL || !xd_nn_is_linear(L))
        return xd_err(err, XAI_ERR_INVALID,
                      "layer %zu (batchnorm): must follow a dense or conv2d layer to be folded",
                      net->n);
    if (!gamma || !beta || !mean || !var || !(eps >= 0))
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (batchnorm): missing parameters", net->n);
    size_t k = xd_nn_fan_in(L);
    for (size_t o = 0; o < L->nb; o++)
        if (!(var[o] + eps > 0) || !isfinite(gamma[o]) || !isfinite(beta[o]) || !isfinite(mean[o]))
            return xd_err(err, XAI_ERR_INVALID,
                          "layer %zu (batchnorm): channel %zu has variance + eps <= 0 or a "
                          "non-finite parameter",
                          net->n, o);
    /* y = s (W x + b - mean) + beta with s = gamma / sqrt(var + eps). */
    for (size_t o = 0; o < L->nb; o++) {
        float s = gamma[o] / sqrtf(var[o] + eps);
        for (size_t j = 0; j < k; j++) L->w[o * k + j] *= s;
        L->b[o] = s * (L->b[o] - mean[o]) + beta[o];
    }
    return XAI_OK;
}

xai_status xai_nn_set_weights(xai_nn *net, size_t layer, const float *w, size_t nw, const float *b,
                              size_t nb, xai_error *err) {
    if (layer >= net->n)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu: no such layer (network has %zu)", layer,
                      net->n);
    xd_nn_layer *L = &net->layers[layer];
    if (L->nw == 0)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (%s): has no weights", layer,
                      xai_nn_layer_kind_name(L->kind));
    if (w == NULL || nw != L->nw || (b != NULL && nb != L->nb))
        return xd_err(err, XAI_ERR_INVALID,
                      "layer %zu (%s): expects %zu weights and %zu biases, got %zu and %zu", layer,
                      xai_nn_layer_kind_name(L->kind), L->nw, L->nb, nw, b ? nb : L->nb);
    for (size_t i = 0; i < nw; i++)
        if (!isfinite(w[i]))
            return xd_err(err, XAI_ERR_INVALID, "layer %zu: weight %zu is not finite", layer, i);
    for (size_t i = 0; b && i < nb; i++)
        if (!isfinite(b[i]))
            return xd_err(err, XAI_ERR_INVALID, "layer %zu: bias %zu is not finite", layer, i);
    memcpy(L->w, w, nw * sizeof *w);
    if (b)
        memcpy(L->b, b, nb * sizeof *b);
    else
        memset(L->b, 0, L->nb * sizeof *L->b);
    return XAI_OK;
}

void xai_nn_get_weights(const xai_nn *net, size_t layer, const float **w, size_t *nw,
                        const float **b, size_t *nb) {
    const xd_nn_layer *L = layer < net->n ? &net->layers[layer] : NULL;
    if (w) *w = L ? L->w : NULL;
    if (nw) *nw = L ? L->nw : 0;
    if (b) *b = L ? L->b : NULL;
    if (nb) *nb = L ? L->nb : 0;
}

void xai_nn_init_random(xai_nn *net, uint64_t seed) {
    xai_rng r;
    xai_rng_seed(&r, seed, 0x6e6e);
    for (size_t l = 0; l < net->n; l++) {
        xd_nn_layer *L = &net->layers[l];
        if (L->nw == 0) continue;
        if (L->kind == XAI_NN_LAYERNORM) { /* gamma near 1, small beta */
            for (size_t i = 0; i < L->nw; i++) L->w[i] = (float)(1 + 0.2 * (2 * xai_rng_uniform(&r) - 1));
            for (size_t i = 0; i < L->nb; i++) L->b[i] = (float)(0.1 * (2 * xai_rng_uniform(&r) - 1));
            continue;
        }
        double a = sqrt(6.0 / (double)(L->kind == XAI_NN_ATTENTION ? L->in_c : xd_nn_fan_in(L)));
        for (size_t i = 0; i < L->nw; i++) L->w[i] = (float)(a * (2 * xai_rng_uniform(&r) - 1));
        for (size_t i = 0; i < L->nb; i++) L->b[i] = (float)(0.1 * (2 * xai_rng_uniform(&r) - 1));
    }
}

size_t xai_nn_n_layers(const xai_nn *net) {
    return net->n;
}

xai_nn_layer_kind xai_nn_layer_kind_of(const xai_nn *net, size_t layer) {
    return layer < net->n ? net->layers[layer].kind : (xai_nn_layer_kind)0;
}

void xai_nn_layer_shape(const xai_nn *net, size_t layer, size_t shape[3]) {
    if (layer == (size_t)-1) {
        shape[0] = net->in_c, shape[1] = net->in_h, shape[2] = net->in_w;
    } else if (layer < net->n) {
        const xd_nn_layer *L = &net->layers[layer];
        shape[0] = L->out_c, shape[1] = L->out_h, shape[2] = L->out_w;
    } else {
        shape[0] = shape[1] = shape[2] = 0;
    }
}

void xai_nn_layer_geometry(const xai_nn *net, size_t layer, size_t *kernel_h, size_t *kernel_w,
                           size_t *stride, size_t *padding) {
    const xd_nn_layer *L = layer < net->n ? &net->layers[layer] : NULL;
    bool win = L && (xd_nn_is_conv(L) || L->kind == XAI_NN_MAXPOOL2D ||
                     L->kind == XAI_NN_AVGPOOL2D);
    *kernel_h = win ? L->kh : 0;
    *kernel_w = win ? L->kw : 0;
    *stride = win ? L->stride : 0;
    *padding = win ? L->pad : 0;
}

size_t xd_nn_act_size(const xai_nn *net, size_t l) {
    if (l == 0) return net->in_c * net->in_h * net->in_w;
    const xd_nn_layer *L = &net->layers[l - 1];
    return L->out_c * L->out_h * L->out_w;
}

size_t xai_nn_input_size(const xai_nn *net) {
    return xd_nn_act_size(net, 0);
}
size_t xai_nn_output_size(const xai_nn *net) {
    return xd_nn_act_size(net, net->n);
}

size_t xai_nn_logit_layer(const xai_nn *net) {
    if (net->n == 0) return (size_t)-1;
    if (net->layers[net->n - 1].kind == XAI_NN_SOFTMAX)
        return net->n >= 2 ? net->n - 2 : (size_t)-1;
    return net->n - 1;
}

size_t xai_nn_n_logits(const xai_nn *net) {
    size_t l = xai_nn_logit_layer(net);
    return xd_nn_act_size(net, l == (size_t)-1 ? 0 : l + 1);
}
