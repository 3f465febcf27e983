/* gradcam.c — Grad-CAM (Selvaraju et al. 2017) at any layer's output, with
 * optional ReLU and bilinear upsampling to the input's size.
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
