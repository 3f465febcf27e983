/* backward.c — backward passes with a rule per layer: the true gradient,
 * guided backprop and deconvnet at ReLUs, or LRP (lrp.c), all through one
 * driver.
 *
 * The driver walks from the logits down, ping-ponging between two buffers
 * sized for the largest tensor on the way. Every gradient method and LRP rule
 * is this walk with a different per-layer step, so methods are composed and
 * never duplicated.
 */
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* 2x2 max pooling with stride 2 whose windows tile the input: each input
 * is written once (the window's gradient at its first maximum in row-major
 * order, zero elsewhere), so gin needs no zeroing first. Like the forward
 * (forward.c), three loops over blocks of whole rows that vectorize:
 *   pairs:   hmax = the first maximum of each horizontal pair, right = its
 *            right element won (a1 > a0);
 *   windows: the bottom pair wins if its maximum beats the top's, and the
 *            winning pair gets the window's gradient (pv);
 *   pixels:  each pair gives pv to its winner and 0 to the other.
 * For numbers (not NaN) this is the first maximum of a0, a1, b0, b1.
 * maxpool2_bwd instantiates it for the narrowest outputs, whose window loop
 * is short enough to unroll. */
#define POOL_BLOCK 1024
static inline __attribute__((always_inline)) void
maxpool2_bwd_ow(size_t ow, const xd_nn_layer *L, const float *restrict in,
                const float *restrict gout, size_t n, float *restrict gin) {
    size_t rows = n * L->in_c * L->out_h; /* output rows */
    size_t per = POOL_BLOCK / (2 * ow) ? POOL_BLOCK / (2 * ow) : 1;
    float hmax[POOL_BLOCK], pv[POOL_BLOCK];
    int32_t right[POOL_BLOCK];
    for (size_t r0 = 0; r0 < rows; r0 += per) {
        size_t nr = rows - r0 < per ? rows - r0 : per, np = 2 * nr * ow;
        const float *src = in + r0 * 4 * ow, *go = gout + r0 * ow;
        float *gi = gin + r0 * 4 * ow;
        for (size_t i = 0; i < np; i++) {
            float a = src[2 * i], b = src[2 * i + 1];
            right[i] = b > a;
            hmax[i] = b > a ? b : a;
        }
        for (size_t r = 0; r < nr; r++)
            for (size_t x = 0; x < ow; x++) {
                size_t t = 2 * r * ow + x, u = t + ow;
                float g = go[r * ow + x];
                bool bottom = hmax[u] > hmax[t];
                pv[t] = bottom ? 0.0f : g;
                pv[u] = bottom ? g : 0.0f;
            }
        for (size_t i = 0; i < np; i++) {
            float g = pv[i];
            gi[2 * i] = right[i] ? 0.0f : g;
            gi[2 * i + 1] = right[i] ? g : 0.0f;
        }
    }
}

XD_NN_AVX2_CLONE XD_NN_SIMD static void maxpool2_bwd(const xd_nn_layer *L, const float *restrict in,
                                    const float *restrict gout, size_t n,
                                    float *restrict gin) {
    if (L->out_w == 2)
        maxpool2_bwd_ow(2, L, in, gout, n, gin);
    else if (L->out_w == 4)
        maxpool2_bwd_ow(4, L, in, gout, n, gin);
    else
        maxpool2_bwd_ow(L->out_w, L, in, gout, n, gin);
}

/* Max pooling sends each window's gradient to its first maximum; average
 * pooling spreads it evenly. gin is zeroed here. */
