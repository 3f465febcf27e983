/* actmax.c — activation maximization (Erhan et al. 2009; Simonyan et al.
 * 2013): gradient ascent on the input for one unit or channel of any layer,
 * with L2 decay, optional jitter and blur (Yosinski et al. 2015), a norm
 * bound and an input range.
 *
 * Each step: (jitter) shift the image by a random (dy, dx) in [-j, j]^2
 * with wrap-around; forward to the layer and backward from the objective
 * (the unit's value, or the mean of a channel over its positions) to the
 * input, the gradient shifted back; x += lr (g - 2 l2 x); (blur) every
 * blur_every steps a [1 2 1]/4 blur in both directions per channel, edges
 * clamped; then clip to [low, high] and project onto ||x|| <= norm_bound.
 * activations[k] is the objective at the unshifted x after k steps (k = 0:
 * the start). The start is `start`, or uniform noise in [-0.01, 0.01] (or in
 * the input range) from `seed`: same seed, same bytes.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "xai/rng.h"
#include "nn_impl.h"

void xai_nn_actmax_opts_init(xai_nn_actmax_opts *o) {
    memset(o, 0, sizeof *o);
    o->layer = (size_t)-1;
    o->steps = 100;
    o->lr = 0.1;
}

/* Trace index of the objective's tensor and the seed over it (one value of
 * the layer's output per sample). */
static xai_status objective(const xai_nn *net, const xai_nn_actmax_opts *o, size_t *top,
                            size_t *first, size_t *count, xai_error *err) {
    size_t layer = o->layer == (size_t)-1 ? xai_nn_logit_layer(net) : o->layer;
    if (layer == (size_t)-1 || layer >= net->n)
        return xd_err(err, XAI_ERR_INVALID, "activation_max: no layer %zu", o->layer);
    const xd_nn_layer *L = &net->layers[layer];
    size_t hw = L->out_h * L->out_w, units = o->channel ? L->out_c : L->out_c * hw;
    if (o->unit >= units)
        return xd_err(err, XAI_ERR_INVALID, "activation_max: layer %zu (%s) has %zu %s, not %zu",
                      layer, xai_nn_layer_kind_name(L->kind), units,
                      o->channel ? "channels" : "units", o->unit + 1);
    *top = layer + 1;
    *first = o->channel ? o->unit * hw : o->unit;
    *count = o->channel ? hw : 1;
    return XAI_OK;
}

/* dst = src rolled by (dy, dx) (wrap-around) in every channel; sign -1
 * rolls back. */
static void roll(const float *src, size_t c, size_t h, size_t w, long dy, long dx, float *dst) {
    for (size_t ch = 0; ch < c; ch++)
        for (size_t y = 0; y < h; y++)
            for (size_t x = 0; x < w; x++) {
                size_t ty = (size_t)(((long)y + dy + 64 * (long)h) % (long)h);
                size_t tx = (size_t)(((long)x + dx + 64 * (long)w) % (long)w);
                dst[(ch * h + ty) * w + tx] = src[(ch * h + y) * w + x];
            }
}

/* [1 2 1]/4 along rows, then columns, edges clamped; tmp: c h w floats. */
static void blur(float *x, size_t c, size_t h, size_t w, float *tmp) {
    for (size_t ch = 0; ch < c; ch++)
        for (size_t y = 0; y < h; y++)
            for (size_t i = 0; i < w; i++) {
                const float *r = x + (ch * h + y) * w;
                tmp[(ch * h + y) * w + i] =
                    0.25f * r[i ? i - 1 : 0] + 0.5f * r[i] + 0.25f * r[i + 1 < w ? i + 1 : i];
            }
    for (size_t ch = 0; ch < c; ch++)
        for (size_t y = 0; y < h; y++)
            for (size_t i = 0; i < w; i++) {
                const float *col = tmp + ch * h * w + i;
                size_t up = y ? y - 1 : 0, dn = y + 1 < h ? y + 1 : y;
                x[(ch * h + y) * w + i] = 0.25f * col[up * w] + 0.5f * col[y * w] + 0.25f * col[dn * w];
            }
}

