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
 *
 * The element-wise layer next to a product rides along in these copies
 * instead of taking a pass of its own: a following ReLU's output is written
 * with Y (xd_nn_linear_fwd_relu), and gY can arrive through a ReLU's mask
 * or LRP's division (xd_nn_pre). Small stride-1 3x3 convs, where runs are a
 * vector or two, have compiled-in shapes (conv_chunk_s1). Every path adds
 * the same terms in the same order, so they give the same bits.
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
    size_t ph = L->in_h + 2 * L->pad_h, pw = L->in_w + 2 * L->pad, w = L->in_w;
    if (in) memset(pad, 0, L->in_c * ph * pw * sizeof *pad);
    for (size_t c = 0; c < L->in_c; c++)
        for (size_t y = 0; y < L->in_h; y++) {
            float *p = pad + (c * ph + y + L->pad_h) * pw + L->pad, *r = img + (c * L->in_h + y) * w;
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
    size_t phw = (L->in_h + 2 * L->pad_h) * pw;
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

/* ---- element-wise maps fused into the layout copies -------------------- */

#define INLINE static inline __attribute__((always_inline))

typedef float v4f __attribute__((vector_size(16)));
typedef int32_t v4i __attribute__((vector_size(16)));

static inline v4f select4(v4i mask, v4f yes, v4f no) {
    return (v4f)(((v4i)yes & mask) | ((v4i)no & ~mask));
}

static inline v4f load4(const float *p) {
    v4f v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void store4(float *p, v4f v) {
    memcpy(p, &v, sizeof v);
}

/* s = R / (z + eps sign z), 0 where the denominator is 0. The main loop
 * does the same IEEE operations four lanes at a time, with the choices as
 * bit masks (GCC will not if-convert a division): it divides by 1 where d
 * is 0 and masks that quotient to 0. */
INLINE void divide_run(const float *restrict R, const float *restrict z, size_t sz, float eps,
                       float *restrict s) {
    const v4f pe = {eps, eps, eps, eps}, one = {1, 1, 1, 1};
    size_t i = 0;
    for (; i + 4 <= sz; i += 4) {
        v4f zv = load4(z + i), d = zv + select4(zv >= 0, pe, -pe);
        v4i nz = d != 0;
        store4(s + i, (v4f)((v4i)(load4(R + i) / select4(nz, d, one)) & nz));
    }
    for (; i < sz; i++) {
        float d = z[i] + (z[i] >= 0 ? eps : -eps);
        s[i] = d != 0 ? R[i] / d : 0.0f;
    }
}

void xd_nn_lrp_divide(const float *R, const float *z, size_t sz, float eps, float *s) {
    divide_run(R, z, sz, eps, s);
}

/* d[0, sz) = pre applied to g[0, sz); aux is pre's tensor at the same
 * offset as g (see xd_nn_pre). */
INLINE void pre_run(const xd_nn_pre *pre, const float *restrict g, const float *restrict aux,
                    size_t sz, float *restrict d) {
    if (pre == NULL || pre->kind == XD_NN_PRE_NONE) {
        for (size_t q = 0; q < sz; q++) d[q] = g[q];
    } else if (pre->kind == XD_NN_PRE_RELU) {
        for (size_t q = 0; q < sz; q++) d[q] = aux[q] > 0 ? g[q] : 0.0f;
    } else {
        divide_run(g, aux, sz, pre->eps, d);
    }
}

/* NCHW block of m samples -> O x P (P = m hw), through pre. */
INLINE void nchw_to_op(const float *t, size_t m, size_t o, size_t hw, const xd_nn_pre *pre,
                       float *op) {
    const float *aux = pre ? pre->aux : NULL;
    for (size_t s = 0; s < m; s++)
        for (size_t c = 0; c < o; c++) {
            size_t at = (s * o + c) * hw;
            pre_run(pre, t + at, aux ? aux + at : NULL, hw, op + c * m * hw + s * hw);
        }
}

/* O x P -> NCHW plus the bias (when not NULL), and max(., 0) of that into
 * relu (when not NULL: the ReLU layer that follows, fused). */
INLINE void op_to_nchw(const float *restrict op, size_t m, size_t o, size_t hw,
                       const float *restrict b, float *restrict t, float *restrict relu) {
    for (size_t s = 0; s < m; s++)
        for (size_t c = 0; c < o; c++) {
            const float *src = op + c * m * hw + s * hw;
            float *dst = t + (s * o + c) * hw, bias = b ? b[c] : 0.0f;
            for (size_t q = 0; q < hw; q++) dst[q] = src[q] + bias;
            if (relu == NULL) continue;
            float *r = relu + (s * o + c) * hw;
            for (size_t q = 0; q < hw; q++) r[q] = dst[q] > 0 ? dst[q] : 0.0f;
        }
}

/* ---- conv on chunks of samples ------------------------------------------ */

/* Samples per chunk, and scratch for K x P cols, O x P outputs and a padded
 * copy of each sample's input. */
static float *conv_scratch(const xai_nn *net, const xd_nn_layer *L, size_t n, size_t *chunk,
                           xai_error *err) {
    size_t ohw = L->out_h * L->out_w, K = L->in_c * L->kh * L->kw;
    size_t padded = L->in_c * (L->in_h + 2 * L->pad_h) * (L->in_w + 2 * L->pad);
    size_t per = ohw * (K + L->out_c);
    size_t c = CHUNK_FLOATS / (per ? per : 1);
    c = c == 0 ? 1 : c > n ? n : c;
    *chunk = c;
    float *s = xd_nn_scratch_take(net, xd_mul(c, per + padded));
    if (s == NULL) xd_err(err, XAI_ERR_NOMEM, "conv2d: scratch for %zu samples", c);
    return s;
}

/* The three conv products (see the top) and their operands for one chunk. */
typedef enum { CONV_FWD, CONV_BWD, CONV_WGRAD } conv_op;

typedef struct {
    conv_op op;
    const float *w, *b;    /* weights (FWD, BWD), bias (FWD, may be NULL) */
    const float *in;       /* the layer's input (FWD, WGRAD) */
    const float *gout;     /* gradient at the output (BWD, WGRAD), through pre */
    xd_nn_pre pre;         /* aux at this chunk */
    float *out, *relu;     /* FWD: output, optional ReLU of it; BWD: input gradient */
    float *dw, *db;        /* WGRAD: accumulated */
} conv_args;

/* The products once cols (FWD, WGRAD) and y (BWD, WGRAD: gout as O x P)
 * are filled; BWD leaves W^T y in cols for col2im. */
static void conv_gemm(const xd_nn_layer *L, const conv_args *A, size_t P, float *cols, float *y) {
    int O = (int)L->nb, K = (int)xd_nn_fan_in(L), N = (int)P;
    if (A->op == CONV_FWD) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, N, K, 1.0f, A->w, K, cols, N,
                    0.0f, y, N);
    } else if (A->op == CONV_BWD) {
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, O, 1.0f, A->w, K, y, N, 0.0f,
                    cols, N);
    } else {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, K, N, 1.0f, y, N, cols, N, 1.0f,
                    A->dw, K);
        for (size_t o = 0; o < L->nb; o++)
            for (size_t p = 0; p < P; p++) A->db[o] += y[o * P + p];
    }
}

