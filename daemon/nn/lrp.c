/* lrp.c — layer-wise relevance propagation: the rules for dense and conv
 * layers, relevance through pooling and pass-through layers, composites, and
 * the public entry points.
 *
 * Every dense/conv rule is written as groups of terms (W_t, a_t): a group
 * has the denominator z_k = sum_t (W_t a_t)_k (+ a bias for LRP-0, epsilon
 * and gamma), s_k = R_k / (z_k + eps sign z_k), and gives the input
 * R_j += coef * sum_t a_tj (W_t^T s)_j. So a rule costs one sgemm per term
 * for z and one for the way back, and LRP-0 / epsilon reuse the stored
 * pre-activations: one sgemm in all, the cost of a gradient.
 *
 *   rule        terms (weights, inputs)                    bias   coef
 *   zero, eps   (W, a)                                     b      1
 *   gamma       where z > 0: (W + g W+, a+), (W + g W-, a-)  b+g b+  1
 *               where z < 0: (W + g W-, a+), (W + g W+, a-)  b+g b-  1
 *   z+          (W+, a+), (W-, a-)                         none   1
 *   alpha-beta  (W+, a+), (W-, a-)  and  (W-, a+), (W+, a-)  none alpha, -beta
 *   flat        (1, 1)                                     none   1
 *   w^2         (W^2, 1)                                   none   1
 *   z^B         (W, a), (W+, -l), (W-, -h)                 none   1
 */
#include <math.h>
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

typedef enum { W_ID, W_POS, W_NEG, W_GAMMA, W_GAMMA_NEG, W_ONES, W_SQUARE } wmod;
typedef enum { A_ID, A_POS, A_NEG, A_ONES, A_LOW, A_HIGH } amod;
typedef struct {
    wmod w;
    amod a;
} term;

/* Scratch for one layer: modified weights, modified inputs, z, s, c. */
typedef struct {
    const xai_nn *net; /* the pool the buffers come from */
    float *w, *a, *z, *s, *c;
} scratch;

static void mod_weights(const xd_nn_layer *L, wmod m, float gamma, float *w) {
    for (size_t i = 0; i < L->nw; i++) {
        float v = L->w[i];
        switch (m) {
        case W_POS:
            w[i] = v > 0 ? v : 0.0f;
            break;
        case W_NEG:
            w[i] = v < 0 ? v : 0.0f;
            break;
        case W_GAMMA:
            w[i] = v + gamma * (v > 0 ? v : 0.0f);
            break;
        case W_GAMMA_NEG:
            w[i] = v + gamma * (v < 0 ? v : 0.0f);
            break;
        case W_ONES:
            w[i] = 1.0f;
            break;
        case W_SQUARE:
            w[i] = v * v;
            break;
        default:
            w[i] = v;
            break;
        }
    }
}

static void mod_inputs(amod m, const float *in, const xd_nn_lrp_rule *r, size_t sz, float *a) {
    for (size_t i = 0; i < sz; i++) {
        float v = in[i];
        switch (m) {
        case A_POS:
            a[i] = v > 0 ? v : 0.0f;
            break;
        case A_NEG:
            a[i] = v < 0 ? v : 0.0f;
            break;
        case A_ONES:
            a[i] = 1.0f;
            break;
        case A_LOW:
            a[i] = -r->low[i];
            break;
        case A_HIGH:
            a[i] = -r->high[i];
            break;
        default:
            a[i] = v;
            break;
        }
    }
}

/* rin = a c (set) or rin += coef a c (accumulate). */
XD_NN_SIMD static void times_input(const float *restrict a, const float *restrict c, size_t sz,
                                   bool set, float coef, float *restrict rin) {
    if (set)
        for (size_t j = 0; j < sz; j++) rin[j] = a[j] * c[j];
    else
        for (size_t j = 0; j < sz; j++) rin[j] += coef * a[j] * c[j];
}

/* One group of terms (see the table at the top); adds coef * its relevance
 * to rin, or, for the rule's first group (rin not yet written), stores it:
 * directly when the group is one term with coef 1, else into a zeroed rin.
 * `zin` is the stored pre-activation when the group is (W, a) + b, which
 * saves the forward sgemm. A single term computes s inside its backward
 * product. */
