/* gradcam.c — class activation maps: Grad-CAM (Selvaraju et al. 2017) at
 * any layer's output, CAM (Zhou et al. 2016) from the weights over a global
 * average pool, guided Grad-CAM, with optional ReLU and bilinear upsampling
 * to the input's size; and layer activations (the maps CAMs are made of).
 *
 * One pass: forward to the logits, backward down to the chosen layer's
 * output (the gradient G, n x C x H' x W'), then per sample
 * cam = sum_c mean(G_c) A_c with A the stored activations of that layer.
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* Bilinear resize of one h x w map to H x W, align_corners = false (the
 * source coordinate of target pixel Y is (Y + 0.5) h / H - 0.5, clamped). */
static void bilinear(const float *src, size_t h, size_t w, float *dst, size_t H, size_t W) {
    for (size_t Y = 0; Y < H; Y++) {
        double sy = ((double)Y + 0.5) * (double)h / (double)H - 0.5;
        sy = sy < 0 ? 0 : sy;
        size_t y0 = XD_MIN((size_t)sy, h - 1), y1 = XD_MIN(y0 + 1, h - 1);
        double ly = sy - (double)y0;
        for (size_t X = 0; X < W; X++) {
            double sx = ((double)X + 0.5) * (double)w / (double)W - 0.5;
            sx = sx < 0 ? 0 : sx;
            size_t x0 = XD_MIN((size_t)sx, w - 1), x1 = XD_MIN(x0 + 1, w - 1);
            double lx = sx - (double)x0;
            double top = (1 - lx) * src[y0 * w + x0] + lx * src[y0 * w + x1];
            double bot = (1 - lx) * src[y1 * w + x0] + lx * src[y1 * w + x1];
            dst[Y * W + X] = (float)((1 - ly) * top + ly * bot);
        }
    }
}

/* cam (h x w) of one sample from its activations A and gradients G. */
static void one_cam(const float *A, const float *G, size_t c, size_t hw, bool relu, float *cam) {
    memset(cam, 0, hw * sizeof *cam);
    for (size_t ch = 0; ch < c; ch++) {
        double mean = 0;
        for (size_t p = 0; p < hw; p++) mean += G[ch * hw + p];
        mean /= (double)hw;
        for (size_t p = 0; p < hw; p++) cam[p] += (float)mean * A[ch * hw + p];
    }
    if (relu)
        for (size_t p = 0; p < hw; p++) cam[p] = cam[p] > 0 ? cam[p] : 0.0f;
}

xai_status xai_nn_gradcam(const xai_nn *net, size_t layer, const float *x, size_t n,
                          const int64_t *targets, bool relu, bool upsample, float *out,
                          xai_error *err) {
    size_t ll = xai_nn_logit_layer(net);
    if (ll == (size_t)-1 || layer > ll)
        return xd_err(err, XAI_ERR_INVALID, "gradcam: layer %zu is not below the logits", layer);
    if (n == 0) return XAI_OK;
    const xd_nn_layer *L = &net->layers[layer];
    size_t c = L->out_c, hw = L->out_h * L->out_w, sz = c * hw;
    float *g = xd_try_malloc(xd_mul(xd_mul(n, sz), sizeof *g));
    float *cam = xd_try_malloc(xd_mul(hw, sizeof *cam));
    xd_nn_trace t = {0};
    xai_status st = XAI_OK;
    if (g == NULL || cam == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "gradcam: %zu samples", n);
        goto cleanup;
    }
    xd_nn_bwd b = {.mode = XD_NN_GRAD, .stop = layer + 1};
    st = xd_nn_explain_pass(net, &b, x, n, targets, g, NULL, &t, err);
    if (st != XAI_OK) goto cleanup;
    size_t H = net->in_h, W = net->in_w;
    for (size_t s = 0; s < n; s++) {
        float *dst = upsample ? cam : out + s * hw;
        one_cam(t.act[layer + 1] + s * sz, g + s * sz, c, hw, relu, dst);
        if (upsample) bilinear(cam, L->out_h, L->out_w, out + s * H * W, H, W);
    }
cleanup:
    xd_nn_trace_free(&t);
    xd_free(g);
    xd_free(cam);
    return st;
}

xai_status xai_nn_activations(const xai_nn *net, size_t layer, const float *x, size_t n,
                              float *out, xai_error *err) {
    if (layer >= net->n) return xd_err(err, XAI_ERR_INVALID, "activations: no layer %zu", layer);
    if (n == 0) return XAI_OK;
    if (x == NULL || out == NULL) return xd_err(err, XAI_ERR_INVALID, "activations: NULL buffer");
    xd_nn_trace t;
    xai_status st = xd_nn_trace_run(net, x, n, layer + 1, &t, err);
    if (st == XAI_OK)
        memcpy(out, t.act[layer + 1], n * xd_nn_act_size(net, layer + 1) * sizeof *out);
    xd_nn_trace_free(&t);
    return st;
}

