/* attention.c — the transformer's sequence layers: layer norm over the
 * features of each position and multi-head self-attention, forward, the
 * true gradient, and LRP by conservative propagation.
 *
 * Tensors are c x 1 x L per sample: X[d * L + t] is feature d of token t.
 * Attention recomputes Q, K, V and the weights A from the stored input in
 * its backward pass (nothing is kept between passes); per head h with
 * dh = c / heads: S_ij = Q_h[:, i] . K_h[:, j] / sqrt(dh), A_i = softmax_j
 * S_ij, O_h[:, i] = sum_j A_ij V_h[:, j], Y = W_out O + b_out.
 *
 * LRP (Ali et al. 2022, "XAI for Transformers: Better Explanations through
 * Conservative Propagation"; the attention and normalisation rules of
 * AttnLRP, Achtibat et al. 2024, agree with it for the value path): the
 * attention weights A and layer norm's 1/sigma are held constant, which
 * makes both layers affine in their input, y = M x + c (attention:
 * M X = W_out W_v X A^T, c = W_out b_v + b_out; layer norm: M x = gamma
 * (x - mean) / sigma, c = beta), and the epsilon rule on that map gives
 * R_in = x * M^T (R / (y + eps sign y)). Relevance is conserved whenever the
 * biases are zero (sum_j x_j (M^T s)_j = s . M x = s . y), and the
 * gradients of the rule are those of the network with A and sigma detached.
 */
#include <cblas.h>
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

/* ---- layer norm ------------------------------------------------------------ */

/* Per position t of one sample: mean and 1/sigma over the c features. */
static void ln_stats(const float *x, size_t c, size_t L, float eps, size_t t, double *mean,
                     double *inv) {
    double m = 0, v = 0;
    for (size_t d = 0; d < c; d++) m += x[d * L + t];
    m /= (double)c;
    for (size_t d = 0; d < c; d++) v += (x[d * L + t] - m) * (x[d * L + t] - m);
    *mean = m;
    *inv = 1.0 / sqrt(v / (double)c + eps);
}

static void ln_fwd(const xd_nn_layer *Ly, const float *x, float *y) {
    size_t c = Ly->in_c, L = Ly->in_w;
    for (size_t t = 0; t < L; t++) {
        double m, inv;
        ln_stats(x, c, L, Ly->eps, t, &m, &inv);
        for (size_t d = 0; d < c; d++)
            y[d * L + t] = (float)(Ly->w[d] * (x[d * L + t] - m) * inv + Ly->b[d]);
    }
}

/* gx from gy: g = gamma gy; gx = inv (g - mean(g) - xhat mean(g xhat)), the
 * last term dropped when 1/sigma is held constant. */
static void ln_bwd(const xd_nn_layer *Ly, bool detach, const float *x, const float *gy,
                   float *gx) {
    size_t c = Ly->in_c, L = Ly->in_w;
    for (size_t t = 0; t < L; t++) {
        double m, inv, mg = 0, mgx = 0;
        ln_stats(x, c, L, Ly->eps, t, &m, &inv);
        for (size_t d = 0; d < c; d++) {
            double g = Ly->w[d] * gy[d * L + t];
            mg += g;
            mgx += g * (x[d * L + t] - m) * inv;
        }
        mg /= (double)c, mgx /= (double)c;
        for (size_t d = 0; d < c; d++) {
            double g = Ly->w[d] * gy[d * L + t], xhat = (x[d * L + t] - m) * inv;
            gx[d * L + t] = (float)(inv * (g - mg - (detach ? 0 : xhat * mgx)));
        }
    }
}

/* ---- attention ------------------------------------------------------------- */

/* Q, K, V (3c x L) and the weights A (heads x L x L) of one sample. */
static void attn_qkv(const xd_nn_layer *Ly, const float *x, float *qkv, float *A) {
    size_t c = Ly->in_c, L = Ly->in_w, H = Ly->heads, dh = c / H;
    for (size_t r = 0; r < 3 * c; r++)
        for (size_t t = 0; t < L; t++) qkv[r * L + t] = Ly->b[r];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(3 * c), (int)L, (int)c, 1.0f,
                Ly->w, (int)c, x, (int)L, 1.0f, qkv, (int)L);
    const float *Q = qkv, *K = qkv + c * L;
    float scale = (float)(1.0 / sqrt((double)dh));
    for (size_t h = 0; h < H; h++) {
        float *Ah = A + h * L * L; /* S_h = Q_h^T K_h / sqrt(dh), then row softmax */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)L, (int)dh, scale,
                    Q + h * dh * L, (int)L, K + h * dh * L, (int)L, 0.0f, Ah, (int)L);
        for (size_t i = 0; i < L; i++) {
            float *a = Ah + i * L;
            double mx = -HUGE_VAL, sum = 0;
            for (size_t j = 0; j < L; j++) mx = a[j] > mx ? a[j] : mx;
            for (size_t j = 0; j < L; j++) sum += exp(a[j] - mx);
            for (size_t j = 0; j < L; j++) a[j] = (float)(exp(a[j] - mx) / sum);
        }
    }
}