static xai_status group(const xd_nn_layer *L, const xd_nn_lrp_rule *r, const term *t, size_t nt,
                        const float *bias, const float *zin, float eps, float coef, bool first,
                        const float *in, const float *rout, size_t n, float *rin, scratch *S,
                        xai_error *err) {
    size_t isz = n * L->in_c * L->in_h * L->in_w, osz = n * L->out_c * L->out_h * L->out_w;
    bool set = first && nt == 1 && coef == 1;
    if (first && !set) memset(rin, 0, isz * sizeof *rin);
    xai_status st = XAI_OK;
    const float *z = zin;
    if (z == NULL) {
        for (size_t i = 0; i < nt && st == XAI_OK; i++) {
            const float *w = L->w, *a = in;
            if (t[i].w != W_ID) mod_weights(L, t[i].w, r->gamma, S->w), w = S->w;
            if (t[i].a != A_ID) mod_inputs(t[i].a, in, r, isz, S->a), a = S->a;
            st = xd_nn_linear_fwd(S->net, L, w, i == 0 ? bias : NULL, a, n, i == 0 ? S->z : S->s,
                                  err);
            if (i > 0)
                for (size_t j = 0; j < osz; j++) S->z[j] += S->s[j];
        }
        if (st != XAI_OK) return st;
        z = S->z;
    }
    xd_nn_pre pre = {XD_NN_PRE_LRP, z, eps};
    if (nt == 1) {
        const float *w = L->w, *a = in;
        if (t[0].w != W_ID) mod_weights(L, t[0].w, r->gamma, S->w), w = S->w;
        st = xd_nn_linear_bwd_pre(S->net, L, w, &pre, rout, n, S->c, err);
        if (st != XAI_OK) return st;
        if (t[0].a != A_ID) mod_inputs(t[0].a, in, r, isz, S->a), a = S->a;
        times_input(a, S->c, isz, set, coef, rin);
        return XAI_OK;
    }
    xd_nn_lrp_divide(rout, z, osz, eps, S->s);
    for (size_t i = 0; i < nt; i++) {
        /* (W, a) terms read the layer's own weights and inputs: no copies. */
        const float *w = L->w, *a = in;
        if (t[i].w != W_ID) mod_weights(L, t[i].w, r->gamma, S->w), w = S->w;
        st = xd_nn_linear_bwd(S->net, L, w, S->s, n, S->c, err);
        if (st != XAI_OK) return st;
        if (t[i].a != A_ID) mod_inputs(t[i].a, in, r, isz, S->a), a = S->a;
        times_input(a, S->c, isz, false, coef, rin);
    }
    return XAI_OK;
}

/* rm = R where sign(z) == sign (+1 or -1), else 0; returns whether any
 * entry is nonzero. */
static bool mask_by_sign(const float *R, const float *z, size_t sz, int sign, float *rm) {
    bool any = false;
    for (size_t i = 0; i < sz; i++) {
        bool on = sign > 0 ? z[i] > 0 : z[i] < 0;
        rm[i] = on ? R[i] : 0.0f;
        any |= on && R[i] != 0;
    }
    return any;
}

/* The generalised gamma rule (zennit's Gamma; Andeol et al. 2021): units with
 * z > 0 share their relevance among the contributions that gamma amplifies
 * in the positive direction, units with z < 0 among those amplified in the
 * negative one, so no denominator nears zero when inputs have both signs.
 * On inputs >= 0 the a- terms vanish and are skipped: one term per side. */
static xai_status lrp_gamma(const xd_nn_layer *L, const xd_nn_lrp_rule *r, const float *in,
                            const float *zout, const float *rout, size_t n, float *rin,
                            scratch *S, xai_error *err) {
    static const term pos2[] = {{W_GAMMA, A_POS}, {W_GAMMA_NEG, A_NEG}},
                      neg2[] = {{W_GAMMA_NEG, A_POS}, {W_GAMMA, A_NEG}},
                      pos1[] = {{W_GAMMA, A_ID}}, neg1[] = {{W_GAMMA_NEG, A_ID}};
    size_t isz = n * L->in_c * L->in_h * L->in_w, osz = n * L->out_c * L->out_h * L->out_w;
    bool mixed = false;
    for (size_t j = 0; j < isz && !mixed; j++) mixed = in[j] < 0;
    float *gb = xd_try_malloc(xd_mul(2 * L->nb, sizeof *gb));
    float *rm = xd_nn_scratch_take(S->net, osz);
    xai_status st = XAI_OK;
    if (gb == NULL || rm == NULL) {
        st = xd_err(err, XAI_ERR_NOMEM, "LRP gamma for %zu samples", n);
        goto cleanup;
    }
    for (size_t o = 0; o < L->nb; o++) {
        float b = L->b[o];
        gb[o] = b + r->gamma * (b > 0 ? b : 0);
        gb[L->nb + o] = b + r->gamma * (b < 0 ? b : 0);
    }
    memset(rin, 0, isz * sizeof *rin);
    for (int side = 0; side < 2 && st == XAI_OK; side++) {
        if (!mask_by_sign(rout, zout, osz, side ? -1 : 1, rm)) continue;
        const term *t = side ? (mixed ? neg2 : neg1) : (mixed ? pos2 : pos1);
        st = group(L, r, t, mixed ? 2 : 1, gb + side * L->nb, NULL, 0, 1, false, in, rm, n, rin,
                   S, err);
    }
cleanup:
    xd_free(gb);
    xd_nn_scratch_give(S->net, rm);
    return st;
}

