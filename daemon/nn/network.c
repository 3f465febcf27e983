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
    "flatten", "relu",  "tanh",   "sigmoid",   "softmax",
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
    for (size_t i = 0; i < net->n; i++) {
        xd_free(net->layers[i].w);
        xd_free(net->layers[i].b);
    }
    xd_free(net->layers);
    xd_nn_scratch_clear(net);
    xd_free(net);
}

/* The shape the next layer reads. */
static void cur_shape(const xai_nn *net, size_t *c, size_t *h, size_t *w) {
    if (net->n == 0) {
        *c = net->in_c, *h = net->in_h, *w = net->in_w;
    } else {
        const xd_nn_layer *L = &net->layers[net->n - 1];
        *c = L->out_c, *h = L->out_h, *w = L->out_w;
    }
}

/* A new layer of `kind` reading the current shape (output = input until the
 * caller sets it), or an error when nothing may follow. */
static xai_status begin_layer(xai_nn *net, xai_nn_layer_kind kind, xd_nn_layer *L, xai_error *err) {
    memset(L, 0, sizeof *L);
    L->kind = kind;
    if (net->n > 0 && net->layers[net->n - 1].kind == XAI_NN_SOFTMAX)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (%s): nothing may follow softmax", net->n,
                      xai_nn_layer_kind_name(kind));
    if (net->n >= 4096) return xd_err(err, XAI_ERR_LIMIT, "layer %zu: too many layers", net->n);
    cur_shape(net, &L->in_c, &L->in_h, &L->in_w);
    L->out_c = L->in_c, L->out_h = L->in_h, L->out_w = L->in_w;
    return XAI_OK;
}

/* Appends L, allocating zeroed weights of nw + nb floats. */
static xai_status push_layer(xai_nn *net, xd_nn_layer *L, size_t nw, size_t nb, xai_error *err) {
    if (xd_mul(xd_mul(L->out_c, L->out_h), L->out_w) > ((size_t)1 << 28) || nw > ((size_t)1 << 28))
        return xd_err(err, XAI_ERR_LIMIT, "layer %zu (%s): too large", net->n,
                      xai_nn_layer_kind_name(L->kind));
    if (nw) {
        L->w = xd_try_calloc(nw, sizeof *L->w);
        L->b = xd_try_calloc(nb, sizeof *L->b);
        if (L->w == NULL || L->b == NULL) {
            xd_free(L->w);
            xd_free(L->b);
            return xd_err(err, XAI_ERR_NOMEM, "layer %zu: %zu weights", net->n, nw);
        }
        L->nw = nw;
        L->nb = nb;
    }
    if (net->n == net->cap) {
        net->cap = net->cap ? 2 * net->cap : 8;
        net->layers = xd_realloc(net->layers, net->cap * sizeof *net->layers);
    }
    net->layers[net->n++] = *L;
    return XAI_OK;
}

xai_status xai_nn_add_dense(xai_nn *net, size_t out_features, xai_error *err) {
    xd_nn_layer L;
    xai_status st = begin_layer(net, XAI_NN_DENSE, &L, err);
    if (st != XAI_OK) return st;
    if (L.in_h != 1 || L.in_w != 1)
        return xd_err(err, XAI_ERR_INVALID,
                      "layer %zu (dense): input is %zux%zux%zu, not a vector; add flatten first",
                      net->n, L.in_c, L.in_h, L.in_w);
    if (out_features == 0)
        return xd_err(err, XAI_ERR_INVALID, "layer %zu (dense): zero outputs", net->n);
    L.out_c = out_features;
    return push_layer(net, &L, xd_mul(out_features, L.in_c), out_features, err);
}

/* Output extent of a window sliding over `in` (with padding), or 0. */
static size_t out_extent(size_t in, size_t k, size_t stride, size_t pad) {
    if (k == 0 || stride == 0 || in + 2 * pad < k) return 0;
    return (in + 2 * pad - k) / stride + 1;
}

