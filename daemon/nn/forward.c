/* forward.c — the forward pass: layers without weights (pooling,
 * activations, flatten, softmax), the trace of activations that backward
 * passes read, and the public forward entry points.
 *
 * A trace stores the input of every layer up to `top` in one buffer, so a
 * backward pass can recompute whatever it needs (max-pool winners, ReLU
 * masks) from the stored tensors instead of keeping side arrays.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* 2x2 max pooling with stride 2 whose windows tile the input (even h, w),
 * the common case, as two long loops over blocks of whole rows: h = the
 * maximum of each horizontal pair (pairs never cross a row), then each
 * output row = the maximum of two consecutive rows of h. Both loops run over
 * contiguous memory and vectorize. */
#define POOL_BLOCK 1024
XD_NN_AVX2_CLONE XD_NN_SIMD static void maxpool2_fwd(const xd_nn_layer *L, const float *restrict in, size_t n,
                                    float *restrict out) {
    size_t ow = L->out_w, rows = n * L->in_c * L->out_h; /* output rows */
    size_t per = POOL_BLOCK / (2 * ow) ? POOL_BLOCK / (2 * ow) : 1;
    float h[POOL_BLOCK];
    for (size_t r0 = 0; r0 < rows; r0 += per) {
        size_t nr = rows - r0 < per ? rows - r0 : per;
        const float *src = in + r0 * 4 * ow;
        float *o = out + r0 * ow;
        for (size_t i = 0; i < 2 * nr * ow; i++) {
            float a = src[2 * i], b = src[2 * i + 1];
            h[i] = a > b ? a : b;
        }
        for (size_t r = 0; r < nr; r++)
            for (size_t x = 0; x < ow; x++) {
                float a = h[2 * r * ow + x], b = h[(2 * r + 1) * ow + x];
                o[r * ow + x] = a > b ? a : b;
            }
    }
}

/* Max or mean over each k x k window of each channel. */
static void pool_fwd(const xd_nn_layer *L, const float *in, size_t n, float *out) {
    size_t ihw = L->in_h * L->in_w, ohw = L->out_h * L->out_w;
    bool is_max = xd_nn_pool_is_max(L);
    if (L->kind == XAI_NN_MAXPOOL2D && L->kh == 2 && L->kw == 2 && L->stride == 2 && L->in_h == 2 * L->out_h &&
        L->in_w == 2 * L->out_w && 2 * L->out_w <= POOL_BLOCK) {
        maxpool2_fwd(L, in, n, out);
        return;
    }
    float inv = xd_nn_pool_scale(L);
    for (size_t sc = 0; sc < n * L->in_c; sc++) {
        const float *img = in + sc * ihw;
        float *o = out + sc * ohw;
        for (size_t oy = 0; oy < L->out_h; oy++)
            for (size_t ox = 0; ox < L->out_w; ox++) {
                const float *win = img + oy * L->stride * L->in_w + ox * L->stride;
                float m = win[0], sum = 0;
                for (size_t ky = 0; ky < L->kh; ky++) {
                    const float *row = win + ky * L->in_w;
                    if (is_max)
                        for (size_t kx = 0; kx < L->kw; kx++) m = row[kx] > m ? row[kx] : m;
                    else
                        for (size_t kx = 0; kx < L->kw; kx++) sum += row[kx];
                }
                o[oy * L->out_w + ox] = is_max ? m : sum * inv;
            }
    }
}

/* max(x, 0) with restrict pointers and a plain select, so it vectorizes
 * (a ReLU right after a dense/conv layer is written by that layer's pass
 * instead, see fuses_relu). */
XD_NN_SIMD void xd_nn_relu_fwd(const float *restrict in, size_t sz, float *restrict out) {
    for (size_t i = 0; i < sz; i++) {
        float v = in[i];
        out[i] = v > 0 ? v : 0.0f;
    }
}

double xd_nn_softmax_row(const float *z, size_t k, float *p) {
    float m = z[0];
    for (size_t j = 1; j < k; j++) m = z[j] > m ? z[j] : m;
    double sum = 0;
    for (size_t j = 0; j < k; j++) sum += exp((double)z[j] - m);
    for (size_t j = 0; j < k; j++) p[j] = (float)(exp((double)z[j] - m) / sum);
    return log(sum) + m;
}

void xd_nn_simple_fwd(const xd_nn_layer *L, const float *in, size_t n, float *out) {
    size_t sz = n * L->in_c * L->in_h * L->in_w;
    switch (L->kind) {
    case XAI_NN_MAXPOOL2D:
    case XAI_NN_AVGPOOL2D:
    case XAI_NN_GLOBAL_AVGPOOL:
    case XAI_NN_TOKEN_POOL:
        pool_fwd(L, in, n, out);
        break;
    case XAI_NN_RELU:
        xd_nn_relu_fwd(in, sz, out);
        break;
    case XAI_NN_TANH:
        for (size_t i = 0; i < sz; i++) out[i] = tanhf(in[i]);
        break;
    case XAI_NN_SIGMOID:
        for (size_t i = 0; i < sz; i++) out[i] = 1.0f / (1.0f + expf(-in[i]));
        break;
    case XAI_NN_SOFTMAX:
        for (size_t i = 0; i < n; i++)
            xd_nn_softmax_row(in + i * L->in_c, L->in_c, out + i * L->in_c);
        break;
    default: /* flatten: same bytes */
        memcpy(out, in, sz * sizeof *out);
        break;
    }
}