/* Clip to the range, then scale into the norm ball. */
static void constrain(const xai_nn_actmax_opts *o, float *x, size_t d) {
    if (o->low < o->high)
        for (size_t i = 0; i < d; i++)
            x[i] = x[i] < o->low ? (float)o->low : x[i] > o->high ? (float)o->high : x[i];
    if (o->norm_bound > 0) {
        double ss = 0;
        for (size_t i = 0; i < d; i++) ss += (double)x[i] * x[i];
        if (ss > o->norm_bound * o->norm_bound) {
            float s = (float)(o->norm_bound / sqrt(ss));
            for (size_t i = 0; i < d; i++) x[i] *= s;
        }
    }
}

/* The objective at x and, when g is not NULL, its gradient with respect to x. */
static xai_status value_grad(const xai_nn *net, const float *x, size_t top, size_t first,
                             size_t count, double *value, float *g, float *seed, xai_error *err) {
    xd_nn_trace t;
    xai_status st = xd_nn_trace_run(net, x, 1, top, &t, err);
    if (st == XAI_OK) {
        double v = 0;
        for (size_t i = 0; i < count; i++) v += t.act[top][first + i];
        *value = v / (double)count;
    }
    if (st == XAI_OK && g != NULL) {
        memset(seed, 0, xd_nn_act_size(net, top) * sizeof *seed);
        for (size_t i = 0; i < count; i++) seed[first + i] = 1.0f / (float)count;
        xd_nn_bwd b = {.mode = XD_NN_GRAD, .stop = 0};
        st = xd_nn_backward(net, &t, &b, seed, g, err);
    }
    xd_nn_trace_free(&t);
    return st;
}

xai_status xai_nn_activation_max(const xai_nn *net, const xai_nn_actmax_opts *o, float *x,
                                 double *activations, xai_error *err) {
    size_t top = 0, first = 0, count = 1, d = xai_nn_input_size(net);
    size_t c = net->in_c, h = net->in_h, w = net->in_w;
    xai_status st = objective(net, o, &top, &first, &count, err);
    if (st != XAI_OK) return st;
    if (o->steps > 1000000 || !(o->lr > 0) || !(o->l2 >= 0))
        return xd_err(err, XAI_ERR_INVALID, "activation_max: steps <= 1e6, lr > 0, l2 >= 0");
    float *g = xd_try_malloc(xd_mul(d, sizeof *g)), *xs = xd_try_malloc(xd_mul(d, sizeof *xs));
    float *seed = xd_try_malloc(xd_mul(xd_nn_act_size(net, top), sizeof *seed));
    if (g == NULL || xs == NULL || seed == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "activation_max: %zu inputs", d);
        goto cleanup;
    }
    xai_rng r;
    xai_rng_seed(&r, o->seed, 0x616d);
    double lo = o->low < o->high ? o->low : -0.01, hi = o->low < o->high ? o->high : 0.01;
    for (size_t i = 0; i < d; i++)
        x[i] = o->start ? o->start[i] : (float)(lo + (hi - lo) * xai_rng_uniform(&r));
    constrain(o, x, d);
    for (size_t k = 0; k <= o->steps && st == XAI_OK; k++) {
        double v;
        long dy = 0, dx = 0;
        if ((st = value_grad(net, x, top, first, count, &v, NULL, seed, err)) != XAI_OK) break;
        if (activations) activations[k] = v;
        if (k == o->steps) break;
        if (o->jitter) {
            long span = 2 * (long)o->jitter + 1;
            dy = h > 1 ? (long)xai_rng_below(&r, (uint64_t)span) - (long)o->jitter : 0;
            dx = w > 1 ? (long)xai_rng_below(&r, (uint64_t)span) - (long)o->jitter : 0;
        }
        roll(x, c, h, w, dy, dx, xs);
        if ((st = value_grad(net, xs, top, first, count, &v, g, seed, err)) != XAI_OK) break;
        roll(g, c, h, w, -dy, -dx, xs); /* the gradient, back in x's frame */
        for (size_t i = 0; i < d; i++) x[i] += (float)(o->lr * (xs[i] - 2 * o->l2 * x[i]));
        if (o->blur_every && (k + 1) % o->blur_every == 0) blur(x, c, h, w, xs);
        constrain(o, x, d);
    }
cleanup:
    xd_free(g);
    xd_free(xs);
    xd_free(seed);
    return st;
}