static void pool_bwd(const xd_nn_layer *L, const float *in, const float *gout, size_t n,
                     float *gin) {
    size_t ihw = L->in_h * L->in_w, ohw = L->out_h * L->out_w;
    float inv = xd_nn_pool_scale(L);
    bool is_max = xd_nn_pool_is_max(L);
    if (L->kind == XAI_NN_MAXPOOL2D && L->kh == 2 && L->kw == 2 && L->stride == 2 &&
        L->in_h == 2 * L->out_h && L->in_w == 2 * L->out_w && 2 * L->out_w <= POOL_BLOCK) {
        maxpool2_bwd(L, in, gout, n, gin);
        return;
    }
    memset(gin, 0, n * L->in_c * ihw * sizeof *gin);
    for (size_t sc = 0; sc < n * L->in_c; sc++) {
        const float *img = in + sc * ihw;
        float *gi = gin + sc * ihw;
        const float *go = gout + sc * ohw;
        for (size_t oy = 0; oy < L->out_h; oy++)
            for (size_t ox = 0; ox < L->out_w; ox++) {
                size_t base = oy * L->stride * L->in_w + ox * L->stride, arg = base;
                float g = go[oy * L->out_w + ox];
                for (size_t ky = 0; ky < L->kh; ky++)
                    for (size_t kx = 0; kx < L->kw; kx++) {
                        size_t i = base + ky * L->in_w + kx;
                        if (is_max) {
                            if (img[i] > img[arg]) arg = i;
                        } else {
                            gi[i] += g * inv;
                        }
                    }
                if (is_max) gi[arg] += g;
            }
    }
}

/* The mode is tested once, outside the loops, and every load is
 * unconditional, so each loop vectorizes to compares and selects. */
static void relu_bwd(xd_nn_mode mode, const float *restrict in, const float *restrict gout,
                     size_t sz, float *restrict gin) {
    if (mode == XD_NN_DECONV)
        for (size_t i = 0; i < sz; i++) gin[i] = gout[i] > 0 ? gout[i] : 0.0f;
    else if (mode == XD_NN_GUIDED)
        for (size_t i = 0; i < sz; i++) {
            float g = gout[i], a = in[i];
            gin[i] = ((a > 0) & (g > 0)) ? g : 0.0f;
        }
    else
        for (size_t i = 0; i < sz; i++) {
            float g = gout[i], a = in[i];
            gin[i] = a > 0 ? g : 0.0f;
        }
}

void xd_nn_simple_bwd(const xd_nn_layer *L, xd_nn_mode mode, const float *in, const float *outv,
                      const float *gout, size_t n, float *gin) {
    size_t sz = n * L->in_c * L->in_h * L->in_w;
    switch (L->kind) {
    case XAI_NN_MAXPOOL2D:
    case XAI_NN_AVGPOOL2D:
    case XAI_NN_GLOBAL_AVGPOOL:
    case XAI_NN_TOKEN_POOL:
        pool_bwd(L, in, gout, n, gin);
        break;
    case XAI_NN_RELU:
        relu_bwd(mode, in, gout, sz, gin);
        break;
    case XAI_NN_TANH:
        for (size_t i = 0; i < sz; i++) gin[i] = gout[i] * (1.0f - outv[i] * outv[i]);
        break;
    case XAI_NN_SIGMOID:
        for (size_t i = 0; i < sz; i++) gin[i] = gout[i] * outv[i] * (1.0f - outv[i]);
        break;
    default: /* flatten (softmax is never crossed: passes start at the logits) */
        memcpy(gin, gout, sz * sizeof *gin);
        break;
    }
}

/* One layer of the walk, by mode; pre: a ReLU above a dense/conv layer,
 * fused into its product (NULL: none). */
static xai_status step(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b, size_t l,
                       const xd_nn_pre *pre, const float *gout, float *gin, xai_error *err) {
    const xd_nn_layer *L = &net->layers[l];
    const float *in = t->act[L->src];
    if (b->mode == XD_NN_LRP)
        return xd_nn_lrp_layer(net, L, &b->rules[l], b->pool_eps, in, t->act[l + 1], gout, t->n,
                               gin, err);
    if (xd_nn_is_seq(L)) return xd_nn_seq_bwd(L, false, in, gout, t->n, gin, err);
    if (xd_nn_is_linear(L))
        return xd_nn_linear_bwd_pre(net, L, L->w, pre, gout, t->n, gin, err);
    xd_nn_simple_bwd(L, b->mode, in, t->act[l + 1], gout, t->n, gin);
    return XAI_OK;
}