xai_status xai_nn_add_conv2d(xai_nn *net, size_t out_channels, size_t kernel_h, size_t kernel_w,
                             size_t stride, size_t padding, xai_error *err) {
    xd_nn_layer L;
    xai_status st = begin_layer(net, XAI_NN_CONV2D, &L, err);
    if (st != XAI_OK) return st;
    if (stride == 0) stride = 1;
    L.kh = kernel_h, L.kw = kernel_w, L.stride = stride, L.pad = padding;
    L.out_c = out_channels;
    L.out_h = out_extent(L.in_h, kernel_h, stride, padding);
    L.out_w = out_extent(L.in_w, kernel_w, stride, padding);
    if (out_channels == 0 || L.out_h == 0 || L.out_w == 0 || padding >= kernel_h ||
        padding >= kernel_w)
        return xd_err(err, XAI_ERR_INVALID,
                      "layer %zu (conv2d): kernel %zux%zu, stride %zu, padding %zu, %zu channels "
                      "do not fit input %zux%zux%zu",
                      net->n, kernel_h, kernel_w, stride, padding, out_channels, L.in_c, L.in_h,
                      L.in_w);
    size_t k = xd_mul(xd_mul(L.in_c, kernel_h), kernel_w);
    return push_layer(net, &L, xd_mul(out_channels, k), out_channels, err);
}

static xai_status add_pool(xai_nn *net, xai_nn_layer_kind kind, size_t k, size_t stride,
                           xai_error *err) {
    xd_nn_layer L;
    xai_status st = begin_layer(net, kind, &L, err);
    if (st != XAI_OK) return st;
    if (stride == 0) stride = k;
    L.kh = L.kw = k, L.stride = stride;
    L.out_h = out_extent(L.in_h, k, stride, 0);
    L.out_w = out_extent(L.in_w, k, stride, 0);
    if (L.out_h == 0 || L.out_w == 0)
        return xd_err(err, XAI_ERR_INVALID,
                      "layer %zu (%s): window %zu, stride %zu do not fit %zux%zu", net->n,
                      xai_nn_layer_kind_name(kind), k, stride, L.in_h, L.in_w);
    return push_layer(net, &L, 0, 0, err);
}

xai_status xai_nn_add_maxpool2d(xai_nn *net, size_t k, size_t stride, xai_error *err) {
    return add_pool(net, XAI_NN_MAXPOOL2D, k, stride, err);
}

xai_status xai_nn_add_avgpool2d(xai_nn *net, size_t k, size_t stride, xai_error *err) {
    return add_pool(net, XAI_NN_AVGPOOL2D, k, stride, err);
}

/* Layers whose output shape follows from the input alone. */
static xai_status add_simple(xai_nn *net, xai_nn_layer_kind kind, xai_error *err) {
    xd_nn_layer L;
    xai_status st = begin_layer(net, kind, &L, err);
    if (st != XAI_OK) return st;
    if (kind == XAI_NN_GLOBAL_AVGPOOL) {
        L.out_h = L.out_w = 1;
        L.kh = L.in_h, L.kw = L.in_w, L.stride = 1;
    } else if (kind == XAI_NN_FLATTEN) {
        L.out_c = L.in_c * L.in_h * L.in_w;
        L.out_h = L.out_w = 1;
    } else if (kind == XAI_NN_SOFTMAX && (L.in_h != 1 || L.in_w != 1)) {
        return xd_err(err, XAI_ERR_INVALID,
                      "layer %zu (softmax): input %zux%zux%zu is not a vector", net->n, L.in_c,
                      L.in_h, L.in_w);
    }
    return push_layer(net, &L, 0, 0, err);
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

xai_status xai_nn_add_batchnorm(xai_nn *net, const float *gamma, const float *beta,
                                const float *mean, const float *var, float eps, xai_error *err) {
    xd_nn_layer *L = net->n ? &net->layers[net->n - 1] : NULL;
    if (L == NULL || (L->kind != XAI_NN_DENSE && L->kind != XAI_NN_CONV2D))
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
        double a = sqrt(6.0 / (double)xd_nn_fan_in(L));
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
    bool win = L && (L->kind == XAI_NN_CONV2D || L->kind == XAI_NN_MAXPOOL2D ||
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
