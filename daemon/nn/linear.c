/* linear.c — the GEMM kernels of dense and conv layers: forward, gradient
 * with respect to the input, and gradient with respect to the weights.
 *
 * Dense: the batch is an n x K matrix; out = in W^T, gin = gout W,
 * dW += gout^T in, all single sgemm calls.
 *
 * Convolution via im2col: for a chunk of m samples with P = m OH OW output
 * positions p = (sample, oy, ox), `cols` is the K x P matrix whose row
 * k = (c, ky, kx) holds, for every position, the input value that kernel tap
 * k sees there (zero in the padding). Then
 *   forward  Y = W cols          (O x P), copied to NCHW plus bias
 *   input    gcols = W^T gY      (K x P), summed back into the image (col2im)
 *   weights  dW += gY cols^T     (O x K)
 * where gY is gout laid out as O x P. In this layout a row of cols is, per
 * sample and output row, a run of the input row (contiguous for stride 1),
 * and NCHW <-> O x P moves whole OH*OW blocks, so every loop outside sgemm
 * is a copy of runs. Chunks bound the scratch to about CHUNK_FLOATS floats
 * whatever the batch size.
 */
#include <cblas.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

#define CHUNK_FLOATS ((size_t)1 << 17)

/* d[0, n) = s[0, n): fixed-size copies for the short rows of small images
 * (compiled to a couple of vector moves), memcpy otherwise. */
static inline void copy_run(float *restrict d, const float *restrict s, size_t n) {
    switch (n) {
    case 3:
        for (int i = 0; i < 3; i++) d[i] = s[i];
        return;
    case 4:
        for (int i = 0; i < 4; i++) d[i] = s[i];
        return;
    case 7:
        for (int i = 0; i < 7; i++) d[i] = s[i];
        return;
    case 8:
        for (int i = 0; i < 8; i++) d[i] = s[i];
        return;
    default:
        memcpy(d, s, n * sizeof *d);
    }
}

/* d[0, n) += s[0, n), with the same fixed sizes as copy_run. */
static inline void add_run(float *restrict d, const float *restrict s, size_t n) {
    switch (n) {
    case 4:
        for (int i = 0; i < 4; i++) d[i] += s[i];
        return;
    case 8:
        for (int i = 0; i < 8; i++) d[i] += s[i];
        return;
    default:
        for (size_t i = 0; i < n; i++) d[i] += s[i];
    }
}

/* One output row of one kernel tap: run[0, ow) <-> the padded input row at
 * src, read every `stride` floats. gather copies into run; otherwise run is
 * added back into the row (col2im). */
static inline void run_io(float *restrict run, float *restrict src, size_t ow, size_t stride,
                          bool gather) {
    if (gather && stride == 1)
        copy_run(run, src, ow);
    else if (gather)
        for (size_t ox = 0; ox < ow; ox++) run[ox] = src[ox * stride];
    else if (stride == 1)
        add_run(src, run, ow);
    else
        for (size_t ox = 0; ox < ow; ox++) src[ox * stride] += run[ox];
}

/* Sample img (c x h x w) <-> its zero-padded copy pad (c x ph x pw). in:
 * fill pad (borders zero); out: pad's interior to img. */
static void pad_io(const xd_nn_layer *L, float *img, float *pad, bool in) {
    size_t ph = L->in_h + 2 * L->pad, pw = L->in_w + 2 * L->pad, w = L->in_w;
    if (in) memset(pad, 0, L->in_c * ph * pw * sizeof *pad);
    for (size_t c = 0; c < L->in_c; c++)
        for (size_t y = 0; y < L->in_h; y++) {
            float *p = pad + (c * ph + y + L->pad) * pw + L->pad, *r = img + (c * L->in_h + y) * w;
            if (in)
                memcpy(p, r, w * sizeof *p);
            else
                memcpy(r, p, w * sizeof *p);
        }
}

/* im2col (gather: cols, K x P, from the m images) or col2im (cols summed
 * back into the m images, which are overwritten). P = m * OH * OW. Each
 * sample goes through a zero-padded copy `pad` (in_c x PH x PW floats), so
 * every tap reads whole output rows at a fixed offset with no bounds logic;
 * col2im sums into the padded copy and keeps its interior. */
