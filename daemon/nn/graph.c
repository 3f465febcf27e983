/* graph.c — networks with branches: the add and concat layers that join two
 * tensors, and the backward walk for networks that are not chains.
 *
 * A layer reads trace tensor src (0 = the input, k = layer k-1's output),
 * add and concat also src2; layers are in topological order, so walking
 * them from the top down, every tensor's gradient (or relevance) is
 * complete once all layers above it have added their share. The walk keeps
 * one buffer per trace tensor (the chain walk of backward.c needs two in
 * all, and fuses ReLUs; chains keep using it).
 *
 * Relevance through add follows zennit's residual canonizer (its Sum module
 * under the Norm rule): each output element's relevance is split between
 * the two summands in proportion to their values, R_a = a / (a + b) R,
 * R_b = b / (a + b) R, the denominator stabilised like average pooling
 * (pool_epsilon; exactly 0 sends nothing). So add conserves relevance, and
 * on ReLU networks LRP-0 stays gradient x input. concat hands each input
 * its own channels' relevance (and gradient).
 */
#include <string.h>
#include "core/core.h"
#include "nn_impl.h"

void xd_nn_merge_fwd(const xd_nn_layer *L, const float *a, const float *b, size_t n, float *out) {
    size_t sa = L->in_c * L->in_h * L->in_w, sb = L->in2_c * L->in2_h * L->in2_w;
    if (L->kind == XAI_NN_ADD) {
        for (size_t i = 0; i < n * sa; i++) out[i] = a[i] + b[i];
        return;
    }
    for (size_t s = 0; s < n; s++) {
        memcpy(out + s * (sa + sb), a + s * sa, sa * sizeof *out);
        memcpy(out + s * (sa + sb) + sa, b + s * sb, sb * sizeof *out);
    }
}

/* The signal at a merge's output (gout) added into its inputs' signals ga
 * and gb (NULL: not wanted, below the walk's stop). */
static void merge_bwd(const xd_nn_layer *L, bool lrp, float eps, const float *a, const float *b,
                      const float *gout, size_t n, float *ga, float *gb) {
    size_t sa = L->in_c * L->in_h * L->in_w, sb = L->in2_c * L->in2_h * L->in2_w;
    if (L->kind == XAI_NN_CONCAT) {
        for (size_t s = 0; s < n; s++) {
            const float *g = gout + s * (sa + sb);
            for (size_t i = 0; ga && i < sa; i++) ga[s * sa + i] += g[i];
            for (size_t i = 0; gb && i < sb; i++) gb[s * sb + i] += g[sa + i];
        }
        return;
    }
    for (size_t i = 0; i < n * sa; i++) {
        float wa = 1, wb = 1;
        if (lrp) {
            float z = a[i] + b[i], den = z + (z >= 0 ? eps : -eps);
            float inv = den != 0 ? 1.0f / den : 0.0f;
            wa = a[i] * inv, wb = b[i] * inv;
        }
        if (ga) ga[i] += wa * gout[i];
        if (gb) gb[i] += wb * gout[i];
    }
}

/* Adds n x sz floats of src into dst. */
static void accumulate(float *dst, const float *src, size_t sz) {
    for (size_t i = 0; i < sz; i++) dst[i] += src[i];
}

xai_status xd_nn_graph_backward(const xai_nn *net, const xd_nn_trace *t, const xd_nn_bwd *b,
                                const float *seed, float *out, xai_error *err) {
    size_t n = t->n, top = t->top, stop = b->stop, maxsz = 0;
    float **g = xd_calloc(top + 1, sizeof *g), *tmp = NULL;
    xai_status st = XAI_OK;
    for (size_t k = stop; k <= top && st == XAI_OK; k++) {
        size_t sz = xd_mul(n, xd_nn_act_size(net, k));
        maxsz = XD_MAX(maxsz, sz);
        if ((g[k] = xd_nn_scratch_take(net, sz)) == NULL)
            st = xd_err(err, XAI_ERR_NOMEM, "backward pass for %zu samples", n);
        else
            memset(g[k], 0, sz * sizeof *g[k]);
    }
    if (st == XAI_OK && (tmp = xd_nn_scratch_take(net, maxsz)) == NULL)
        st = xd_err(err, XAI_ERR_NOMEM, "backward pass for %zu samples", n);
    if (st != XAI_OK) goto cleanup;
    memcpy(g[top], seed, n * xd_nn_act_size(net, top) * sizeof *seed);
    if (b->per_layer && b->per_layer[top])
        memcpy(b->per_layer[top], g[top], n * xd_nn_act_size(net, top) * sizeof *seed);
    for (size_t l = top; l-- > stop;) {
        const xd_nn_layer *L = &net->layers[l];
        float *ga = L->src >= stop ? g[L->src] : NULL;
        if (xd_nn_is_merge(L)) {
            float *gb = L->src2 >= stop ? g[L->src2] : NULL;
            merge_bwd(L, b->mode == XD_NN_LRP, b->pool_eps, t->act[L->src], t->act[L->src2],
                      g[l + 1], n, ga, gb);
        } else if (ga != NULL) {
            if ((st = xd_nn_step(net, t, b, l, g[l + 1], tmp, err)) != XAI_OK) goto cleanup;
            accumulate(ga, tmp, n * xd_nn_act_size(net, L->src));
        }
        /* every consumer of tensor l (layers >= l) is done: it is complete */
        if (b->per_layer && b->per_layer[l])
            memcpy(b->per_layer[l], g[l], n * xd_nn_act_size(net, l) * sizeof *seed);
    }
    memcpy(out, g[stop], n * xd_nn_act_size(net, stop) * sizeof *out);
cleanup:
    for (size_t k = stop; k <= top; k++) xd_nn_scratch_give(net, g[k]);
    xd_nn_scratch_give(net, tmp);
    xd_free(g);
    return st;
}