xai_status xd_nn_step(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b, size_t l,
                      const float *gout, float *gin, xai_error *err) {
    return step(net, t, b, l, NULL, gout, gin, err);
}

/* Layers whose step would copy the signal unchanged: flatten always, and
 * activations under LRP (see xd_nn_lrp_layer). The walk skips them and
 * keeps the signal where it is. */
static bool passes_through(const xd_nn_layer *L, xd_nn_mode mode) {
    bool act = L->kind == XAI_NN_RELU || L->kind == XAI_NN_TANH || L->kind == XAI_NN_SIGMOID;
    return L->kind == XAI_NN_FLATTEN || (mode == XD_NN_LRP && act);
}

/* Under GRAD, a ReLU at l right above a dense/conv layer is left to that
 * layer's product (XD_NN_PRE_RELU), saving a pass, unless its own signal is
 * asked for. */
static bool relu_fuses(const xai_nn *net, const xd_nn_bwd *b, size_t l) {
    if (b->mode != XD_NN_GRAD || l == b->stop) return false;
    if (b->per_layer && b->per_layer[l]) return false;
    return xd_nn_relu_on_linear(net, l);
}

xai_status xd_nn_backward(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b,
                          const float *seed, float *out, xai_error *err) {
    if (!xd_nn_is_chain(net)) return xd_nn_graph_backward(net, t, b, seed, out, err);
    size_t n = t->n, maxsz = 0;
    for (size_t l = b->stop; l <= t->top; l++) maxsz = XD_MAX(maxsz, xd_nn_act_size(net, l));
    float *g0 = xd_nn_scratch_take(net, xd_mul(n, maxsz));
    float *g1 = xd_nn_scratch_take(net, xd_mul(n, maxsz));
    xai_status st = XAI_OK;
    if (g0 == NULL || g1 == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "backward pass for %zu samples", n);
        goto cleanup;
    }
    memcpy(g0, seed, n * xd_nn_act_size(net, t->top) * sizeof(float));
    if (b->per_layer && b->per_layer[t->top])
        memcpy(b->per_layer[t->top], g0, n * xd_nn_act_size(net, t->top) * sizeof(float));
    xd_nn_pre relu = {XD_NN_PRE_NONE, NULL, 0};
    for (size_t l = t->top; l-- > b->stop;) {
        if (relu_fuses(net, b, l)) {
            relu = (xd_nn_pre){XD_NN_PRE_RELU, t->act[l], 0};
            continue;
        }
        if (!passes_through(&net->layers[l], b->mode)) {
            st = step(net, t, b, l, &relu, g0, g1, err);
            relu.kind = XD_NN_PRE_NONE;
            if (st != XAI_OK) goto cleanup;
            float *tmp = g0;
            g0 = g1;
            g1 = tmp;
        }
        if (b->per_layer && b->per_layer[l])
            memcpy(b->per_layer[l], g0, n * xd_nn_act_size(net, l) * sizeof(float));
    }
    memcpy(out, g0, n * xd_nn_act_size(net, b->stop) * sizeof(float));
cleanup:
    xd_nn_scratch_give(net, g0);
    xd_nn_scratch_give(net, g1);
    return st;
}

/* Seed at the logits: one-hot at each sample's target, times the logit's
 * value for LRP. */
static void fill_seed(const float *logits, const size_t *tg, size_t n, size_t k, bool times_logit,
                      float *seed) {
    memset(seed, 0, n * k * sizeof *seed);
    for (size_t s = 0; s < n; s++) seed[s * k + tg[s]] = times_logit ? logits[s * k + tg[s]] : 1.0f;
}