static void cols_io(const xd_nn_layer *L, float *imgs, size_t m, float *cols, float *pad,
                    bool gather) {
    size_t ihw = L->in_h * L->in_w, ohw = L->out_h * L->out_w, P = m * ohw;
    size_t ow = L->out_w, st = L->stride, pw = L->in_w + 2 * L->pad;
    size_t phw = (L->in_h + 2 * L->pad) * pw;
    for (size_t s = 0; s < m; s++) {
        float *img = imgs + s * L->in_c * ihw;
        if (gather)
            pad_io(L, img, pad, true);
        else
            memset(pad, 0, L->in_c * phw * sizeof *pad);
        size_t k = 0;
        for (size_t c = 0; c < L->in_c; c++)
            for (size_t ky = 0; ky < L->kh; ky++)
                for (size_t kx = 0; kx < L->kw; kx++, k++) {
                    float *blk = cols + k * P + s * ohw, *src = pad + c * phw + ky * pw + kx;
                    for (size_t oy = 0; oy < L->out_h; oy++)
                        run_io(blk + oy * ow, src + oy * st * pw, ow, st, gather);
                }
        if (!gather) pad_io(L, img, pad, false);
    }
}

/* NCHW block of m samples <-> O x P (P = m hw), with an optional bias. */
static void nchw_to_op(const float *t, size_t m, size_t o, size_t hw, float *op) {
    for (size_t s = 0; s < m; s++)
        for (size_t c = 0; c < o; c++)
            memcpy(op + c * m * hw + s * hw, t + (s * o + c) * hw, hw * sizeof *op);
}

static void op_to_nchw(const float *op, size_t m, size_t o, size_t hw, const float *b, float *t) {
    for (size_t s = 0; s < m; s++)
        for (size_t c = 0; c < o; c++) {
            const float *src = op + c * m * hw + s * hw;
            float *dst = t + (s * o + c) * hw, bias = b ? b[c] : 0.0f;
            for (size_t q = 0; q < hw; q++) dst[q] = src[q] + bias;
        }
}

/* Samples per chunk, and scratch for K x P cols plus O x P outputs. */
static float *conv_scratch(const xai_nn *net, const xd_nn_layer *L, size_t n, size_t *chunk,
                           xai_error *err) {
    size_t ohw = L->out_h * L->out_w, K = L->in_c * L->kh * L->kw;
    size_t per = ohw * (K + L->out_c);
    size_t padded = L->in_c * (L->in_h + 2 * L->pad) * (L->in_w + 2 * L->pad);
    size_t c = CHUNK_FLOATS / (per ? per : 1);
    c = c == 0 ? 1 : c > n ? n : c;
    *chunk = c;
    float *s = xd_nn_scratch_take(net, xd_mul(c, per) + padded);
    if (s == NULL) xd_err(err, XAI_ERR_NOMEM, "conv2d: scratch for %zu samples", c);
    return s;
}

/* The three conv products on one chunk of m samples (see the top). */
typedef enum { CONV_FWD, CONV_BWD, CONV_WGRAD } conv_op;

static void conv_chunk(const xd_nn_layer *L, conv_op op, const float *w, const float *b,
                       const float *in, const float *gout, size_t m, float *out, float *dw,
                       float *db, float *scr) {
    int O = (int)L->nb, K = (int)xd_nn_fan_in(L), P = (int)(m * L->out_h * L->out_w);
    size_t ohw = L->out_h * L->out_w;
    float *cols = scr, *y = scr + (size_t)P * (size_t)K, *pad = y + (size_t)P * L->nb;
    if (op != CONV_BWD) cols_io(L, (float *)in, m, cols, pad, true); /* read only */
    if (op != CONV_FWD) nchw_to_op(gout, m, L->nb, ohw, y);
    if (op == CONV_FWD) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, P, K, 1.0f, w, K, cols, P, 0.0f,
                    y, P);
        op_to_nchw(y, m, L->nb, ohw, b, out);
    } else if (op == CONV_BWD) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, P, O, 1.0f, w, K, y, P, 0.0f, cols,
                    P);
        cols_io(L, out, m, cols, pad, false);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, P, 1.0f, y, P, cols, P, 1.0f, dw,
                    K);
        for (size_t o = 0; o < L->nb; o++)
            for (size_t p = 0; p < (size_t)P; p++) db[o] += y[o * (size_t)P + p];
    }
}

/* Runs `op` over n samples in chunks that bound the scratch. `out` is the
 * output (FWD) or the input gradient (BWD, overwritten). */
static xai_status conv_run(const xai_nn *net, const xd_nn_layer *L, conv_op op, const float *w,
                           const float *b, const float *in, const float *gout, size_t n, float *out,
                           float *dw, float *db, xai_error *err) {
    size_t chunk, ohw = L->out_h * L->out_w, isz = L->in_c * L->in_h * L->in_w;
    float *scr = conv_scratch(net, L, n, &chunk, err);
    if (scr == NULL) return XAI_ERR_NOMEM;
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
