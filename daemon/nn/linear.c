/* linear.c — the GEMM kernels of dense and conv layers: forward, gradient
 * with respect to the input, and gradient with respect to the weights.
 *
 * Dense: the batch is an n x K matrix; out = in W^T, gin = gout W,
 * dW += gout^T in, all single sgemm calls.
 *
 * Convolution via im2col: every output position p = (sample, oy, ox) of a
 * chunk of samples becomes one row of a P x K matrix `cols` holding the
 * receptive field (c, ky, kx) (zeros where it falls in the padding). Then
 *   forward  Y = cols W^T         (P x O), scattered to NCHW plus bias
 *   input    gcols = gY W         (P x K), summed back into the image (col2im)
 *   weights  dW += gY^T cols      (O x K)
 * where gY is gout gathered from NCHW into P x O. Chunks bound the scratch
 * to about CHUNK_FLOATS floats whatever the batch size. The only loops here
 * outside sgemm are the O(P K) copies of im2col and col2im.
 */
#include <cblas.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

#define CHUNK_FLOATS ((size_t)1 << 20)

/* One im2col row: the receptive field of output (oy, ox) of image img.
 * Interior windows (no padding) are plain copies without bounds checks. */
static void patch(const xd_nn_layer *L, const float *img, size_t oy, size_t ox, float *r) {
    size_t ihw = L->in_h * L->in_w;
    long y0 = (long)(oy * L->stride) - (long)L->pad, x0 = (long)(ox * L->stride) - (long)L->pad;
    if (y0 >= 0 && x0 >= 0 && y0 + (long)L->kh <= (long)L->in_h &&
        x0 + (long)L->kw <= (long)L->in_w) {
        const float *base = img + (size_t)y0 * L->in_w + (size_t)x0;
        for (size_t c = 0; c < L->in_c; c++)
            for (size_t ky = 0; ky < L->kh; ky++, r += L->kw)
                memcpy(r, base + c * ihw + ky * L->in_w, L->kw * sizeof *r);
        return;
    }
    for (size_t c = 0; c < L->in_c; c++)
        for (size_t ky = 0; ky < L->kh; ky++) {
            long iy = y0 + (long)ky;
            for (size_t kx = 0; kx < L->kw; kx++, r++) {
                long ix = x0 + (long)kx;
                int ok = iy >= 0 && iy < (long)L->in_h && ix >= 0 && ix < (long)L->in_w;
                *r = ok ? img[c * ihw + (size_t)iy * L->in_w + (size_t)ix] : 0.0f;
            }
        }
}

/* Rows of im2col for samples [0, n) of `in` into cols (n*OH*OW x K). */
static void im2col(const xd_nn_layer *L, const float *in, size_t n, float *cols) {
    size_t K = L->in_c * L->kh * L->kw, ihw = L->in_h * L->in_w;
    float *row = cols;
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < L->out_h; oy++)
            for (size_t ox = 0; ox < L->out_w; ox++, row += K)
                patch(L, in + s * L->in_c * ihw, oy, ox, row);
}

/* Adds one im2col row back into image gimg (the transpose of patch()). */
static void unpatch(const xd_nn_layer *L, const float *r, size_t oy, size_t ox, float *gimg) {
    size_t ihw = L->in_h * L->in_w;
    long y0 = (long)(oy * L->stride) - (long)L->pad, x0 = (long)(ox * L->stride) - (long)L->pad;
    bool inside = y0 >= 0 && x0 >= 0 && y0 + (long)L->kh <= (long)L->in_h &&
                  x0 + (long)L->kw <= (long)L->in_w;
    for (size_t c = 0; c < L->in_c; c++)
        for (size_t ky = 0; ky < L->kh; ky++) {
            long iy = y0 + (long)ky;
            if (inside) {
                float *dst = gimg + c * ihw + (size_t)iy * L->in_w + (size_t)x0;
                for (size_t kx = 0; kx < L->kw; kx++) dst[kx] += r[kx];
                r += L->kw;
                continue;
            }
            for (size_t kx = 0; kx < L->kw; kx++, r++) {
                long ix = x0 + (long)kx;
                if (iy >= 0 && iy < (long)L->in_h && ix >= 0 && ix < (long)L->in_w)
                    gimg[c * ihw + (size_t)iy * L->in_w + (size_t)ix] += *r;
            }
        }
}

/* Adds the rows of gcols back into the images gin (zeroed by the caller). */
static void col2im(const xd_nn_layer *L, const float *gcols, size_t n, float *gin) {
    size_t K = L->in_c * L->kh * L->kw, ihw = L->in_h * L->in_w;
    const float *row = gcols;
    for (size_t s = 0; s < n; s++)
        for (size_t oy = 0; oy < L->out_h; oy++)
            for (size_t ox = 0; ox < L->out_w; ox++, row += K)
                unpatch(L, row, oy, ox, gin + s * L->in_c * ihw);
}

/* NCHW block of n samples <-> P x O rows. */
static void nchw_to_rows(const float *t, size_t n, size_t o, size_t hw, float *rows) {
    for (size_t s = 0; s < n; s++)
        for (size_t c = 0; c < o; c++) {
            const float *src = t + (s * o + c) * hw;
            float *dst = rows + s * hw * o + c;
            for (size_t p = 0; p < hw; p++) dst[p * o] = src[p];
        }
}

static void rows_to_nchw(const float *rows, size_t n, size_t o, size_t hw, const float *b,
                         float *t) {
    for (size_t s = 0; s < n; s++)
        for (size_t c = 0; c < o; c++) {
            const float *src = rows + s * hw * o + c;
            float *dst = t + (s * o + c) * hw;
            float bias = b ? b[c] : 0.0f;
            for (size_t p = 0; p < hw; p++) dst[p] = src[p * o] + bias;
        }
}