/* Any conv shape, on m samples. */
XD_NN_SIMD static void conv_chunk(const xd_nn_layer *L, const conv_args *A, size_t m, float *scr) {
    size_t ohw = L->out_h * L->out_w, P = m * ohw, K = xd_nn_fan_in(L);
    float *cols = scr, *y = scr + P * K, *pad = y + P * L->nb;
    if (A->op != CONV_BWD) cols_io(L, (float *)A->in, m, cols, pad, true); /* read only */
    if (A->op != CONV_FWD) nchw_to_op(A->gout, m, L->nb, ohw, &A->pre, y);
    conv_gemm(L, A, P, cols, y);
    if (A->op == CONV_FWD) op_to_nchw(y, m, L->nb, ohw, A->b, A->out, A->relu);
    if (A->op == CONV_BWD) cols_io(L, A->out, m, cols, pad, false);
}

/* ---- stride-1 "same" 3x3 convs on small images ----------------------------
 * The generic loops above spend more time choosing and starting short runs
 * than copying them (a 4-wide output makes 576 runs of 4 floats per sample
 * for a 16-channel 3x3 layer). For stride 1 with the output as wide as the
 * input, a multiple of 4, every run is whole 4-float vectors; with k, pad,
 * oh and ow known at compile time (conv_chunk_s1 is instantiated for a few
 * shapes) the loops unroll into vector moves.
 *
 * col2im gathers each input row, in registers, from the taps that reach it:
 * the tap (ky, kx) adds g[x + pad - kx] at x, a vector load shifted by
 * pad - kx whose lanes outside the row are set to -0 (x + -0 == x for every
 * x, so they add nothing). Taps are added in the generic path's order, from
 * +0, so results are the same bits. The shifted loads stay inside the
 * scratch: a shift back by kx - pad floats happens only in tap blocks
 * k >= kx, which start kx P floats into cols, and a shift forward reads at
 * most pad floats past cols, into y. */
#define S1_MAX_W 16 /* widest instance below */

typedef struct {
    size_t k, pad, oh, ow;
} s1_shape;

/* im2col of m samples: their zero-padded copies first (pad: m x c x ph x
 * pw, borders zero), then every tap's oh x ow block into cols. */