static xai_status lrp_linear(const xd_nn_layer *L, const xd_nn_lrp_rule *r, const float *in,
                             const float *zout, const float *rout, size_t n, float *rin, scratch *S,
                             xai_error *err) {
    static const term id[] = {{W_ID, A_ID}}, zp[] = {{W_POS, A_POS}, {W_NEG, A_NEG}},
                      neg[] = {{W_NEG, A_POS}, {W_POS, A_NEG}}, flat[] = {{W_ONES, A_ONES}},
                      wsq[] = {{W_SQUARE, A_ONES}},
                      zb[] = {{W_ID, A_ID}, {W_POS, A_LOW}, {W_NEG, A_HIGH}};
    switch (r->rule) {
    case XAI_NN_RULE_ZERO:
        return group(L, r, id, 1, L->b, zout, 0, 1, true, in, rout, n, rin, S, err);
    case XAI_NN_RULE_GAMMA:
        return lrp_gamma(L, r, in, zout, rout, n, rin, S, err);
    case XAI_NN_RULE_ZPLUS:
        return group(L, r, zp, 2, NULL, NULL, 0, 1, true, in, rout, n, rin, S, err);
    case XAI_NN_RULE_ALPHA_BETA: {
        xai_status st =
            group(L, r, zp, 2, NULL, NULL, 0, r->alpha, true, in, rout, n, rin, S, err);
        if (st != XAI_OK) return st;
        return group(L, r, neg, 2, NULL, NULL, 0, -r->beta, false, in, rout, n, rin, S, err);
    }
    case XAI_NN_RULE_FLAT:
        return group(L, r, flat, 1, NULL, NULL, 0, 1, true, in, rout, n, rin, S, err);
    case XAI_NN_RULE_WSQUARE:
        return group(L, r, wsq, 1, NULL, NULL, 0, 1, true, in, rout, n, rin, S, err);
    case XAI_NN_RULE_ZBOX:
        return group(L, r, zb, 3, NULL, NULL, 0, 1, true, in, rout, n, rin, S, err);
    default:
        return group(L, r, id, 1, L->b, zout, r->eps, 1, true, in, rout, n, rin, S, err);
    }
}

/* Average (or sum) pooling as a linear map: R_j = a_j sum_k c R_k / (z_k +- eps),
 * c = 1/window (1 for a sum). */
static void lrp_avgpool(const xd_nn_layer *L, float eps, const float *in, const float *zout,
                        const float *rout, size_t n, float *rin, float *s) {
    size_t isz = n * L->in_c * L->in_h * L->in_w, osz = n * L->out_c * L->out_h * L->out_w;
    xd_nn_lrp_divide(rout, zout, osz, eps, s);
    xd_nn_simple_bwd(L, XD_NN_GRAD, in, zout, s, n, rin);
    for (size_t j = 0; j < isz; j++) rin[j] *= in[j];
}

xai_status xd_nn_lrp_layer(const xai_nn *net, const xd_nn_layer *L, const xd_nn_lrp_rule *r,
                           float pool_eps, const float *in, const float *outv, const float *rout,
                           size_t n, float *rin, xai_error *err) {
    size_t isz = n * L->in_c * L->in_h * L->in_w, osz = n * L->out_c * L->out_h * L->out_w;
    if (xd_nn_is_seq(L)) return xd_nn_seq_lrp(L, r->eps, in, outv, rout, n, rin, err);
    if (xd_nn_is_linear(L)) {
        scratch S = {net, NULL, NULL, NULL, NULL, NULL};
        float **bufs[5] = {&S.w, &S.a, &S.c, &S.z, &S.s};
        const size_t sizes[5] = {L->nw, isz, isz, osz, osz};
        bool ok = true;
        for (int i = 0; i < 5; i++)
            ok = (*bufs[i] = xd_nn_scratch_take(net, sizes[i])) != NULL && ok;
        xai_status st = ok ? lrp_linear(L, r, in, outv, rout, n, rin, &S, err)
                           : xd_err(err, XAI_ERR_NOMEM, "LRP scratch for %zu samples", n);
        for (int i = 0; i < 5; i++) xd_nn_scratch_give(net, *bufs[i]);
        return st;
    }
    if (xd_nn_is_pool(L) && !xd_nn_pool_is_max(L)) {
        float *s = xd_nn_scratch_take(net, osz);
        if (s == NULL) return xd_err(err, XAI_ERR_NOMEM, "LRP scratch for %zu samples", n);
        lrp_avgpool(L, pool_eps, in, outv, rout, n, rin, s);
        xd_nn_scratch_give(net, s);
        return XAI_OK;
    }
    if (xd_nn_is_pool(L)) { /* max: the winner takes the window's relevance */
        xd_nn_simple_bwd(L, XD_NN_GRAD, in, outv, rout, n, rin);
        return XAI_OK;
    }
    memcpy(rin, rout, isz * sizeof *rin); /* activations, flatten: pass through */
    return XAI_OK;
}