/* O (c x L) = per head V_h A_h^T. */
static void attn_mix(size_t c, size_t L, size_t H, const float *V, const float *A, float *O) {
    size_t dh = c / H;
    for (size_t h = 0; h < H; h++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)dh, (int)L, (int)L, 1.0f,
                    V + h * dh * L, (int)L, A + h * L * L, (int)L, 0.0f, O + h * dh * L, (int)L);
}

typedef struct {
    float *qkv, *A, *O, *g, *gs; /* 3cL, H L L, cL, 3cL, L L */
} attn_scratch;

static xai_status scratch_new(const xd_nn_layer *Ly, attn_scratch *s, xai_error *err) {
    size_t c = Ly->in_c, L = Ly->in_w;
    s->qkv = xd_try_malloc(xd_mul(3 * c * L, sizeof(float)));
    s->A = xd_try_malloc(xd_mul(xd_mul(Ly->heads * L, L), sizeof(float)));
    s->O = xd_try_malloc(xd_mul(c * L, sizeof(float)));
    s->g = xd_try_malloc(xd_mul(3 * c * L, sizeof(float)));
    s->gs = xd_try_malloc(xd_mul(L * L, sizeof(float)));
    if (s->qkv && s->A && s->O && s->g && s->gs) return XAI_OK;
    return xd_err(err, XAI_ERR_NOMEM, "attention over %zu tokens", L);
}

static void scratch_free(attn_scratch *s) {
    xd_free(s->qkv), xd_free(s->A), xd_free(s->O), xd_free(s->g), xd_free(s->gs);
}

static void attn_fwd(const xd_nn_layer *Ly, const float *x, float *y, attn_scratch *s) {
    size_t c = Ly->in_c, L = Ly->in_w;
    attn_qkv(Ly, x, s->qkv, s->A);
    attn_mix(c, L, Ly->heads, s->qkv + 2 * c * L, s->A, s->O);
    for (size_t r = 0; r < c; r++)
        for (size_t t = 0; t < L; t++) y[r * L + t] = Ly->b[3 * c + r];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)c, (int)L, (int)c, 1.0f,
                Ly->w + 3 * c * c, (int)c, s->O, (int)L, 1.0f, y, (int)L);
}

/* gx from gy for one sample (see the top); detach keeps A constant. */
static void attn_bwd(const xd_nn_layer *Ly, bool detach, const float *x, const float *gy,
                     float *gx, attn_scratch *s) {
    size_t c = Ly->in_c, L = Ly->in_w, H = Ly->heads, dh = c / H;
    attn_qkv(Ly, x, s->qkv, s->A);
    const float *Q = s->qkv, *K = s->qkv + c * L, *V = s->qkv + 2 * c * L;
    float *gO = s->O, *gQ = s->g, *gK = s->g + c * L, *gV = s->g + 2 * c * L;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)L, (int)c, 1.0f,
                Ly->w + 3 * c * c, (int)c, gy, (int)L, 0.0f, gO, (int)L);
    memset(s->g, 0, 3 * c * L * sizeof *s->g);
    float scale = (float)(1.0 / sqrt((double)dh));
    for (size_t h = 0; h < H; h++) {
        const float *Ah = s->A + h * L * L, *Qh = Q + h * dh * L, *Kh = K + h * dh * L;
        const float *Vh = V + h * dh * L, *gOh = gO + h * dh * L;
        float *gA = s->gs;
        /* gV_h = gO_h A_h; gA = gO_h^T V_h */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)dh, (int)L, (int)L, 1.0f, gOh,
                    (int)L, Ah, (int)L, 0.0f, gV + h * dh * L, (int)L);
        if (detach) continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)L, (int)L, (int)dh, 1.0f, gOh,
                    (int)L, Vh, (int)L, 0.0f, gA, (int)L);
        for (size_t i = 0; i < L; i++) { /* gS = A (gA - <A_i, gA_i>) / sqrt(dh) */
            const float *a = Ah + i * L;
            float *g = gA + i * L;
            double dot = 0;
            for (size_t j = 0; j < L; j++) dot += (double)a[j] * g[j];
            for (size_t j = 0; j < L; j++) g[j] = (float)(a[j] * (g[j] - dot)) * scale;
        }
        /* gQ_h = K_h gS^T; gK_h = Q_h gS */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)dh, (int)L, (int)L, 1.0f, Kh,
                    (int)L, gA, (int)L, 0.0f, gQ + h * dh * L, (int)L);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)dh, (int)L, (int)L, 1.0f, Qh,
                    (int)L, gA, (int)L, 0.0f, gK + h * dh * L, (int)L);
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)c, (int)L, (int)(3 * c), 1.0f,
                Ly->w, (int)c, s->g, (int)L, 0.0f, gx, (int)L);
}