static xai_status layer_fwd(const xai_nn *net, const xd_nn_layer *L, const float *in, size_t n,
                            float *out, xai_error *err) {
    if (xd_nn_is_seq(L)) return xd_nn_seq_fwd(L, in, n, out, err);
    if (xd_nn_is_linear(L))
        return xd_nn_linear_fwd(net, L, L->w, L->b, in, n, out, err);
    xd_nn_simple_fwd(L, in, n, out);
    return XAI_OK;
}


void xd_nn_trace_free(xd_nn_trace *t) {
    xd_free(t->act);
    if (t->net) xd_nn_scratch_give(t->net, t->buf);
    t->act = NULL;
    t->buf = NULL;
}

xai_status xd_nn_trace_run(const xai_nn *net, const float *x, size_t n, size_t top, xd_nn_trace *t,
                           xai_error *err) {
    memset(t, 0, sizeof *t);
    t->net = net;
    t->n = n;
    t->top = top;
    size_t total = 0;
    for (size_t l = 0; l <= top; l++) total += xd_nn_act_size(net, l);
    t->act = xd_try_calloc(top + 1, sizeof *t->act);
    t->buf = xd_nn_scratch_take(net, xd_mul(total, n ? n : 1));
    if (t->act == NULL || t->buf == NULL)
        return xd_err(err, XAI_ERR_NOMEM, "network activations for %zu samples", n);
    float *p = t->buf;
    for (size_t l = 0; l <= top; l++) {
        t->act[l] = p;
        p += n * xd_nn_act_size(net, l);
    }
    memcpy(t->act[0], x, n * xd_nn_act_size(net, 0) * sizeof(float));
    for (size_t l = 0; l < top; l++) {
        const xd_nn_layer *L = &net->layers[l];
        xai_status st;
        if (l + 1 < top && xd_nn_relu_on_linear(net, l + 1)) { /* one pass writes both */
            st = xd_nn_linear_fwd_relu(net, L, L->w, L->b, t->act[l], n, t->act[l + 1],
                                       t->act[l + 2], err);
            l++;
        } else if (xd_nn_is_merge(L)) {
            xd_nn_merge_fwd(L, t->act[L->src], t->act[L->src2], n, t->act[l + 1]);
            st = XAI_OK;
        } else {
            st = layer_fwd(net, L, t->act[L->src], n, t->act[l + 1], err);
        }
        if (st != XAI_OK) return st;
    }
    return XAI_OK;
}

/* Samples per chunk of a forward pass whose trace is not kept: about
 * CHUNK_FLOATS floats of activations, so each layer's output is still in
 * cache when the next layer reads it. Every layer is per sample, so chunks
 * compute the same sums; sgemm may round the last bit differently for
 * another number of columns (its blocking follows the shape), as in the
 * chunked explain passes (backward.c), which use the same chunks. */
#define CHUNK_FLOATS ((size_t)1 << 18)

/* Runs layers [0, top) and copies the result to out, chunk by chunk. */
static xai_status run_to(const xai_nn *net, const float *x, size_t n, size_t top, float *out,
                         xai_error *err) {
    if (n == 0) return XAI_OK;
    if (x == NULL || out == NULL) return xd_err(err, XAI_ERR_INVALID, "forward: NULL buffer");
    size_t per = 0, d = xd_nn_act_size(net, 0), k = xd_nn_act_size(net, top);
    for (size_t l = 0; l <= top; l++) per += xd_nn_act_size(net, l);
    size_t chunk = XD_MAX(CHUNK_FLOATS / (per ? per : 1), (size_t)16);
    xai_status st = XAI_OK;
    for (size_t s0 = 0; s0 < n && st == XAI_OK; s0 += chunk) {
        size_t m = XD_MIN(chunk, n - s0);
        xd_nn_trace t;
        st = xd_nn_trace_run(net, x + s0 * d, m, top, &t, err);
        if (st == XAI_OK) memcpy(out + s0 * k, t.act[top], m * k * sizeof *out);
        xd_nn_trace_free(&t);
    }
    return st;
}

xai_status xai_nn_forward(const xai_nn *net, const float *x, size_t n, float *out, xai_error *err) {
    return run_to(net, x, n, net->n, out, err);
}

xai_status xai_nn_logits(const xai_nn *net, const float *x, size_t n, float *out, xai_error *err) {
    size_t l = xai_nn_logit_layer(net);
    return run_to(net, x, n, l == (size_t)-1 ? 0 : l + 1, out, err);
}

xai_status xd_nn_targets(const int64_t *targets, const float *logits, size_t n, size_t k,
                         size_t *out, xai_error *err) {
    for (size_t s = 0; s < n; s++) {
        if (targets) {
            if (targets[s] < 0 || (uint64_t)targets[s] >= k)
                return xd_err(err, XAI_ERR_INVALID,
                              "target %lld of sample %zu is not a logit in [0, %zu)",
                              (long long)targets[s], s, k);
            out[s] = (size_t)targets[s];
            continue;
        }
        const float *z = logits + s * k;
        size_t best = 0;
        for (size_t j = 1; j < k; j++)
            if (z[j] > z[best]) best = j;
        out[s] = best;
    }
    return XAI_OK;
}