/* The global average pool under CAM's dense logit layer, or (size_t)-1. */
static size_t cam_pool(const xai_nn *net) {
    size_t ll = xai_nn_logit_layer(net);
    if (ll == (size_t)-1 || net->layers[ll].kind != XAI_NN_DENSE) return (size_t)-1;
    size_t k = net->layers[ll].src; /* trace index the dense layer reads */
    if (k > 0 && net->layers[k - 1].kind == XAI_NN_FLATTEN) k = net->layers[k - 1].src;
    if (k == 0) return (size_t)-1;
    const xd_nn_layer *P = &net->layers[k - 1];
    bool mean = P->kind == XAI_NN_GLOBAL_AVGPOOL ||
                (P->kind == XAI_NN_TOKEN_POOL && P->mode == XAI_NN_POOL_MEAN);
    return mean ? k - 1 : (size_t)-1;
}

xai_status xai_nn_cam(const xai_nn *net, const float *x, size_t n, const int64_t *targets,
                      bool relu, bool upsample, float *out, xai_error *err) {
    size_t p = cam_pool(net), ll = xai_nn_logit_layer(net);
    if (p == (size_t)-1)
        return xd_err(err, XAI_ERR_INVALID,
                      "cam: needs feature maps -> global_avgpool -> (flatten) -> dense logits");
    if (n == 0) return XAI_OK;
    const xd_nn_layer *P = &net->layers[p], *D = &net->layers[ll];
    size_t c = P->in_c, hw = P->in_h * P->in_w, k = D->out_c, H = net->in_h, W = net->in_w;
    size_t *tg = xd_try_malloc(xd_mul(n, sizeof *tg));
    float *cam = xd_try_malloc(xd_mul(hw, sizeof *cam));
    xd_nn_trace t = {0};
    xai_status st = tg && cam ? xd_nn_trace_run(net, x, n, ll + 1, &t, err)
                              : xd_err(err, XAI_ERR_NOMEM, "cam: %zu samples", n);
    if (st == XAI_OK) st = xd_nn_targets(targets, t.act[ll + 1], n, k, tg, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++) {
        const float *A = t.act[P->src] + s * c * hw, *w = D->w + tg[s] * c;
        float *dst = upsample ? cam : out + s * hw;
        memset(dst, 0, hw * sizeof *dst);
        for (size_t ch = 0; ch < c; ch++)
            for (size_t q = 0; q < hw; q++) dst[q] += w[ch] * A[ch * hw + q];
        if (relu)
            for (size_t q = 0; q < hw; q++) dst[q] = dst[q] > 0 ? dst[q] : 0.0f;
        if (upsample) bilinear(cam, P->in_h, P->in_w, out + s * H * W, H, W);
    }
    xd_nn_trace_free(&t);
    xd_free(tg);
    xd_free(cam);
    return st;
}

xai_status xai_nn_guided_gradcam(const xai_nn *net, size_t layer, const float *x, size_t n,
                                 const int64_t *targets, float *out, xai_error *err) {
    size_t d = xai_nn_input_size(net), C = net->in_c, HW = net->in_h * net->in_w;
    if (n == 0) return XAI_OK;
    float *cam = xd_try_malloc(xd_mul(xd_mul(n, HW), sizeof *cam));
    size_t *tg = xd_try_malloc(xd_mul(n, sizeof *tg));
    float *z = xd_try_malloc(xd_mul(xd_mul(n, xai_nn_n_logits(net)), sizeof *z));
    int64_t *t64 = xd_try_malloc(xd_mul(n, sizeof *t64));
    xai_status st = cam && tg && z && t64 ? XAI_OK
                                          : xd_err(err, XAI_ERR_NOMEM, "guided gradcam: %zu", n);
    /* one target for both parts: the given one, or the predicted class */
    if (st == XAI_OK) st = xai_nn_logits(net, x, n, z, err);
    if (st == XAI_OK) st = xd_nn_targets(targets, z, n, xai_nn_n_logits(net), tg, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++) t64[s] = (int64_t)tg[s];
    if (st == XAI_OK) st = xai_nn_gradient(net, XAI_NN_BP_GUIDED, x, n, t64, out, NULL, err);
    if (st == XAI_OK) st = xai_nn_gradcam(net, layer, x, n, t64, true, true, cam, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++)
        for (size_t c = 0; c < C; c++)
            for (size_t q = 0; q < HW; q++) out[s * d + c * HW + q] *= cam[s * HW + q];
    xd_free(cam);
    xd_free(tg);
    xd_free(z);
    xd_free(t64);
    return st;
}