INLINE void s1_gather(s1_shape S, size_t c_in, size_t m, const float *restrict img,
                      float *restrict pad, float *restrict cols, size_t P) {
    size_t ph = S.oh + S.k - 1, pw = S.ow + S.k - 1, ohw = S.oh * S.ow;
    size_t h = S.oh, w = S.ow, cp = c_in * ph * pw;
    memset(pad, 0, m * cp * sizeof *pad);
    for (size_t sc = 0; sc < m * c_in; sc++)
        for (size_t y = 0; y < h; y++) {
            float *row = pad + (sc * ph + y + S.pad) * pw + S.pad;
            for (size_t x = 0; x < w; x += 4) store4(row + x, load4(img + (sc * h + y) * w + x));
        }
    for (size_t s = 0; s < m; s++)
        for (size_t c = 0; c < c_in; c++)
#pragma GCC unroll 16
            for (size_t ky = 0; ky < S.k; ky++)
#pragma GCC unroll 16
                for (size_t kx = 0; kx < S.k; kx++) {
                    float *blk = cols + ((c * S.k + ky) * S.k + kx) * P + s * ohw;
                    const float *src = pad + s * cp + (c * ph + ky) * pw + kx;
#pragma GCC unroll 16
                    for (size_t oy = 0; oy < S.oh; oy++)
#pragma GCC unroll 16
                        for (size_t ox = 0; ox < S.ow; ox += 4)
                            store4(blk + oy * S.ow + ox, load4(src + oy * pw + ox));
                }
}

/* One sample's col2im: img (c x h x w) = the taps of cols summed back. */
INLINE void s1_scatter(s1_shape S, size_t c_in, const float *restrict cols, size_t P,
                       float *restrict img) {
    const v4f negzero = {-0.0f, -0.0f, -0.0f, -0.0f};
    const v4i lane = {0, 1, 2, 3};
    size_t h = S.oh, w = S.ow;
    for (size_t c = 0; c < c_in; c++)
        for (size_t y = 0; y < h; y++) {
            v4f acc[S1_MAX_W / 4] = {{0}};
            size_t r = y + S.pad; /* row in the padded image */
#pragma GCC unroll 16
            for (size_t ky = 0; ky < S.k; ky++) {
                if (r < ky || r - ky >= S.oh) continue;
#pragma GCC unroll 16
                for (size_t kx = 0; kx < S.k; kx++) {
                    const float *g = cols + ((c * S.k + ky) * S.k + kx) * P + (r - ky) * S.ow;
                    int sh = (int)S.pad - (int)kx;
#pragma GCC unroll 16
                    for (size_t j = 0; j < w / 4; j++) {
                        v4i x = lane + (int)(4 * j) + sh;
                        v4i in_row = (x >= 0) & (x < (int)S.ow);
                        acc[j] += select4(in_row, load4(g + 4 * j + sh), negzero);
                    }
                }
            }
#pragma GCC unroll 16
            for (size_t j = 0; j < w / 4; j++) store4(img + (c * h + y) * w + 4 * j, acc[j]);
        }
}

/* conv_chunk for a stride-1 shape S (see above). */
INLINE void conv_chunk_s1(s1_shape S, const xd_nn_layer *L, const conv_args *A, size_t m,
                          float *scr) {
    size_t O = L->nb, C = L->in_c, K = xd_nn_fan_in(L), ohw = S.oh * S.ow, P = m * ohw;
    size_t isz = C * L->in_h * L->in_w;
    float *cols = scr, *y = scr + P * K, *pad = y + P * O;
    if (A->op != CONV_BWD) s1_gather(S, C, m, A->in, pad, cols, P);
    if (A->op != CONV_FWD) nchw_to_op(A->gout, m, O, ohw, &A->pre, y);
    conv_gemm(L, A, P, cols, y);
    if (A->op == CONV_FWD) op_to_nchw(y, m, O, ohw, A->b, A->out, A->relu);
    if (A->op == CONV_BWD)
        for (size_t s = 0; s < m; s++) s1_scatter(S, C, cols + s * ohw, P, A->out + s * isz);
}

/* conv_chunk, through an instance of conv_chunk_s1 when L's shape has one. */
XD_NN_AVX2_CLONE XD_NN_SIMD static void conv_chunk_any(const xd_nn_layer *L, const conv_args *A, size_t m,
                                      float *scr) {
    bool s1 = L->stride == 1 && L->kh == 3 && L->kw == 3 && L->pad == 1 && L->pad_h == 1 &&
              L->out_h == L->out_w && L->in_h == L->out_h && L->in_w == L->out_w;
    /* square images of a width that is a multiple of 4, up to S1_MAX_W */
#define S1_CASE(W)                                                                                 \
    if (s1 && L->out_w == (W)) {                                                                   \
        conv_chunk_s1((s1_shape){3, 1, W, W}, L, A, m, scr);                                       \
        return;                                                                                    \
    }
    S1_CASE(4)
    S1_CASE(8)
    S1_CASE(16)
#undef S1_CASE
    conv_chunk(L, A, m, scr);
}