/* ---- entry points ------------------------------------------------------------ */

xai_status xd_nn_seq_fwd(const xd_nn_layer *Ly, const float *in, size_t n, float *out,
                         xai_error *err) {
    size_t sz = Ly->in_c * Ly->in_w;
    if (Ly->kind == XAI_NN_LAYERNORM) {
        for (size_t s = 0; s < n; s++) ln_fwd(Ly, in + s * sz, out + s * sz);
        return XAI_OK;
    }
    attn_scratch S = {0};
    xai_status st = scratch_new(Ly, &S, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++) attn_fwd(Ly, in + s * sz, out + s * sz, &S);
    scratch_free(&S);
    return st;
}

xai_status xd_nn_seq_bwd(const xd_nn_layer *Ly, bool detach, const float *in, const float *gout,
                         size_t n, float *gin, xai_error *err) {
    size_t sz = Ly->in_c * Ly->in_w;
    if (Ly->kind == XAI_NN_LAYERNORM) {
        for (size_t s = 0; s < n; s++) ln_bwd(Ly, detach, in + s * sz, gout + s * sz, gin + s * sz);
        return XAI_OK;
    }
    attn_scratch S = {0};
    xai_status st = scratch_new(Ly, &S, err);
    for (size_t s = 0; st == XAI_OK && s < n; s++)
        attn_bwd(Ly, detach, in + s * sz, gout + s * sz, gin + s * sz, &S);
    scratch_free(&S);
    return st;
}

xai_status xd_nn_seq_lrp(const xd_nn_layer *Ly, float eps, const float *in, const float *outv,
                         const float *rout, size_t n, float *rin, xai_error *err) {
    size_t sz = n * Ly->in_c * Ly->in_w;
    float *s = xd_try_malloc(xd_mul(sz ? sz : 1, sizeof *s));
    if (s == NULL) return xd_err(err, XAI_ERR_NOMEM, "LRP through %s", xai_nn_layer_kind_name(Ly->kind));
    xd_nn_lrp_divide(rout, outv, sz, eps, s);
    xai_status st = xd_nn_seq_bwd(Ly, true, in, s, n, rin, err);
    for (size_t i = 0; st == XAI_OK && i < sz; i++) rin[i] *= in[i];
    xd_free(s);
    return st;
}

xai_status xai_nn_attention_weights(const xai_nn *net, size_t layer, const float *x, size_t n,
                                    float *out, xai_error *err) {
    if (layer >= net->n || net->layers[layer].kind != XAI_NN_ATTENTION)
        return xd_err(err, XAI_ERR_INVALID, "attention weights: layer %zu is not attention", layer);
    const xd_nn_layer *Ly = &net->layers[layer];
    size_t c = Ly->in_c, L = Ly->in_w, per = Ly->heads * L * L;
    xd_nn_trace t;
    xai_status st = xd_nn_trace_run(net, x, n, layer + 1, &t, err);
    float *qkv = st == XAI_OK ? xd_try_malloc(xd_mul(3 * c * L, sizeof *qkv)) : NULL;
    if (st == XAI_OK && qkv == NULL) st = xd_err(err, XAI_ERR_NOMEM, "attention weights");
    for (size_t s = 0; st == XAI_OK && s < n; s++)
        attn_qkv(Ly, t.act[Ly->src] + s * c * L, qkv, out + s * per);
    xd_free(qkv);
    xd_nn_trace_free(&t);
    return st;
}