static xai_status explain_chunk(const xai_nn *net, const xd_nn_bwd *b, const float *x, size_t n,
                                const int64_t *targets, float *out, float *logits_out,
                                xd_nn_trace *keep, xai_error *err) {
    size_t ll = xai_nn_logit_layer(net);
    if (ll == (size_t)-1)
        return xd_err(err, XAI_ERR_INVALID, "network has no layer before its output");
    if (n == 0) return XAI_OK;
    if (x == NULL || out == NULL)
        return xd_err(err, XAI_ERR_INVALID, "NULL input or output buffer");
    size_t k = xd_nn_act_size(net, ll + 1);
    xd_nn_trace t;
    size_t *tg = xd_try_malloc(xd_mul(n, sizeof *tg));
    float *seed = xd_try_malloc(xd_mul(xd_mul(n, k), sizeof *seed));
    xai_status st = xd_nn_trace_run(net, x, n, ll + 1, &t, err);
    if (st != XAI_OK) goto cleanup;
    if (tg == NULL || seed == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "targets for %zu samples", n);
        goto cleanup;
    }
    st = xd_nn_targets(targets, t.act[ll + 1], n, k, tg, err);
    if (st != XAI_OK) goto cleanup;
    fill_seed(t.act[ll + 1], tg, n, k, b->mode == XD_NN_LRP, seed);
    if (logits_out) memcpy(logits_out, t.act[ll + 1], n * k * sizeof *logits_out);
    st = xd_nn_backward(net, &t, b, seed, out, err);
    if (st == XAI_OK && keep != NULL) {
        *keep = t;
        memset(&t, 0, sizeof t);
    }
cleanup:
    xd_nn_trace_free(&t);
    xd_free(seed);
    xd_free(tg);
    return st;
}

/* Samples per chunk: about CHUNK_FLOATS floats of activations, so a chunk's
 * forward trace and backward buffers stay in cache from one layer to the
 * next instead of streaming the whole batch through memory once per layer
 * (every pass is per sample, so chunks give the same numbers). Passes that
 * keep the trace, copy per-layer signals or carry per-sample z^B bounds run
 * whole. */
#define CHUNK_FLOATS ((size_t)1 << 18)

static size_t chunk_size(const xai_nn *net, const xd_nn_bwd *b, size_t n, const xd_nn_trace *keep) {
    if (keep != NULL || b->per_layer != NULL) return n;
    for (size_t l = 0; b->mode == XD_NN_LRP && l < net->n; l++)
        if (b->rules[l].low != NULL || b->rules[l].high != NULL) return n;
    size_t per = 0;
    for (size_t l = 0; l <= net->n; l++) per += xd_nn_act_size(net, l);
    size_t c = CHUNK_FLOATS / (per ? per : 1);
    return c < 16 ? XD_MIN(n, (size_t)16) : XD_MIN(n, c);
}

xai_status xd_nn_explain_pass(const xai_nn *net, const xd_nn_bwd *b, const float *x, size_t n,
                              const int64_t *targets, float *out, float *logits_out,
                              xd_nn_trace *keep, xai_error *err) {
    if (keep) memset(keep, 0, sizeof *keep);
    size_t ll = xai_nn_logit_layer(net), c = chunk_size(net, b, n, keep);
    if (ll == (size_t)-1 || n == 0 || x == NULL || out == NULL || c >= n)
        return explain_chunk(net, b, x, n, targets, out, logits_out, keep, err);
    size_t d = xd_nn_act_size(net, 0), k = xd_nn_act_size(net, ll + 1);
    size_t od = xd_nn_act_size(net, b->stop);
    for (size_t s0 = 0; s0 < n; s0 += c) {
        size_t m = XD_MIN(c, n - s0);
        xai_status st = explain_chunk(net, b, x + s0 * d, m, targets ? targets + s0 : NULL,
                                      out + s0 * od, logits_out ? logits_out + s0 * k : NULL,
                                      NULL, err);
        if (st != XAI_OK) return st;
    }
    return XAI_OK;
}