/* Runs A's product over n samples in chunks that bound the scratch. */
static xai_status conv_run(const xai_nn *net, const xd_nn_layer *L, const conv_args *A, size_t n,
                           xai_error *err) {
    size_t chunk, osz = L->nb * L->out_h * L->out_w, isz = L->in_c * L->in_h * L->in_w;
    float *scr = conv_scratch(net, L, n, &chunk, err);
    if (scr == NULL) return XAI_ERR_NOMEM;
    for (size_t s0 = 0; s0 < n; s0 += chunk) {
        conv_args c = *A;
        if (c.in) c.in += s0 * isz;
        if (c.gout) c.gout += s0 * osz;
        if (c.pre.aux) c.pre.aux += s0 * osz;
        if (c.out) c.out += s0 * (A->op == CONV_FWD ? osz : isz);
        if (c.relu) c.relu += s0 * osz;
        conv_chunk_any(L, &c, XD_MIN(chunk, n - s0), scr);
    }
    xd_nn_scratch_give(net, scr);
    return XAI_OK;
}

/* ---- entry points --------------------------------------------------------- */

xai_status xd_nn_linear_fwd_relu(const xai_nn *net, const xd_nn_layer *L, const float *w,
                                 const float *b, const float *in, size_t n, float *out,
                                 float *relu, xai_error *err) {
    size_t O = L->nb, K = xd_nn_fan_in(L);
    if (L->kind != XAI_NN_DENSE) {
        conv_args A = {.op = CONV_FWD, .w = w, .b = b, .in = in, .out = out, .relu = relu};
        return conv_run(net, L, &A, n, err);
    }
    for (size_t s = 0; s < n; s++)
        if (b) memcpy(out + s * O, b, O * sizeof *out);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)O, (int)K, 1.0f, in, (int)K,
                w, (int)K, b ? 1.0f : 0.0f, out, (int)O);
    if (relu) xd_nn_relu_fwd(out, n * O, relu);
    return XAI_OK;
}

xai_status xd_nn_linear_fwd(const xai_nn *net, const xd_nn_layer *L, const float *w, const float *b,
                            const float *in, size_t n, float *out, xai_error *err) {
    return xd_nn_linear_fwd_relu(net, L, w, b, in, n, out, NULL, err);
}

xai_status xd_nn_linear_bwd_pre(const xai_nn *net, const xd_nn_layer *L, const float *w,
                                const xd_nn_pre *pre, const float *gout, size_t n, float *gin,
                                xai_error *err) {
    size_t O = L->nb, K = xd_nn_fan_in(L);
    xd_nn_pre none = {XD_NN_PRE_NONE, NULL, 0};
    if (pre == NULL) pre = &none;
    if (L->kind != XAI_NN_DENSE) {
        conv_args A = {.op = CONV_BWD, .w = w, .gout = gout, .pre = *pre, .out = gin};
        return conv_run(net, L, &A, n, err);
    }
    float *g = NULL;
    if (pre->kind != XD_NN_PRE_NONE) {
        g = xd_nn_scratch_take(net, xd_mul(n, O));
        if (g == NULL) return xd_err(err, XAI_ERR_NOMEM, "dense: scratch for %zu samples", n);
        pre_run(pre, gout, pre->aux, n * O, g);
        gout = g;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)K, (int)O, 1.0f, gout,
                (int)O, w, (int)K, 0.0f, gin, (int)K);
    xd_nn_scratch_give(net, g);
    return XAI_OK;
}

xai_status xd_nn_linear_bwd(const xai_nn *net, const xd_nn_layer *L, const float *w,
                            const float *gout, size_t n, float *gin, xai_error *err) {
    return xd_nn_linear_bwd_pre(net, L, w, NULL, gout, n, gin, err);
}

xai_status xd_nn_linear_wgrad(const xai_nn *net, const xd_nn_layer *L, const float *in,
                              const float *gout, size_t n, float *dw, float *db, xai_error *err) {
    size_t O = L->nb, K = xd_nn_fan_in(L);
    if (L->kind != XAI_NN_DENSE) {
        conv_args A = {.op = CONV_WGRAD, .in = in, .gout = gout, .dw = dw, .db = db};
        return conv_run(net, L, &A, n, err);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)O, (int)K, (int)n, 1.0f, gout, (int)O,
                in, (int)K, 1.0f, dw, (int)K);
    for (size_t s = 0; s < n; s++)
        for (size_t o = 0; o < O; o++) db[o] += gout[s * O + o];
    return XAI_OK;
}