/* Samples per chunk, and scratch for P x K cols plus P x O rows. */
static float *conv_scratch(const xai_nn *net, const xd_nn_layer *L, size_t n, size_t *chunk,
                           xai_error *err) {
    size_t ohw = L->out_h * L->out_w, K = L->in_c * L->kh * L->kw;
    size_t per = ohw * (K + L->out_c);
    size_t c = CHUNK_FLOATS / (per ? per : 1);
    c = c == 0 ? 1 : c > n ? n : c;
    *chunk = c;
    float *s = xd_nn_scratch_take(net, xd_mul(c, per));
    if (s == NULL) xd_err(err, XAI_ERR_NOMEM, "conv2d: scratch for %zu samples", c);
    return s;
}

/* The three conv products on one chunk of m samples (see the top). */
typedef enum { CONV_FWD, CONV_BWD, CONV_WGRAD } conv_op;

static void conv_chunk(const xd_nn_layer *L, conv_op op, const float *w, const float *b,
                       const float *in, const float *gout, size_t m, float *out, float *dw,
                       float *db, float *scr) {
    size_t O = L->nb, K = xd_nn_fan_in(L), ohw = L->out_h * L->out_w, P = m * ohw;
    float *cols = scr, *rows = scr + P * K;
    if (op != CONV_BWD) im2col(L, in, m, cols);
    if (op != CONV_FWD) nchw_to_rows(gout, m, O, ohw, rows);
    if (op == CONV_FWD) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)P, (int)O, (int)K, 1.0f, cols,
                    (int)K, w, (int)K, 0.0f, rows, (int)O);
        rows_to_nchw(rows, m, O, ohw, b, out);
    } else if (op == CONV_BWD) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)P, (int)K, (int)O, 1.0f, rows,
                    (int)O, w, (int)K, 0.0f, cols, (int)K);
        col2im(L, cols, m, out);
    } else {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)O, (int)K, (int)P, 1.0f, rows,
                    (int)O, cols, (int)K, 1.0f, dw, (int)K);
        for (size_t p = 0; p < P; p++)
            for (size_t o = 0; o < O; o++) db[o] += rows[p * O + o];
    }
}

/* Runs `op` over n samples in chunks that bound the scratch. `out` is the
 * output (FWD) or the input gradient (BWD, zeroed here). */
static xai_status conv_run(const xai_nn *net, const xd_nn_layer *L, conv_op op, const float *w,
                           const float *b, const float *in, const float *gout, size_t n, float *out,
                           float *dw, float *db, xai_error *err) {
    size_t chunk, ohw = L->out_h * L->out_w, isz = L->in_c * L->in_h * L->in_w;
    float *scr = conv_scratch(net, L, n, &chunk, err);
    if (scr == NULL) return XAI_ERR_NOMEM;
    if (op == CONV_BWD) memset(out, 0, xd_mul(n, isz) * sizeof *out);
    for (size_t s0 = 0; s0 < n; s0 += chunk) {
        size_t m = XD_MIN(chunk, n - s0), osz = L->nb * ohw;
        float *o = op == CONV_FWD ? out + s0 * osz : op == CONV_BWD ? out + s0 * isz : NULL;
        conv_chunk(L, op, w, b, in ? in + s0 * isz : NULL, gout ? gout + s0 * osz : NULL, m, o, dw,
                   db, scr);
    }
    xd_nn_scratch_give(net, scr);
    return XAI_OK;
}

xai_status xd_nn_linear_fwd(const xai_nn *net, const xd_nn_layer *L, const float *w, const float *b,
                            const float *in, size_t n, float *out, xai_error *err) {
    size_t O = L->nb, K = xd_nn_fan_in(L);
    if (L->kind != XAI_NN_DENSE)
        return conv_run(net, L, CONV_FWD, w, b, in, NULL, n, out, NULL, NULL, err);
    for (size_t s = 0; s < n; s++)
        if (b) memcpy(out + s * O, b, O * sizeof *out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)O, (int)K, 1.0f, in, (int)K,
                w, (int)K, b ? 1.0f : 0.0f, out, (int)O);
    return XAI_OK;
}

xai_status xd_nn_linear_bwd(const xai_nn *net, const xd_nn_layer *L, const float *w,
                            const float *gout, size_t n, float *gin, xai_error *err) {
    size_t O = L->nb, K = xd_nn_fan_in(L);
    if (L->kind != XAI_NN_DENSE)
        return conv_run(net, L, CONV_BWD, w, NULL, NULL, gout, n, gin, NULL, NULL, err);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)K, (int)O, 1.0f, gout,
                (int)O, w, (int)K, 0.0f, gin, (int)K);
    return XAI_OK;
}

xai_status xd_nn_linear_wgrad(const xai_nn *net, const xd_nn_layer *L, const float *in,
                              const float *gout, size_t n, float *dw, float *db, xai_error *err) {
    size_t O = L->nb, K = xd_nn_fan_in(L);
    if (L->kind != XAI_NN_DENSE)
        return conv_run(net, L, CONV_WGRAD, NULL, NULL, in, gout, n, NULL, dw, db, err);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)O, (int)K, (int)n, 1.0f, gout, (int)O,
                in, (int)K, 1.0f, dw, (int)K);
    for (size_t s = 0; s < n; s++)
        for (size_t o = 0; o < O; o++) db[o] += gout[s * O + o];
    return XAI_OK;
}
